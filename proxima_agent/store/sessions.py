"""Chat sessions (`proxima chat`, `proxima agent -p`) in the job database: one row per session and, in order,
its events. A `messages` event holds one turn's new pydantic-ai messages exactly as pydantic-ai serialised them,
so the history is the concatenation of those events in `seq` order and `--continue` rebuilds it bit for bit.
The other events are small JSON records: tool calls (ids and small fields, never copies of results; the results
stay with their jobs), usage per turn, remote-model consent, tool permissions and notes.

The store is below the agent layer and never imports pydantic-ai: whoever stores messages hands the session
store the codec that (de)serialises them, `SessionStore(store, codec=ModelMessagesTypeAdapter)`.

Keys and secrets are never stored: before anything is written, values under secret-looking names (`api_key`,
`authorization`, `x-api-key`, `token`, `password`...) and strings shaped like API keys (`sk-...`, `ghp_...`,
`AKIA...`, `Bearer ...`) are replaced by `[REDACTED]`, in messages as in every other event."""

from __future__ import annotations

import builtins
import json
import re
import secrets
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

from pydantic import BaseModel, ConfigDict, Field

from proxima_agent.errors import SessionNotFoundError, StoreError, quoted
from proxima_agent.store.db import Store

EventKind = Literal["messages", "tool_call", "usage", "consent", "permission", "note"]
EVENT_KINDS: tuple[str, ...] = get_args(EventKind)
TITLE_CHARS = 80
MIN_PREFIX = 4  # an id prefix shorter than this is not looked up (like git's short ids)
REDACTED = "[REDACTED]"
STRING_LIMIT = 2000  # a string in a non-message event is cut to this many characters
LIST_LIMIT = 100  # and a list to this many items
SUMMARY_FIELDS = 12  # small fields of a tool's output kept in its tool_call event
SUMMARY_CHARS = 120


class SessionRecord(BaseModel):
    id: str = Field(description="safe in file names and URLs: YYYYMMDD-HHMMSS-xxxxxx")
    created: float = Field(description="seconds since the epoch")
    updated: float = Field(description="seconds since the epoch: the newest event, or a change of title")
    title: str | None = Field(None, description=f"the first user prompt, cut to {TITLE_CHARS} characters")
    model: str = Field(description="the model spec: `offline`, `anthropic:claude-sonnet-4-5`, ...")
    workspace: str = Field(description="the folder the session was started in (absolute)")
    ended: float | None = Field(None, description="when the session was ended, if it was")


class SessionEvent(BaseModel):
    id: int
    session_id: str
    at: float = Field(description="seconds since the epoch")
    seq: int = Field(description="1, 2, 3... within the session: the order of events")
    kind: EventKind
    data: dict[str, Any]


# What each kind of event records. The fields are optional and others may be added: these name the fields the
# exports and totals read, and check their types when an event is recorded.
class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow")


class ToolCallData(_Payload):
    """One tool call: what was called with what, how it ended, and the jobs it touched (their results stay with
    the jobs)."""

    tool: str
    tool_call_id: str | None = Field(None, description="the id of the model's tool call, when known")
    args: dict[str, Any] | str | None = None
    outcome: Literal["ok", "error", "denied"] | None = None
    ok: bool | None = Field(None, description="outcome == 'ok' (an alternative to outcome)")
    error_code: str | None = None
    error: dict[str, Any] | None = Field(None, description="the error as reported: code, message, hint")
    duration_ms: float | None = None
    job_ids: list[str] = Field(default_factory=list)
    summary: dict[str, Any] | str | None = Field(
        None, description="small fields of the output, or a short text"
    )


class UsageData(_Payload):
    """One turn's use: model requests and tokens, cost (None when unknown: never guessed), simulation."""

    requests: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    tool_calls: int | None = None
    cost_usd: float | None = None
    simulation_core_s: float | None = Field(None, description="core-seconds of simulation in the turn")
    peak_memory_bytes: int | None = None
    model: str | None = None
    duration_ms: float | None = None
    error: dict[str, Any] | None = None


class ConsentData(_Payload):
    """A decision about sending the conversation to a remote model."""

    provider: str | None = None
    model: str | None = None
    answer: str | None = None
    answered_by: str | None = None


class PermissionData(_Payload):
    """A decision about running a tool (allow / ask / deny rules, or the user's answer)."""

    tool: str | None = None
    rule: str | None = None
    decision: str | None = None
    answered_by: str | None = None


