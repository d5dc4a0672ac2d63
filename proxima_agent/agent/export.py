"""A stored session as a file a person or a program reads: JSON (the whole history in pydantic-ai's own format,
the events and the totals; its shape is docs/session-export.schema.json), a Markdown transcript, or one
self-contained HTML page (inline CSS, no script, no external URL, every user and model string escaped). Also
the plain lines `proxima sessions replay` prints.

Each is a rendering of the same transcript: turns in order, each with the user's prompt, the assistant's text,
one line per tool call (arguments, outcome, duration, jobs) and the turn's usage. A turn's events are those
recorded from the end of the previous turn (its `usage` event) to the end of this one, so a consent asked
before the prompt went out belongs to the turn it was asked for. Numbers shown are the recorded ones; what was
not recorded is said to be unknown, never estimated."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_ai.messages import (
    BaseToolCallPart,
    BaseToolReturnPart,
    BinaryContent,
    FileUrl,
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    RetryFeedbackPart,
    RetryPromptPart,
    TextPart,
    UserPromptPart,
)

from proxima_agent.errors import OptionError
from proxima_agent.store.sessions import (
    ConsentData,
    NoteData,
    PermissionData,
    SessionEvent,
    SessionRecord,
    SessionTotals,
    ToolCallData,
    UsageData,
    totals_of,
)

ExportFormat = Literal["md", "json", "html"]
EXPORT_FORMAT: Literal["proxima-session"] = "proxima-session"
EXPORT_VERSION: Literal[1] = 1
PREVIEW_CHARS = 160
ARGS_CHARS = 400
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# --- the JSON shape (its schema is generated from these models: docs/session-export.schema.json) ---------------


class MessagePartJSON(BaseModel):
    """A part of a message, in pydantic-ai's serialised form (`part_kind` tells which)."""

    model_config = ConfigDict(extra="allow")
    part_kind: str


class MessageJSON(BaseModel):
    """One pydantic-ai message as `ModelMessagesTypeAdapter` serialises it; the list loads back with
    `ModelMessagesTypeAdapter.validate_python(export["messages"])`."""

    model_config = ConfigDict(extra="allow")
    kind: Literal["request", "response"]
    parts: list[MessagePartJSON]


class MessagesMarker(BaseModel):
    """Where a turn's messages are: `messages[first : first + count]`."""

    count: int
    first: int


class _Event(BaseModel):
    id: int
    session_id: str
    at: float
    seq: int


class MessagesEventJSON(_Event):
    kind: Literal["messages"]
    data: MessagesMarker


class ToolCallEventJSON(_Event):
    kind: Literal["tool_call"]
    data: ToolCallData


class UsageEventJSON(_Event):
    kind: Literal["usage"]
    data: UsageData


class ConsentEventJSON(_Event):
    kind: Literal["consent"]
    data: ConsentData


class PermissionEventJSON(_Event):
    kind: Literal["permission"]
    data: PermissionData


class NoteEventJSON(_Event):
    kind: Literal["note"]
    data: NoteData


EventJSON = Annotated[
    MessagesEventJSON
    | ToolCallEventJSON
    | UsageEventJSON
    | ConsentEventJSON
    | PermissionEventJSON
    | NoteEventJSON,
    Field(discriminator="kind"),
]


class SessionExport(BaseModel):
    """A session exported as JSON (`proxima sessions export --format json`)."""

    format: Literal["proxima-session"] = EXPORT_FORMAT
    version: Literal[1] = EXPORT_VERSION
    session: SessionRecord
    messages: list[MessageJSON] = Field(description="the whole history, in order, in pydantic-ai's JSON form")
    events: list[EventJSON] = Field(
        description="every event in order; a `messages` event says which messages it holds"
    )
    totals: SessionTotals


def export_json_schema() -> dict[str, Any]:
    schema = SessionExport.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


# --- the transcript every format renders -------------------------------------------------------------------------


@dataclass
class ToolLine:
    name: str
    args: Any
    outcome: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    duration_ms: float | None = None
    job_ids: list[str] = field(default_factory=list)
    preview: str | None = None


