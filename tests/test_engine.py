"""The engine with real worker processes, real signals and a real SQLite file: pause, suspend, resume, abort,
checkpoints, rollback, the sentinel, and the faults that must leave a job in a consistent, recorded state."""

from __future__ import annotations

import asyncio
import os
import time

import psutil
import pytest

from proxima_agent.backends.base import RunOptions
from proxima_agent.circuits.library import build
from proxima_agent.circuits.noise import parse_noise
from proxima_agent.config import ProximaConfig
from proxima_agent.engine.checkpoints import read_checkpoint, write_checkpoint
from proxima_agent.engine.consent import FixedConsent
from proxima_agent.engine.engine import Engine, Job
from proxima_agent.engine.states import FINAL, TRANSITIONS, JobState, check_transition
from proxima_agent.engine.timer import StageTimer
from proxima_agent.errors import (
    CheckpointError,
    CheckpointWriteError,
    JobAbortedError,
    JobStateError,
    ResourceError,
    ResourcesExhaustedError,
)

# Long enough to interrupt (a few seconds of lret), short enough for CI: ~70 steps.
LONG = build("ghz:15")
NOISE = parse_noise("amplitude_damping:0.001;phase_damping:0.001")
SEED = 11


def options(shots: int = 2000) -> RunOptions:
    return RunOptions(shots=shots, seed=SEED, noise=NOISE)


def config(**engine: object) -> ProximaConfig:
    settings = {"warm_workers": 1, "checkpoint_every_s": None, "abort_grace_s": 1.0} | engine
    return ProximaConfig.model_validate({"engine": settings})


def run(coro):  # each test drives its own loop: no plugin needed
    return asyncio.run(coro)


