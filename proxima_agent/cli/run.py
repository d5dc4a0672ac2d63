"""Running circuits: `proxima estimate` (memory and time per backend, before anything runs) and `proxima run`
(a job in a worker process, watched live on a terminal or waited for), with the helpers that drive a job to its
end and show its result, which `proxima resume` and `proxima rollback` use too for a job they take over."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from proxima_agent.cli.common import Reported, emit_json, error_document, json_option, log, read_config
from proxima_agent.errors import OptionError, quoted


def _backend_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    """`-O key=value` pairs; values are read as JSON where they parse (numbers, true/false, null), else text."""
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


@click.command()
@click.argument("circuit")
@click.option("--noise", help=_NOISE_HELP)
@click.option("--shots", type=int, default=None, help="Shots (default from proxima.json, else 1024).")
@click.option("-O", "--option", multiple=True, help=_OPTION_HELP)
@json_option
def estimate(
    circuit: str, noise: str | None, shots: int | None, option: tuple[str, ...], as_json: bool
) -> None:
    """Estimate memory and rough time per backend, and whether each is feasible on this machine now."""
    from proxima_agent.circuits.loading import load_circuit
    from proxima_agent.selection.estimate import estimate as make_estimate

    config = read_config()
    loaded = load_circuit(circuit)
    options = _run_options(config.run.shots if shots is None else shots, None, noise, option=option)
    options.noise.check(loaded)
    est = make_estimate(loaded, options, margin=config.estimate.memory_margin)
    if as_json:  # the estimate_resources tool's shape
        from proxima_agent.tools.planning import EstimateOutput

        emit_json(EstimateOutput.of(est).model_dump(mode="json"))
        return
    from proxima_agent.ui.render import estimate_table, make_console

    make_console().print(estimate_table(est))


@click.command()
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
@json_option
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

    config = read_config()
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

    job = drive_job(config, submit, yes=yes, as_json=as_json)
    explanation = job.selection.explanation if job.selection else None
    if explanation is None and not backend:
        explanation = f"{backend_id} is the default backend in proxima.json"
    extra = {"selection": job.selection.model_dump(exclude={"estimate"}) if job.selection else None}
    show_result(job, config, output, top, as_json, extra, explanation)


def drive_job(config: Any, start: Any, *, yes: bool, as_json: bool) -> Any:
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


def show_result(
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
            payload["error"] = error_document(unsaved)["error"]
            emit_json(payload)
            raise Reported(unsaved)
        emit_json(payload)
        return
    from proxima_agent.ui.render import make_console, result_panel

    console = make_console()
    console.print(result_panel(result, explanation))
    console.print(f"job {job.id}", style="dim")
    if output is not None:
        console.print(f"wrote {output}")
    if unsaved is not None:
        raise unsaved


COMMANDS: list[click.Command] = [estimate, run]