@dataclass
class Entry:
    """One line of the transcript: `user`, `assistant`, `retry`, `tool`, `usage`, `consent`, `permission` or
    `note`."""

    kind: str
    text: str = ""
    at: datetime | None = None
    tool: ToolLine | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Turn:
    before: list[SessionEvent] = field(default_factory=list)  # recorded before the turn's messages
    messages: list[ModelMessage] = field(default_factory=list)
    after: list[SessionEvent] = field(default_factory=list)
    closed: bool = False


def _turns(messages: Sequence[ModelMessage], events: Sequence[SessionEvent]) -> list[Turn]:
    """The session cut into turns: a `messages` event opens one, its `usage` event closes it; events between a
    closed turn and the next messages belong to the next."""
    turns: list[Turn] = []
    pending: list[SessionEvent] = []
    current: Turn | None = None
    used = 0
    ordered = sorted(events, key=lambda e: e.seq)
    if not any(e.kind == "messages" for e in ordered):
        for group in _by_prompt(list(messages)):
            turns.append(Turn(messages=group))
        used = len(messages)
        current = turns[-1] if turns else None
    for event in ordered:
        if event.kind == "messages":
            data = event.data
            count = len(data.get("messages") or []) if "messages" in data else int(data.get("count") or 0)
            current = Turn(before=pending, messages=list(messages[used : used + count]))
            used += count
            pending = []
            turns.append(current)
        elif current is not None and not current.closed:
            current.after.append(event)
            current.closed = event.kind == "usage"
        elif event.kind == "usage":
            turns.append(
                Turn(before=pending, after=[event], closed=True)
            )  # a turn that failed before replying
            pending = []
        else:
            pending.append(event)
    for group in _by_prompt(list(messages[used:])):
        turns.append(Turn(messages=group))
    if pending and turns:  # recorded after the last turn closed (a note): it goes with that turn
        turns[-1].after += pending
    elif pending:
        turns.append(Turn(before=pending))
    return turns


def _by_prompt(messages: list[ModelMessage]) -> list[list[ModelMessage]]:
    groups: list[list[ModelMessage]] = []
    for message in messages:
        starts = isinstance(message, ModelRequest) and any(
            isinstance(p, UserPromptPart) for p in message.parts
        )
        if starts or not groups:
            groups.append([])
        groups[-1].append(message)
    return groups


def _prompt_text(part: UserPromptPart) -> str:
    if isinstance(part.content, str):
        return part.content
    pieces = []
    for item in part.content:
        if isinstance(item, str):
            pieces.append(item)
        elif isinstance(item, BinaryContent):
            pieces.append(f"[{item.media_type} attachment]")
        elif isinstance(item, FileUrl):
            pieces.append(f"[{item.kind}: {item.url}]")
        else:
            pieces.append(f"[{getattr(item, 'kind', type(item).__name__)}]")
    return " ".join(pieces)


def _short(value: Any, limit: int = PREVIEW_CHARS) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


_OUTCOMES = {"success": "ok", "failed": "error", "retried": "retried", "denied": "denied"}


def _tool_event_outcome(data: dict[str, Any]) -> str | None:
    if data.get("outcome"):
        return str(data["outcome"])
    if "ok" in data:
        return "ok" if data["ok"] else "error"
    return None


def _apply_event(line: ToolLine, data: dict[str, Any]) -> None:
    line.outcome = _tool_event_outcome(data) or line.outcome
    error: dict[str, Any] = data["error"] if isinstance(data.get("error"), dict) else {}
    line.error_code = data.get("error_code") or error.get("code") or line.error_code
    line.error_message = error.get("message") or line.error_message
    line.duration_ms = data.get("duration_ms", line.duration_ms)
    line.job_ids = list(data.get("job_ids") or line.job_ids)
    if line.args is None and data.get("args") is not None:
        line.args = data["args"]