async def until(predicate, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def progressed(job: Job, steps: int = 5) -> None:
    await until(lambda: job.record.steps_done >= steps, what=f"{steps} steps of {job.id}")


@pytest.fixture(scope="module")
def reference_counts() -> dict[str, int]:
    """The uninterrupted run, through the engine, with the same seed."""

    async def go():
        async with await Engine.open(config(), sentinel=False) as engine:
            job = await engine.submit(LONG, options(), "lret")
            await engine.wait(job.id)
            assert job.state == JobState.COMPLETED, job.error
            return job.result.counts

    return run(go())


def test_transition_table_covers_every_state_and_refuses_invalid_moves():
    assert set(TRANSITIONS) == set(JobState)
    for state in FINAL - {JobState.FAILED}:
        assert not TRANSITIONS[state]
    # a FAILED job is continued only when its worker died or its result was not saved (the engine checks)
    assert TRANSITIONS[JobState.FAILED] == {JobState.RESUMING, JobState.ROLLING_BACK}
    check_transition("j", JobState.EXECUTING, JobState.PAUSING)
    with pytest.raises(JobStateError) as info:
        check_transition("j", JobState.COMPLETED, JobState.EXECUTING)
    assert "cannot go to EXECUTING" in info.value.message and "ended" in info.value.hint


def test_stage_timer_excludes_paused_time():
    now = [0.0]
    timer = StageTimer(clock=lambda: now[0])
    timer.begin("VALIDATION")
    now[0] = 1.0
    timer.begin("EXECUTION")
    now[0] = 3.0
    timer.pause()
    now[0] = 10.0  # paused for 7 s
    timer.resume()
    now[0] = 11.5
    assert timer.elapsed("VALIDATION") == 1.0
    assert timer.elapsed("EXECUTION") == 3.5
    assert timer.elapsed() == 4.5
    timer.end()
    assert StageTimer.from_dict(timer.to_dict()).elapsed() == 4.5


def test_freeze_stops_the_cpu_and_resume_gives_the_uninterrupted_result(reference_counts):
    async def go():
        async with await Engine.open(config(), sentinel=False) as engine:
            job = await engine.submit(LONG, options(), "lret")
            await progressed(job)
            await engine.pause(job.id, "freeze")
            assert job.state == JobState.PAUSED and job.frozen
            worker = psutil.Process(job.worker.pid)
            await asyncio.sleep(0.2)  # let the stop take hold
            before = sum(worker.cpu_times()[:2])
            await asyncio.sleep(1.0)
            assert sum(worker.cpu_times()[:2]) == before
            assert worker.status() == psutil.STATUS_STOPPED
            paused_at = job.timer.elapsed()
            await asyncio.sleep(0.3)
            assert job.timer.elapsed() == paused_at  # paused time is not counted
            await engine.resume(job.id)
            await engine.wait(job.id)
            assert job.state == JobState.COMPLETED
            states = [t.new for t in await engine.store.transitions(job.id)]
            assert states == ["IDLE", "VALIDATING", "READY", "EXECUTING", "PAUSING", "PAUSED", "RESUMING",
                              "EXECUTING", "COMPLETED"]  # fmt: skip
            return job.result.counts

    assert run(go()) == reference_counts


def test_suspend_frees_the_worker_and_resumes_in_a_fresh_one(reference_counts):
    async def go():
        async with await Engine.open(config(), sentinel=False) as engine:
            job = await engine.submit(LONG, options(), "lret")
            await progressed(job)
            first = job.worker.pid
            await engine.pause(job.id, "suspend")
            await until(lambda: job.state == JobState.PAUSED, what="suspended")
            await until(lambda: not psutil.pid_exists(first) or psutil.Process(first).status() == "zombie")
            assert job.worker is None and job.checkpoints[-1].reason == "suspend"
            await engine.resume(job.id)
            assert job.worker.pid != first
            await engine.wait(job.id)
            return job.result.counts

    assert run(go()) == reference_counts


def test_rollback_to_an_early_checkpoint_then_completion_equals_the_uninterrupted_run(reference_counts):
    async def go():
        cfg = config(checkpoint_every_steps=10, checkpoint_retention="all")
        async with await Engine.open(cfg, sentinel=False) as engine:
            job = await engine.submit(LONG, options(), "lret")
            await until(lambda: len(job.checkpoints) >= 3, what="three checkpoints")
            await engine.rollback(job.id, 1)
            await engine.wait(job.id)
            assert job.state == JobState.COMPLETED
            numbers = [c.number for c in job.checkpoints]
            assert numbers == sorted(set(numbers)) and numbers[:3] == [
                1,
                2,
                3,
            ]  # later ones kept, numbering goes on
            reasons = [t.reason for t in await engine.store.transitions(job.id)]
            assert any("to checkpoint 1" in r for r in reasons)
            return job.result.counts

    assert run(go()) == reference_counts


def test_abort_leaves_no_worker_and_the_pool_whole():
    async def go():
        async with await Engine.open(config(), sentinel=False) as engine:
            job = await engine.submit(LONG, options(), "lret")
            await progressed(job)
            pid = job.worker.pid
            start = time.monotonic()
            await engine.abort(job.id, reason="test")
            assert time.monotonic() - start < 2.0
            assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
            assert job.state == JobState.ABORTED
            assert isinstance(job.error, JobAbortedError) and job.error.context["steps_done"] >= 5
            record = await engine.store.get_job(job.id)
            assert record.state == "ABORTED" and record.error["code"] == "JOB_ABORTED"
            await until(lambda: len(engine.executor.pids()) >= 1, what="a warm worker again")
            again = await engine.submit(build("bell"), RunOptions(shots=10, seed=1), "aer-sv")
            await engine.wait(again.id)
            assert again.state == JobState.COMPLETED

    run(go())


def test_invalid_requests_are_refused_and_change_nothing(tmp_path):
    async def go():
        async with await Engine.open(config(checkpoint_every_steps=20), sentinel=False) as engine:
            done = await engine.submit(build("bell"), RunOptions(shots=10, seed=1), "lret")
            await engine.wait(done.id)
            with pytest.raises(JobStateError, match="only an executing job can be paused"):
                await engine.pause(done.id)
            job = await engine.submit(LONG, options(), "lret")
            await until(lambda: job.checkpoints, what="a checkpoint")
            with pytest.raises(JobStateError, match="only a paused or interrupted job"):
                await engine.resume(job.id)
            with pytest.raises(CheckpointError, match="has no checkpoint 99"):
                await engine.rollback(job.id, 99)
            # A checkpoint of another job, planted under this job's number, is refused by its manifest.
            other = job.checkpoints[0]
            manifest = other.file.with_suffix(".json")
            text = manifest.read_text()
            manifest.write_text(text.replace(job.id, done.id))
            with pytest.raises(CheckpointError, match=f"belongs to job {done.id}"):
                await engine.rollback(job.id, other.number)
            manifest.write_text(text)
            # A corrupt state file is detected by its checksum and never loaded.
            state = other.file
            data = bytearray(state.read_bytes())
            data[len(data) // 2] ^= 0xFF
            state.write_bytes(bytes(data))
            with pytest.raises(CheckpointError, match="checksum does not match"):
                await engine.rollback(job.id, other.number)
            state.write_bytes(bytes(data[:-10]))
            with pytest.raises(CheckpointError, match="truncated"):
                await engine.rollback(job.id, other.number)
            assert job.state in (JobState.EXECUTING, JobState.COMPLETED)  # untouched by the refusals
            await engine.wait(job.id)
            assert job.state == JobState.COMPLETED

    run(go())


def test_a_memory_refusal_is_recorded_and_force_is_explicit_consent():
    async def go():
        async with await Engine.open(config(), sentinel=False, consent=FixedConsent(approve=False)) as engine:
            with pytest.raises(ResourceError, match="cannot run") as info:
                await engine.submit(build("ghz:24"), RunOptions(shots=10), "aer-dm")
            assert "force=true" in info.value.hint
            (refused,) = [j for j in engine.jobs.values()]
            assert refused.state == JobState.FAILED
            (decision,) = await engine.store.consent_decisions(refused.id)
            assert decision["answer"]["option"] == "refuse"
            assert decision["request"]["severity"] == "critical"
            # Forced: the consent is recorded; the run itself then starts (a small circuit, so it finishes).
            job = await engine.submit(build("ghz:3"), RunOptions(shots=10, seed=1), "aer-dm", force=True)
            await engine.wait(job.id)
            assert job.state == JobState.COMPLETED and not await engine.store.consent_decisions(job.id)

    run(go())


def test_a_worker_that_dies_fails_its_job_with_the_reason_and_is_replaced():
    async def go():
        async with await Engine.open(config(), sentinel=False) as engine:
            job = await engine.submit(LONG, options(), "lret")
            await progressed(job)
            os.kill(job.worker.pid, 9)
            await engine.wait(job.id, timeout=30)
            assert job.state == JobState.FAILED
            assert job.error.code == "WORKER_DIED" and "SIGKILL" in job.error.message
            again = await engine.submit(build("bell"), RunOptions(shots=10, seed=1), "lret")
            await engine.wait(again.id)
            assert again.state == JobState.COMPLETED

    run(go())


@pytest.mark.parametrize("action", ["pause", "abort"])
def test_the_sentinel_acts_on_a_job_whose_worker_allocates_past_the_level(action):
    used = psutil.virtual_memory()
    now = 100.0 * (used.total - used.available) / used.total
    # aer-dm on 13 qubits holds a 1 GiB density matrix (more with Aer's copies): the level sits 0.5 GiB above now.
    level = now + 100.0 * 0.5 * 2**30 / used.total

    async def go():
        settings = {"sentinel": {"levels": [{"percent": level, "action": action}], "interval_s": 0.1}}
        async with await Engine.open(config(**settings)) as engine:
            job = await engine.submit(build("qft:13"), RunOptions(shots=10, seed=1, noise=NOISE), "aer-dm")
            if action == "abort":
                await engine.wait(job.id, timeout=120)
                assert job.state == JobState.ABORTED, job.state
                assert isinstance(job.error, ResourcesExhaustedError)
                assert "resource sentinel" in job.error.message
            else:
                await until(lambda: job.state == JobState.PAUSED, timeout=120, what="the sentinel's pause")
                assert any("memory at" in n for n in job.notices)
                reasons = [t.reason for t in await engine.store.transitions(job.id)]
                assert any(r.startswith(("freeze requested", "suspend requested")) for r in reasons)
                await engine.abort(job.id)
            # the serving process survives and serves the next job
            again = await engine.submit(build("bell"), RunOptions(shots=10, seed=1), "aer-sv")
            await engine.wait(again.id)
            assert again.state == JobState.COMPLETED

    run(go())


def test_checkpoint_files_are_whole_or_absent(tmp_path):
    manifest = write_checkpoint(
        tmp_path, job_id="j1", number=1, position=3, total=9, backend="lret", state=b"abc" * 1000,
        simulation_seconds=0.5, reason="test",
    )  # fmt: skip
    read_manifest, state = read_checkpoint(tmp_path / "0001.json", "j1")
    assert state == b"abc" * 1000 and read_manifest["sha256"] == manifest["sha256"]
    # A full disk: the kernel's ENOSPC from /dev/full, through the real write path.
    (tmp_path / "0002.state.part").symlink_to("/dev/full")
    with pytest.raises(CheckpointWriteError, match="cannot write checkpoint 2"):
        write_checkpoint(
            tmp_path, job_id="j1", number=2, position=4, total=9, backend="lret", state=b"x" * 100_000,
            simulation_seconds=0.5, reason="test",
        )  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0001.json", "0001.state"]
    with pytest.raises(CheckpointError, match="belongs to job j1"):
        read_checkpoint(tmp_path / "0001.json", "j2")
