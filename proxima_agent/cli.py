"""The `proxima` command: thin; it parses arguments, calls the layers and renders. Errors become a message with
a hint and a documented exit code (docs/errors.md); tracebacks go to the log file, never to the terminal."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from proxima_agent import __version__
from proxima_agent.errors import OptionError, ProximaError, Step, quoted

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
    from proxima_agent.errors import quoted

    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise OptionError(
                f"--option {quoted(pair)} is not key=value", hint="e.g. threshold=1e-3 or max_rank=64"
            )
        try:
            values[key.strip()] = json.loads(raw) if len(raw) <= 10_000 else raw
        except (json.JSONDecodeError, RecursionError):
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
    from proxima_agent.circuits.limits import MAX_SHOTS
    from proxima_agent.circuits.noise import parse_noise

    if shots <= 0:
        raise OptionError(f"--shots must be a positive integer, got {shots}", hint="e.g. 1024 shots")
    if shots > MAX_SHOTS:
        raise OptionError(
            f"--shots {shots:,} is over the limit of {MAX_SHOTS:,} shots per run",
            hint="ask for fewer shots (exact probabilities need none: backends that keep the state report them)",
        )
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
@click.option(
    "--force", is_flag=True, help="Run even if the estimate says it does not fit (recorded consent)."
)
@click.option("--yes", is_flag=True, help="Answer the engine's consent questions with yes (headless runs).")
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
    force: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Run a circuit as a job in a worker process, with a live view (keys: p pause, r resume, s suspend,
    c checkpoint, a abort; Ctrl+C asks), then show the outcomes, timing and memory."""
    from proxima_agent.analysis.export import check_output_path
    from proxima_agent.circuits.loading import load_circuit

    config = _config()
    options = _run_options(
        config.run.shots if shots is None else shots, seed, noise, state, option, observable
    )
    if output is not None:
        check_output_path(output)
    backend_id = backend or config.run.backend
    if backend_id:
        from proxima_agent.backends.registry import get_backend

        get_backend(backend_id)  # an unknown id fails before the circuit is even parsed
    loaded = load_circuit(circuit)
    options.noise.check(loaded)
    log.info(
        "run %s on %s: shots=%d seed=%s noise=%s", loaded.name, backend_id, options.shots, seed, quoted(noise)
    )

    async def submit(engine: Any) -> Any:
        from proxima_agent.backends.registry import backend_ids

        enabled = [b for b in backend_ids() if config.enabled(b)]
        return await engine.submit(loaded, options, backend_id, force=force, enabled=enabled)

    job = _drive_job(config, submit, yes=yes, as_json=as_json)
    explanation = job.selection.explanation if job.selection else None
    if explanation is None and not backend:
        explanation = f"{backend_id} is the default backend in proxima.json"
    extra = {"selection": job.selection.model_dump(exclude={"estimate"}) if job.selection else None}
    _show_result(job, config, output, top, as_json, extra, explanation)


def _drive_job(config: Any, start: Any, *, yes: bool, as_json: bool) -> Any:
    """Open an engine, start or take over a job with `start(engine)`, watch it live (on a terminal) or wait,
    and return it once it has ended (or was suspended from the live view)."""
    import asyncio

    from proxima_agent.engine.consent import FixedConsent
    from proxima_agent.engine.engine import Engine
    from proxima_agent.ui.consent import TerminalConsent
    from proxima_agent.ui.render import make_console

    console = make_console(stderr=True)
    live = console.is_terminal and not as_json

    async def main() -> Any:
        consent = TerminalConsent() if live and sys.stdin.isatty() and not yes else FixedConsent(approve=yes)
        async with await Engine.open(config, consent=consent) as engine:
            job = await start(engine)
            if live:
                from proxima_agent.ui.live import watch

                await watch(engine, job, console)
            else:
                await _wait_interruptibly(engine, job)
            return job

    return asyncio.run(main())


