"""Tools that make sense of results: `compare` (one circuit on several backends, with agreement metrics, a
consensus verdict and a ranking) and `interpret` (what a result, a comparison or a results file says, with a
short reading and a chart). Every figure comes from `proxima_agent.analysis`, computed from the results."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr, model_validator

from proxima_agent.analysis.figures import Consensus, OutcomeStatistics
from proxima_agent.errors import InputError, ProximaError
from proxima_agent.tools.context import ToolContext
from proxima_agent.tools.jobs import JobId, JobView, WaitArg, current_view, wait_until_ended
from proxima_agent.tools.models import BackendId, CircuitArg, NoiseArg, ShotsArg, ToolInput, ToolOutput

IDEAL_MAX_QUBITS = 20  # the noiseless reference of `interpret` is a state vector: 16 MiB at 20 qubits


async def job_result(ctx: ToolContext, job_id: str) -> Any:
    """A completed job's SimulationResult: in memory if this process ran it, else from its stored file."""
    from proxima_agent.backends.result import SimulationResult

    engine = await ctx.runtime.engine()
    job = engine.jobs.get(job_id)
    if job is not None and job.result is not None:
        return job.result
    from proxima_agent.store.results import read_result

    return SimulationResult.from_json_dict(read_result(await engine.store.get_job(job_id)))


# --- compare ------------------------------------------------------------------------------------------------


class CompareInput(ToolInput):
    circuit: CircuitArg | None = Field(
        None, description="the circuit to run on each backend (or give job_ids)"
    )
    backends: list[BackendId] | None = Field(
        None,
        max_length=16,
        description="backend ids to compare (default: every enabled backend that can run it here)",
    )
    shots: ShotsArg = None
    seed: int | None = Field(None, ge=0, description="one seed for every run (default: drawn once, reported)")
    noise: NoiseArg = None
    job_ids: list[JobId] | None = Field(
        None,
        min_length=2,
        max_length=16,
        description="compare these completed jobs instead of running anything",
    )
    wait_seconds: float = WaitArg

    @model_validator(mode="after")
    def _one_source(self) -> CompareInput:
        if (self.circuit is None) == (self.job_ids is None):
            raise ValueError(
                "give either circuit (to run it on several backends) or job_ids (to compare them)"
            )
        return self


class Skipped(BaseModel):
    backend: str
    reason: str


class CompareOutput(ToolOutput):
    circuit: str | None
    jobs: list[JobView] = Field(description="one job per backend, with its state and result summary")
    skipped: list[Skipped] = Field(default_factory=list, description="backends not run, and why")
    parallel: bool | None = Field(None, description="the runs shared the machine at once (memory allowed)")
    consensus: Consensus | None = Field(
        None, description="pairwise agreement, outliers, verdict and ranking, once all ended"
    )
    verdict: str
    next: str | None = None

    def text(self) -> str:
        lines = [self.verdict]
        if self.consensus is not None:
            for row in self.consensus.ranking:
                ratio = f"{row.time_ratio:.2f}x" if row.time_ratio is not None else "-"
                lines.append(
                    f"{row.rank}. {row.label}: {row.time_s:.3f} s ({ratio} the fastest)"
                    + (", disagrees with most" if row.outlier else "")
                )
        lines += [f"skipped {s.backend}: {s.reason}" for s in self.skipped]
        if self.next:
            lines.append(self.next)
        return "\n".join(lines)


async def _plan_compare(
    args: CompareInput, ctx: ToolContext
) -> tuple[Any, Any, list[str], list[Skipped], bool]:
    """The circuit, its options, the backends to run, those skipped, and whether they fit in memory at once."""
    from proxima_agent.backends.registry import all_backends, get_backend
    from proxima_agent.seeds import resolve_seed
    from proxima_agent.selection.estimate import estimate
    from proxima_agent.tools.sources import circuit_and_options

    runtime = ctx.runtime
    for backend_id in args.backends or []:
        get_backend(backend_id, require_available=False)
    assert args.circuit is not None
    circuit, options = await asyncio.to_thread(
        circuit_and_options,
        runtime,
        args.circuit,
        shots=args.shots,
        seed=resolve_seed(args.seed),
        noise=args.noise,
    )
    wanted = args.backends or runtime.enabled_backends()
    est = await asyncio.to_thread(
        estimate, circuit, options, backends=[b for b in all_backends() if b.id in wanted],
        margin=runtime.config.estimate.memory_margin,
    )  # fmt: skip
    rows = {r.backend: r for r in est.backends}
    chosen = [b for b in wanted if rows[b].feasible]
    skipped = [
        Skipped(backend=b, reason=rows[b].reason or "not feasible") for b in wanted if not rows[b].feasible
    ]
    if len(chosen) < 2:
        raise InputError(
            f"a comparison needs two backends that can run {circuit.name} here; "
            + (f"only {chosen[0]} can" if chosen else "none can")
            + "".join(f"; {s.backend}: {s.reason}" for s in skipped),
            hint="use a smaller circuit, or name backends that support its noise",
        )
    together = sum(rows[b].memory_bytes for b in chosen) <= est.machine.usable_bytes
    return circuit, options, chosen, skipped, together