def _turn_entries(turn: Turn) -> list[Entry]:
    returns: dict[str, BaseToolReturnPart | RetryPromptPart] = {}
    for message in turn.messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, BaseToolReturnPart | RetryPromptPart) and part.tool_call_id:
                    returns[part.tool_call_id] = part
    tool_events = [e for e in (*turn.before, *turn.after) if e.kind == "tool_call"]
    unused = list(tool_events)
    by_id = {e.data["tool_call_id"]: e for e in tool_events if e.data.get("tool_call_id")}

    def event_for(call: BaseToolCallPart, ret: Any) -> SessionEvent | None:
        event = by_id.get(call.tool_call_id)
        if event is None and not (
            ret is not None and getattr(ret, "outcome", "success") in ("retried", "denied")
        ):
            # an event without the call's id: the first unused one of this tool (retried and denied calls
            # never ran, so they have none)
            event = next(
                (
                    e
                    for e in unused
                    if e.data.get("tool") == call.tool_name and not e.data.get("tool_call_id")
                ),
                None,
            )
        if event is not None and event in unused:
            unused.remove(event)
        return event

    entries = [_event_entry(e) for e in turn.before if e.kind != "tool_call"]
    seen_calls: set[str] = set()
    for message in turn.messages:
        if isinstance(message, ModelRequest):
            for request_part in message.parts:
                if isinstance(request_part, UserPromptPart):
                    entries.append(Entry("user", _prompt_text(request_part), at=request_part.timestamp))
                elif isinstance(request_part, RetryFeedbackPart) or (
                    isinstance(request_part, RetryPromptPart) and request_part.tool_name is None
                ):
                    entries.append(
                        Entry("retry", _short(request_part.content, 400), at=request_part.timestamp)
                    )
                elif (
                    isinstance(request_part, BaseToolReturnPart)
                    and request_part.tool_call_id not in seen_calls
                ):
                    # a return whose call is in an earlier turn (a deferred call answered later)
                    line = ToolLine(request_part.tool_name, None, _OUTCOMES.get(request_part.outcome))
                    line.preview = _short(request_part.content)
                    entries.append(Entry("tool", tool=line, at=request_part.timestamp))
        elif isinstance(message, ModelResponse):
            for response_part in message.parts:
                if isinstance(response_part, TextPart) and response_part.content:
                    entries.append(Entry("assistant", response_part.content, at=message.timestamp))
                elif isinstance(response_part, BaseToolCallPart):
                    seen_calls.add(response_part.tool_call_id)
                    ret = returns.get(response_part.tool_call_id)
                    line = ToolLine(
                        response_part.tool_name, response_part.args_as_dict() if response_part.args else {}
                    )
                    if isinstance(ret, BaseToolReturnPart):
                        line.outcome = _OUTCOMES.get(ret.outcome, ret.outcome)
                        line.preview = _short(ret.content)
                    elif isinstance(ret, RetryPromptPart):
                        line.outcome, line.preview = "retried", _short(ret.content)
                    event = event_for(response_part, ret)
                    if event is not None:
                        _apply_event(line, event.data)
                    entries.append(Entry("tool", tool=line, at=message.timestamp))
    for event in turn.after:
        if event.kind != "tool_call":
            entries.append(_event_entry(event))
        elif event in unused:  # a call the messages do not show (the turn failed before they were stored)
            line = ToolLine(str(event.data.get("tool")), event.data.get("args"))
            _apply_event(line, event.data)
            entries.append(Entry("tool", tool=line, at=_when(event.at)))
    # usage closes the turn's lines
    entries.sort(key=lambda e: e.kind == "usage")
    return entries


def _when(at: float | None) -> datetime | None:
    return None if at is None else datetime.fromtimestamp(at, UTC)


def _event_entry(event: SessionEvent) -> Entry:
    return Entry(event.kind, data=event.data, at=_when(event.at))


def transcript(messages: Sequence[ModelMessage], events: Sequence[SessionEvent]) -> list[list[Entry]]:
    """The session as turns of entries, in order."""
    return [entries for turn in _turns(messages, events) if (entries := _turn_entries(turn))]