class NoteData(_Payload):
    text: str | None = None


PAYLOADS: dict[str, type[_Payload]] = {
    "tool_call": ToolCallData,
    "usage": UsageData,
    "consent": ConsentData,
    "permission": PermissionData,
    "note": NoteData,
}


class SessionTotals(BaseModel):
    """A session's usage summed over its `usage` events (one per turn) and counted over its tool calls."""

    turns: int = 0
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = Field(None, description="the sum of the costs reported; None when none was")
    cost_complete: bool = Field(True, description="every turn reported its cost (else cost_usd is a floor)")
    simulation_core_s: float = 0.0
    peak_memory_bytes: int | None = Field(None, description="the largest of the turns' peaks")
    tool_calls: int = 0
    tool_errors: int = 0
    models: list[str] = Field(default_factory=list)


class MessageCodec(Protocol):
    """What (de)serialises a list of messages: pydantic-ai's `ModelMessagesTypeAdapter` is one."""

    def dump_json(self, instance: Any, /) -> bytes: ...

    def validate_json(self, data: str | bytes, /) -> Any: ...


def new_session_id() -> str:
    """The shape of a job id: sortable by time, safe in file names and URLs."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


# --- secrets ----------------------------------------------------------------------------------------------------

_SECRET_NAME = re.compile(
    r"^(x_)?((.+_)?api_?key|apikey|(.+_)?token|(.+_)?secret|(.+_)?password|passwd|(.+_)?private_key|"
    r"(proxy_)?authorization|cookie|set_cookie|credentials?)$"
)
_SECRET_VALUE = re.compile(
    r"(?<![A-Za-z0-9_\-])("
    r"sk-[A-Za-z0-9_\-]{20,}"  # OpenAI, Anthropic (sk-ant-), OpenRouter (sk-or-)
    r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}"  # GitHub
    r"|AKIA[0-9A-Z]{16}"  # AWS access key id
    r"|AIza[0-9A-Za-z_\-]{35}"  # Google
    r"|xox[abprs]-[A-Za-z0-9\-]{10,}"  # Slack
    r"|hf_[A-Za-z0-9]{30,}|gsk_[A-Za-z0-9]{20,}"  # Hugging Face, Groq
    r")"
    r"|(?<=[Bb]earer )[A-Za-z0-9._~+/=\-]{16,}"
)


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.match(name.strip().lower().replace("-", "_")))


def scrub_text(text: str) -> str:
    """The text with every API-key-shaped string replaced by [REDACTED]."""
    return _SECRET_VALUE.sub(REDACTED, text)


def scrub(value: Any) -> Any:
    """A copy of a JSON value with secrets replaced: values under secret-looking names, and key-shaped strings.
    The bytes of binary content (pydantic-ai's `{"kind": "binary", "data": <base64>}`) are left alone."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        binary = value.get("kind") == "binary"
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and is_secret_name(key) and item not in (None, "", [], {}):
                out[key] = REDACTED
            elif binary and key == "data":
                out[key] = item
            else:
                out[key] = scrub(item)
        return out
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    return value


def _compact(value: Any, depth: int = 0) -> Any:
    """A JSON value bounded in size: long strings and lists cut, deep nesting summarised."""
    if isinstance(value, str):
        return (
            value if len(value) <= STRING_LIMIT else f"{value[: STRING_LIMIT - 1]}… ({len(value)} characters)"
        )
    if depth > 8 and isinstance(value, Mapping | list | tuple):
        return f"({type(value).__name__} of {len(value)} items)"
    if isinstance(value, Mapping):
        return {str(k): _compact(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [_compact(v, depth + 1) for v in list(value)[:LIST_LIMIT]]
        if len(value) > LIST_LIMIT:
            items.append(f"… ({len(value) - LIST_LIMIT} more)")
        return items
    return value


def title_from(text: str) -> str:
    """A session title: the prompt on one line, secrets scrubbed, cut to TITLE_CHARS characters."""
    line = " ".join(scrub_text(text).split())
    return line if len(line) <= TITLE_CHARS else f"{line[: TITLE_CHARS - 1]}…"


# --- tool calls --------------------------------------------------------------------------------------------------


def job_ids_in(value: Any, found: builtins.list[str] | None = None, depth: int = 0) -> builtins.list[str]:
    """Every job id a tool's arguments or output names (`job_id`, `job_ids`, at any depth), each once."""
    found = [] if found is None else found
    if depth > 8:
        return found
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "job_id" and isinstance(item, str) and item not in found:
                found.append(item)
            elif key == "job_ids" and isinstance(item, list):
                found.extend(j for j in item if isinstance(j, str) and j not in found)
            else:
                job_ids_in(item, found, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            job_ids_in(item, found, depth + 1)
    return found


def tool_call_data(
    tool: str,
    args: Mapping[str, Any] | str | None = None,
    *,
    output: Any = None,
    error: Any = None,
    duration_ms: float | None = None,
    tool_call_id: str | None = None,
) -> dict[str, Any]:
    """A `tool_call` event's data from a call and its output (a pydantic model, a dict) or error (a
    ProximaError, an ErrorInfo, or its dict): the job ids it touched and the output's small top-level fields,
    never the output itself."""
    if isinstance(output, BaseModel):
        output = output.model_dump(mode="json")
    data: dict[str, Any] = {"tool": tool, "tool_call_id": tool_call_id, "args": args}
    if error is not None:
        if isinstance(error, BaseModel):
            error = error.model_dump(mode="json")
        if isinstance(error, Mapping):
            code, message = error.get("code"), error.get("message")
        else:
            code, message = getattr(error, "code", type(error).__name__), str(error)
        data |= {
            "outcome": "error",
            "error_code": code,
            "error": {"code": code, "message": str(message)[:300]},
        }
    else:
        data["outcome"] = "ok"
    data["duration_ms"] = duration_ms
    data["job_ids"] = job_ids_in(output, job_ids_in(args if isinstance(args, Mapping) else None))
    if isinstance(output, Mapping):
        small = {
            k: v
            for k, v in output.items()
            if v is None
            or isinstance(v, bool | int | float)
            or (isinstance(v, str) and len(v) <= SUMMARY_CHARS)
        }
        data["summary"] = dict(list(small.items())[:SUMMARY_FIELDS])
    elif isinstance(output, str):
        data["summary"] = output[:SUMMARY_CHARS]
    return data


# --- totals ------------------------------------------------------------------------------------------------------


def totals_of(events: Iterable[SessionEvent]) -> SessionTotals:
    """The totals of a session's events (its usage events summed, its tool calls counted)."""
    totals = SessionTotals()
    cost: float | None = None
    peak: int | None = None
    for event in events:
        data = event.data
        if event.kind == "tool_call":
            totals.tool_calls += 1
            failed = data.get("outcome") == "error" or data.get("ok") is False
            totals.tool_errors += 1 if failed else 0
        elif event.kind == "usage":
            totals.turns += 1
            totals.requests += int(data.get("requests") or 0)
            totals.input_tokens += int(data.get("input_tokens") or 0)
            totals.output_tokens += int(data.get("output_tokens") or 0)
            totals.simulation_core_s += float(data.get("simulation_core_s") or 0.0)
            if data.get("cost_usd") is None:
                totals.cost_complete = False
            else:
                cost = (cost or 0.0) + float(data["cost_usd"])
            if data.get("peak_memory_bytes") is not None:
                peak = max(peak or 0, int(data["peak_memory_bytes"]))
            model = data.get("model")
            if isinstance(model, str) and model not in totals.models:
                totals.models.append(model)
    totals.cost_usd = cost
    totals.peak_memory_bytes = peak
    totals.simulation_core_s = round(totals.simulation_core_s, 6)
    return totals


# --- the store ---------------------------------------------------------------------------------------------------


def _session(row: dict[str, Any]) -> SessionRecord:
    return SessionRecord(**row)


def _event(row: dict[str, Any]) -> SessionEvent:
    return SessionEvent(**(row | {"data": json.loads(row["data"])}))


def _first_user_text(messages: builtins.list[Any]) -> str | None:
    for message in messages:
        for part in (message.get("parts") or []) if isinstance(message, dict) else []:
            if not isinstance(part, dict) or part.get("part_kind") != "user-prompt":
                continue
            content = part.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                texts = [c for c in content if isinstance(c, str)]
                if texts:
                    return " ".join(texts)
    return None


class SessionStore:
    """Sessions and their events on a `Store` (which the caller opens and closes).

    Ids given by a person (`get`, `delete`) may be an unambiguous prefix of at least MIN_PREFIX characters;
    the other methods take the exact id of a session that exists."""

    def __init__(self, store: Store, codec: MessageCodec | None = None) -> None:
        self.store = store
        self.codec = codec

    # --- sessions ---------------------------------------------------------------------------------------------

    async def create(self, model: str, workspace: str | Path, title: str | None = None) -> SessionRecord:
        now = time.time()
        record = SessionRecord(
            id=new_session_id(),
            created=now,
            updated=now,
            title=title_from(title) if title else None,
            model=model,
            workspace=str(Path(workspace).resolve()),
        )
        for attempt in range(3):
            try:
                await self.store._write(
                    "INSERT INTO sessions (id, created, updated, title, model, workspace) VALUES (?, ?, ?, ?, ?, ?)",
                    (record.id, record.created, record.updated, record.title, record.model, record.workspace),
                )
                return record
            except StoreError as exc:  # the same id made in the same second: draw another
                if not isinstance(exc.__cause__, sqlite3.IntegrityError) or attempt == 2:
                    raise
                record.id = new_session_id()
        raise AssertionError("unreachable")

    async def get(self, session_id: str) -> SessionRecord:
        """The session with this id, or the only one whose id starts with it."""
        rows = await self.store._read("SELECT * FROM sessions WHERE id = ?", (session_id,))
        if rows:
            return _session(rows[0])
        matches: builtins.list[str] = []
        if len(session_id) >= MIN_PREFIX:
            found = await self.store._read(
                "SELECT id FROM sessions WHERE substr(id, 1, ?) = ? ORDER BY updated DESC LIMIT 6",
                (len(session_id), session_id),
            )
            matches = [row["id"] for row in found]
            if len(matches) == 1:
                return await self.get(matches[0])
        if matches:
            raise SessionNotFoundError(
                f"{quoted(session_id)} is the start of several session ids: {', '.join(matches[:5])}"
                + (" and more" if len(matches) > 5 else ""),
                hint="give more of the id; `proxima sessions list` lists the sessions",
                session=session_id,
                matches=matches[:5],
            )
        raise SessionNotFoundError(
            f"no session {quoted(session_id)}",
            hint="`proxima sessions list` lists the sessions",
            session=session_id,
            matches=[],
        )

    async def latest(self, workspace: str | Path | None = None) -> SessionRecord | None:
        """The most recently updated session (in `workspace`, when given): what `--continue` continues."""
        if workspace is None:
            rows = await self.store._read("SELECT * FROM sessions ORDER BY updated DESC, id DESC LIMIT 1")
        else:
            rows = await self.store._read(
                "SELECT * FROM sessions WHERE workspace = ? ORDER BY updated DESC, id DESC LIMIT 1",
                (str(Path(workspace).resolve()),),
            )
        return _session(rows[0]) if rows else None

    async def list(
        self, limit: int | None = 20, workspace: str | Path | None = None
    ) -> builtins.list[SessionRecord]:
        """Sessions, the most recently updated first."""
        where, args = ("WHERE workspace = ?", (str(Path(workspace).resolve()),)) if workspace else ("", ())
        rows = await self.store._read(
            f"SELECT * FROM sessions {where} ORDER BY updated DESC, id DESC LIMIT ?",
            (*args, -1 if limit is None else limit),
        )
        return [_session(row) for row in rows]

    async def set_title(self, session_id: str, title: str) -> None:
        await self._update(session_id, "title = ?, updated = ?", (title_from(title), time.time()))

    async def end(self, session_id: str) -> None:
        """Mark the session ended (it can still be continued)."""
        await self._update(session_id, "ended = ?", (time.time(),))

    async def delete(self, session_id: str) -> SessionRecord:
        """Delete the session and its events (the jobs it ran stay); returns what was deleted."""
        record = await self.get(session_id)
        await self.store._changed("DELETE FROM session_events WHERE session_id = ?", (record.id,))
        await self.store._changed("DELETE FROM sessions WHERE id = ?", (record.id,))
        return record

    async def _update(self, session_id: str, sets: str, args: tuple[Any, ...]) -> None:
        if await self.store._changed(f"UPDATE sessions SET {sets} WHERE id = ?", (*args, session_id)) == 0:
            await self.get(session_id)  # raises SessionNotFoundError

    async def _require(self, session_id: str) -> None:
        if not await self.store._read("SELECT 1 AS found FROM sessions WHERE id = ?", (session_id,)):
            await self.get(session_id)  # raises SessionNotFoundError (naming prefix matches, if any)

    # --- events -----------------------------------------------------------------------------------------------

    async def _insert(self, session_id: str, kind: str, text: str) -> SessionEvent:
        await self._require(session_id)
        event_id = await self.store._write(
            "INSERT INTO session_events (session_id, at, seq, kind, data) "
            "SELECT ?, ?, COALESCE(MAX(seq), 0) + 1, ?, ? FROM session_events WHERE session_id = ?",
            (session_id, time.time(), kind, text, session_id),
        )
        (row,) = await self.store._read("SELECT * FROM session_events WHERE id = ?", (event_id,))
        return _event(row)

    async def record(self, session_id: str, kind: EventKind, data: Mapping[str, Any]) -> SessionEvent:
        """Record an event other than messages: its data checked against the kind's fields, scrubbed of
        secrets and bounded in size."""
        if kind not in PAYLOADS:
            raise ValueError(
                f"unknown session event kind {kind!r}"
                if kind not in EVENT_KINDS
                else "record messages with append_messages"
            )
        checked = PAYLOADS[kind].model_validate(dict(data)).model_dump(mode="json", exclude_unset=True)
        text = json.dumps(_compact(scrub(checked)), default=str)
        return await self._insert(session_id, kind, text)

    async def append_messages(self, session_id: str, messages: Sequence[Any]) -> SessionEvent | None:
        """Store one turn's new messages (pydantic-ai objects, serialised by the codec). Nothing for none."""
        if not messages:
            return None
        return await self.append_messages_json(session_id, self._codec().dump_json(builtins.list(messages)))

    async def append_messages_json(self, session_id: str, messages: bytes | str) -> SessionEvent:
        """Store one turn's new messages given as the JSON array pydantic-ai dumps. Stored as they are, but
        for secrets (scrubbed); the session takes its title from the first user prompt if it has none."""
        parsed = json.loads(messages)
        if not isinstance(parsed, list):
            raise ValueError("messages must be a JSON array")
        scrubbed = scrub(parsed)
        body = messages.decode() if isinstance(messages, bytes) else messages
        if scrubbed != parsed:
            body = json.dumps(scrubbed, ensure_ascii=False)
        event = await self._insert(session_id, "messages", '{"messages": ' + body + "}")
        prompt = _first_user_text(scrubbed)
        if prompt:
            await self.store._changed(
                "UPDATE sessions SET title = ? WHERE id = ? AND title IS NULL",
                (title_from(prompt), session_id),
            )
        return event

    async def load_messages_json(self, session_id: str) -> bytes:
        """The whole history as one JSON array: the messages events' arrays, in order."""
        await self._require(session_id)
        rows = await self.store._read(
            "SELECT data FROM session_events WHERE session_id = ? AND kind = 'messages' ORDER BY seq",
            (session_id,),
        )
        messages: builtins.list[Any] = []
        for row in rows:
            messages.extend(json.loads(row["data"])["messages"])
        return json.dumps(messages, ensure_ascii=False).encode()

    async def load_messages(self, session_id: str) -> builtins.list[Any]:
        """The whole history as the codec's objects (pydantic-ai `ModelMessage`s), equal to what was stored."""
        return builtins.list(self._codec().validate_json(await self.load_messages_json(session_id)))

    async def events(
        self, session_id: str, kinds: Iterable[str] | None = None
    ) -> builtins.list[SessionEvent]:
        """The session's events in order, all or those of `kinds`."""
        await self._require(session_id)
        wanted = tuple(kinds) if kinds is not None else ()
        where = f" AND kind IN ({', '.join('?' for _ in wanted)})" if wanted else ""
        if kinds is not None and not wanted:
            return []
        rows = await self.store._read(
            f"SELECT * FROM session_events WHERE session_id = ?{where} ORDER BY seq", (session_id, *wanted)
        )
        return [_event(row) for row in rows]

    async def totals(self, session_id: str) -> SessionTotals:
        return totals_of(await self.events(session_id, ("usage", "tool_call")))

    def _codec(self) -> MessageCodec:
        if self.codec is None:
            raise TypeError(
                "this SessionStore has no message codec: make it with "
                "SessionStore(store, codec=pydantic_ai.messages.ModelMessagesTypeAdapter)"
            )
        return self.codec
