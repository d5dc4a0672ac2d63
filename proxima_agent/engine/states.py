"""The job state machine: which state may follow which, and a record of every transition."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from proxima_agent.errors import JobStateError


class JobState(StrEnum):
    IDLE = "IDLE"
    PLANNING = "PLANNING"
    VALIDATING = "VALIDATING"
    READY = "READY"
    EXECUTING = "EXECUTING"
    PAUSING = "PAUSING"
    PAUSED = "PAUSED"
    RESUMING = "RESUMING"
    ABORTING = "ABORTING"
    ABORTED = "ABORTED"
    ROLLING_BACK = "ROLLING_BACK"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    INTERRUPTED = "INTERRUPTED"  # the process that owned the job died


S = JobState
FINAL = frozenset({S.ABORTED, S.COMPLETED, S.FAILED})
# A FAILED job can be continued (resume, rollback) when nothing about the run itself was wrong: its worker died
# (killed, out of memory) or its result could not be saved. Any other failure would only happen again.
CONTINUABLE_ERRORS = frozenset({"WORKER_DIED", "OUTPUT_FAILED"})
# A job is "live" while a worker may be running or frozen for it.
LIVE = frozenset({S.EXECUTING, S.PAUSING, S.PAUSED, S.RESUMING, S.ABORTING, S.ROLLING_BACK})

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    S.IDLE: frozenset({S.PLANNING, S.VALIDATING, S.FAILED}),
    S.PLANNING: frozenset({S.VALIDATING, S.FAILED}),
    S.VALIDATING: frozenset({S.READY, S.FAILED}),
    S.READY: frozenset({S.EXECUTING, S.ABORTED, S.FAILED}),
    S.EXECUTING: frozenset({S.PAUSING, S.ABORTING, S.ROLLING_BACK, S.COMPLETED, S.FAILED, S.INTERRUPTED}),
    S.PAUSING: frozenset({S.PAUSED, S.EXECUTING, S.ABORTING, S.FAILED, S.INTERRUPTED}),
    S.PAUSED: frozenset({S.RESUMING, S.ABORTING, S.ROLLING_BACK, S.FAILED, S.INTERRUPTED}),
    S.RESUMING: frozenset({S.EXECUTING, S.COMPLETED, S.ABORTING, S.FAILED, S.INTERRUPTED}),
    S.ROLLING_BACK: frozenset({S.EXECUTING, S.PAUSED, S.ABORTING, S.FAILED, S.INTERRUPTED}),
    S.ABORTING: frozenset({S.ABORTED}),
    S.INTERRUPTED: frozenset({S.RESUMING, S.ROLLING_BACK, S.ABORTING, S.ABORTED}),
    S.ABORTED: frozenset(),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset({S.RESUMING, S.ROLLING_BACK}),  # only when continuable(): the engine checks
}


def continuable(state: str, error: dict[str, Any] | None) -> bool:
    """An ended job that may still be continued: FAILED by a worker's death or a result that was not saved."""
    return state == S.FAILED and (error or {}).get("code") in CONTINUABLE_ERRORS


def check_transition(job_id: str, old: JobState, new: JobState) -> None:
    """Raise JobStateError unless `new` may follow `old`."""
    if new not in TRANSITIONS[old]:
        allowed = ", ".join(sorted(TRANSITIONS[old])) or "none: the job has ended"
        raise JobStateError(
            f"job {job_id} is {old}; it cannot go to {new}",
            hint=f"from {old} the job can go to: {allowed}",
            job=job_id,
            state=str(old),
        )
