"""`proxima sessions`: the conversations `proxima chat` and `proxima agent` stored, to list, show, export,
replay and delete. A session is named by its id or a unique prefix of 4 characters or more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from proxima_agent.cli.common import emit_json, json_option, with_store


def _with_sessions(work: Any) -> Any:
    """Run `work(sessions)` on a session store that reads pydantic-ai messages."""
    from pydantic_ai.messages import ModelMessagesTypeAdapter

    from proxima_agent.store.sessions import SessionStore

    return with_store(lambda store: work(SessionStore(store, codec=ModelMessagesTypeAdapter)))


def _when(at: float | None) -> str:
    import datetime

    return "-" if at is None else datetime.datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M")


@click.group()
def sessions() -> None:
    """The stored chat and agent sessions."""


@sessions.command("list")
@click.option("--all", "all_folders", is_flag=True, help="Sessions of every folder, not only this one.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@json_option
def list_sessions(all_folders: bool, limit: int, as_json: bool) -> None:
    """Sessions started in this folder (or everywhere, with --all), the latest first."""

    async def work(store: Any) -> Any:
        records = await store.list(limit=limit, workspace=None if all_folders else Path.cwd())
        return [(record, await store.totals(record.id)) for record in records]

    rows = _with_sessions(work)
    if as_json:
        emit_json(
            [record.model_dump(mode="json") | {"totals": t.model_dump(mode="json")} for record, t in rows]
        )
        return
    if not rows:
        click.echo("no sessions" + ("" if all_folders else " in this folder (--all lists every folder's)"))
        return
    for record, totals in rows:
        title = (record.title or "(no prompt yet)")[:60]
        click.echo(
            f"{record.id}  {_when(record.updated)}  {record.model:<28}  {totals.turns:>3} turns  {title}"
        )


@sessions.command("show")
@click.argument("session_id")
@json_option
def show(session_id: str, as_json: bool) -> None:
    """A session's model, folder, turns, usage and simulations."""
    from proxima_agent.agent.export import totals_lines

    async def work(store: Any) -> Any:
        record = await store.get(session_id)
        return record, await store.totals(record.id)

    record, totals = _with_sessions(work)
    if as_json:
        emit_json(record.model_dump(mode="json") | {"totals": totals.model_dump(mode="json")})
        return
    click.echo(f"session {record.id}: {record.title or '(no prompt yet)'}")
    click.echo(f"  model           {record.model}")
    click.echo(f"  folder          {record.workspace}")
    click.echo(f"  started         {_when(record.created)}, last {_when(record.updated)}")
    for name, value in totals_lines(totals):
        click.echo(f"  {name:<15} {value}")
    click.echo(f"continue it with: proxima chat --resume {record.id}")


@sessions.command("export")
@click.argument("session_id")
@click.option("--format", "fmt", type=click.Choice(["md", "json", "html"]), default="md", show_default=True)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Write to this file (atomically) instead of standard output.",
)  # fmt: skip
def export(session_id: str, fmt: str, output: Path | None) -> None:
    """The whole conversation as Markdown, JSON (docs/session-export.schema.json) or a standalone HTML page."""
    from proxima_agent.agent.export import export_session

    async def work(store: Any) -> str:
        record = await store.get(session_id)
        events = await store.events(record.id)
        charts = await _charts(store.store, events) if fmt == "html" else []
        return export_session(
            record,
            await store.load_messages(record.id),
            events,
            fmt,  # type: ignore[arg-type]
            charts=charts,
        )

    text = _with_sessions(work)
    if output is None:
        click.echo(text)
        return
    from proxima_agent.paths import write_text_atomically

    write_text_atomically(output, text if text.endswith("\n") else text + "\n")
    click.echo(f"wrote {output}", err=True)


MAX_CHARTS = 12


async def _charts(store: Any, events: list[Any]) -> list[tuple[str, bytes]]:
    """A histogram of each completed job the session ran (up to MAX_CHARTS), drawn from its stored result."""
    import asyncio

    from proxima_agent.analysis.metrics import distribution
    from proxima_agent.analysis.plots import histogram_png
    from proxima_agent.backends.result import SimulationResult
    from proxima_agent.errors import ProximaError
    from proxima_agent.store.results import read_result

    job_ids = list(
        dict.fromkeys(j for e in events if e.kind == "tool_call" for j in e.data.get("job_ids") or [])
    )
    charts = []
    for job_id in job_ids[:MAX_CHARTS]:
        try:
            record = await store.get_job(job_id)
            if record.state != "COMPLETED":
                continue
            result = SimulationResult.from_json_dict(read_result(record))
        except (
            ProximaError,
            OSError,
            ValueError,
            KeyError,
        ):  # a job since collected: the page goes without it
            continue
        title = f"{result.circuit} on {result.backend} (job {job_id})"
        charts.append((title, await asyncio.to_thread(histogram_png, distribution(result), title=title)))
    return charts


@sessions.command("replay")
@click.argument("session_id")
def replay(session_id: str) -> None:
    """The conversation in order, turn by turn: prompts, tool calls, decisions and answers."""
    from proxima_agent.agent.export import replay_lines

    async def work(store: Any) -> list[str]:
        record = await store.get(session_id)
        return replay_lines(await store.load_messages(record.id), await store.events(record.id))

    for line in _with_sessions(work):
        click.echo(line)


@sessions.command("delete")
@click.argument("session_id")
@json_option
def delete(session_id: str, as_json: bool) -> None:
    """Delete a session and its history (the jobs it ran, and their results, stay)."""

    async def work(store: Any) -> Any:
        return await store.delete(session_id)

    record = _with_sessions(work)
    if as_json:
        emit_json(record.model_dump(mode="json"))
        return
    click.echo(f"deleted session {record.id}")


COMMANDS = (sessions,)