async def _wait_interruptibly(engine: Any, job: Any) -> None:
    """Wait for the job; Ctrl+C (or SIGTERM) aborts it, so no worker is left behind."""
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    ended = asyncio.ensure_future(job.ended.wait())
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({ended, stopped}, return_when=asyncio.FIRST_COMPLETED)
    ended.cancel()
    stopped.cancel()
    if stop.is_set() and not job.ended.is_set():
        await engine.abort(job.id, reason="interrupted (Ctrl+C)")
        raise KeyboardInterrupt


def _show_result(
    job: Any, config: Any, output: Path | None, top: int, as_json: bool, extra: dict[str, Any],
    explanation: str | None,
) -> None:  # fmt: skip
    """Show a job's result (and write it to `output`). A result the engine could not save (OUTPUT_FAILED, a
    full disk) is still here, in memory: it is shown and written to `output` all the same, then its error is
    reported (exit 6), so the run is not lost."""
    from proxima_agent.analysis.export import write_result
    from proxima_agent.engine.states import JobState
    from proxima_agent.errors import OutputError

    if job.state == JobState.PAUSED:
        click.echo(
            f"job {job.id} suspended at checkpoint {job.checkpoints[-1].number}; "
            f"continue it with `proxima resume {job.id}`",
            err=True,
        )
        return
    unsaved = job.error if isinstance(job.error, OutputError) and job.result is not None else None
    if job.error is not None and unsaved is None:
        raise job.error
    result = job.result
    extra = extra | {"job": job.id}
    if output is not None:
        write_result(result, output, extra=extra, inline_limit=config.output.inline_limit)
    if as_json:
        from proxima_agent.paths import data_dir

        # Large arrays are linked to the job's result folder, which exists only if the result was saved.
        arrays = data_dir() / "results" / job.id if unsaved is None else None
        try:
            payload = result.to_json_dict(inline_limit=config.output.inline_limit, array_dir=arrays) | extra
        except OSError as exc:
            raise OutputError(
                f"cannot write the arrays of job {job.id} to {arrays}: {exc.strerror or exc}",
                hint="free disk space, or leave out --json to see the counts",
            ) from exc
        if output is not None:
            payload["output"] = str(output)
        if unsaved is not None:
            payload["error"] = _error_document(unsaved)["error"]
            _emit_json(payload)
            raise _Reported(unsaved)
        _emit_json(payload)
        return
    from proxima_agent.ui.render import make_console, result_panel

    console = make_console()
    console.print(result_panel(result, explanation))
    console.print(f"job {job.id}", style="dim")
    if output is not None:
        console.print(f"wrote {output}")
    if unsaved is not None:
        raise unsaved


# --- jobs from any terminal -------------------------------------------------------------------------------------


def _with_store(work: Any) -> Any:
    import asyncio

    from proxima_agent.store.db import Store

    async def main() -> Any:
        store = await Store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(main())