# --- text of each entry --------------------------------------------------------------------------------------------


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _cost(cost: float | None, complete: bool = True) -> str:
    if cost is None:
        return "cost unknown"
    text = f"${cost:.4f}" if cost < 1 else f"${cost:.2f}"
    return text if complete else f"at least {text} (some turns did not report their cost)"


def usage_text(data: dict[str, Any]) -> str:
    parts = []
    if data.get("requests") is not None:
        parts.append(f"{data['requests']} request{'s' if data['requests'] != 1 else ''}")
    if data.get("input_tokens") is not None or data.get("output_tokens") is not None:
        parts.append(f"{data.get('input_tokens') or 0:,} in / {data.get('output_tokens') or 0:,} out tokens")
    parts.append(_cost(data.get("cost_usd")))
    if data.get("simulation_core_s"):
        parts.append(f"simulation {data['simulation_core_s']:g} core-s")
    if data.get("peak_memory_bytes"):
        parts.append(f"peak memory {_bytes(data['peak_memory_bytes'])}")
    if data.get("duration_ms") is not None:
        parts.append(f"{data['duration_ms']:g} ms")
    if data.get("model"):
        parts.append(f"model {data['model']}")
    error = data.get("error")
    if isinstance(error, dict) and error.get("code"):
        parts.append(f"failed: {error['code']}: {_short(error.get('message') or '')}")
    return " · ".join(parts)


def _args_text(args: Any) -> str:
    if args is None:
        return ""
    return _short(
        args if isinstance(args, str) else json.dumps(args, ensure_ascii=False, default=str), ARGS_CHARS
    )


def tool_text(line: ToolLine) -> str:
    """`name {args} → outcome · 12 ms · jobs a, b · error CODE: message · preview`, without markup."""
    head = f"{line.name} {_args_text(line.args)}".rstrip()
    return f"{head} → {' · '.join(tool_details(line))}"


def tool_details(line: ToolLine) -> list[str]:
    """The outcome first, then duration, jobs, and the error or a preview of the result."""
    details = [line.outcome or "no result recorded"]
    if line.duration_ms is not None:
        details.append(f"{line.duration_ms:g} ms")
    if line.job_ids:
        details.append(f"job{'s' if len(line.job_ids) > 1 else ''} {', '.join(line.job_ids)}")
    if line.error_code or line.error_message:
        details.append(f"{line.error_code or 'error'}: {_short(line.error_message or '')}".rstrip(": "))
    elif line.preview:
        details.append(line.preview)
    return details


def event_text(entry: Entry) -> str:
    data = entry.data
    if entry.kind == "usage":
        return f"usage: {usage_text(data)}"
    if entry.kind == "consent":
        who = f" (by {data['answered_by']})" if data.get("answered_by") else ""
        return f"remote model consent: {data.get('model') or '?'} at {data.get('provider') or '?'}: {data.get('answer')}{who}"
    if entry.kind == "permission":
        rule = f" (rule: {data['rule']})" if data.get("rule") else ""
        reasons = f" ({'; '.join(map(str, data['reasons']))})" if data.get("reasons") else ""
        who = f" by {data['answered_by']}" if data.get("answered_by") else ""
        return f"permission for {data.get('tool') or '?'}: {data.get('decision') or data.get('answer')}{who}{rule}{reasons}"
    if entry.kind == "retry":
        return f"retry asked of the model: {entry.text}"
    text = data.get("text") if isinstance(data.get("text"), str) else None
    return f"note: {_short(text or data, 400)}"


def totals_lines(totals: SessionTotals) -> list[tuple[str, str]]:
    rows = [
        ("turns", str(totals.turns)),
        ("model requests", str(totals.requests)),
        ("tokens", f"{totals.input_tokens:,} in / {totals.output_tokens:,} out"),
        ("cost", _cost(totals.cost_usd, totals.cost_complete)),
        ("tool calls", f"{totals.tool_calls} ({totals.tool_errors} failed)"),
        ("simulation", f"{totals.simulation_core_s:g} core-s"),
        (
            "peak memory",
            _bytes(totals.peak_memory_bytes) if totals.peak_memory_bytes is not None else "not recorded",
        ),
    ]
    if totals.models:
        rows.append(("models", ", ".join(totals.models)))
    return rows


