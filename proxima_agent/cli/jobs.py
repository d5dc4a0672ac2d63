"""Jobs from any terminal: `proxima jobs` and `proxima status` look; `proxima pause`, `resume`, `abort`,
`checkpoint` and `rollback` control a job through the process that owns it, and take over (or end) one whose
owner died. `--json` prints the matching tool's structured output (list_jobs, job_status, pause, resume, abort,
rollback), with two exceptions: `checkpoint --json` prints the owner's answer (its `checkpoint` is the number),
and a job taken over here is run to its end and shows its result as `proxima run --json` does."""

from __future__ import annotations

from typing import Any

import click

from proxima_agent.cli.common import emit_json, json_option, read_config, with_store
from proxima_agent.cli.run import drive_job, show_result
from proxima_agent.errors import Step


@click.command()
@click.option("--limit", type=int, default=20, show_default=True, help="Most recent jobs shown.")
@json_option
def jobs(limit: int, as_json: bool) -> None:
    """List recent jobs: state, progress, backend. Jobs whose process died show INTERRUPTED."""
    from proxima_agent.engine.engine import recover_orphans

    async def work(store: Any) -> Any:
        await recover_orphans(store)
        return await store.list_jobs(limit)

    records = with_store(work)
    if as_json:  # the list_jobs tool's shape
        from proxima_agent.tools.jobs import JobList, job_summary

        emit_json(JobList(jobs=[job_summary(r) for r in records]).model_dump(mode="json"))
        return
    from proxima_agent.ui.render import jobs_table, make_console

    make_console().print(jobs_table(records))


@click.command()
@click.argument("job_id")
@json_option
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

    record, transitions, checkpoints, consent = with_store(work)
    if as_json:
        emit_json(record)
        return
    from proxima_agent.ui.render import job_status, make_console

    make_console().print(job_status(record, transitions, checkpoints, consent))


def _control(job_id: str, action: str, args: dict[str, Any], as_json: bool) -> None:
    """Send a control request to the job's owner; a job whose owner died is taken over here (resume, rollback)
    or ended here (abort)."""
    from proxima_agent.engine import control

    async def work(store: Any) -> Any:
        try:
            answer = await control.request(store, job_id, action, args)
        except control.OwnerGone as gone:
            if action != "abort":
                return gone, None
            await control.end_orphan(store, gone.record, "aborted; its owner had died")
            answer = {"ok": True, "state": "ABORTED"}
        view = await _tool_view(store, job_id, action, args) if as_json and action != "checkpoint" else None
        return answer, view

    answer, view = with_store(work)
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
    if view is not None:
        emit_json(view)
    elif as_json:  # checkpoint: the owner's answer, whose `checkpoint` is the number (not the tool's object)
        emit_json({"job": job_id, **answer})
    else:
        extra = f" (checkpoint {answer['checkpoint']})" if "checkpoint" in answer else ""
        click.echo(f"job {job_id}: {answer['state']}{extra}")


async def _tool_view(store: Any, job_id: str, action: str, args: dict[str, Any]) -> dict[str, Any]:
    """What the pause, resume, abort and rollback tools return once the owner has answered: the job's view
    (`JobView`). A suspend first waits, briefly, until its checkpoint is written, as the pause tool does."""
    import asyncio
    import time

    from proxima_agent.engine.engine import recover_orphans
    from proxima_agent.tools.jobs import JobView, status_of

    suspending = action == "pause" and args.get("mode") == "suspend"
    deadline = time.monotonic() + 10.0
    while True:
        await recover_orphans(store)
        record = await store.get_job(job_id)
        if not suspending or record.state != "PAUSING" or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.05)
    status = await status_of(store, record)  # a JobView and more: the view is its first fields
    return JobView.model_validate(status.model_dump(include=set(JobView.model_fields))).model_dump(
        mode="json"
    )


def _adopt(job_id: str, action: str, args: dict[str, Any], as_json: bool) -> None:
    """Take over an interrupted job in this process and run it to the end here."""
    config = read_config()

    async def start(engine: Any) -> Any:
        await engine.adopt(job_id)
        if action == "rollback":
            return await engine.rollback(job_id, int(args["number"]))
        return await engine.resume(job_id)

    job = drive_job(config, start, yes=False, as_json=as_json)
    show_result(job, config, None, 16, as_json, {}, None)


@click.command()
@click.argument("job_id")
@click.option(
    "--suspend", is_flag=True, help="Checkpoint and stop the worker (frees memory) instead of freezing."
)
@json_option
def pause(job_id: str, suspend: bool, as_json: bool) -> None:
    """Pause a running job: freeze its worker (SIGSTOP; memory kept), or --suspend it to a checkpoint."""
    _control(job_id, "pause", {"mode": "suspend" if suspend else "freeze"}, as_json)


@click.command()
@click.argument("job_id")
@json_option
def resume(job_id: str, as_json: bool) -> None:
    """Resume a paused job; a job whose process died continues here from its last checkpoint."""
    _control(job_id, "resume", {}, as_json)


@click.command()
@click.argument("job_id")
@json_option
def abort(job_id: str, as_json: bool) -> None:
    """Abort a job: SIGTERM, then SIGKILL after a grace period; it ends ABORTED with its progress recorded."""
    _control(job_id, "abort", {"reason": "aborted with `proxima abort`"}, as_json)


@click.command()
@click.argument("job_id")
@json_option
def checkpoint(job_id: str, as_json: bool) -> None:
    """Write a checkpoint of a running job now (at its next step)."""
    _control(job_id, "checkpoint", {}, as_json)


@click.command()
@click.argument("job_id")
@click.argument("number", type=int)
@json_option
def rollback(job_id: str, number: int, as_json: bool) -> None:
    """Continue a job from its checkpoint NUMBER (later checkpoints are kept until the job ends)."""
    _control(job_id, "rollback", {"number": number}, as_json)


COMMANDS: list[click.Command] = [jobs, status, pause, resume, abort, checkpoint, rollback]