@cli.command()
@click.option("--limit", type=int, default=20, show_default=True, help="Most recent jobs shown.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def jobs(limit: int, as_json: bool) -> None:
    """List recent jobs: state, progress, backend. Jobs whose process died show INTERRUPTED."""
    from proxima_agent.engine.engine import recover_orphans

    async def work(store: Any) -> Any:
        await recover_orphans(store)
        return await store.list_jobs(limit)

    records = _with_store(work)
    if as_json:  # the list_jobs tool's shape
        from proxima_agent.tools.jobs import JobList, job_summary

        _emit_json(JobList(jobs=[job_summary(r) for r in records]).model_dump(mode="json"))
        return
    from proxima_agent.ui.render import jobs_table, make_console

    make_console().print(jobs_table(records))


@cli.command()
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def status(job_id: str, as_json: bool) -> None:
    """One job: state, progress, stage times, transitions, checkpoints and consent decisions."""
    from proxima_agent.engine.engine import recover_orphans

    async def work(store: Any) -> Any:
        await recover_orphans(store)
        record = await store.get_job(job_id)
        if as_json:  # the job_status tool's shape
            from proxima_agent.tools.jobs import status_of

            return (await status_of(store, record)).model_dump(mode="json"), None, None, None
        return (
            record,
            await store.transitions(job_id),
            await store.checkpoints(job_id),
            (await store.consent_decisions(job_id)),
        )

    record, transitions, checkpoints, consent = _with_store(work)
    if as_json:
        _emit_json(record)
        return
    from proxima_agent.ui.render import job_status, make_console

    make_console().print(job_status(record, transitions, checkpoints, consent))


def _control(job_id: str, action: str, args: dict[str, Any], as_json: bool) -> None:
    """Send a control request to the job's owner; a job whose owner died is taken over here (resume, rollback)
    or ended here (abort)."""
    from proxima_agent.engine import control

    async def work(store: Any) -> Any:
        try:
            return await control.request(store, job_id, action, args)
        except control.OwnerGone as gone:
            if action == "abort":
                await control.end_orphan(store, gone.record, "aborted; its owner had died")
                return {"ok": True, "state": "ABORTED"}
            return gone

    answer = _with_store(work)
    from proxima_agent.engine.control import OwnerGone

    if isinstance(answer, OwnerGone):
        if action not in ("resume", "rollback"):
            from proxima_agent.errors import JobStateError

            raise JobStateError(
                f"job {job_id} is {answer.record.state}: the process that ran it has died",
                hint="continue it from its last checkpoint ({0}) or end it ({1})",
                steps=[Step("resume", {"job_id": job_id}), Step("abort", {"job_id": job_id})],
                job=job_id,
            )
        _adopt(job_id, action, args, as_json)
        return
    if as_json:
        _emit_json({"job": job_id, **answer})
    else:
        extra = f" (checkpoint {answer['checkpoint']})" if "checkpoint" in answer else ""
        click.echo(f"job {job_id}: {answer['state']}{extra}")


def _adopt(job_id: str, action: str, args: dict[str, Any], as_json: bool) -> None:
    """Take over an interrupted job in this process and run it to the end here."""
    config = _config()

    async def start(engine: Any) -> Any:
        await engine.adopt(job_id)
        if action == "rollback":
            return await engine.rollback(job_id, int(args["number"]))
        return await engine.resume(job_id)

    job = _drive_job(config, start, yes=False, as_json=as_json)
    _show_result(job, config, None, 16, as_json, {}, None)


@cli.command()
@click.argument("job_id")
@click.option(
    "--suspend", is_flag=True, help="Checkpoint and stop the worker (frees memory) instead of freezing."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def pause(job_id: str, suspend: bool, as_json: bool) -> None:
    """Pause a running job: freeze its worker (SIGSTOP; memory kept), or --suspend it to a checkpoint."""
    _control(job_id, "pause", {"mode": "suspend" if suspend else "freeze"}, as_json)


@cli.command()
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def resume(job_id: str, as_json: bool) -> None:
    """Resume a paused job; a job whose process died continues here from its last checkpoint."""
    _control(job_id, "resume", {}, as_json)


@cli.command()
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def abort(job_id: str, as_json: bool) -> None:
    """Abort a job: SIGTERM, then SIGKILL after a grace period; it ends ABORTED with its progress recorded."""
    _control(job_id, "abort", {"reason": "aborted with `proxima abort`"}, as_json)


@cli.command()
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def checkpoint(job_id: str, as_json: bool) -> None:
    """Write a checkpoint of a running job now (at its next step)."""
    _control(job_id, "checkpoint", {}, as_json)


@cli.command()
@click.argument("job_id")
@click.argument("number", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def rollback(job_id: str, number: int, as_json: bool) -> None:
    """Continue a job from its checkpoint NUMBER (later checkpoints are kept until the job ends)."""
    _control(job_id, "rollback", {"number": number}, as_json)


@cli.command()
@click.option(
    "--older-than", "older_than", type=click.FloatRange(min=0), default=None, metavar="DAYS",
    help="Also remove everything jobs that ended more than DAYS ago left: all their checkpoints and results.",
)  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def gc(older_than: float | None, dry_run: bool, as_json: bool) -> None:
    """Free disk space: checkpoints of ended jobs beyond engine.checkpoint_retention, and with --older-than
    the checkpoints and result files of jobs that ended long ago. Running, paused and interrupted jobs, and
    jobs that can still be continued, keep theirs. Job records stay."""
    from proxima_agent.engine.gc import collect_garbage

    config = _config()

    async def work(store: Any) -> Any:
        return await collect_garbage(
            store, config.engine.checkpoint_retention, older_than_days=older_than, dry_run=dry_run
        )

    report = _with_store(work)
    if as_json:
        _emit_json(report.model_dump() | {"bytes_freed": report.bytes_freed})
        return
    for item in report.removed:
        click.echo(f"{'would remove' if dry_run else 'removed'} {item.kind} of {item.job_id}: {item.files} "
                   f"files, {item.bytes} bytes ({item.path})")  # fmt: skip
    click.echo(report.summary())


# --- MCP ---------------------------------------------------------------------------------------------------------


@cli.group(invoke_without_command=True)
@click.option(
    "--transport", type=click.Choice(["stdio", "http"]), default="stdio", show_default=True,
    help="stdio for a client that starts the server (Claude Desktop, Claude Code, editors); http to serve.",
)  # fmt: skip
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="HTTP: address to bind (loopback only, unless a token is set).",
)
@click.option("--port", type=int, default=8765, show_default=True, help="HTTP: port.")
@click.option(
    "--token",
    envvar="PROXIMA_MCP_TOKEN",
    help="HTTP: bearer token clients must send (needed beyond loopback). Prefer the PROXIMA_MCP_TOKEN "
    "environment variable: an option is visible to every user in the process list.",
)
@click.option(
    "--allow-origin", "allow_origins", multiple=True, metavar="ORIGIN",
    help="HTTP: also accept browser requests from this origin (e.g. http://localhost:5173); by default only "
    "the server's own origin is.",
)  # fmt: skip
@click.option(
    "--workspace", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Folder that circuit and results file paths must stay inside (default: the current folder).",
)  # fmt: skip
@click.pass_context
def mcp(
    ctx: click.Context,
    transport: str,
    host: str,
    port: int,
    token: str | None,
    allow_origins: tuple[str, ...],
    workspace: Path | None,
) -> None:
    """Serve Proxima's tools, resources and prompts over MCP (stdio by default; `proxima mcp install` registers
    the server with a client). Nothing but protocol messages is written to stdout."""
    if ctx.invoked_subcommand is not None:
        return
    if transport == "stdio":
        # HTTP's options mean nothing on stdio: refused rather than ignored (a token in the environment is
        # not an option given, and is ignored here)
        flags = {"host": "--host", "port": "--port", "token": "--token", "allow_origins": "--allow-origin"}
        given = [
            flag
            for name, flag in flags.items()
            if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
        ]
        if given:
            raise OptionError(
                f"{', '.join(given)} only {'applies' if len(given) == 1 else 'apply'} to --transport http; "
                "this server speaks stdio",
                hint=f"add --transport http to serve over HTTP, or leave out {', '.join(given)}",
            )
    config = _config()
    if transport == "stdio":
        from proxima_agent.mcp.server import run_stdio

        run_stdio(config, workspace)
    else:
        from proxima_agent.mcp.http import serve_http

        serve_http(config, workspace, host=host, port=port, token=token or None, allow_origins=allow_origins)


def _add_mcp_commands() -> None:
    from proxima_agent.mcp.install import install_command

    mcp.add_command(install_command)


_add_mcp_commands()


# A hint's next step (errors.Step, named as a tool call) said as the command a terminal user types.
_CLI_COMMANDS = {
    "list_backends": "proxima backends",
    "describe_circuit": "proxima describe {circuit}",
    "estimate_resources": "proxima estimate {circuit}",
    "select_backend": "proxima run {circuit}",
    "execute": "proxima run {circuit}",
    "list_jobs": "proxima jobs",
    "job_status": "proxima status {job_id}",
    "wait_job": "proxima status {job_id}",
    "resume": "proxima resume {job_id}",
    "abort": "proxima abort {job_id}",
    "checkpoint": "proxima checkpoint {job_id}",
    "rollback": "proxima rollback {job_id} {number}",
}
_CLI_FLAGS = {"force": "--force", "return_state": "--state", "backend": "--backend", "shots": "--shots",
              "seed": "--seed", "noise": "--noise"}  # fmt: skip


def cli_step(step: Step) -> str:
    if step.tool == "pause":
        suspend = step.args.get("mode") == "suspend"
        return f"proxima pause {step.args.get('job_id', 'JOB')}" + (" --suspend" if suspend else "")
    flags = []
    for name, value in step.args.items():
        flag = _CLI_FLAGS.get(name)
        if flag is None or step.tool is not None:
            continue
        if value is True:
            flags.append(flag)
        elif value is False:
            flags.append(f"without {flag}")
        else:
            flags.append(f"{flag} {value}")
    if step.tool is None:
        return " ".join(flags)
    form = _CLI_COMMANDS.get(step.tool, f"proxima {step.tool}")
    names = {name: str(step.args.get(name, name.upper())) for name in ("circuit", "job_id", "number")}
    return form.format(**names)


def _report(exc: ProximaError, as_json: bool) -> None:
    from proxima_agent.ui.render import error_text, make_console

    if as_json:
        _emit_json(_error_document(exc))
    make_console(stderr=True).print(error_text(exc.code, exc.message, exc.hint_for(cli_step)), soft_wrap=True)


def _error_document(exc: ProximaError) -> dict[str, Any]:
    """The JSON error document docs/errors.md promises, with the hint in the terminal's words."""
    return {"error": exc.to_dict() | {"hint": exc.hint_for(cli_step)}}


class _Reported(Exception):
    """An error whose JSON document has been printed already (with the result it goes with)."""

    def __init__(self, error: ProximaError) -> None:
        super().__init__(error.message)
        self.error = error


def _plain_error(code: str, message: str, hint: str | None, as_json: bool) -> None:
    """A failure that is not a ProximaError (usage, interruption, a bug): its JSON document under --json."""
    if as_json:
        _emit_json({"error": {"code": code, "message": message, "hint": hint, "context": {}}})


def main(argv: list[str] | None = None) -> int:
    """Entry point: exit codes 0 ok, 1 internal error, 2 usage, 3 bad input, 4 backend, 5 resources, 6 output,
    7 aborted, 130 interrupted. With --json every failure also prints its JSON error document on stdout."""
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args
    log_path = None
    try:
        from proxima_agent.logs import setup_logging

        log_path = setup_logging()
        cli.main(args=args, prog_name="proxima", standalone_mode=False)
        return 0
    except _Reported as done:
        log.info("error %s: %s", done.error.code, done.error.message)
        _report(done.error, as_json=False)
        return done.error.exit_code
    except ProximaError as exc:
        log.info("error %s: %s", exc.code, exc.message, exc_info=True)
        _report(exc, as_json)
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        _plain_error("INTERRUPTED", "interrupted", None, as_json)
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        usage = isinstance(exc, click.UsageError)
        hint = None
        if usage and exc.ctx is not None:  # type: ignore[attr-defined]
            hint = f"`{exc.ctx.command_path} --help` lists the arguments and options"  # type: ignore[attr-defined]
        _plain_error("USAGE" if usage else "PROXIMA_ERROR", exc.format_message(), hint, as_json)
        exc.show()
        return EXIT_USAGE if usage else exc.exit_code
    except Exception as exc:
        log.exception("internal error")
        where = f" (details in {log_path})" if log_path else ""
        message = f"internal error: {type(exc).__name__}: {exc}"
        _plain_error("PROXIMA_ERROR", message, f"a bug: please report it{where}", as_json)
        click.echo(f"{message}{where}", err=True)
        return EXIT_INTERNAL


def entry() -> None:
    sys.exit(main())
