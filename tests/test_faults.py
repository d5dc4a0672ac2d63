"""Injected faults, with the real filesystem, real processes and real signals: a corrupt or unwritable job
database, a result that cannot be saved (a full tmpfs, an immutable folder), output to a full disk, two
processes racing to resume one job, failing checkpoints, checkpoints left behind, a moved data directory, a
worker killed mid-run, the database deleted under a running MCP server, failures under --json, and the memory
a long-lived engine keeps per job. Each ends in a truthful recorded state, promptly, with a code and a hint,
no traceback and no partial file."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from proxima_agent.backends.base import RunOptions
from proxima_agent.circuits.library import build
from proxima_agent.circuits.noise import parse_noise
from proxima_agent.config import ProximaConfig
from proxima_agent.engine.engine import Engine
from proxima_agent.engine.states import JobState
from tests.cli_helpers import PROXIMA, Completed, proxima

NOISE = "amplitude_damping:0.001;phase_damping:0.001"
LONG_RUN = (  # about 4 s of simulation: time to act on it while it runs
    "run",
    "ghz:16",
    "--backend",
    "lret",
    "--noise",
    NOISE,
    "--seed",
    "11",
    "--shots",
    "2000",
    "--json",
)
STATE_RUN = ("run", "qft:14", "--backend", "aer-sv", "--state", "--seed", "5", "--shots", "100", "--json")


def data() -> Path:
    return Path(os.environ["PROXIMA_DATA_DIR"])


def clean(result: Completed, code: int, error: str) -> dict:
    """The failure a person can act on: the exit code, the code and hint on stderr, the JSON document on
    stdout (every command here runs with --json), and no traceback."""
    assert result.code == code, result.both
    assert error in result.err and "hint:" in result.err, result.err
    assert "Traceback" not in result.both, result.both
    document = json.loads(result.out)["error"]
    assert document["code"] == error and document["hint"], document
    return document


def status(job_id: str) -> dict:
    result = proxima("status", job_id, "--json")
    assert result.code == 0, result.both
    return json.loads(result.out)


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A small tmpfs at `path` (a real full disk), or the test is skipped with the reason."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextlib.contextmanager
def unwritable(path: Path) -> Iterator[Path]:
    """`path` made unwritable for this process: permission bits, or for root (whom they do not stop) the
    immutable attribute; skipped with the reason if neither works."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield path
        finally:
            path.chmod(mode)
        return
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(
            f"running as root, where permission bits do not stop writes, and chattr +i failed: {made.stderr}"
        )
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)


def write_config(tmp_path: Path, monkeypatch, **engine: object) -> Path:
    config = tmp_path / "proxima.json"
    config.write_text(json.dumps({"engine": {"checkpoint_every_s": None, **engine}}))
    monkeypatch.setenv("PROXIMA_CONFIG", str(config))
    return config


