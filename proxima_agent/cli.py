"""The `proxima` command: thin; it parses arguments, calls the layers and renders. Errors become a message with
a hint and a documented exit code (docs/errors.md); tracebacks go to the log file, never to the terminal."""

from __future__ import annotations

import json
import logging
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import click

from proxima_agent import __version__
from proxima_agent.errors import OptionError, ProximaError

log = logging.getLogger("proxima_agent.cli")

EXIT_INTERNAL, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _config() -> Any:
    from proxima_agent.config import load_config

    return load_config()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="proxima")
def cli() -> None:
    """Proxima: simulate quantum circuits on the right simulator, with real numbers.

    Circuits are library names (bell, ghz:5, qft:12, random:10:20:7, grover:4, w:5, qaoa:6:2; see
    `proxima circuits`) or OpenQASM 2/3 files.
    """


@cli.command()
@click.option("--check", is_flag=True, help="Run a one-circuit self test on each available backend.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def backends(check: bool, as_json: bool) -> None:
    """List the simulators: availability, version, method, and how many qubits fit here now."""
    from proxima_agent.backends.registry import all_backends, self_test
    from proxima_agent.selection.estimate import machine_memory, max_qubits

    config = _config()
    machine = machine_memory(config.estimate.memory_margin)
    items = all_backends()
    infos = [b.info() for b in items]
    fits = {b.id: max_qubits(b, machine.usable_bytes) for b in items}
    health = {i.id: self_test(i.id) for i in infos if i.available} if check else {}
    if as_json:
        _emit_json(
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


@cli.command()
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


@cli.command()
@click.argument("circuit")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.option("--qasm", type=click.Choice(["2", "3"]), help="Print the circuit as OpenQASM 2 or 3 instead.")
def describe(circuit: str, as_json: bool, qasm: str | None) -> None:
    """Describe a circuit: qubits, depth, gate counts, two-qubit gates, Clifford or not, measurements."""
    from proxima_agent.circuits.analysis import describe as summarize
    from proxima_agent.circuits.loading import load_circuit

    loaded = load_circuit(circuit)
    if qasm:
        from proxima_agent.circuits.qasm import to_qasm

        click.echo(to_qasm(loaded, int(qasm)), nl=False)
        return
    summary = summarize(loaded)
    if as_json:
        _emit_json(summary.model_dump())
        return
    from proxima_agent.ui.render import make_console, summary_table

    make_console().print(summary_table(summary))


def _backend_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    """`-O key=value` pairs; values are read as JSON where they parse (numbers, true/false, null), else text."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise OptionError(
                f"--option {pair!r} is not key=value", hint="e.g. -O threshold=1e-3 -O max_rank=64"
            )
        try:
            values[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            values[key.strip()] = raw
    return values


def _run_options(
    shots: int,
    seed: int | None,
    noise: str | None,
    state: bool = False,
    option: tuple[str, ...] = (),
    observable: tuple[str, ...] = (),
) -> Any:
    from proxima_agent.backends.base import RunOptions
    from proxima_agent.circuits.noise import parse_noise

    if shots <= 0:
        raise OptionError(f"--shots must be a positive integer, got {shots}", hint="e.g. --shots 1024")
    from proxima_agent.seeds import resolve_seed

    if seed is not None:
        resolve_seed(seed)  # validates the range
    return RunOptions(
        shots=shots,
        seed=seed,
        noise=parse_noise(noise),
        return_state=state,
        backend_options=_backend_options(option),
        observables=tuple(observable),
    )


_OPTION_HELP = (
    "Backend option key=value, repeatable (lret: threshold, max_rank, memory_budget_bytes, precision)."
)
_NOISE_HELP = (
    "Noise: short syntax (depolarizing:0.01, amplitude_damping:0.002@cx/0,1; see docs/noise.md) or JSON file."
)


@cli.command()
@click.argument("circuit")
@click.option("--noise", help=_NOISE_HELP)
@click.option("--shots", type=int, default=None, help="Shots (default from proxima.json, else 1024).")
@click.option("-O", "--option", multiple=True, help=_OPTION_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def estimate(
    circuit: str, noise: str | None, shots: int | None, option: tuple[str, ...], as_json: bool
) -> None:
    """Estimate memory and rough time per backend, and whether each is feasible on this machine now."""
    from proxima_agent.circuits.loading import load_circuit
    from proxima_agent.selection.estimate import estimate as make_estimate

    config = _config()
    loaded = load_circuit(circuit)
    options = _run_options(config.run.shots if shots is None else shots, None, noise, option=option)
    options.noise.check(loaded)
    est = make_estimate(loaded, options, margin=config.estimate.memory_margin)
    if as_json:
        _emit_json(est.model_dump() | {"usable_memory_bytes": est.machine.usable_bytes})
        return
    from proxima_agent.ui.render import estimate_table, make_console

    make_console().print(estimate_table(est))


@cli.command()
@click.argument("circuit")
@click.option(
    "-b", "--backend", help="Backend id (see `proxima backends`); default: selected by documented rules."
)
@click.option("--shots", type=int, default=None, help="Shots (default from proxima.json, else 1024).")
@click.option(
    "--seed", type=int, default=None, help="Seed; the same seed gives the same counts on a backend."
)
@click.option("--noise", help=_NOISE_HELP)
@click.option("--state", is_flag=True, help="Include the final statevector / density matrix (JSON output).")
@click.option(
    "--observable", multiple=True, help="Pauli string for an exact expectation value, e.g. ZZI (lret)."
)
@click.option("-O", "--option", multiple=True, help=_OPTION_HELP)
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="Write results to a .csv, .json or .xlsx file."
)
@click.option("--top", type=int, default=16, show_default=True, help="Outcomes shown in the histogram.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def run(
    circuit: str,
    backend: str | None,
    shots: int | None,
    seed: int | None,
    noise: str | None,
    state: bool,
    observable: tuple[str, ...],
    option: tuple[str, ...],
    output: Path | None,
    top: int,
    as_json: bool,
) -> None:
    """Run a circuit and show the outcomes, timing and memory."""
    from proxima_agent.analysis.export import check_output_path, write_result
    from proxima_agent.backends.registry import get_backend
    from proxima_agent.circuits.loading import load_circuit
    from proxima_agent.paths import data_dir
    from proxima_agent.selection.select import check_fits, select_backend

    config = _config()
    options = _run_options(
        config.run.shots if shots is None else shots, seed, noise, state, option, observable
    )
    if output is not None:
        check_output_path(output)
    backend_id = backend or config.run.backend
    if backend_id:
        chosen = get_backend(backend_id)  # an unknown id fails before the circuit is even parsed
    loaded = load_circuit(circuit)
    options.noise.check(loaded)
    margin = config.estimate.memory_margin
    selection = None
    if backend_id:
        check_fits(chosen, loaded, options, margin)
        explanation = None if backend else f"{backend_id} is the default backend in proxima.json"
    else:
        from proxima_agent.backends.registry import all_backends

        enabled = [b for b in all_backends() if config.enabled(b.id)]
        selection = select_backend(loaded, options, backends=enabled, margin=margin)
        chosen = get_backend(selection.backend)
        explanation = selection.explanation
    log.info(
        "run %s on %s: shots=%d seed=%s noise=%s", loaded.name, chosen.id, options.shots, options.seed, noise
    )
    from proxima_agent.ui.render import make_console

    status_console = make_console(stderr=True)
    with status_console.status(f"running {loaded.name} on {chosen.id} ...", spinner="dots"):
        result = chosen.run(loaded, options)
    extra = {"selection": selection.model_dump(exclude={"estimate"}) if selection else None}
    if output is not None:
        write_result(result, output, extra=extra, inline_limit=config.output.inline_limit)
    if as_json:
        run_dir = data_dir() / "results" / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        payload = result.to_json_dict(inline_limit=config.output.inline_limit, array_dir=run_dir) | extra
        if output is not None:
            payload["output"] = str(output)
        _emit_json(payload)
        return
    from proxima_agent.ui.render import result_panel

    console = make_console()
    console.print(result_panel(result, explanation))
    if output is not None:
        console.print(f"wrote {output}")


def _report(exc: ProximaError, as_json: bool) -> None:
    from proxima_agent.ui.render import error_text, make_console

    if as_json:
        _emit_json({"error": exc.to_dict()})
    make_console(stderr=True).print(error_text(exc.code, exc.message, exc.hint), soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point: exit codes 0 ok, 1 internal error, 2 usage, 3 bad input, 4 backend, 5 resources, 6 output."""
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args
    log_path = None
    try:
        from proxima_agent.logs import setup_logging

        log_path = setup_logging()
        cli.main(args=args, prog_name="proxima", standalone_mode=False)
        return 0
    except ProximaError as exc:
        log.info("error %s: %s", exc.code, exc.message, exc_info=True)
        _report(exc, as_json)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE if isinstance(exc, click.UsageError) else exc.exit_code
    except Exception as exc:
        log.exception("internal error")
        where = f" (details in {log_path})" if log_path else ""
        click.echo(f"internal error: {type(exc).__name__}: {exc}{where}", err=True)
        return EXIT_INTERNAL


def entry() -> None:
    sys.exit(main())
