"""Jobs across processes, through the real `proxima` command: control from another terminal, and a job whose
owner is killed (SIGKILL) resumed by a new process from its last checkpoint with the uninterrupted result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from proxima_agent.tools.jobs import JobView
from tests.cli_helpers import PROXIMA, proxima

NOISE = "amplitude_damping:0.001;phase_damping:0.001"
RUN = ("run", "ghz:15", "--backend", "lret", "--noise", NOISE, "--seed", "11", "--shots", "2000", "--json")


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    """A proxima.json with frequent checkpoints, found through PROXIMA_CONFIG by every process."""
    config = tmp_path / "proxima.json"
    config.write_text(json.dumps({"engine": {"checkpoint_every_steps": 10, "checkpoint_every_s": None}}))
    monkeypatch.setenv("PROXIMA_CONFIG", str(config))
    return tmp_path


def start_owner(circuit: str = "ghz:15") -> subprocess.Popen[str]:
    args = [a if a != "ghz:15" else circuit for a in RUN]
    env = dict(os.environ) | {"PYTHONFAULTHANDLER": "1"}  # a hang shows its stacks (SIGABRT below)
    return subprocess.Popen(
        [*PROXIMA, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def status(job_id: str) -> dict:
    result = proxima("status", job_id, "--json")
    assert result.code == 0, result.both
    return json.loads(result.out)


def running_job(min_checkpoints: int = 1, timeout: float = 60) -> dict:
    """The one job, once it is executing with at least `min_checkpoints` checkpoints."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = json.loads(proxima("jobs", "--json").out)["jobs"]
        if jobs and jobs[0]["state"] == "EXECUTING":
            data = status(jobs[0]["job_id"])
            if len(data["checkpoints"]) >= min_checkpoints:
                return data
        time.sleep(0.1)
    raise AssertionError("no executing job with a checkpoint appeared")


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture(scope="module")
def reference_counts() -> dict:
    result = proxima(*RUN)
    assert result.code == 0, result.both
    return json.loads(result.out)["counts"]


def test_a_killed_owner_leaves_a_job_that_a_new_process_resumes_exactly(project, reference_counts):
    owner = start_owner()
    try:
        job = running_job()
        job_id = job["job_id"]
        paused = proxima("pause", job_id)
        assert paused.code == 0, paused.both
        assert "PAUSED" in paused.out
        worker = status(job_id)["worker_pid"]
        assert psutil.Process(worker).status() == psutil.STATUS_STOPPED
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
        data = status(job_id)  # any reader notices the dead owner
        assert data["state"] == "INTERRUPTED"
        assert data["transitions"][-1]["reason"].startswith("the owning process")
        assert gone(worker), "the frozen worker of the dead owner was left behind"
        wrong = proxima("pause", job_id)
        assert wrong.code == 3 and "JOB_STATE" in wrong.err and "proxima resume" in wrong.err
        resumed = proxima("resume", job_id, "--json")
        assert resumed.code == 0, resumed.both
        assert json.loads(resumed.out)["counts"] == reference_counts
        final = status(job_id)
        assert final["state"] == "COMPLETED"
        assert any("from checkpoint" in t["reason"] for t in final["transitions"])
    finally:
        owner.kill()


def test_control_from_another_terminal_and_abort(project):
    owner = start_owner("ghz:16")  # about 10 s: it cannot finish while the test steers it
    try:
        job_id = running_job()["job_id"]
        # --json: the pause tool's view, given once the checkpoint is written
        suspended = proxima("pause", job_id, "--suspend", "--json")
        assert suspended.code == 0, suspended.both
        view = json.loads(suspended.out)
        assert set(view) == set(JobView.model_fields) and view["job_id"] == job_id
        assert view["state"] == "PAUSED" and view["paused_by"] == "suspend"
        deadline = time.monotonic() + 30
        while status(job_id)["state"] != "PAUSED" and time.monotonic() < deadline:
            time.sleep(0.05)
        data = status(job_id)
        assert data["state"] == "PAUSED" and data["paused_by"] == "suspend"
        assert data["checkpoints"][-1]["reason"] == "suspend"
        again = proxima("pause", job_id)
        assert again.code == 3 and "JOB_STATE" in again.err
        resumed = proxima("resume", job_id, "--json")
        assert resumed.code == 0, resumed.both
        assert json.loads(resumed.out)["state"] in ("RESUMING", "EXECUTING")
        checkpoint = proxima("checkpoint", job_id, "--json")
        assert checkpoint.code == 0, checkpoint.both
        number = json.loads(checkpoint.out)["checkpoint"]
        assert (
            next(c for c in status(job_id)["checkpoints"] if c["number"] == number)["reason"] == "on demand"
        )
        aborted = proxima("abort", job_id)
        assert aborted.code == 0, aborted.both
        try:
            out, err = owner.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            owner.send_signal(signal.SIGABRT)
            out, err = owner.communicate(timeout=30)
            raise AssertionError(err) from None
        assert owner.returncode == 7, err
        assert json.loads(out)["error"]["code"] == "JOB_ABORTED"
        assert "Traceback" not in err
        assert status(job_id)["state"] == "ABORTED"
    finally:
        owner.kill()


def test_control_errors_are_plain_messages():
    unknown = proxima("pause", "no-such-job")
    assert unknown.code == 3 and "JOB_UNKNOWN" in unknown.err and "Traceback" not in unknown.both
    done = proxima("run", "bell", "--backend", "aer-sv", "--shots", "10", "--json")
    job_id = json.loads(done.out)["job"]
    resumed = proxima("resume", job_id)
    assert resumed.code == 3 and "has ended" in resumed.err
    listing = proxima("jobs")
    assert listing.code == 0 and job_id in listing.out
    shown = proxima("status", job_id)
    assert shown.code == 0 and "COMPLETED" in shown.out and "Transitions" in shown.out