def start(args: tuple[str, ...] = LONG_RUN) -> subprocess.Popen[str]:
    return subprocess.Popen([*PROXIMA, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def executing_with_checkpoint(min_checkpoints: int = 1, timeout: float = 60) -> dict:
    """The newest job, once it executes with `min_checkpoints` checkpoints. Read from the database itself: a
    poll through the CLI (two interpreters started) takes longer than some runs do."""
    db = data() / "proxima.db"
    query = (
        "SELECT id, state, worker_pid, (SELECT count(*) FROM checkpoints c WHERE c.job_id = jobs.id) "
        "FROM jobs ORDER BY created DESC LIMIT 1"
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
                    row = conn.execute(query).fetchone()
            except sqlite3.OperationalError:  # the file exists before its first migration is committed
                row = None
            if row and row[1] == "EXECUTING" and row[2] and row[3] >= min_checkpoints:
                return {"job_id": row[0], "worker_pid": row[2], "checkpoints": row[3]}
        time.sleep(0.02)
    raise AssertionError(f"no executing job with {min_checkpoints} checkpoint(s) appeared")


@pytest.fixture(scope="module")
def reference_counts() -> dict:
    result = proxima(*LONG_RUN)
    assert result.code == 0, result.both
    return json.loads(result.out)["counts"]


# --- 10: a corrupt or unwritable job database ------------------------------------------------------------------


COMMANDS = (("jobs", "--json"), ("status", "nosuch", "--json"), ("run", "bell", "--shots", "10", "--json"),
            ("resume", "nosuch", "--json"), ("gc", "--json"))  # fmt: skip


def test_a_corrupt_database_fails_every_command_promptly_with_a_fitting_hint():
    data().mkdir(parents=True, exist_ok=True)
    (data() / "proxima.db").write_bytes(os.urandom(8192))
    for args in COMMANDS:
        began = time.monotonic()
        result = proxima(*args, timeout=60)  # before the fix: printed STORE_FAILED, then never exited
        assert time.monotonic() - began < 20, args
        error = clean(result, 6, "STORE_FAILED")
        assert error["context"]["cause"] == "corrupt" and "damaged" in error["hint"], error


def test_an_unwritable_database_or_folder_fails_with_a_fitting_hint():
    assert proxima("jobs").code == 0  # a database exists
    with unwritable(data() / "proxima.db"):
        error = clean(proxima("run", "bell", "--backend", "aer-sv", "--shots", "10", "--json", timeout=60), 6,
                      "STORE_FAILED")  # fmt: skip
        assert error["context"]["cause"] == "unwritable" and "writable" in error["hint"]
    for name in os.listdir(data()):
        if name.startswith("proxima.db"):
            (data() / name).unlink()
    with unwritable(data()):
        error = clean(proxima("jobs", "--json", timeout=60), 6, "STORE_FAILED")
        assert error["context"]["cause"] == "unwritable" and "PROXIMA_DATA_DIR" in error["hint"]


# --- 11, 20: a result that cannot be saved ------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["full disk", "unwritable folder"])
def test_a_result_that_cannot_be_saved_fails_the_job_keeps_the_result_and_resume_saves_it(fault: str):
    results = data() / "results"
    results.mkdir(parents=True, exist_ok=True)
    (data() / "logs").mkdir(exist_ok=True)
    # a state vector of 14 qubits is 256 KiB: it does not fit in 64 KiB
    broken = tmpfs(results, "64k") if fault == "full disk" else unwritable(results)
    with broken:
        began = time.monotonic()
        result = proxima(*STATE_RUN, timeout=120)  # before: hung forever, EXECUTING, ignoring SIGTERM
        assert time.monotonic() - began < 60
        error = clean(result, 6, "OUTPUT_FAILED")
        assert "proxima resume" in error["hint"]
        shown = json.loads(result.out)  # the result itself is not lost: the owner shows it
        assert sum(shown["counts"].values()) == 100
        job_id = shown["job"]
        assert list(results.iterdir()) == [], "a partial result was left behind"
        record = status(job_id)
        assert record["state"] == "FAILED" and record["error"]["code"] == "OUTPUT_FAILED"
        assert record["worker_pid"] is None
    resumed = proxima(
        "resume", job_id, "--json", timeout=120
    )  # computed again from the start (no checkpoint)
    assert resumed.code == 0, resumed.both
    assert json.loads(resumed.out)["counts"] == shown["counts"]  # the seed was fixed at submission
    final = status(job_id)
    assert final["state"] == "COMPLETED" and final["result"]["counts"] == shown["counts"]
    assert (data() / "results" / job_id / "result.json").is_file()
    assert [t["new"] for t in final["transitions"]][-4:] == ["FAILED", "RESUMING", "EXECUTING", "COMPLETED"]


def test_the_engine_keeps_an_unsaved_result_in_memory_and_resume_saves_it():
    """A long-lived owner (the MCP server) keeps the result: resume saves it without computing it again."""
    results = data() / "results"
    results.mkdir(parents=True, exist_ok=True)

    async def go():
        async with await Engine.open(ProximaConfig(), sentinel=False) as engine:
            with unwritable(results):
                job = await engine.submit(
                    build("qft:14"), RunOptions(shots=50, seed=3, return_state=True), "aer-sv"
                )
                await engine.wait(job.id, timeout=60)
                assert job.state == JobState.FAILED and job.error.code == "OUTPUT_FAILED"
                assert job.result is not None and "resume" in job.error.hint
            counts = job.result.counts
            await engine.resume(job.id)
            assert job.state == JobState.COMPLETED and job.result.counts == counts
            reasons = [t.reason for t in await engine.store.transitions(job.id)]
            assert reasons[-2:] == ["saving the result again", reasons[-1]] and "finished" in reasons[-1]

    asyncio.run(go())


def test_output_to_a_full_disk_or_an_impossible_path_leaves_nothing(tmp_path: Path):
    with tmpfs(tmp_path / "small", "64k") as small:
        target = small / "run.json"
        clean(proxima(*STATE_RUN, "--output", str(target), timeout=120), 6, "OUTPUT_FAILED")
        assert list(small.iterdir()) == [], "a partial output was left behind"
    clean(proxima("run", "bell", "--backend", "aer-sv", "--shots", "10", "--output", "/proc/x.json", "--json"),
          6, "OUTPUT_FAILED")  # fmt: skip


# --- 12: two processes racing to resume one job -------------------------------------------------------------------


@pytest.mark.slow
def test_two_resumes_racing_for_one_interrupted_job_run_it_once(
    tmp_path: Path, monkeypatch, reference_counts
):
    write_config(tmp_path, monkeypatch, checkpoint_every_steps=10)
    owner = start()
    try:
        job_id = executing_with_checkpoint()["job_id"]
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
        assert status(job_id)["state"] == "INTERRUPTED"
        racers = [start(("resume", job_id, "--json")) for _ in range(2)]
        outcomes = [(racer.pid, *racer.communicate(timeout=120), racer.returncode) for racer in racers]
    finally:
        owner.kill()
    winners = [o for o in outcomes if o[3] == 0]
    losers = [o for o in outcomes if o[3] != 0]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    (winner_pid, winner_out, _, _), (_, loser_out, loser_err, loser_code) = winners[0], losers[0]
    assert json.loads(winner_out)["counts"] == reference_counts
    assert loser_code == 3 and "JOB_STATE" in loser_err and "Traceback" not in loser_err
    error = json.loads(loser_out)["error"]
    assert f"process {winner_pid}" in error["message"] or error["context"].get("state") == "COMPLETED", error
    transitions = status(job_id)["transitions"]
    assert [t["new"] for t in transitions].count("RESUMING") == 1, transitions
    assert [t["new"] for t in transitions].count("INTERRUPTED") == 1, transitions


# --- 13: failing checkpoints back off ----------------------------------------------------------------------------


@pytest.mark.slow
def test_failing_checkpoints_back_off_are_reported_once_and_recover():
    from proxima_agent.logs import setup_logging

    setup_logging()
    folder = data() / "checkpoints"
    data().mkdir(parents=True, exist_ok=True)
    folder.write_text(
        "a file where the checkpoint folder should be"
    )  # every checkpoint write fails (ENOTDIR)
    noise = parse_noise(NOISE)

    async def go():
        cfg = ProximaConfig.model_validate(
            {
                "engine": {
                    "checkpoint_every_s": None,
                    "checkpoint_every_steps": 2,
                    "checkpoint_retention": "all",
                }
            }
        )
        async with await Engine.open(cfg, sentinel=False) as engine:
            job = await engine.submit(build("ghz:16"), RunOptions(shots=100, seed=2, noise=noise), "lret")
            deadline = time.monotonic() + 60
            while not job.checkpoint_failures:
                assert time.monotonic() < deadline and job.state == JobState.EXECUTING
                await asyncio.sleep(0.02)
            folder.unlink()  # the disk is writable again: the next attempt, after the back-off, works
            await engine.pause(job.id, "freeze")  # the back-off's 5 s pass meanwhile
            await asyncio.sleep(5.5)
            await engine.resume(job.id)
            await engine.wait(job.id, timeout=120)
            assert job.state == JobState.COMPLETED, job.error
            failed = [n for n in job.notices if n.startswith("CHECKPOINT_WRITE_FAILED")]
            assert len(failed) == 1 and "retrying after 5 s" in failed[0], job.notices
            return job

    job = asyncio.run(go())
    total = job.record.steps_total
    # a checkpoint every 2 steps was asked for: without the back-off each would have been tried
    assert any(n.startswith("checkpoints work again") for n in job.notices), job.notices
    assert job.checkpoints and len(job.checkpoints) < total
    log = (data() / "logs" / "proxima.log").read_text()
    assert log.count("CHECKPOINT_WRITE_FAILED") == 1, log


# --- 14: checkpoints deleted, gc, a moved data directory, a worker's death ----------------------------------


def test_checkpoints_follow_the_retention_and_gc_frees_the_rest(tmp_path: Path, monkeypatch):
    quick = (
        "run",
        "ghz:10",
        "--backend",
        "lret",
        "--noise",
        NOISE,
        "--seed",
        "1",
        "--shots",
        "100",
        "--json",
    )
    write_config(tmp_path, monkeypatch, checkpoint_every_steps=5)  # retention "none", the default
    done = json.loads(proxima(*quick).out)["job"]
    assert status(done)["checkpoints"] == [] and not (data() / "checkpoints" / done).exists()

    write_config(tmp_path, monkeypatch, checkpoint_every_steps=5, checkpoint_retention="last")
    last = json.loads(proxima(*quick).out)["job"]
    assert len(status(last)["checkpoints"]) == 1
    write_config(tmp_path, monkeypatch, checkpoint_every_steps=5, checkpoint_retention="all")
    kept = json.loads(proxima(*quick).out)["job"]
    numbers = [c["number"] for c in status(kept)["checkpoints"]]
    assert len(numbers) > 2
    folder = data() / "checkpoints" / kept
    on_disk = sum(p.stat().st_size for p in folder.iterdir())

    write_config(tmp_path, monkeypatch, checkpoint_retention="none")
    dry = proxima("gc", "--dry-run", "--json")
    assert dry.code == 0, dry.both
    report = json.loads(dry.out)
    on_disk += sum(p.stat().st_size for p in (data() / "checkpoints" / last).iterdir())  # "none" now
    assert report["dry_run"] and report["bytes_freed"] == on_disk
    assert folder.is_dir() and len(status(kept)["checkpoints"]) == len(numbers)  # a dry run changes nothing
    freed = json.loads(proxima("gc", "--json").out)
    assert freed["bytes_freed"] == report["bytes_freed"] and not folder.exists()
    assert status(kept)["checkpoints"] == [] and status(kept)["state"] == "COMPLETED"
    assert json.loads(proxima("gc", "--json").out)["bytes_freed"] == 0

    results = data() / "results" / kept
    assert results.is_dir()
    old = json.loads(proxima("gc", "--older-than", "0", "--json").out)
    assert {r["kind"] for r in old["removed"]} == {"result"} and not results.exists()
    assert status(kept)["state"] == "COMPLETED" and status(kept)["result"] is None  # the record stays
    human = proxima("gc")
    assert human.code == 0 and "nothing to remove" in human.out


@pytest.mark.slow
def test_a_moved_data_directory_still_resumes(tmp_path: Path, monkeypatch, reference_counts):
    write_config(tmp_path, monkeypatch, checkpoint_every_steps=10)
    owner = start()
    try:
        job_id = executing_with_checkpoint()["job_id"]
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
    finally:
        owner.kill()
    moved = tmp_path / "moved-data"
    shutil.move(str(data()), moved)
    monkeypatch.setenv("PROXIMA_DATA_DIR", str(moved))
    resumed = proxima("resume", job_id, "--json", timeout=120)
    assert resumed.code == 0, resumed.both
    assert json.loads(resumed.out)["counts"] == reference_counts
    assert any("from checkpoint" in t["reason"] for t in status(job_id)["transitions"])


def test_a_moved_data_directory_still_shows_its_results_and_arrays(tmp_path: Path, monkeypatch):
    import numpy as np

    from tests.mcp_helpers import run, serving

    done = proxima(*STATE_RUN, timeout=180)
    assert done.code == 0, done.both
    shown = json.loads(done.out)
    moved = tmp_path / "moved-data"
    shutil.move(str(data()), moved)
    monkeypatch.setenv("PROXIMA_DATA_DIR", str(moved))

    async def go() -> None:
        async with serving() as client:
            view = await client.ok("wait_job", {"job_id": shown["job"], "wait_seconds": 0})
            assert view["state"] == "COMPLETED" and view["result"]["counts"] == shown["counts"]
            state = np.load(
                io.BytesIO(await client.blob_resource(f"proxima://results/{shown['job']}/statevector.npy"))
            )
            assert state.shape == (2**14,) and abs(np.vdot(state, state) - 1) < 1e-9

    run(go())


def test_migration_makes_old_absolute_checkpoint_paths_relative(tmp_path: Path):
    from proxima_agent.store.db import Store
    from proxima_agent.store.migrations import MIGRATIONS

    path = data() / "proxima.db"
    data().mkdir(parents=True, exist_ok=True)
    old = sqlite3.connect(path)
    old.executescript(f"{MIGRATIONS[0]}; PRAGMA user_version=1;")
    old.execute(
        "INSERT INTO jobs (id, created, updated, state, circuit, spec) VALUES ('j1', 0, 0, 'FAILED', 'x', '{}')"
    )
    old.execute(
        "INSERT INTO checkpoints VALUES ('j1', 3, 1, 2, 0, '/gone/data/checkpoints/j1/0003.state', 1, 'x', 'r')"
    )
    old.commit()
    old.close()

    async def go():
        store = await Store.open(path)
        try:
            (record,) = await store.checkpoints("j1")
            assert record.path == "checkpoints/j1/0003.state"
            assert record.file == data() / "checkpoints" / "j1" / "0003.state"
        finally:
            await store.close()

    asyncio.run(go())


@pytest.mark.slow
def test_a_job_whose_worker_died_resumes_and_rolls_back_from_its_checkpoints(tmp_path: Path, monkeypatch,
                                                                             reference_counts):  # fmt: skip
    write_config(tmp_path, monkeypatch, checkpoint_every_steps=10)
    owner = start()
    try:
        job = executing_with_checkpoint()
        os.kill(job["worker_pid"], signal.SIGKILL)
        out, err = owner.communicate(timeout=60)
    finally:
        owner.kill()
    assert owner.returncode == 4 and "WORKER_DIED" in err and "Traceback" not in err
    error = json.loads(out)["error"]
    assert f"proxima resume {job['job_id']}" in error["hint"]  # the hint's promise, kept below
    record = status(job["job_id"])
    assert record["state"] == "FAILED" and record["checkpoints"]  # kept: the job can be continued
    first = record["checkpoints"][0]["number"]
    resumed = proxima("resume", job["job_id"], "--json", timeout=120)
    assert resumed.code == 0, resumed.both
    assert json.loads(resumed.out)["counts"] == reference_counts
    assert status(job["job_id"])["state"] == "COMPLETED"

    # rollback of a job whose worker died, to its first checkpoint, in a process of its own
    write_config(tmp_path, monkeypatch, checkpoint_every_steps=10, checkpoint_retention="all")
    owner = start()
    try:
        job = executing_with_checkpoint(min_checkpoints=2)
        os.kill(job["worker_pid"], signal.SIGKILL)
        owner.communicate(timeout=60)
    finally:
        owner.kill()
    rolled = proxima("rollback", job["job_id"], str(first), "--json", timeout=120)
    assert rolled.code == 0, rolled.both
    assert json.loads(rolled.out)["counts"] == reference_counts
    assert any(f"to checkpoint {first}" in t["reason"] for t in status(job["job_id"])["transitions"])


# --- 15: the database deleted under a running MCP server -------------------------------------------------------


@pytest.mark.slow
def test_a_database_deleted_under_the_mcp_server_is_refused_not_silently_lost(tmp_path: Path):
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(
        command=sys.executable, args=["-m", "proxima_agent", "mcp"], env=dict(os.environ), cwd=tmp_path
    )
    bell = {"circuit": "bell", "backend": "aer-sv", "shots": 10, "seed": 1}

    async def go():
        async with Client(params) as client:
            first = await client.call_tool("execute", bell)
            assert not first.is_error, first.content[0].text
            for name in os.listdir(data()):
                if name.startswith("proxima.db"):
                    (data() / name).unlink()
            for tool, arguments in (("execute", bell), ("list_jobs", {})):
                refused = await client.call_tool(tool, arguments)
                text = refused.content[0].text
                assert refused.is_error and text.startswith("STORE_FAILED"), text
                assert "deleted" in text and "restart" in text and "Traceback" not in text
            described = await client.call_tool("describe_circuit", {"circuit": "bell"})
            assert not described.is_error  # still serving what needs no database

    asyncio.run(go())
    assert not (data() / "proxima.db").exists()  # nothing was written where no one would read it


# --- 16: --json failures are JSON documents ------------------------------------------------------------------


def test_every_failure_under_json_prints_the_error_document():
    usage = proxima("run", "--json")
    assert usage.code == 2 and "Missing argument" in usage.err
    assert json.loads(usage.out)["error"]["code"] == "USAGE"
    unknown = proxima("run", "bell", "--no-such-option", "--json")
    assert unknown.code == 2 and json.loads(unknown.out)["error"]["code"] == "USAGE"
    # an internal error (a bug, injected into the real entry point) prints its document too, and no traceback
    bug = subprocess.run(
        [sys.executable, "-c", "import proxima_agent.cli as cli, proxima_agent.store.db as db\n"
         "async def broken(*a, **k): raise ZeroDivisionError('injected')\n"
         "db.Store.list_jobs = broken\nraise SystemExit(cli.main(['jobs', '--json']))"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bug.returncode == 1 and "Traceback" not in bug.stdout + bug.stderr, bug.stderr
    error = json.loads(bug.stdout)["error"]
    assert error["code"] == "PROXIMA_ERROR" and "ZeroDivisionError" in error["message"] and error["hint"]


def test_sigterm_under_json_aborts_and_prints_the_interruption(tmp_path: Path, monkeypatch):
    write_config(tmp_path, monkeypatch, checkpoint_every_steps=10)
    owner = start()
    try:
        job_id = executing_with_checkpoint()["job_id"]
        owner.send_signal(signal.SIGTERM)
        out, err = owner.communicate(timeout=30)
    finally:
        owner.kill()
    assert owner.returncode == 130 and "Traceback" not in err
    assert json.loads(out)["error"]["code"] == "INTERRUPTED"
    assert status(job_id)["state"] == "ABORTED"


# --- 17: what a long-lived engine keeps per job ----------------------------------------------------------------


def test_a_long_lived_engine_keeps_few_ended_jobs_and_tools_still_read_the_rest(tmp_path: Path):
    from mcp import Client

    from proxima_agent.mcp.server import build_server
    from proxima_agent.tools.context import Runtime

    cfg = ProximaConfig.model_validate({"engine": {"checkpoint_every_s": None, "keep_ended_jobs": 3}})
    runtime = Runtime(cfg, tmp_path)
    server = build_server(runtime=runtime)

    async def go():
        async with Client(server) as client:
            ids = []
            for seed in range(8):
                done = await client.call_tool(
                    "execute", {"circuit": "bell", "backend": "aer-sv", "seed": seed}
                )
                assert not done.is_error, done.content[0].text
                ids.append(done.structured_content["job_id"])
            assert len((await runtime.engine()).jobs) <= 3
            for tool in ("job_status", "wait_job"):
                view = await client.call_tool(tool, {"job_id": ids[0]})
                assert not view.is_error, view.content[0].text
                assert view.structured_content["state"] == "COMPLETED"
                assert view.structured_content["result"]["shots"] == 1024
            resource = await client.read_resource(f"proxima://results/{ids[0]}")
            assert json.loads(resource.contents[0].text)["seed"] == 0
            again = await client.call_tool("resume", {"job_id": ids[0]})
            assert again.is_error and "JOB_STATE" in again.content[0].text
        await runtime.close()

    asyncio.run(go())


def test_the_engine_bounds_the_jobs_it_holds():
    async def go():
        cfg = ProximaConfig.model_validate({"engine": {"checkpoint_every_s": None, "keep_ended_jobs": 4}})
        async with await Engine.open(cfg, sentinel=False) as engine:
            process = psutil.Process()
            for seed in range(40):
                job = await engine.submit(build("bell"), RunOptions(shots=10, seed=seed), "aer-sv")
                await engine.wait(job.id, timeout=30)
                assert job.state == JobState.COMPLETED
            assert len(engine.jobs) == 4 and job.id in engine.jobs
            assert len(await engine.store.list_jobs(limit=None)) == 40  # the records stay
            assert process.num_threads() < 40  # no reader thread or task per job left behind
            assert len(engine._tasks) <= 2  # the control loop (and a replenishing pool)

    asyncio.run(go())
