"""The engine: owns jobs, drives them in worker processes, and carries out pause, resume, abort, checkpoint and
rollback, whether asked in this process or by a control request from another one (stored in SQLite).

Everything runs on one asyncio loop. Each running job has a reader thread that moves its worker's messages onto
a queue, and a driver task that applies them in order; the sentinel's thread posts to the same loop.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import os
import secrets
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import psutil

from proxima_agent.backends.base import RunOptions
from proxima_agent.backends.result import SimulationResult
from proxima_agent.circuits.ir import Circuit
from proxima_agent.config import EngineSettings, ProximaConfig, SentinelLevel
from proxima_agent.engine.checkpoints import (
    checkpoint_dir,
    manifest_path,
    prune_checkpoints,
    read_checkpoint,
    relative_state_path,
)
from proxima_agent.engine.consent import ConsentOption, ConsentProvider, ConsentRequest, FixedConsent
from proxima_agent.engine.pool import Executor, LocalPool, WorkerHandle
from proxima_agent.engine.sentinel import Sample, Sentinel
from proxima_agent.engine.states import FINAL, JobState, check_transition, continuable
from proxima_agent.engine.timer import StageTimer
from proxima_agent.engine.worker import Task
from proxima_agent.errors import (
    CheckpointError,
    JobAbortedError,
    JobNotFoundError,
    JobStateError,
    OutputError,
    ProximaError,
    ResourceError,
    ResourcesExhaustedError,
    Step,
    UnsupportedFeatureError,
    WorkerDiedError,
    error_from_dict,
)
from proxima_agent.store.db import CheckpointRecord, JobRecord, Store
from proxima_agent.store.results import save_result

log = logging.getLogger("proxima_agent.engine")
S = JobState
PauseMode = Literal["freeze", "suspend"]
CONTROL_POLL_S = 0.1
PROGRESS_WRITE_S = 0.5
END_SLACK_S = 10.0  # how long an abort waits for the driver to record the end, beyond the kill's grace


def new_job_id() -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def process_identity(pid: int | None = None) -> tuple[int, float]:
    process = psutil.Process(pid or os.getpid())
    return process.pid, process.create_time()


def owner_alive(record: JobRecord) -> bool:
    if record.owner_pid is None:
        return False
    try:
        owner = psutil.Process(record.owner_pid)
        same = abs(owner.create_time() - (record.owner_started or 0)) < 1.0
        return same and owner.status() != psutil.STATUS_ZOMBIE  # exited, not yet reaped by its parent
    except psutil.Error:
        return False


def memory_consent_request(circuit: str, exc: ResourceError) -> ConsentRequest:
    """The question put to the user when a run does not fit: run it anyway, or not."""
    return ConsentRequest(
        title=f"{circuit} may not fit in memory",
        detail=f"{exc.message}. {exc.hint or ''}",
        severity="critical",
        options=[
            ConsentOption(name="refuse", label="do not run it"),
            ConsentOption(
                name="force", label="run it anyway (the machine may swap or kill it)", dangerous=True
            ),
        ],
        default="refuse",
    )


@dataclass
class Job:
    """A job this process owns: its record plus what only the owner knows (worker, timer, live figures)."""

    record: JobRecord
    circuit: Circuit
    options: RunOptions
    timer: StageTimer = field(default_factory=StageTimer)
    worker: WorkerHandle | None = None
    steppable: bool = False
    frozen: bool = False
    expect_exit: bool = False  # the worker is being stopped on purpose (suspend, rollback)
    checkpoints: list[CheckpointRecord] = field(default_factory=list)
    result: SimulationResult | None = None
    error: ProximaError | None = None
    notices: list[str] = field(default_factory=list)
    selection: Any = None  # the selector's choice and explanation, when the job did not name a backend
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    pending_checkpoint: asyncio.Future[CheckpointRecord] | None = None
    last_progress_write: float = 0.0
    checkpoint_failures: int = 0  # automatic checkpoints failed in a row (the worker backs off meanwhile)

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def state(self) -> JobState:
        return JobState(self.record.state)

    @property
    def continuable(self) -> bool:
        """Ended by a worker's death or a result that could not be saved: resume and rollback still work."""
        error = self.error.to_dict() if self.error is not None else self.record.error
        return continuable(self.state, error)


