"""Control of a job from another process: the request goes into the database and the owner answers it. A job
whose owner died is found here too (and marked INTERRUPTED), so that the caller can take it over."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from proxima_agent.engine.engine import owner_alive, recover_orphans, taken_by
from proxima_agent.engine.states import FINAL, JobState, check_transition, continuable
from proxima_agent.errors import JobStateError, Step, error_from_dict
from proxima_agent.store.db import JobRecord, Store

POLL_S = 0.05


class OwnerGone(Exception):
    """The job's owner died: the caller may adopt the job (resume, rollback) or end it (abort)."""

    def __init__(self, record: JobRecord) -> None:
        super().__init__(record.id)
        self.record = record


async def request(
    store: Store, job_id: str, action: str, args: dict[str, Any], timeout: float = 60.0
) -> dict:
    """Ask the owner of `job_id` to carry out `action`; returns its answer or raises its error."""
    record = await store.get_job(job_id)
    refuse_ended(record, action)
    if not owner_alive(record):
        await _owner_gone(store, job_id, action)
    elif record.state == JobState.INTERRUPTED:  # a live process has just claimed it and is taking it over
        raise taken_by(record)
    request_id = await store.add_control(job_id, action, args)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = await store.get_control(request_id)
        if answer.handled is not None and answer.response is not None:
            if not answer.response.get("ok"):
                raise error_from_dict(answer.response["error"])
            return answer.response
        if not owner_alive(await store.get_job(job_id)):
            return await _owner_gone(store, job_id, action)
        await asyncio.sleep(POLL_S)
    raise JobStateError(
        f"the process {record.owner_pid} that owns job {job_id} did not answer within {timeout:.0f} s",
        hint="it may be busy starting a worker; try again",
        job=job_id,
    )


def refuse_ended(record: JobRecord, action: str = "") -> None:
    """Refuse an action on an ended job, except continuing (resume, rollback) one that can be continued."""
    if action in ("resume", "rollback") and continuable(record.state, record.error):
        return
    if JobState(record.state) in FINAL:
        raise JobStateError(
            f"job {record.id} is {record.state}; it has ended",
            hint="{0} shows how it ended",
            steps=[Step("job_status", {"job_id": record.id})],
            job=record.id,
            state=record.state,
        )


async def _owner_gone(store: Store, job_id: str, action: str) -> dict:
    """The owner died (or ended the job and exited just now): report an abort that took place, else hand
    the job to the caller."""
    await recover_orphans(store)
    record = await store.get_job(job_id)
    if action == "abort" and record.state == JobState.ABORTED:
        return {"ok": True, "state": record.state}
    refuse_ended(record, action)
    if owner_alive(record):  # another process claimed it in the meantime
        raise taken_by(record)
    raise OwnerGone(record)


async def end_orphan(store: Store, record: JobRecord, reason: str) -> None:
    """Abort a job nobody owns any more (its worker, if any, was killed by recover_orphans), unless another
    process has just taken it over (each step is conditional on the state and owner seen)."""
    state = JobState(record.state)
    owner = (record.owner_pid, record.owner_started)
    for new in (JobState.ABORTING, JobState.ABORTED):
        check_transition(record.id, state, new)
        if not await store.move_job(record.id, str(state), str(new), owner, reason):
            raise taken_by(await store.get_job(record.id))
        state = new