def test_ctrl_c_without_a_terminal_aborts_the_job_and_leaves_no_worker(project):
    owner = start_owner("ghz:16")
    try:
        job = running_job()
        worker = status(job["job_id"])["worker_pid"]
        owner.send_signal(signal.SIGINT)
        _, err = owner.communicate(timeout=30)
        assert owner.returncode == 130, err
        assert "interrupted" in err and "Traceback" not in err
        assert status(job["job_id"])["state"] == "ABORTED"
        assert gone(worker)
    finally:
        owner.kill()


class Terminal:
    """`proxima run` on a real pseudo-terminal: the screen it draws, and keys typed into it."""

    def __init__(self, args: list[str]) -> None:
        import pty

        self.primary, secondary = pty.openpty()
        self.owner = subprocess.Popen(
            [*PROXIMA, *args], stdin=secondary, stdout=secondary, stderr=secondary,
            env=dict(os.environ) | {"TERM": "xterm", "COLUMNS": "100"}, start_new_session=True,
        )  # fmt: skip
        os.close(secondary)
        self.screen = bytearray()

    def read_for(self, seconds: float) -> None:
        import select

        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([self.primary], [], [], 0.05)
            if ready:
                try:
                    self.screen.extend(os.read(self.primary, 65536))
                except OSError:
                    return

    def type(self, key: bytes) -> None:
        os.write(self.primary, key)

    def wait_state(self, job_id: str, state: str) -> None:
        deadline = time.monotonic() + 20
        while status(job_id)["state"] != state:
            assert time.monotonic() < deadline, f"{job_id} never reached {state}"
            self.read_for(0.05)

    def wait_exit(self, seconds: float = 20) -> int | None:
        deadline = time.monotonic() + seconds
        while self.owner.poll() is None and time.monotonic() < deadline:
            self.read_for(0.1)
        return self.owner.returncode

    def close(self) -> None:
        self.owner.kill()
        os.close(self.primary)


LIVE_RUN = [a if a != "ghz:15" else "ghz:16" for a in RUN if a != "--json"]


def test_live_view_keys_on_a_terminal(project):
    """On a real pseudo-terminal: the live view draws, `p` freezes, `r` resumes, `a` then `y` aborts."""
    terminal = Terminal(LIVE_RUN)
    try:
        job_id = running_job(min_checkpoints=0)["job_id"]
        terminal.read_for(0.5)
        assert b"steps" in terminal.screen and b"p pause" in terminal.screen
        terminal.type(b"p")
        terminal.wait_state(job_id, "PAUSED")
        terminal.type(b"r")
        terminal.wait_state(job_id, "EXECUTING")
        terminal.type(b"a")
        terminal.read_for(0.3)
        assert b"abort this job?" in terminal.screen
        terminal.type(b"y")
        terminal.wait_state(job_id, "ABORTED")
        assert terminal.wait_exit() == 7
        assert b"JOB_ABORTED" in terminal.screen and b"Traceback" not in terminal.screen
    finally:
        terminal.close()


def test_checkpoint_key_then_ctrl_c_suspends_and_leaves_and_resume_finishes(project):
    """`c` checkpoints on demand; Ctrl+C asks; `s` suspends to a checkpoint and leaves (the worker gone);
    `proxima resume` in another process finishes it with the uninterrupted counts."""
    terminal = Terminal(LIVE_RUN)
    try:
        job = running_job(min_checkpoints=0)
        job_id, worker = job["job_id"], job["worker_pid"]
        terminal.read_for(0.3)
        terminal.type(b"c")
        deadline = time.monotonic() + 20
        while not [c for c in status(job_id)["checkpoints"] if c["reason"] == "on demand"]:
            assert time.monotonic() < deadline, "the c key wrote no checkpoint"
            terminal.read_for(0.05)
        terminal.owner.send_signal(signal.SIGINT)
        terminal.read_for(0.5)
        assert b"Ctrl+C" in terminal.screen and b"uspend" in terminal.screen
        terminal.type(b"s")
        assert terminal.wait_exit() == 0
        left = status(job_id)  # suspended, then its owner left: INTERRUPTED, resumable from the checkpoint
        assert left["state"] == "INTERRUPTED" and gone(worker)
        assert any(
            t["new"] == "PAUSED" and "suspended at checkpoint" in t["reason"] for t in left["transitions"]
        )
        assert b"proxima resume" in terminal.screen and b"Traceback" not in terminal.screen
    finally:
        terminal.close()
    resumed = proxima("resume", job_id, "--json", timeout=120)
    assert resumed.code == 0, resumed.both
    uninterrupted = proxima(*[*LIVE_RUN, "--json"], timeout=120)
    assert json.loads(resumed.out)["counts"] == json.loads(uninterrupted.out)["counts"]
    assert status(job_id)["state"] == "COMPLETED"


def test_an_unwritable_data_directory_is_a_plain_error(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for args in (("jobs",), ("run", "bell", "--backend", "aer-sv", "--shots", "10")):
        result = proxima(*args, env={"PROXIMA_DATA_DIR": str(blocker / "data")})
        assert result.code == 3, result.both
        assert "CONFIG_INVALID" in result.err and "PROXIMA_DATA_DIR" in result.err
        assert "Traceback" not in result.both