def _time(at: datetime | float | None) -> str:
    if at is None:
        return ""
    moment = _when(at) if isinstance(at, float | int) else at
    assert moment is not None
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _session_rows(record: SessionRecord) -> list[tuple[str, str]]:
    rows = [
        ("id", record.id),
        ("model", record.model),
        ("workspace", record.workspace),
        ("started", _time(record.created)),
        ("updated", _time(record.updated)),
    ]
    if record.ended is not None:
        rows.append(("ended", _time(record.ended)))
    return rows


# --- replay --------------------------------------------------------------------------------------------------------


def replay_lines(messages: Sequence[ModelMessage], events: Sequence[SessionEvent]) -> list[str]:
    """The conversation in order as plain lines (`proxima sessions replay`)."""
    lines: list[str] = []
    for number, entries in enumerate(transcript(messages, events), start=1):
        lines.append(f"── turn {number} ──")
        for entry in entries:
            if entry.kind in ("user", "assistant"):
                who = "you" if entry.kind == "user" else "assistant"
                first, *rest = entry.text.splitlines() or [""]
                lines.append(f"{who}: {first}")
                lines.extend(f"  {line}" for line in rest)
            elif entry.kind == "tool" and entry.tool is not None:
                lines.append(f"  tool {tool_text(entry.tool)}")
            else:
                lines.append(f"  {event_text(entry)}")
    return lines


# --- the formats ---------------------------------------------------------------------------------------------------


def export_session(
    record: SessionRecord,
    messages: Sequence[ModelMessage],
    events: Sequence[SessionEvent],
    fmt: ExportFormat,
    *,
    charts: Sequence[tuple[str, bytes]] = (),
) -> str:
    """The session as JSON, Markdown or HTML. `charts` are (caption, PNG bytes) pictures the caller found for
    the session's jobs; the HTML page embeds them as data: URIs (the other formats leave them out)."""
    if fmt == "json":
        return json.dumps(export_document(record, messages, events), indent=1, ensure_ascii=False)
    if fmt == "md":
        return _markdown(record, messages, events)
    if fmt == "html":
        return _html(record, messages, events, charts)
    raise OptionError(f"unknown export format {fmt!r}", hint="use md, json or html")


def export_document(
    record: SessionRecord, messages: Sequence[ModelMessage], events: Sequence[SessionEvent]
) -> dict[str, Any]:
    """The JSON export as a dict (docs/session-export.schema.json)."""
    out_events = []
    first = 0
    for event in sorted(events, key=lambda e: e.seq):
        data = event.data
        if event.kind == "messages":
            count = len(data.get("messages") or [])
            data = {"count": count, "first": first}
            first += count
        out_events.append(event.model_dump(mode="json") | {"data": data})
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "session": record.model_dump(mode="json"),
        "messages": json.loads(ModelMessagesTypeAdapter.dump_json(list(messages))),
        "events": out_events,
        "totals": totals_of(events).model_dump(mode="json"),
    }


def _code(text: str) -> str:
    """`text` as a Markdown code span, whatever backticks it holds."""
    run = longest = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _markdown(record: SessionRecord, messages: Sequence[ModelMessage], events: Sequence[SessionEvent]) -> str:
    out = [f"# {' '.join((record.title or 'Untitled session').split())}", "", "| | |", "|---|---|"]
    out += [f"| {name} | {_code(value)} |" for name, value in _session_rows(record)]
    for number, entries in enumerate(transcript(messages, events), start=1):
        out += ["", f"## Turn {number}", ""]
        for entry in entries:
            if entry.kind == "user":
                out += ["", f"**You** ({_time(entry.at)})", ""]
                out += [f"> {line}" if line else ">" for line in entry.text.splitlines() or [""]]
                out.append("")
            elif entry.kind == "assistant":
                out += ["", "**Assistant**", "", entry.text, ""]
            elif entry.kind == "tool" and entry.tool is not None:
                line = entry.tool
                head = f"- tool {_code(line.name)}"
                if line.args is not None:
                    head += f" {_code(_args_text(line.args))}"
                out.append(f"{head} → {' · '.join(tool_details(line))}")
            elif entry.kind == "usage":
                out += ["", f"*{event_text(entry)}*", ""]
            else:
                out.append(f"- {event_text(entry)}")
    out += ["", "## Totals", "", "| | |", "|---|---|"]
    out += [f"| {name} | {value} |" for name, value in totals_lines(totals_of(events))]
    text = "\n".join(out)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip() + "\n"


