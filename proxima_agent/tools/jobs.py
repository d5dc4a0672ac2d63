"""Tools that run and control jobs: `execute` starts one and waits a bounded time, `wait_job` waits again,
`job_status` / `list_jobs` look, and `pause`, `resume`, `abort`, `checkpoint`, `rollback` control.

A job this process owns is driven by its engine directly; a job owned by another process (a `proxima run` in
a terminal) is controlled through the database, as `proxima pause JOB` does; a job whose owner died is taken
over here to resume or roll back. Waits are bounded (MCP clients cut a call at about 60 s) and report
progress; a client that cancels a wait leaves the job running unless the call asked for `abort_on_cancel`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from proxima_agent.errors import JobStateError
from proxima_agent.tools.context import ToolContext
from proxima_agent.tools.models import (
    MAX_ID_CHARS,
    BackendId,
    BackendOptions,
    CircuitArg,
    ErrorInfo,
    NoiseArg,
    ShotsArg,
    ToolInput,
    ToolOutput,
)

MAX_WAIT_S = 50.0  # under the ~60 s at which Claude Desktop cuts a tool call
DEFAULT_WAIT_S = 20.0
INLINE_OUTCOMES = 256  # counts / probabilities with more distinct outcomes are linked, not inlined
TOP_OUTCOMES = 16
POLL_S = 0.25

WaitArg = Field(
    DEFAULT_WAIT_S,
    ge=0,
    le=MAX_WAIT_S,
    description="seconds to wait for the job to end before returning its state",
)
JobId = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", description="a job id")
]


# --- inputs ---------------------------------------------------------------------------------------------------


class ExecuteInput(ToolInput):
    circuit: CircuitArg
    backend: BackendId | None = Field(
        None, description="backend id (cirq-sv, cirq-dm, aer-sv, aer-dm, lret); omit to let the rules choose"
    )
    shots: ShotsArg = None
    seed: int | None = Field(None, ge=0, description="seed; the same seed gives the same counts on a backend")
    noise: NoiseArg = None
    observables: list[Annotated[str, Field(min_length=1, max_length=1024)]] = Field(
        default_factory=list, max_length=64, description="Pauli strings for exact expectation values (lret)"
    )
    backend_options: BackendOptions = Field(
        default_factory=dict, description="lret options: threshold, max_rank, memory_budget_bytes, precision"
    )
    probabilities: bool = Field(
        False, description="include the exact outcome probabilities (linked when many)"
    )
    return_state: bool = Field(
        False, description="keep the final state vector / density matrix as a resource"
    )
    wait_seconds: float = WaitArg
    force: bool = Field(
        False, description="explicit consent to run even though the estimate says it does not fit in memory"
    )
    abort_on_cancel: bool = Field(False, description="abort the job if this call is cancelled while waiting")


class JobInput(ToolInput):
    job_id: JobId


class WaitInput(JobInput):
    wait_seconds: float = WaitArg
    probabilities: bool = Field(
        False, description="include the exact outcome probabilities (linked when many)"
    )


class PauseInput(JobInput):
    mode: Literal["freeze", "suspend"] = Field(
        "freeze",
        description="freeze: stop the worker (SIGSTOP; no CPU, memory kept); suspend: checkpoint and free the "
        "memory (steppable backends)",
    )


class RollbackInput(JobInput):
    number: int = Field(ge=1, description="the checkpoint to continue from (job_status lists them)")


class ListJobsInput(ToolInput):
    limit: int = Field(20, ge=1, le=500, description="most recent jobs returned")
    states: list[Annotated[str, Field(max_length=MAX_ID_CHARS)]] = Field(
        default_factory=list, max_length=16, description="only jobs in these states, e.g. ['EXECUTING']"
    )


# --- outputs --------------------------------------------------------------------------------------------------


class Link(BaseModel):
    """A payload too large to inline: read it as an MCP resource."""

    uri: str
    mime_type: str
    bytes: int | None = None
    description: str


class Outcome(BaseModel):
    outcome: str = Field(description="bitstring; classical bit 0 is the rightmost character")
    count: int
    probability: float | None = Field(None, description="exact probability, where the backend computes it")


class LretReport(BaseModel):
    final_rank: int
    peak_rank: int
    truncations: int
    threshold: float
    discarded_weight: float
    trace_distance_bound: float = Field(description="bound on the trace distance to the exact state")
    renormalized_by: float = Field(description="factor the outcome probabilities were scaled by (1: none)")


class ResultView(BaseModel):
    backend: str
    method: str
    circuit: str
    num_qubits: int
    num_clbits: int
    shots: int
    seed: int
    exact: bool = Field(description="probabilities / state are exact (not sampled trajectories)")
    distinct_outcomes: int
    top_outcomes: list[Outcome]
    counts: dict[str, int] | None = Field(
        None, description=f"all counts, when at most {INLINE_OUTCOMES} outcomes"
    )
    probabilities: dict[str, float] | None = None
    expectations: dict[str, float] = Field(default_factory=dict)
    timing: dict[str, float] = Field(description="seconds: conversion, simulation, total")
    peak_memory_increase_bytes: int | None = None
    lret: LretReport | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    links: list[Link] = Field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any], job_id: str, *, probabilities: bool) -> ResultView:
        """From the stored result (result.json): small parts inline, large ones as resource links."""
        counts: dict[str, int] = data["counts"]
        probs = data.get("probabilities")
        probs = probs if isinstance(probs, dict) else None
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_OUTCOMES]
        base = f"proxima://results/{job_id}"
        links = [Link(uri=base, mime_type="application/json", description="the whole result")]
        inline_counts = counts if len(counts) <= INLINE_OUTCOMES else None
        if inline_counts is None:
            links.append(
                Link(
                    uri=f"{base}/counts.csv",
                    mime_type="text/csv",
                    description=f"all {len(counts)} outcomes with counts and probabilities",
                )
            )
        inline_probs = None
        if probabilities:
            if probs is not None and len(probs) <= INLINE_OUTCOMES:
                inline_probs = probs
            elif data.get("probabilities") is not None:
                links.append(_array_link(base, "probabilities", data["probabilities"], probs))
        for name in ("statevector", "density_matrix"):
            if data.get(name) is not None:
                links.append(_array_link(base, name, data[name], None))
        lret = (data.get("metadata") or {}).get("lret")
        memory = data.get("memory") or {}
        return cls(
            backend=data["backend"], method=data["method"], circuit=data["circuit"], num_qubits=data["num_qubits"],
            num_clbits=data["num_clbits"], shots=data["shots"], seed=data["seed"], exact=data["exact"],
            distinct_outcomes=len(counts),
            top_outcomes=[Outcome(outcome=k, count=v, probability=(probs or {}).get(k)) for k, v in top],
            counts=inline_counts, probabilities=inline_probs, expectations=data.get("expectations") or {},
            timing=data["timing"], peak_memory_increase_bytes=memory.get("peak_increase_bytes"),
            lret=LretReport(**{k: lret[k] for k in LretReport.model_fields}) if lret else None,
            versions=data.get("versions") or {}, links=links,
        )  # fmt: skip

    def text(self) -> str:
        shown = ", ".join(
            f"{o.outcome}: {o.count}" + (f" (p={o.probability:.4g})" if o.probability is not None else "")
            for o in self.top_outcomes[:8]
        )
        more = f" ... {self.distinct_outcomes - 8} more" if self.distinct_outcomes > 8 else ""
        text = (
            f"{self.circuit} on {self.backend} ({self.method}): {self.shots} shots, seed {self.seed}; "
            f"{self.timing['total_s']:.3f} s; outcomes {shown}{more}"
        )
        if self.expectations:
            text += "; " + ", ".join(f"<{k}> = {v:.6g}" for k, v in self.expectations.items())
        if self.lret:
            text += (
                f"; lret rank {self.lret.final_rank} (peak {self.lret.peak_rank}), discarded weight "
                f"{self.lret.discarded_weight:.3g}, trace-distance bound {self.lret.trace_distance_bound:.3g}"
            )
        return text


def _array_link(base: str, name: str, info: Any, inline: dict[str, float] | None) -> Link:
    size = info.get("bytes") if isinstance(info, dict) else None
    what = {"statevector": "final state vector", "density_matrix": "final density matrix"}.get(name, name)
    shape = f" {tuple(info['shape'])}" if isinstance(info, dict) and "shape" in info else ""
    if inline is not None:
        shape = f" ({len(inline)} nonzero outcomes)"
    return Link(
        uri=f"{base}/{name}.npy", mime_type="application/octet-stream", bytes=size,
        description=f"{what}{shape}, numpy .npy (complex values for states)",
    )  # fmt: skip


class ProgressView(BaseModel):
    done: int
    total: int | None
    unit: str = "steps"


class JobView(ToolOutput):
    job_id: str
    state: str
    ended: bool
    circuit: str
    backend: str | None
    progress: ProgressView
    elapsed_s: float | None = Field(None, description="execution time so far, paused time excluded")
    paused_by: str | None = None
    selection: str | None = Field(None, description="why this backend, when the call did not name one")
    notices: list[str] = Field(default_factory=list)
    result: ResultView | None = None
    error: ErrorInfo | None = None
    next: str | None = Field(None, description="what to call next")

    def text(self) -> str:
        total = f"/{self.progress.total}" if self.progress.total else ""
        head = (
            f"job {self.job_id}: {self.state} ({self.circuit} on {self.backend or 'to be chosen'}, step "
            + (f"{self.progress.done}{total})")
        )
        parts = [head]
        if self.selection:
            parts.append(f"chosen: {self.selection}")
        if self.result is not None:
            parts.append(self.result.text())
        if self.error is not None:
            parts.append(self.error.text())
        parts += [f"notice: {n}" for n in self.notices]
        if self.next:
            parts.append(self.next)
        return "\n".join(parts)


class TransitionView(BaseModel):
    at: float
    old: str | None
    new: str
    reason: str


class CheckpointView(BaseModel):
    number: int
    position: int
    total: int
    created: float
    bytes: int
    reason: str


class JobStatus(JobView):
    created: float
    worker_pid: int | None = Field(None, description="the worker process running it, while one does")
    transitions: list[TransitionView]
    checkpoints: list[CheckpointView]
    consent: list[dict[str, Any]] = Field(default_factory=list, description="consent requests and answers")

    def text(self) -> str:
        lines = [super().text()]
        lines += [f"  {t.old or '-'} -> {t.new}: {t.reason}" for t in self.transitions[-8:]]
        if self.checkpoints:
            lines.append(
                "checkpoints: "
                + ", ".join(f"{c.number} (step {c.position}/{c.total}, {c.reason})" for c in self.checkpoints)
            )
        return "\n".join(lines)


class JobSummary(BaseModel):
    job_id: str
    state: str
    circuit: str
    backend: str | None
    created: float
    progress: ProgressView


class JobList(ToolOutput):
    jobs: list[JobSummary]

    def text(self) -> str:
        if not self.jobs:
            return "no jobs yet"
        return "\n".join(
            f"- {j.job_id}: {j.state}, {j.circuit} on {j.backend or '?'}, step {j.progress.done}"
            + (f"/{j.progress.total}" if j.progress.total else "")
            for j in self.jobs
        )


class CheckpointOutput(ToolOutput):
    job_id: str
    checkpoint: CheckpointView

    def text(self) -> str:
        c = self.checkpoint
        return f"job {self.job_id}: checkpoint {c.number} at step {c.position} of {c.total} ({c.bytes} bytes)"


# --- building views -------------------------------------------------------------------------------------------


def _read_result(record: Any) -> dict[str, Any] | None:
    from proxima_agent.store.results import read_result

    try:
        return read_result(record)
    except JobStateError:  # its files were removed: the view says COMPLETED, without the figures
        return None


def _view(record: Any, *, job: Any = None, probabilities: bool = False) -> JobView:
    """A job as callers see it, from its database record (and the live job, where this process owns it)."""
    from proxima_agent.engine.states import FINAL, JobState

    state = JobState(record.state)
    ended = state in FINAL
    data = _read_result(record) if state == JobState.COMPLETED else None
    error = ErrorInfo.from_dict(record.error) if record.error else None
    if job is not None and job.error is not None and ended:
        error = ErrorInfo.of(job.error)
    stages = job.timer.to_dict() if job is not None else (record.stages or {})
    elapsed = stages.get("total")
    nxt = None
    if not ended:
        nxt = (
            f"call wait_job with job_id={record.id} to wait for it"
            if state != JobState.PAUSED
            else f"call resume with job_id={record.id} to continue it"
        )
    if state == JobState.INTERRUPTED:
        nxt = f"its process died; call resume with job_id={record.id} to continue it from its last checkpoint"
    return JobView(
        job_id=record.id, state=str(state), ended=ended, circuit=record.circuit, backend=record.backend,
        progress=ProgressView(done=record.steps_done, total=record.steps_total), elapsed_s=elapsed,
        paused_by=record.paused_by,
        selection=job.selection.explanation if job is not None and job.selection is not None else None,
        notices=list(job.notices) if job is not None else [],
        result=ResultView.from_json(data, record.id, probabilities=probabilities) if data else None,
        error=error, next=nxt,
    )  # fmt: skip


async def current_view(ctx: ToolContext, job_id: str, probabilities: bool = False) -> JobView:
    engine = await ctx.runtime.engine()
    job = engine.jobs.get(job_id)
    if job is not None:
        return _view(job.record, job=job, probabilities=probabilities)
    from proxima_agent.engine.engine import recover_orphans

    await recover_orphans(engine.store)
    return _view(await engine.store.get_job(job_id), probabilities=probabilities)


async def wait_until_ended(ctx: ToolContext, job_id: str, seconds: float) -> None:
    """Wait until the job ends or `seconds` pass, reporting progress as it moves."""
    from proxima_agent.engine.states import FINAL, JobState

    engine = await ctx.runtime.engine()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    reported: float | None = (
        None  # MCP progress must grow with each notification (a rollback moves steps back)
    )
    job = engine.jobs.get(job_id)
    ended = asyncio.ensure_future(job.ended.wait()) if job is not None else None
    try:
        while True:
            record = job.record if job is not None else await engine.store.get_job(job_id)
            if JobState(record.state) in FINAL:
                return
            if reported is None or record.steps_done > reported:
                reported = record.steps_done
                await ctx.report(reported, record.steps_total, f"{record.state}: step {record.steps_done}")
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            if ended is not None:
                await asyncio.wait({ended}, timeout=min(remaining, POLL_S))
            else:
                await asyncio.sleep(min(remaining, POLL_S * 2))
    finally:
        if ended is not None:
            ended.cancel()


# --- the tools ------------------------------------------------------------------------------------------------


async def execute_consent(args: ExecuteInput, ctx: ToolContext) -> Any:
    """The question to put to the user before `execute`, when the backend it names does not fit here."""
    from proxima_agent.backends.registry import get_backend
    from proxima_agent.engine.engine import memory_consent_request
    from proxima_agent.errors import ProximaError, ResourceError
    from proxima_agent.selection.select import check_fits
    from proxima_agent.tools.sources import circuit_and_options

    backend_id = args.backend or ctx.runtime.config.run.backend
    if args.force or backend_id is None:
        return None

    def check() -> Any:
        circuit, options = circuit_and_options(
            ctx.runtime,
            args.circuit,
            shots=args.shots,
            noise=args.noise,
            backend_options=args.backend_options,
        )
        try:
            check_fits(get_backend(backend_id), circuit, options, ctx.runtime.config.estimate.memory_margin)
        except ResourceError as exc:
            return memory_consent_request(circuit.name, exc)
        return None

    try:
        return await asyncio.to_thread(check)
    except ProximaError:
        return None  # bad input: the call itself reports it


async def execute(args: ExecuteInput, ctx: ToolContext) -> JobView:
    from proxima_agent.backends.registry import get_backend
    from proxima_agent.tools.sources import circuit_and_options

    runtime = ctx.runtime
    backend_id = args.backend or runtime.config.run.backend
    if backend_id:
        get_backend(backend_id)  # an unknown or missing backend fails before the circuit is parsed
    circuit, options = await asyncio.to_thread(
        circuit_and_options, runtime, args.circuit, shots=args.shots, seed=args.seed, noise=args.noise,
        observables=args.observables, backend_options=args.backend_options, return_state=args.return_state,
    )  # fmt: skip
    engine = await runtime.engine()
    job = await engine.submit(
        circuit,
        options,
        backend_id,
        force=args.force,
        enabled=runtime.enabled_backends(),
        consent=ctx.consent,
    )
    await ctx.report(0, job.record.steps_total, f"started job {job.id} on {job.record.backend}")
    try:
        await wait_until_ended(ctx, job.id, args.wait_seconds)
    except asyncio.CancelledError:
        if args.abort_on_cancel and not job.ended.is_set():
            # shielded: the abort must finish even though this call is being cancelled
            with contextlib.suppress(Exception):
                await asyncio.shield(
                    engine.abort(job.id, reason="the tool call that started it was cancelled")
                )
        raise
    return _view(job.record, job=job, probabilities=args.probabilities)


async def wait_job(args: WaitInput, ctx: ToolContext) -> JobView:
    await current_view(ctx, args.job_id)  # an unknown id fails here
    await wait_until_ended(ctx, args.job_id, args.wait_seconds)
    return await current_view(ctx, args.job_id, probabilities=args.probabilities)


async def status_of(store: Any, record: Any, job: Any = None) -> JobStatus:
    """A job's whole status from its stored record (and the live job, where this process owns it): the one
    shape `job_status` and `proxima status --json` give."""
    return JobStatus(
        **_view(record if job is None else job.record, job=job).model_dump(),
        created=record.created,
        worker_pid=record.worker_pid,
        transitions=[TransitionView(**t.model_dump()) for t in await store.transitions(record.id)],
        checkpoints=[
            CheckpointView(**c.model_dump(include=set(CheckpointView.model_fields)))
            for c in await store.checkpoints(record.id)
        ],
        consent=await store.consent_decisions(record.id),
    )


def job_summary(record: Any) -> JobSummary:
    """A line of `list_jobs` and of `proxima jobs --json`."""
    return JobSummary(
        job_id=record.id,
        state=record.state,
        circuit=record.circuit,
        backend=record.backend,
        created=record.created,
        progress=ProgressView(done=record.steps_done, total=record.steps_total),
    )


async def job_status(args: JobInput, ctx: ToolContext) -> JobStatus:
    engine = await ctx.runtime.engine()
    job = engine.jobs.get(args.job_id)
    if job is None:
        from proxima_agent.engine.engine import recover_orphans

        await recover_orphans(engine.store)
    return await status_of(engine.store, await engine.store.get_job(args.job_id), job)


async def list_jobs(args: ListJobsInput, ctx: ToolContext) -> JobList:
    from proxima_agent.engine.engine import recover_orphans
    from proxima_agent.engine.states import JobState

    known = {s.value for s in JobState}
    unknown = [s for s in args.states if s.upper() not in known]
    if unknown:
        raise JobStateError(f"unknown job state(s) {unknown}", hint="states: " + ", ".join(sorted(known)))
    store = (await ctx.runtime.engine()).store
    await recover_orphans(store)
    records = await store.list_jobs(args.limit, tuple(s.upper() for s in args.states))
    return JobList(jobs=[job_summary(r) for r in records])


async def _control(ctx: ToolContext, job_id: str, action: str, args: dict[str, Any]) -> Any:
    """Carry out a control action on any job: directly if this process owns it, through its owner if another
    process does, and by taking it over if its owner died (resume, rollback) or ending it (abort)."""
    from proxima_agent.engine import control

    engine = await ctx.runtime.engine()
    if job_id not in engine.jobs:
        try:
            return await control.request(engine.store, job_id, action, args)
        except control.OwnerGone as gone:
            if action == "abort":
                await control.end_orphan(engine.store, gone.record, "aborted; its owner had died")
                return {"ok": True, "state": "ABORTED"}
            if action not in ("resume", "rollback"):
                raise JobStateError(
                    f"job {job_id} is {gone.record.state}: the process that ran it has died",
                    hint="resume it (from its last checkpoint) or abort it",
                    job=job_id,
                ) from None
            await engine.adopt(job_id)
    if action == "pause":
        return await engine.pause(job_id, args["mode"])
    if action == "resume":
        return await engine.resume(job_id)
    if action == "abort":
        return await engine.abort(job_id, reason="aborted by a tool call")
    if action == "checkpoint":
        return await engine.checkpoint(job_id)
    return await engine.rollback(job_id, args["number"])


async def pause(args: PauseInput, ctx: ToolContext) -> JobView:
    await _control(ctx, args.job_id, "pause", {"mode": args.mode})
    if args.mode == "suspend":  # the checkpoint is written at the next step boundary: wait for it, briefly
        await _settle(ctx, args.job_id, "PAUSING")
    return await current_view(ctx, args.job_id)


async def resume(args: JobInput, ctx: ToolContext) -> JobView:
    await _control(ctx, args.job_id, "resume", {})
    return await current_view(ctx, args.job_id)


async def abort(args: JobInput, ctx: ToolContext) -> JobView:
    await _control(ctx, args.job_id, "abort", {"reason": "aborted by a tool call"})
    return await current_view(ctx, args.job_id)


async def checkpoint(args: JobInput, ctx: ToolContext) -> CheckpointOutput:
    answer = await _control(ctx, args.job_id, "checkpoint", {})
    store = (await ctx.runtime.engine()).store
    number = answer["checkpoint"] if isinstance(answer, dict) else answer.number
    record = next(c for c in await store.checkpoints(args.job_id) if c.number == number)
    return CheckpointOutput(
        job_id=args.job_id,
        checkpoint=CheckpointView(**record.model_dump(include=set(CheckpointView.model_fields))),
    )


async def rollback(args: RollbackInput, ctx: ToolContext) -> JobView:
    await _control(ctx, args.job_id, "rollback", {"number": args.number})
    return await current_view(ctx, args.job_id)


async def _settle(ctx: ToolContext, job_id: str, passing: str, seconds: float = 10.0) -> None:
    """Wait (bounded) until the job has left the state `passing`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (await current_view(ctx, job_id)).state != passing:
            return
        await asyncio.sleep(0.05)
