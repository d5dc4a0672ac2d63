"""Looking before running: `proxima backends` (the simulators here), `proxima circuits` (the named library) and
`proxima describe` (one circuit's summary, or the circuit as OpenQASM)."""

from __future__ import annotations

import click

from proxima_agent.cli.common import emit_json, json_option, read_config


@click.command()
@click.option("--check", is_flag=True, help="Run a one-circuit self test on each available backend.")
@json_option
def backends(check: bool, as_json: bool) -> None:
    """List the simulators: availability, version, method, and how many qubits fit here now."""
    from proxima_agent.backends.registry import all_backends, self_test
    from proxima_agent.selection.estimate import machine_memory, max_qubits

    config = read_config()
    machine = machine_memory(config.estimate.memory_margin)
    items = all_backends()
    infos = [b.info() for b in items]
    fits = {b.id: max_qubits(b, machine.usable_bytes) for b in items}
    health = {i.id: self_test(i.id) for i in infos if i.available} if check else {}
    if as_json:
        # Not the list_backends tool's shape (flat rows, `enabled`): tests and scripts read `capabilities` here.
        emit_json(
            {
                "backends": [
                    i.model_dump(mode="json")
                    | {"max_qubits_here": fits[i.id]}
                    | ({"self_test": health[i.id].model_dump()} if i.id in health else {})
                    for i in infos
                ],
                "usable_memory_bytes": machine.usable_bytes,
            }
        )
        return
    from proxima_agent.ui.render import backends_table, make_console

    make_console().print(backends_table(infos, fits, health))


@click.command()
def circuits() -> None:
    """List the named circuits of the library."""
    from rich.table import Table

    from proxima_agent.circuits.library import LIBRARY
    from proxima_agent.ui.render import make_console

    table = Table(title="Library circuits", title_justify="left")
    table.add_column("usage")
    table.add_column("what it is")
    for entry in LIBRARY.values():
        table.add_row(entry.usage, entry.description)
    make_console().print(table)


@click.command()
@click.argument("circuit")
@json_option
@click.option("--qasm", type=click.Choice(["2", "3"]), help="Print the circuit as OpenQASM 2 or 3 instead.")
def describe(circuit: str, as_json: bool, qasm: str | None) -> None:
    """Describe a circuit: qubits, depth, gate counts, two-qubit gates, Clifford or not, measurements."""
    from proxima_agent.circuits.analysis import describe as summarize
    from proxima_agent.circuits.loading import load_circuit

    # any file this user can read: the workspace bounds the tools' callers (MCP clients, the agent), not this
    loaded = load_circuit(circuit)
    if qasm:
        from proxima_agent.circuits.qasm import to_qasm

        click.echo(to_qasm(loaded, int(qasm)), nl=False)
        return
    summary = summarize(loaded)
    if as_json:  # the describe_circuit tool's shape
        from proxima_agent.tools.circuits import CircuitDescription

        emit_json(CircuitDescription(**summary.model_dump()).model_dump(mode="json"))
        return
    from proxima_agent.ui.render import make_console, summary_table

    make_console().print(summary_table(summary))


COMMANDS: list[click.Command] = [backends, circuits, describe]