_CSS = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #1d1d1f; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.1rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
table { border-collapse: collapse; } td, th { padding: .15rem .8rem .15rem 0; text-align: left; vertical-align: top; }
.who { font-weight: 600; } .at { color: #777; font-size: .85em; margin-left: .5em; }
.user { background: #f2f6ff; border-left: 3px solid #5b8def; padding: .4rem .8rem; white-space: pre-wrap; }
.assistant { white-space: pre-wrap; padding: .2rem 0; }
.tool, .event { font-family: ui-monospace, monospace; font-size: .85em; margin: .15rem 0; }
.tool .name { font-weight: 600; } .ok { color: #17803d; } .error { color: #c0262d; } .other { color: #a15c00; }
.usage { color: #555; font-size: .85em; margin-top: .4rem; }
figure { margin: 1rem 0; } figure img { max-width: 100%; }
"""


def _html(
    record: SessionRecord,
    messages: Sequence[ModelMessage],
    events: Sequence[SessionEvent],
    charts: Sequence[tuple[str, bytes]],
) -> str:
    e = html.escape
    title = " ".join((record.title or "Untitled session").split())
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        "<table>",
    ]
    out += [
        f"<tr><th>{e(name)}</th><td><code>{e(value)}</code></td></tr>"
        for name, value in _session_rows(record)
    ]
    out.append("</table>")
    for number, entries in enumerate(transcript(messages, events), start=1):
        out.append(f'<section class="turn"><h2>Turn {number}</h2>')
        for entry in entries:
            at = f'<span class="at">{e(_time(entry.at))}</span>' if entry.at else ""
            if entry.kind == "user":
                out.append(f'<div class="who">You{at}</div><div class="user">{e(entry.text)}</div>')
            elif entry.kind == "assistant":
                out.append(f'<div class="who">Assistant</div><div class="assistant">{e(entry.text)}</div>')
            elif entry.kind == "tool" and entry.tool is not None:
                line = entry.tool
                outcome, *more = tool_details(line)
                css = {"ok": "ok", "error": "error"}.get(outcome, "other")
                details = "".join(f" · {e(item)}" for item in more)
                out.append(
                    f'<div class="tool">tool <span class="name">{e(line.name)}</span> {e(_args_text(line.args))} '
                    f'→ <span class="{css}">{e(outcome)}</span>{details}</div>'
                )
            elif entry.kind == "usage":
                out.append(f'<div class="usage">{e(event_text(entry))}</div>')
            else:
                out.append(f'<div class="event">{e(event_text(entry))}</div>')
        out.append("</section>")
    for caption, png in charts:
        if not png.startswith(PNG_MAGIC):
            raise OptionError(f"chart {caption!r} is not a PNG image", hint="pass PNG bytes for charts")
        data = base64.b64encode(png).decode()
        out.append(
            f'<figure><img alt="{e(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{e(caption)}</figcaption></figure>"
        )
    out += ['<section class="totals"><h2>Totals</h2><table>']
    out += [
        f"<tr><th>{e(name)}</th><td>{e(value)}</td></tr>" for name, value in totals_lines(totals_of(events))
    ]
    out += ["</table></section>", "</body></html>"]
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # python -m proxima_agent.agent.export > docs/session-export.schema.json
    print(json.dumps(export_json_schema(), indent=2))