async def compare(args: CompareInput, ctx: ToolContext) -> CompareOutput:
    from proxima_agent.analysis.metrics import consensus

    engine = await ctx.runtime.engine()
    skipped: list[Skipped] = []
    parallel = None
    if args.job_ids is not None:
        job_ids = list(dict.fromkeys(args.job_ids))
        name = None
    else:
        circuit, options, chosen, skipped, parallel = await _plan_compare(args, ctx)
        name = circuit.name
        loop = asyncio.get_running_loop()
        deadline = loop.time() + args.wait_seconds
        job_ids = []
        for index, backend_id in enumerate(chosen):
            await ctx.report(index, len(chosen), f"starting {backend_id}")
            try:
                job = await engine.submit(circuit, options, backend_id, consent=ctx.consent)
            except ProximaError as exc:  # one backend refusing does not end the comparison
                skipped.append(Skipped(backend=backend_id, reason=f"{exc.code}: {exc.message}"))
                continue
            job_ids.append(job.id)
            if not parallel:  # in turn: each run has the machine to itself
                await wait_until_ended(ctx, job.id, max(0.0, deadline - loop.time()))
        for job_id in job_ids:
            await wait_until_ended(ctx, job_id, max(0.0, deadline - loop.time()))
    views = [await current_view(ctx, job_id) for job_id in job_ids]
    done = [v for v in views if v.state == "COMPLETED"]
    unfinished = [v.job_id for v in views if not v.ended]
    failed = [v for v in views if v.ended and v.state != "COMPLETED"]
    nxt, summary = None, None
    if unfinished:
        verdict = f"{len(unfinished)} of {len(views)} runs are still going; no verdict yet"
        nxt = f"wait for them (wait_job), then call compare with job_ids={job_ids}"
    elif len(done) < 2:
        verdict = "fewer than two runs completed, so there is nothing to compare: " + "; ".join(
            f"{v.backend} {v.state}" + (f" ({v.error.code}: {v.error.message})" if v.error else "")
            for v in failed
        )
    else:
        results = [await job_result(ctx, v.job_id) for v in done]
        summary = await asyncio.to_thread(consensus, results)
        verdict = summary.verdict + "".join(f"; {v.backend} {v.state}" for v in failed)
        name = name or results[0].circuit
    await ctx.report(len(views), len(views), verdict)
    return CompareOutput(
        circuit=name,
        jobs=views,
        skipped=skipped,
        parallel=parallel,
        consensus=summary,
        verdict=verdict,
        next=nxt,
    )


# --- interpret ----------------------------------------------------------------------------------------------