class Engine:
    """Open with `await Engine.open(config)`, close with `await engine.close()` (or `async with`)."""

    def __init__(
        self,
        store: Store,
        executor: Executor,
        settings: EngineSettings,
        consent: ConsentProvider,
        memory_margin: float = 0.2,
    ) -> None:
        self.store = store
        self.executor = executor
        self.settings = settings
        self.consent = consent
        self.memory_margin = memory_margin
        self.jobs: dict[str, Job] = {}  # live jobs, and the most recent `keep_ended_jobs` ended ones
        self._ended: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.identity = process_identity()
        self.sentinel: Sentinel | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._answering: set[asyncio.Task[Any]] = set()
        self._drivers: set[asyncio.Task[Any]] = set()
        self._in_hand: set[int] = set()  # control requests being carried out
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @classmethod
    async def open(
        cls,
        config: ProximaConfig | None = None,
        *,
        consent: ConsentProvider | None = None,
        executor: Executor | None = None,
        sentinel: bool = True,
        preload: tuple[str, ...] = (),
    ) -> Engine:
        config = config or ProximaConfig()
        store = await Store.open()
        settings = config.engine
        engine = cls(
            store,
            executor or LocalPool(settings.warm_workers, preload, settings.max_workers),
            settings,
            consent or FixedConsent(approve=False),
            config.estimate.memory_margin,
        )
        try:
            await recover_orphans(store)
            engine._loop = asyncio.get_running_loop()
            if isinstance(engine.executor, LocalPool):
                await engine.executor.start()
            engine._spawn(engine._control_loop())
            if sentinel:
                engine.sentinel = Sentinel(settings.sentinel, engine._worker_pids, engine._on_level)
                engine.sentinel.start()
        except BaseException:
            await engine.close()  # no worker, thread or connection left behind to keep the process alive
            raise
        return engine

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop serving: running jobs are aborted (their owner is leaving), workers stop, the store closes."""
        if self._closed:
            return
        self._closed = True
        if self.sentinel:
            self.sentinel.stop()
        for job in list(self.jobs.values()):
            if job.state not in FINAL and job.worker is not None:
                try:
                    await self.abort(job.id, reason="the process that owned it closed")
                except Exception:  # the store may be what failed: closing goes on
                    log.exception("aborting job %s on close failed", job.id)
        # Answer the control requests in hand (an abort from another terminal ends the job, then this closes),
        # and let the drivers finish recording the ends (and removing checkpoints) they are in the middle of.
        await asyncio.gather(*self._answering, return_exceptions=True)
        if self._drivers:
            await asyncio.wait(set(self._drivers), timeout=END_SLACK_S)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await self.executor.shutdown()
        finally:
            await self.store.close()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- submitting -------------------------------------------------------------------------------------------

    async def submit(
        self,
        circuit: Circuit,
        options: RunOptions,
        backend: str | None = None,
        *,
        force: bool = False,
        enabled: list[str] | None = None,
        consent: ConsentProvider | None = None,
    ) -> Job:
        """Plan, validate and estimate a job, then start it in a worker. Validation errors fail the job (recorded)
        and are raised; a run that does not fit is refused unless `force` (explicit consent, recorded) or
        `consent` (this call's front door; else the engine's own provider) agrees."""
        from proxima_agent.seeds import resolve_seed

        options = options.model_copy(update={"seed": resolve_seed(options.seed)})  # a resumed run needs it
        now = time.time()
        record = JobRecord(
            id=new_job_id(), created=now, updated=now, state=S.IDLE, circuit=circuit.name, backend=backend,
            spec={"circuit": circuit.model_dump(mode="json"), "options": options.model_dump(mode="json")},
            owner_pid=self.identity[0], owner_started=self.identity[1],
        )  # fmt: skip
        job = Job(record=record, circuit=circuit, options=options)
        self.jobs[job.id] = job
        try:
            await self.store.insert_job(record)
            await self.store.add_transition(job.id, None, S.IDLE, "submitted")
            await self._plan_and_validate(job, backend, force, enabled, consent or self.consent)
            if self.executor.must_wait():  # every worker is busy: the job waits, READY, and submit returns
                job.notices.append("waiting for a free worker (engine.max_workers are busy)")
                self._spawn(self._launch_when_free(job))
            else:
                await self._launch(job, restore=None)
        except ProximaError as exc:
            await self._fail(job, exc)
            raise
        return job

    async def _launch_when_free(self, job: Job) -> None:
        try:
            await self._launch(job, restore=None)
        except ProximaError as exc:
            with contextlib.suppress(ProximaError):  # recorded if the store works; ended in memory anyway
                await self._fail(job, exc)

    async def _plan_and_validate(
        self, job: Job, backend: str | None, force: bool, enabled: list[str] | None, consent: ConsentProvider
    ) -> None:
        from proxima_agent.backends.registry import all_backends, get_backend
        from proxima_agent.selection.select import check_fits, select_backend

        if backend is None:
            await self._transition(job, S.PLANNING, "choosing a backend")
            candidates = [b for b in all_backends() if enabled is None or b.id in enabled]
            selection = await asyncio.to_thread(
                select_backend, job.circuit, job.options, backends=candidates, margin=self.memory_margin
            )
            backend = selection.backend
            job.selection = selection
            job.record.backend = backend
            await self.store.update_job(job.id, backend=backend)
        await self._transition(job, S.VALIDATING, f"checking {job.circuit.name} on {backend}")
        chosen = get_backend(backend)
        job.timer.begin("VALIDATION")
        chosen.check(job.circuit, job.options)
        job.options.noise.check(job.circuit)
        job.timer.begin("ESTIMATION")
        try:
            await asyncio.to_thread(check_fits, chosen, job.circuit, job.options, self.memory_margin)
        except ResourceError as exc:
            await self._consent_to_force(job, exc, force, consent)
        job.timer.end()
        await self._transition(job, S.READY, "validated and estimated")

    async def _consent_to_force(
        self, job: Job, exc: ResourceError, force: bool, consent: ConsentProvider
    ) -> None:
        request = memory_consent_request(job.circuit.name, exc)
        if force:
            from proxima_agent.engine.consent import ConsentAnswer

            answer = ConsentAnswer(option="force", answered_by="explicit force (--force / force=true)")
        else:
            answer = await consent.ask(request)
        await self.store.add_consent(job.id, request.model_dump(), answer.model_dump(), answer.answered_by)
        log.info("consent for job %s: %s by %s", job.id, answer.option, answer.answered_by)
        if answer.option != "force":
            raise ResourceError(
                exc.message,
                hint=(exc.hint_template or "")
                + f"; or give explicit consent to run it anyway ({{{len(exc.steps)}}})",
                steps=[*exc.steps, Step(None, {"force": True})],
                **exc.context,
            )
        job.notices.append(f"forced past the memory check ({answer.answered_by}): {exc.message}")

    async def _launch(self, job: Job, restore: CheckpointRecord | None) -> None:
        """Start (or continue from `restore`) the job in a worker."""
        worker = await self.executor.acquire()  # may wait for a free worker (engine.max_workers)
        if job.state in FINAL or job.state == S.ABORTING:  # aborted while it waited
            self.executor.release(worker)
            return
        job.worker, job.frozen, job.expect_exit = worker, False, False
        numbers = [c.number for c in job.checkpoints] or [0]
        task = Task(
            job_id=job.id, backend=job.record.backend or "", circuit=job.circuit.model_dump_json(),
            options=job.options.model_dump_json(), checkpoint_dir=str(checkpoint_dir(job.id)),
            next_checkpoint=max(numbers) + 1,
            restore=None if restore is None else str(manifest_path(job.id, restore.number)),
            every_s=self.settings.checkpoint_every_s, every_steps=self.settings.checkpoint_every_steps,
        )  # fmt: skip
        queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        try:
            worker.send(("run", task.model_dump()))
        except OSError:  # it died between jobs: its driver reports that (WORKER_DIED) like any other death
            log.warning("worker %d of job %s was gone before the run started", worker.pid, job.id)
        threading.Thread(
            target=_read_messages, args=(worker, queue, loop), name=f"proxima-reader-{job.id}", daemon=True
        ).start()
        job.timer.begin("EXECUTION")
        try:
            if job.state in (S.READY, S.RESUMING, S.ROLLING_BACK):
                reason = "running" if restore is None else f"continuing from checkpoint {restore.number}"
                await self._transition(job, S.EXECUTING, reason)
            await self.store.update_job(job.id, worker_pid=worker.pid)
        except BaseException:  # not recorded as running (the store failed): stop the run; the caller fails it
            job.worker = None
            self.executor.discard(worker)
            raise
        # From here the driver owns the worker: whatever fails, it brings the job to an end and gives it back.
        driver = self._spawn(self._drive(job, worker, queue))
        self._drivers.add(driver)
        driver.add_done_callback(self._drivers.discard)

    # --- driving a running job --------------------------------------------------------------------------------

    async def _drive(self, job: Job, worker: WorkerHandle, queue: asyncio.Queue[tuple[Any, ...]]) -> None:
        """Apply the worker's messages in order until its run ends. Whatever happens here (a result that cannot
        be saved, the store failing, a bug), the `finally` leaves the job in a final, recorded state and gives
        the worker back, so that nothing waits forever on a job stuck EXECUTING."""
        healthy = False  # the worker finished its run cleanly and can take the next job
        ending = False  # this driver was recording the run's end (a result, an error, the worker's death)
        failure: BaseException | None = None
        try:
            while True:
                message = await queue.get()
                kind = message[0]
                if job.worker is not worker:  # a worker this job has left (suspend, rollback, an end)
                    if kind in ("exit", "result", "error"):
                        return  # (the reader stops after a result: no exit would come)
                    if job.state in FINAL and worker.alive:  # ended from outside while its worker ran
                        await asyncio.to_thread(worker.kill, 0)
                    continue
                ending = kind in ("result", "error") or (kind == "exit" and not job.expect_exit)
                try:
                    if kind == "exit":
                        await self._worker_exited(job, worker)
                        return
                    if kind in ("result", "error"):
                        if job.state == S.ABORTING:
                            # The run ended just as the abort landed: the abort stands, and the worker it is
                            # killing must not go back to the pool.
                            await self._aborted(job)
                        else:
                            healthy = True
                            if kind == "result":
                                await self._complete(job, message[1])
                            else:
                                await self._fail(job, error_from_dict(message[1]))
                        return
                    await self._on_message(job, message)
                except ProximaError as exc:
                    if kind in ("exit", "result", "error"):
                        raise
                    # e.g. the store failed while recording progress: the run goes on (said once)
                    if self._notice(job, f"{exc.code}: {exc.message}"):
                        log.warning("job %s: handling %s failed: %s", job.id, kind, exc.message)
                finally:
                    job.changed.set()
        except asyncio.CancelledError:
            failure = ProximaError(f"job {job.id} stopped: the process that owned it closed", job=job.id)
            raise
        except ProximaError as exc:
            failure = exc
        except Exception as exc:
            log.exception("job %s: internal error in its driver", job.id)
            failure = ProximaError(
                f"internal error while running job {job.id}: {type(exc).__name__}: {exc}",
                hint="details are in the log file (logs/proxima.log under the data directory)",
                job=job.id,
            )
        finally:
            await self._drive_ended(job, worker, healthy, ending, failure)

    async def _drive_ended(
        self, job: Job, worker: WorkerHandle, healthy: bool, ending: bool, failure: BaseException | None
    ) -> None:
        try:
            if failure is not None:
                log.warning("job %s: %s", job.id, failure)
                if job.state in FINAL and isinstance(failure, ProximaError) and failure is not job.error:
                    self._notice(job, f"{failure.code}: {failure.message}")  # e.g. the end was not recorded
            if job.state not in FINAL and (job.worker is worker or ending):  # the end failed: end it anyway
                error = failure if isinstance(failure, ProximaError) else None
                await self._fail(
                    job, error or ProximaError(f"job {job.id} ended without a result", job=job.id)
                )
        except Exception as exc:  # even recording the end failed (the store): the job ends here, in memory
            log.exception("job %s: recording its end failed", job.id)
            self._notice(job, f"its end could not be recorded: {exc}")
            self._end_in_memory(job)
        finally:
            if job.worker is worker:
                job.worker = None
            try:
                if healthy and worker.alive:
                    self.executor.release(worker)
                else:
                    self.executor.discard(worker)
            except Exception:
                log.exception("job %s: giving back worker %d failed", job.id, worker.pid)

    async def _on_message(self, job: Job, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "started":
            info = message[1]
            job.steppable = info["steppable"]
            job.record.steps_total, job.record.steps_done = info["total"], info["position"]
            await self.store.update_job(job.id, steps_total=info["total"], steps_done=info["position"])
        elif kind == "progress":
            job.record.steps_done, job.record.steps_total = message[1], message[2]
            if time.monotonic() - job.last_progress_write >= PROGRESS_WRITE_S:
                job.last_progress_write = time.monotonic()
                await self.store.update_job(
                    job.id, steps_done=message[1], steps_total=message[2], stages=job.timer.to_dict()
                )
        elif kind in ("checkpoint", "suspended"):
            record = await self._record_checkpoint(job, message[1])
            if kind == "suspended":
                job.expect_exit = True
                await self._paused(job, "suspend", f"suspended at checkpoint {record.number}")
        elif kind == "checkpoint_failed":
            await self._checkpoint_failed(
                job, error_from_dict(message[1]), message[2] if len(message) > 2 else {}
            )

    def _notice(self, job: Job, text: str) -> bool:
        """Add a notice to the job, once: False if it has it already."""
        if text in job.notices:
            return False
        job.notices.append(text)
        del job.notices[:-20]  # a long run's notices stay few
        job.changed.set()
        return True

    async def _record_checkpoint(self, job: Job, manifest: dict[str, Any]) -> CheckpointRecord:
        record = CheckpointRecord(
            job_id=job.id, number=manifest["number"], position=manifest["position"], total=manifest["total"],
            created=manifest["created"], path=relative_state_path(job.id, manifest["number"]),
            bytes=manifest["bytes"], sha256=manifest["sha256"], reason=manifest["reason"],
        )  # fmt: skip
        job.checkpoints.append(record)
        if job.checkpoint_failures:
            text = (
                f"checkpoints work again (checkpoint {record.number}, after {job.checkpoint_failures} failed)"
            )
            log.info("job %s: %s", job.id, text)
            self._notice(job, text)
            job.checkpoint_failures = 0
        pending = job.pending_checkpoint
        if record.reason == "on demand" and pending is not None and not pending.done():
            pending.set_result(record)
        await self.store.add_checkpoint(record)
        return record

    async def _checkpoint_failed(self, job: Job, error: ProximaError, info: dict[str, Any]) -> None:
        """One notice and one log line when checkpoints start failing; the worker backs off meanwhile (each
        attempt serializes the whole state), and a later success says so once too."""
        if job.pending_checkpoint is not None and not job.pending_checkpoint.done():
            job.pending_checkpoint.set_exception(error)  # the caller who asked hears every failure
        if info.get("reason") != "on demand":
            job.checkpoint_failures += 1
            if job.checkpoint_failures == 1:
                retry = info.get("retry_in_s")
                text = f"{error.code}: {error.message}" + (
                    f"; retrying after {retry:.0f} s, then less and less often" if retry else ""
                )
                log.warning("job %s: %s", job.id, text)
                self._notice(job, text)
            else:
                log.debug("job %s: checkpoint attempt %d failed", job.id, job.checkpoint_failures)
        if job.state == S.PAUSING and not job.frozen:  # a suspend that could not checkpoint: keep running
            await self._transition(job, S.EXECUTING, f"suspend failed: {error.message}")

    async def _complete(self, job: Job, result: SimulationResult) -> None:
        await self._settle_before_end(job)
        job.result = result  # kept, whatever happens next: a result that cannot be saved can be saved again
        job.worker = None
        job.record.steps_done = job.record.steps_total or job.record.steps_done
        await self._save(job, result)

    async def _save(self, job: Job, result: SimulationResult) -> None:
        """Save the result and complete the job; if it cannot be saved, the job FAILS with OUTPUT_FAILED, nothing
        half-written is left, and the result stays in memory for `resume` to save again."""
        job.timer.begin("POST_PROCESSING")
        try:
            path = await asyncio.to_thread(save_result, job.id, result)
        except OutputError as exc:
            log.warning("job %s: %s", job.id, exc.message)
            await self._fail(job, exc)
            return
        job.record.result_path = path
        job.timer.end()
        await self.store.update_job(
            job.id, result_path=path, steps_done=job.record.steps_total or 0, worker_pid=None
        )
        await self._transition(job, S.COMPLETED, f"finished in {result.timing.total_s:.3f} s")

    async def _settle_before_end(self, job: Job) -> None:
        """A worker that finished just before a pause took effect: leave PAUSING / PAUSED the recorded way."""
        if job.state in (S.PAUSING, S.PAUSED):
            if job.frozen and job.worker is not None:
                job.worker.signal(signal.SIGCONT)
                job.frozen = False
            if job.state == S.PAUSED:
                await self._transition(job, S.RESUMING, "the run had finished before the pause took effect")
            await self._transition(job, S.EXECUTING, "the run had finished before the pause took effect")
            job.timer.resume()

    async def _worker_exited(self, job: Job, worker: WorkerHandle) -> None:
        await asyncio.to_thread(worker.join, 2.0)
        if job.state == S.ABORTING:
            await self._aborted(job)
        elif job.expect_exit:
            pass
        elif job.state not in FINAL:
            how = worker.describe_exit()
            job.worker = None
            last = job.checkpoints[-1].number if job.checkpoints else None
            await self._fail(
                job,
                WorkerDiedError(
                    f"the worker running job {job.id} died: {how}, at step {job.record.steps_done} of "
                    f"{job.record.steps_total}",
                    hint=(
                        f"continue it from checkpoint {last} ({{0}})"
                        if last
                        else "run it again; if memory ran out, {0} shows a backend that fits"
                    ),
                    steps=[Step("resume", {"job_id": job.id})]
                    if last
                    else [Step("estimate_resources", {"circuit": job.circuit.name})],
                    job=job.id,
                    last_checkpoint=last,
                ),
            )

    # --- state changes ----------------------------------------------------------------------------------------

    async def _transition(self, job: Job, new: JobState, reason: str) -> None:
        """Move the job to `new` and record it. The job moves even if recording fails (the store's error is
        raised after), so that what this process knows is never stuck in a state the job has left."""
        old = job.state
        check_transition(job.id, old, new)
        job.record.state = new
        log.info("job %s: %s -> %s (%s)", job.id, old, new, reason)
        if new not in FINAL:
            self._ended.pop(job.id, None)
        try:
            await self.store.update_job(job.id, state=str(new), stages=job.timer.to_dict())
            await self.store.add_transition(job.id, str(old), str(new), reason)
        finally:
            if new in FINAL:
                job.ended.set()
                self._forget_ended(job)
            job.changed.set()
        if new in FINAL:
            await self._apply_retention(job)

    def _end_in_memory(self, job: Job) -> None:
        """The last resort when even recording the end failed: the job has ended for everyone in this process."""
        if job.state not in FINAL:
            job.record.state = S.ABORTED if job.state == S.ABORTING else S.FAILED
        job.worker = None
        job.ended.set()
        job.changed.set()
        self._forget_ended(job)

    def _forget_ended(self, job: Job) -> None:
        """Keep the most recent `keep_ended_jobs` ended jobs in memory; older ones live on in the store (their
        records and result files), so a long-lived server does not grow with every job it has run."""
        self._ended[job.id] = None
        self._ended.move_to_end(job.id)
        while len(self._ended) > self.settings.keep_ended_jobs:
            old_id, _ = self._ended.popitem(last=False)
            old = self.jobs.get(old_id)
            if old is not None and old.state in FINAL:
                del self.jobs[old_id]

    async def _apply_retention(self, job: Job) -> None:
        """Delete an ended job's checkpoints beyond `engine.checkpoint_retention`; a job that can still be
        continued keeps them all."""
        retention = self.settings.checkpoint_retention
        if retention == "all" or not job.checkpoints or job.continuable:
            return
        keep = {max(c.number for c in job.checkpoints)} if retention == "last" else set()
        drop = [c.number for c in job.checkpoints if c.number not in keep]
        try:
            removed = await asyncio.to_thread(prune_checkpoints, job.id, keep)
            job.checkpoints = [c for c in job.checkpoints if c.number in keep]
            await self.store.delete_checkpoints(job.id, drop)
        except Exception as exc:  # the files stay for `proxima gc`; the job's end is recorded
            log.warning("job %s: removing its checkpoints failed: %s", job.id, exc)
            return
        if removed:
            log.info(
                "job %s: removed %d checkpoint files (%d bytes; retention %s)",
                job.id, len(removed), sum(size for _, size in removed), retention,
            )  # fmt: skip

    async def _paused(self, job: Job, by: PauseMode, reason: str) -> None:
        job.timer.pause()
        job.record.paused_by = by
        if by == "suspend":
            job.worker = None
        await self.store.update_job(job.id, paused_by=by, worker_pid=job.worker.pid if job.worker else None)
        await self._transition(job, S.PAUSED, reason)

    async def _fail(self, job: Job, error: ProximaError) -> None:
        job.error = error
        job.timer.end()
        job.worker = None
        if job.state == S.ABORTING:  # failing while being aborted: the abort stands
            await self._aborted(job)
            return
        if job.state in FINAL:
            return
        try:
            await self.store.update_job(
                job.id, error=error.to_dict(), worker_pid=None, steps_done=job.record.steps_done
            )
        finally:
            await self._transition(job, S.FAILED, f"{error.code}: {error.message}")

    async def _aborted(self, job: Job) -> None:
        job.timer.end()
        job.worker = None
        if job.state in FINAL:
            return
        try:
            await self.store.update_job(
                job.id, error=job.error.to_dict() if job.error else None, worker_pid=None
            )
        finally:
            await self._transition(job, S.ABORTED, job.error.message if job.error else "aborted")

    # --- control ----------------------------------------------------------------------------------------------

    def job(self, job_id: str) -> Job:
        if job_id not in self.jobs:
            raise JobNotFoundError(
                f"job {job_id!r} is not run by this process",
                hint="{0} lists the jobs; control works through their owner",
                steps=[Step("list_jobs")],
                job=job_id,
            )
        return self.jobs[job_id]

    async def pause(self, job_id: str, mode: PauseMode = "freeze") -> Job:
        """Freeze (SIGSTOP: no CPU, memory kept) or suspend (checkpoint, worker exits, memory freed)."""
        job = self.job(job_id)
        if job.state == S.PAUSED and mode == "suspend" and job.frozen:
            job.worker.signal(signal.SIGCONT)  # type: ignore[union-attr]
            job.frozen = False
            await self._transition(job, S.RESUMING, "continuing briefly to suspend")
            await self._transition(job, S.EXECUTING, "continuing briefly to suspend")
        if job.state != S.EXECUTING:
            raise JobStateError(
                f"job {job_id} is {job.state}; only an executing job can be paused",
                hint="{0} shows its state",
                steps=[Step("job_status", {"job_id": job_id})],
                job=job_id,
                state=str(job.state),
            )
        assert job.worker is not None
        if mode == "freeze":
            if sys.platform == "win32":
                raise UnsupportedFeatureError(
                    "freezing a worker needs POSIX signals (SIGSTOP), which this platform lacks",
                    hint="suspend instead ({0}): it checkpoints and frees the memory",
                    steps=[Step("pause", {"job_id": job_id, "mode": "suspend"})],
                )
            await self._transition(job, S.PAUSING, "freeze requested")
            job.worker.signal(signal.SIGSTOP)
            job.frozen = True
            await self._paused(job, "freeze", "frozen (SIGSTOP): no CPU, memory kept")
            return job
        if not job.steppable:
            raise UnsupportedFeatureError(
                f"{job.record.backend} cannot checkpoint this run between steps, so it cannot be suspended",
                hint="freeze it instead ({0}), or use a steppable backend (lret)",
                steps=[Step("pause", {"job_id": job_id, "mode": "freeze"})],
                job=job_id,
            )
        await self._transition(job, S.PAUSING, "suspend requested: checkpointing at the next step")
        job.worker.send(("suspend",))
        return job

    async def resume(self, job_id: str) -> Job:
        """Continue a paused or interrupted job, or one that can be continued after it failed (its worker died:
        from its last checkpoint; its result could not be saved: save it again, or compute it again)."""
        job = self.job(job_id)
        if job.state == S.PAUSED and job.frozen and job.worker is not None:
            await self._transition(job, S.RESUMING, "continue (SIGCONT)")
            job.worker.signal(signal.SIGCONT)
            job.frozen = False
            job.timer.resume()
            job.record.paused_by = None
            await self._transition(job, S.EXECUTING, "continued")
            return job
        if job.state not in (S.PAUSED, S.INTERRUPTED) and not job.continuable:
            raise self._cannot(job, "resumed", "only a paused or interrupted job, or one whose worker died")
        if job.state == S.FAILED and job.result is not None:  # its result is here: save it again
            await self._reopen(job, S.RESUMING, "saving the result again")
            await self._save(job, job.result)
            if job.error is not None and job.state == S.FAILED:
                raise job.error
            return job
        last = job.checkpoints[-1] if job.checkpoints else None
        if last is not None:
            read_checkpoint(
                manifest_path(job.id, last.number), job.id
            )  # refuse a corrupt one before anything
        await self._reopen(
            job, S.RESUMING, f"from checkpoint {last.number}" if last else "from the start (no checkpoint)"
        )
        try:
            await self._launch(job, restore=last)
        except ProximaError as exc:
            await self._fail(job, exc)
            raise
        return job

    def _cannot(self, job: Job, done: str, which: str) -> JobStateError:
        owner = f" (run by process {self.identity[0]})" if job.state not in FINAL else ""
        return JobStateError(
            f"job {job.id} is {job.state}{owner}; {which} can be {done}",
            hint="{0} shows its state",
            steps=[Step("job_status", {"job_id": job.id})],
            job=job.id,
            state=str(job.state),
            owner_pid=self.identity[0],
        )

    async def _reopen(self, job: Job, new: JobState, reason: str) -> None:
        """Leave PAUSED / INTERRUPTED, or FAILED for a job that can be continued."""
        if job.state == S.FAILED:
            job.ended.clear()
            job.error = None
            job.record.error = None
            await self.store.update_job(job.id, error=None)
        job.timer.resume()
        await self._transition(job, new, reason)

    async def abort(
        self, job_id: str, reason: str = "aborted by request", error: ProximaError | None = None
    ) -> Job:
        job = self.job(job_id)
        if job.state in FINAL or job.state == S.ABORTING:
            raise JobStateError(
                f"job {job_id} is {job.state}; there is nothing to abort",
                hint="{0} shows how it ended" if job.state in FINAL else "it is being aborted already",
                steps=[Step("job_status", {"job_id": job_id})] if job.state in FINAL else (),
                job=job_id,
                state=str(job.state),
            )
        last = job.checkpoints[-1].number if job.checkpoints else None
        job.error = error or JobAbortedError(
            f"job {job_id} aborted ({reason}) at step {job.record.steps_done} of {job.record.steps_total}"
            + (f"; last checkpoint {last}" if last else ""),
            hint="run it again",
            job=job_id,
            steps_done=job.record.steps_done,
            last_checkpoint=last,
        )
        worker = job.worker
        await self._transition(job, S.ABORTING, reason)
        if worker is None or not worker.alive:
            await self._aborted(job)
            return job
        # The driver sees the worker's exit and records ABORTED; should it not (a worker that will not die),
        # the abort is recorded here rather than waited for forever.
        await asyncio.to_thread(worker.kill, self.settings.abort_grace_s)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(job.ended.wait(), END_SLACK_S)
        if not job.ended.is_set():
            log.warning(
                "job %s: no end recorded %.0f s after its abort; recording it now", job.id, END_SLACK_S
            )
            await self._aborted(job)
        return job

    async def checkpoint(self, job_id: str, timeout: float = 120.0) -> CheckpointRecord:
        job = self.job(job_id)
        if job.state != S.EXECUTING or job.worker is None:
            raise JobStateError(
                f"job {job_id} is {job.state}; a checkpoint on demand needs an executing job",
                hint="a frozen job is checkpointed by suspending it ({0})",
                steps=[Step("pause", {"job_id": job_id, "mode": "suspend"})],
                job=job_id,
            )
        if not job.steppable:
            raise UnsupportedFeatureError(
                f"{job.record.backend} cannot checkpoint this run between steps",
                hint="steppable backends: lret (and the exact paths of cirq and aer)",
            )
        if job.pending_checkpoint is None or job.pending_checkpoint.done():
            job.pending_checkpoint = asyncio.get_running_loop().create_future()
            job.worker.send(("checkpoint", "on demand"))
        # shield: one caller giving up must not cancel the checkpoint another caller is waiting for
        return await asyncio.wait_for(asyncio.shield(job.pending_checkpoint), timeout)

    async def rollback(self, job_id: str, number: int) -> Job:
        """Continue from checkpoint `number`; later checkpoints are kept until the job ends."""
        job = self.job(job_id)
        if job.state not in (S.EXECUTING, S.PAUSED, S.INTERRUPTED) and not job.continuable:
            raise self._cannot(
                job, "rolled back", "only an executing, paused or interrupted job, or one whose worker died"
            )
        target = next((c for c in job.checkpoints if c.number == number), None)
        if target is None:
            have = ", ".join(str(c.number) for c in job.checkpoints) or "none"
            raise CheckpointError(
                f"job {job_id} has no checkpoint {number} (it has: {have})",
                hint="{0} lists its checkpoints",
                steps=[Step("job_status", {"job_id": job_id})],
                job=job_id,
            )
        read_checkpoint(
            manifest_path(job.id, number), job.id
        )  # verified before the running worker is stopped
        old = job.worker
        await self._reopen(job, S.ROLLING_BACK, f"to checkpoint {number} (step {target.position})")
        if old is not None:
            job.worker = None
            job.expect_exit = True
            await asyncio.to_thread(old.kill, 0)
            self.executor.discard(old)
        try:
            await self._launch(job, restore=target)
        except ProximaError as exc:
            await self._fail(job, exc)
            raise
        return job

    async def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Wait until the job ends (or `timeout` seconds pass); returns it either way."""
        job = self.job(job_id)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(job.ended.wait(), timeout)
        return job

    # --- requests from other processes ------------------------------------------------------------------------

    async def _control_loop(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(CONTROL_POLL_S)
            try:  # every job this process owns, in memory or not (an ended one may still be continued)
                requests = await self.store.controls_for_owner(self.identity)
            except Exception as exc:
                if not failing:  # once, not ten times a second
                    log.warning("reading control requests failed: %s", exc)
                failing = True
                continue
            failing = False
            for request in requests:
                if request.id in self._in_hand:  # still being carried out: answered when done
                    continue
                self._in_hand.add(request.id)
                task = self._spawn(
                    self._handle_control(request.id, request.job_id, request.action, request.args)
                )
                self._answering.add(task)
                task.add_done_callback(self._answering.discard)
                task.add_done_callback(functools.partial(self._handled, request.id))

    def _handled(self, request_id: int, _: object) -> None:
        self._in_hand.discard(request_id)

    async def _handle_control(self, request_id: int, job_id: str, action: str, args: dict[str, Any]) -> None:
        try:
            if job_id not in self.jobs:  # an ended job of this process, no longer held in memory
                if action not in ("resume", "rollback"):
                    from proxima_agent.engine.control import refuse_ended

                    refuse_ended(await self.store.get_job(job_id))
                await self.adopt(job_id)
            if action == "pause":
                job = await self.pause(job_id, args.get("mode", "freeze"))
            elif action == "resume":
                job = await self.resume(job_id)
            elif action == "abort":
                job = await self.abort(job_id, reason=args.get("reason", "aborted from another process"))
            elif action == "checkpoint":
                record = await self.checkpoint(job_id)
                job = self.job(job_id)
                args = {"checkpoint": record.number}
            elif action == "rollback":
                job = await self.rollback(job_id, int(args["number"]))
            else:
                raise JobStateError(f"unknown control action {action!r}")
            response: dict[str, Any] = {"ok": True, "state": str(job.state), **args}
        except ProximaError as exc:
            response = {"ok": False, "error": exc.to_dict()}
        except Exception as exc:
            log.exception("control request %s failed", request_id)
            response = {"ok": False, "error": {"code": "PROXIMA_ERROR", "message": str(exc), "hint": None}}
        try:
            await self.store.answer_control(request_id, response)
        except ProximaError as exc:
            log.warning("answering control request %s failed: %s", request_id, exc.message)

    # --- the sentinel -----------------------------------------------------------------------------------------

    def _worker_pids(self) -> list[int]:
        return [j.worker.pid for j in list(self.jobs.values()) if j.worker is not None]

    def _on_level(self, level: SentinelLevel, sample: Sample) -> None:  # in the sentinel's thread
        if self._loop is not None and not self._closed:
            self._loop.call_soon_threadsafe(lambda: self._spawn(self._pressure(level, sample)))

    async def _pressure(self, level: SentinelLevel, sample: Sample) -> None:
        running = [j for j in self.jobs.values() if j.worker is not None and j.state not in FINAL]
        what = f"memory at {sample.ram_percent:.1f} % (level {level.percent:g} %: {level.action})"
        if sample.seconds_to_exhaustion is not None:
            what += f", full in about {sample.seconds_to_exhaustion:.0f} s at the current rate"
        log.warning("sentinel: %s", what)
        if not running:
            return
        job = max(running, key=lambda j: sample.workers.get(j.worker.pid, 0))  # type: ignore[union-attr]
        job.notices.append(what)
        job.changed.set()
        action = level.action
        if action == "ask":
            request = ConsentRequest(
                title=f"Memory is running low ({sample.ram_percent:.0f} % used)",
                detail=f"job {job.id} uses {sample.workers.get(job.worker.pid, 0) / 2**30:.2f} GiB",  # type: ignore[union-attr]
                severity="warning",
                options=[
                    ConsentOption(name="pause", label="pause the job"),
                    ConsentOption(name="abort", label="abort the job"),
                    ConsentOption(name="continue", label="let it continue", dangerous=True),
                ],
                default="pause",
            )
            answer = await self.consent.ask(request)
            await self.store.add_consent(
                job.id, request.model_dump(), answer.model_dump(), answer.answered_by
            )
            chosen: str = answer.option
        else:
            chosen = action
        try:
            if chosen == "pause" and job.state == S.EXECUTING:
                await self.pause(job.id, "suspend" if job.steppable else "freeze")
            elif chosen == "abort" and job.state not in FINAL:
                error = ResourcesExhaustedError(
                    f"job {job.id} aborted by the resource sentinel: {what}",
                    hint="use a backend that needs less memory ({0} shows them), or free memory",
                    steps=[Step("estimate_resources", {"circuit": job.circuit.name})],
                    job=job.id,
                )
                await self.abort(job.id, reason=f"resource sentinel: {what}", error=error)
        except ProximaError as exc:
            log.warning("sentinel action on job %s failed: %s", job.id, exc.message)

    # --- adopting a job whose owner died ----------------------------------------------------------------------

    async def adopt(self, job_id: str) -> Job:
        """Take over a job so that it can be resumed or rolled back here: one whose owner died (INTERRUPTED), or
        one that ended but can be continued (FAILED by a worker's death or a result not saved) whose owner is
        gone or is this process. The claim is one conditional UPDATE (state and previous owner unchanged), so
        of two processes racing for a job exactly one gets it; the other is told which process has it."""
        if job_id in self.jobs:
            return self.jobs[job_id]
        record = await self.store.get_job(job_id)
        state = JobState(record.state)
        mine = (record.owner_pid, record.owner_started) == self.identity
        if not mine and state not in FINAL and owner_alive(record):  # lost a race: say who has it
            raise taken_by(record)
        if state != S.INTERRUPTED and not continuable(state, record.error):
            raise JobStateError(
                f"job {job_id} is {record.state}; only an interrupted job, or one whose worker died, can be "
                "taken over",
                hint="a job whose owner is alive is controlled through its owner (pause, resume, abort); "
                "{0} shows its state",
                steps=[Step("job_status", {"job_id": job_id})],
                job=job_id,
                state=record.state,
                owner_pid=record.owner_pid,
            )
        if not mine and owner_alive(record):
            raise taken_by(record)
        claimed = await self.store.claim_job(
            job_id, (record.state,), (record.owner_pid, record.owner_started), self.identity
        )
        if not claimed:
            raise taken_by(await self.store.get_job(job_id))
        record.owner_pid, record.owner_started = self.identity
        job = Job(
            record=record,
            circuit=Circuit.model_validate(record.spec["circuit"]),
            options=RunOptions.model_validate(record.spec["options"]),
            timer=StageTimer.from_dict(record.stages),
            checkpoints=await self.store.checkpoints(job_id),
        )
        if record.error:
            job.error = error_from_dict(record.error)
        if state in FINAL:
            job.ended.set()
        self.jobs[job_id] = job
        return job


def taken_by(record: JobRecord) -> JobStateError:
    """The answer to a process that lost the race for a job: who has it."""
    return JobStateError(
        f"job {record.id} is {record.state}; process {record.owner_pid} has taken it over",
        hint="follow it with {0}; control it (pause, abort) through that process",
        steps=[Step("job_status", {"job_id": record.id})],
        job=record.id,
        state=record.state,
        owner_pid=record.owner_pid,
    )


def _read_messages(worker: WorkerHandle, queue: asyncio.Queue[Any], loop: asyncio.AbstractEventLoop) -> None:
    """Reader thread: the worker's messages onto the loop's queue; ("exit",) when its pipe closes. After a
    result or an error the worker stays alive for the next job, so reading stops there."""
    try:
        while True:
            message = worker.conn.recv()
            loop.call_soon_threadsafe(queue.put_nowait, message)
            if message[0] in ("result", "error"):
                return
    except (EOFError, OSError):
        pass
    except Exception:  # an unreadable message: report the worker as gone rather than hang
        log.exception("reading from worker %d failed", worker.pid)
    with contextlib.suppress(RuntimeError):  # the loop may have closed
        loop.call_soon_threadsafe(queue.put_nowait, ("exit",))


async def recover_orphans(store: Store) -> list[str]:
    """Jobs whose owner died: INTERRUPTED (resumable from their last checkpoint), or FAILED / ABORTED when
    they had not started or were being aborted. A worker left frozen behind is killed. Each change is
    conditional on the state and owner seen, so two processes noticing the same death record it once."""
    changed = []
    for record in await store.live_jobs():
        state = JobState(record.state)
        if state in FINAL or state == S.INTERRUPTED or owner_alive(record):
            continue
        _kill_stale_worker(record.worker_pid)
        reason = f"the owning process {record.owner_pid} died"
        if state == S.ABORTING:
            new = S.ABORTED
        elif state in (S.IDLE, S.PLANNING, S.VALIDATING, S.READY):
            new = S.FAILED
        else:
            new = S.INTERRUPTED
        owner = (record.owner_pid, record.owner_started)
        if await store.move_job(record.id, str(state), str(new), owner, reason, worker_pid=None):
            changed.append(record.id)
    return changed


def _kill_stale_worker(pid: int | None) -> None:
    if pid is None:
        return
    try:
        process = psutil.Process(pid)
        if "proxima_agent.engine.worker" in " ".join(process.cmdline()):
            process.kill()
    except psutil.Error:
        pass