class InterpretInput(ToolInput):
    job_id: JobId | None = Field(None, description="a completed job to interpret")
    job_ids: list[JobId] | None = Field(
        None, min_length=2, max_length=16, description="completed jobs to compare"
    )
    file: str | None = Field(
        None, max_length=4096, description="a results file in the workspace (.csv, .xlsx or .json, as Proxima "
        "writes a run's result)",
    )  # fmt: skip
    ideal: bool = Field(
        True,
        description="for a noisy job, also run the circuit without noise (exactly, as a state vector) and "
        f"report the fidelity to it (up to {IDEAL_MAX_QUBITS} qubits)",
    )
    chart: bool = Field(True, description="attach a PNG histogram (or comparison chart)")

    @model_validator(mode="after")
    def _one_source(self) -> InterpretInput:
        given = [x for x in (self.job_id, self.job_ids, self.file) if x is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of job_id, job_ids or file")
        return self


class InterpretOutput(ToolOutput):
    source: str
    reading: str = Field(description="a short plain-text reading built from the figures below")
    statistics: OutcomeStatistics | None = Field(
        None, description="entropy, likeliest outcomes, marginals and parities per bit"
    )
    purity: float | None = Field(None, description="Re tr(rho^2), where the result has a density matrix")
    fidelity_to_ideal: float | None = Field(
        None, description="Hellinger fidelity of the outcome distribution to the noiseless one"
    )
    ideal_job: str | None = Field(None, description="the job that computed the noiseless reference")
    ideal_note: str | None = Field(None, description="why no fidelity to the ideal was computed")
    comparison: Consensus | None = Field(
        None, description="for job_ids: pairwise agreement, verdict and ranking"
    )
    _png: bytes | None = PrivateAttr(None)

    def text(self) -> str:
        return self.reading

    def images(self) -> list[tuple[str, bytes]]:
        return [("image/png", self._png)] if self._png else []


async def _ideal(ctx: ToolContext, result: Any, job_id: str) -> tuple[float | None, str | None, str | None]:
    """Fidelity to the noiseless run of the same circuit: computed by a real job, never assumed."""
    from proxima_agent.analysis.metrics import distribution
    from proxima_agent.analysis.statistics import fidelity_to_ideal
    from proxima_agent.backends.base import RunOptions
    from proxima_agent.circuits.ir import Circuit

    engine = await ctx.runtime.engine()
    record = await engine.store.get_job(job_id)
    spec = record.spec
    options = RunOptions.model_validate(spec["options"])
    if options.noise.is_empty or result.num_qubits > IDEAL_MAX_QUBITS:
        why = "the run was noiseless" if options.noise.is_empty else f"more than {IDEAL_MAX_QUBITS} qubits"
        return None, None, why
    ideal_options = RunOptions(shots=options.shots, seed=options.seed)
    enabled = [b for b in ("aer-sv", "cirq-sv") if b in ctx.runtime.enabled_backends()]
    if not enabled:
        return None, None, "no statevector backend is enabled"
    try:
        job = await engine.submit(Circuit.model_validate(spec["circuit"]), ideal_options, enabled[0])
    except ProximaError as exc:
        return None, None, f"the noiseless run was refused: {exc.message}"
    await engine.wait(job.id)
    if job.result is None:
        return None, job.id, f"the noiseless run {job.state}"
    ideal = job.result.probability_dict()
    return fidelity_to_ideal(distribution(result), ideal), job.id, None


async def interpret(args: InterpretInput, ctx: ToolContext) -> InterpretOutput:
    from proxima_agent.analysis import plots, reading
    from proxima_agent.analysis.metrics import consensus, distribution
    from proxima_agent.analysis.results_files import ResultsData, read_results_file
    from proxima_agent.analysis.statistics import purity

    if args.job_ids is not None:
        results = [await job_result(ctx, j) for j in dict.fromkeys(args.job_ids)]
        agreement = await asyncio.to_thread(consensus, results)
        out = InterpretOutput(
            source=f"jobs {', '.join(args.job_ids)}",
            reading=reading.read_comparison(agreement, circuit=results[0].circuit),
            comparison=agreement,
        )
        if args.chart:
            dists = dict(zip(agreement.backends, (distribution(r) for r in results), strict=True))
            out._png = await asyncio.to_thread(plots.comparison_png, dists, title=results[0].circuit)
        return out
    fidelity = ideal_job = ideal_note = None
    rho_purity = None
    if args.job_id is not None:
        result = await job_result(ctx, args.job_id)
        data = ResultsData.from_result(result)
        source = f"job {args.job_id}"
        if result.density_matrix is not None:
            rho_purity = purity(result.density_matrix)
        if args.ideal:
            fidelity, ideal_job, ideal_note = await _ideal(ctx, result, args.job_id)
    else:
        assert args.file is not None
        path = ctx.runtime.resolve_path(args.file)
        data = await asyncio.to_thread(read_results_file, path)
        source = str(path)
    stats = await asyncio.to_thread(data.statistics)
    text = reading.read_result(
        stats, backend=data.backend, circuit=data.circuit, purity=rho_purity, fidelity=fidelity
    )
    out = InterpretOutput(
        source=source, reading=text, statistics=stats, purity=rho_purity, fidelity_to_ideal=fidelity,
        ideal_job=ideal_job, ideal_note=ideal_note,
    )  # fmt: skip
    if args.chart:
        title = f"{data.circuit or source} on {data.backend}" if data.backend else (data.circuit or source)
        out._png = await asyncio.to_thread(plots.histogram_png, data.distribution(), title=title)
    return out
