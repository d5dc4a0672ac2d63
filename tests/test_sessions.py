"""Chat sessions in the job database: the migration (fresh and from the previous schema), the exact round trip of
a pydantic-ai history, events and totals, `--continue`'s latest per workspace, deletion, unknown and prefix ids,
secrets scrubbed, a restart, and the exports (JSON against its checked-in schema, Markdown, HTML, replay)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import warnings
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest
from pydantic_ai.messages import (
    BinaryImage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    RetryFeedbackPart,
    RetryInfo,
    RetryPromptPart,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.usage import RequestUsage

from proxima_agent.agent.export import export_document, export_json_schema, export_session, replay_lines
from proxima_agent.errors import OptionError, SessionNotFoundError
from proxima_agent.store.db import JobRecord, Store
from proxima_agent.store.migrations import MIGRATIONS
from proxima_agent.store.sessions import (
    REDACTED,
    SessionStore,
    scrub,
    tool_call_data,
)

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "docs" / "session-export.schema.json"
T0 = datetime(2026, 1, 5, 9, 30, 0, 123456, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
SESSIONS_MIGRATION = next(i for i, m in enumerate(MIGRATIONS) if "CREATE TABLE sessions" in m)


def run(coro):  # each test drives its own loop: no plugin needed
    return asyncio.run(coro)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def turn_one() -> list:
    """A turn with instructions, a system prompt, a tool call answered, one retried for bad arguments, and the
    model's final text (as pydantic-ai 2.x records a retry: the call's own return, outcome 'retried')."""
    return [
        ModelRequest(
            parts=[
                SystemPromptPart("You are Proxima.", timestamp=at(0)),
                UserPromptPart(
                    "Run ghz:3 on cirq-sv with 1000 shots <script>alert(1)</script>", timestamp=at(0)
                ),
            ],
            instructions="Use the tools; never invent numbers.",
            timestamp=at(0.1),
            run_id="run-1",
        ),
        ModelResponse(
            parts=[
                TextPart("I'll run it."),
                ToolCallPart(
                    "execute", {"circuit": "ghz:3", "backend": "cirq-sv", "shots": 1000}, "call_exec_1"
                ),
                ToolCallPart("compare", '{"job_ids": "not-a-list"}', "call_cmp_1"),
            ],
            usage=RequestUsage(input_tokens=812, output_tokens=64),
            model_name="claude-sonnet-4-5",
            provider_name="anthropic",
            timestamp=at(1.5),
            finish_reason="tool_call",
            run_id="run-1",
        ),
        ModelRequest(
            parts=[
                ToolReturnPart(
                    "execute",
                    {
                        "job_id": "20260105-093001-a1b2c3",
                        "state": "COMPLETED",
                        "counts": {"000": 507, "111": 493},
                    },
                    "call_exec_1",
                    timestamp=at(2.0),
                ),
                ToolReturnPart(
                    "compare",
                    [
                        {
                            "type": "list_type",
                            "loc": ["job_ids"],
                            "msg": "Input should be a valid list",
                            "input": "x",
                        }
                    ],
                    "call_cmp_1",
                    outcome="retried",
                    retry=RetryInfo(cause="validation_error", attempt=1, max_retries=1),
                    timestamp=at(2.0),
                ),
            ],
            timestamp=at(2.1),
            run_id="run-1",
        ),
        ModelResponse(
            parts=[TextPart("GHZ state: 000 came up 507 times and 111 493 times.")],
            usage=RequestUsage(input_tokens=1020, output_tokens=40),
            model_name="claude-sonnet-4-5",
            provider_name="anthropic",
            timestamp=at(3.0),
            finish_reason="stop",
            run_id="run-1",
        ),
    ]


def turn_two() -> list:
    return [
        ModelRequest(
            parts=[
                UserPromptPart(
                    ["What does this histogram show?", BinaryImage(data=PNG, media_type="image/png")],
                    timestamp=at(60),
                )
            ],
            timestamp=at(60),
        ),
        ModelResponse(parts=[TextPart('{"bad": ')], timestamp=at(61)),
        ModelRequest(
            parts=[
                RetryFeedbackPart(
                    "Invalid JSON", retry=RetryInfo(cause="validation_error"), timestamp=at(61.5)
                )
            ]
        ),
        ModelResponse(parts=[TextPart("Two outcomes, each about half.")], timestamp=at(62)),
    ]


async def open_store(tmp_path: Path) -> tuple[Store, SessionStore]:
    store = await Store.open(tmp_path / "proxima.db")
    return store, SessionStore(store, codec=ModelMessagesTypeAdapter)


async def record_session(sessions: SessionStore, workspace: Path):
    """A realistic two-turn session, recorded the way the agent loop records it."""
    record = await sessions.create(model="anthropic:claude-sonnet-4-5", workspace=workspace)
    await sessions.record(
        record.id,
        "consent",
        {"provider": "anthropic", "model": "claude-sonnet-4-5", "answer": "yes", "answered_by": "the user"},
    )
    await sessions.record(
        record.id,
        "permission",
        {"tool": "execute", "rule": "ask", "decision": "allow", "answered_by": "the user"},
    )
    await sessions.append_messages(record.id, turn_one())
    await sessions.record(
        record.id,
        "tool_call",
        tool_call_data(
            "execute",
            {"circuit": "ghz:3", "backend": "cirq-sv", "shots": 1000},
            output={
                "job_id": "20260105-093001-a1b2c3",
                "state": "COMPLETED",
                "counts": {"000": 507, "111": 493},
            },
            duration_ms=412.5,
            tool_call_id="call_exec_1",
        ),
    )
    await sessions.record(
        record.id,
        "usage",
        {"requests": 2, "input_tokens": 1832, "output_tokens": 104, "cost_usd": 0.0061,
         "simulation_core_s": 0.35, "peak_memory_bytes": 52_000_000, "model": "anthropic:claude-sonnet-4-5"},
    )  # fmt: skip
    await sessions.append_messages(record.id, turn_two())
    await sessions.record(
        record.id,
        "usage",
        {"requests": 2, "input_tokens": 2100, "output_tokens": 30, "cost_usd": None,
         "simulation_core_s": 0.0, "peak_memory_bytes": 10_000_000, "model": "anthropic:claude-sonnet-4-5"},
    )  # fmt: skip
    await sessions.record(record.id, "note", {"text": "exported for the lab notebook"})
    return await sessions.get(record.id)


# --- the migration -----------------------------------------------------------------------------------------------


def test_the_migration_applies_on_a_fresh_database(tmp_path: Path):
    async def go():
        store = await Store.open(tmp_path / "proxima.db")
        try:
            (row,) = await store._read("PRAGMA user_version")
            assert row["user_version"] == len(MIGRATIONS)
            tables = {r["name"] for r in await store._read("SELECT name FROM sqlite_master")}
            assert {"sessions", "session_events", "session_events_seq", "jobs"} <= tables
        finally:
            await store.close()

    run(go())


def test_the_migration_applies_on_a_database_at_the_previous_version(tmp_path: Path):
    path = tmp_path / "proxima.db"
    old = sqlite3.connect(path)
    for script in MIGRATIONS[:SESSIONS_MIGRATION]:
        old.executescript(script)
    old.execute(f"PRAGMA user_version={SESSIONS_MIGRATION}")
    old.execute(
        "INSERT INTO jobs (id, created, updated, state, circuit, spec) VALUES ('j1', 0, 0, 'COMPLETED', 'x', '{}')"
    )
    old.commit()
    old.close()

    async def go():
        store, sessions = await open_store(tmp_path)
        try:
            (row,) = await store._read("PRAGMA user_version")
            assert row["user_version"] == len(MIGRATIONS)
            assert (await store.get_job("j1")).state == "COMPLETED"
            record = await sessions.create(model="offline", workspace=tmp_path)
            await sessions.record(record.id, "note", {"text": "after the upgrade"})
            assert [e.kind for e in await sessions.events(record.id)] == ["note"]
        finally:
            await store.close()

    run(go())


# --- the history -------------------------------------------------------------------------------------------------


def test_the_history_round_trips_exactly_and_survives_a_restart(tmp_path: Path):
    async def go():
        store, sessions = await open_store(tmp_path)
        try:
            record = await record_session(sessions, tmp_path)
            loaded = await sessions.load_messages(record.id)
        finally:
            await store.close()
        store, sessions = await open_store(tmp_path)  # a restart: a new process opening the same file
        try:
            again = await sessions.load_messages(record.id)
            reopened = await sessions.get(record.id)
        finally:
            await store.close()
        return record, loaded, again, reopened

    record, loaded, again, reopened = run(go())
    expected = turn_one() + turn_two()
    assert loaded == expected
    assert again == expected
    assert reopened == record
    call = loaded[1].parts[1]
    assert (
        isinstance(call, ToolCallPart) and call.tool_call_id == "call_exec_1" and call.args["shots"] == 1000
    )
    assert loaded[1].parts[2].args == '{"job_ids": "not-a-list"}'  # arguments kept as the model sent them
    returned = loaded[2].parts[0]
    assert isinstance(returned, ToolReturnPart) and returned.content["counts"] == {"000": 507, "111": 493}
    retried = loaded[2].parts[1]
    assert retried.outcome == "retried" and retried.retry == RetryInfo(
        "validation_error", attempt=1, max_retries=1
    )
    assert loaded[0].parts[1].timestamp == at(0) and loaded[3].timestamp == at(3.0)
    assert loaded[0].instructions == "Use the tools; never invent numbers."
    assert loaded[1].usage.input_tokens == 812
    assert loaded[4].parts[0].content[1].data == PNG  # binary content: base64 in the store, bytes again here
    assert isinstance(loaded[6].parts[0], RetryFeedbackPart)


def test_a_legacy_retry_prompt_part_loads_as_the_retry_it_meant(tmp_path: Path):
    """pydantic-ai 2.x deprecates RetryPromptPart; a stored one loads as the tool call's retried return."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        legacy = RetryPromptPart("bad arguments", tool_name="compare", tool_call_id="call_9", timestamp=at(5))

    async def go():
        store, sessions = await open_store(tmp_path)
        try:
            record = await sessions.create(model="offline", workspace=tmp_path)
            await sessions.append_messages(record.id, [ModelRequest(parts=[legacy])])
            return await sessions.load_messages(record.id)
        finally:
            await store.close()

    (message,) = run(go())
    assert message.parts == [
        ToolReturnPart("compare", "bad arguments", "call_9", outcome="retried", timestamp=at(5))
    ]


def test_events_are_ordered_and_totals_sum_the_usage(tmp_path: Path):
    async def go():
        store, sessions = await open_store(tmp_path)
        try:
            record = await record_session(sessions, tmp_path)
            return (
                record,
                await sessions.events(record.id),
                await sessions.events(record.id, kinds=["usage"]),
                await sessions.totals(record.id),
            )
        finally:
            await store.close()

    record, events, usage, totals = run(go())
    assert [e.kind for e in events] == [
        "consent", "permission", "messages", "tool_call", "usage", "messages", "usage", "note",
    ]  # fmt: skip
    assert [e.seq for e in events] == list(range(1, 9))
    assert record.updated == max(e.at for e in events) >= record.created
    assert [e.seq for e in usage] == [5, 7]
    call = events[3].data
    assert call["job_ids"] == ["20260105-093001-a1b2c3"]
    assert call["summary"] == {"job_id": "20260105-093001-a1b2c3", "state": "COMPLETED"}  # not the counts
    assert call["outcome"] == "ok" and call["duration_ms"] == 412.5
    assert totals.turns == 2 and totals.requests == 4
    assert (totals.input_tokens, totals.output_tokens) == (3932, 134)
    assert totals.cost_usd == pytest.approx(0.0061) and not totals.cost_complete  # turn 2 reported no cost
    assert totals.simulation_core_s == pytest.approx(0.35)
    assert totals.peak_memory_bytes == 52_000_000
    assert totals.tool_calls == 1 and totals.tool_errors == 0
    assert totals.models == ["anthropic:claude-sonnet-4-5"]


def test_the_title_is_the_first_prompt_cut_to_80_characters(tmp_path: Path):
    async def go():
        store, sessions = await open_store(tmp_path)
        try:
            record = await sessions.create(model="offline", workspace=tmp_path)
            long = "Simulate   a 20-qubit QFT\nwith depolarizing noise " + "and much more " * 10
            await sessions.append_messages(record.id, [ModelRequest(parts=[UserPromptPart(long)])])
            first = await sessions.get(record.id)
            await sessions.append_messages(record.id, [ModelRequest(parts=[UserPromptPart("second")])])
            kept = await sessions.get(record.id)
            await sessions.set_title(record.id, "GHZ study")
            return first, kept, await sessions.get(record.id)
        finally:
            await store.close()

    first, kept, renamed = run(go())
    assert first.title is not None and len(first.title) == 80 and first.title.endswith("…")
    assert first.title.startswith("Simulate a 20-qubit QFT with depolarizing noise")
    assert kept.title == first.title
    assert renamed.title == "GHZ study"


# --- finding sessions ----------------------------------------------------------------------------------------------


def test_latest_is_the_most_recently_updated_in_the_workspace(tmp_path: Path):
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()

    async def go():
        store, sessions = await open_store(tmp_path)
        try:
            assert await sessions.latest(here) is None
            old = await sessions.create(model="offline", workspace=here)
            await asyncio.sleep(0.01)
            new = await sessions.create(model="offline", workspace=here)
            await asyncio.sleep(0.01)
            elsewhere = await sessions.create(model="offline", workspace=there)
            assert (await sessions.latest(here)).id == new.id
            assert (await sessions.latest(str(there))).id == elsewhere.id
            assert (await sessions.latest()).id == elsewhere.id
            await asyncio.sleep(0.01)
            await sessions.record(old.id, "note", {"text": "continued"})  # the older one is now the latest
            assert (await sessions.latest(here)).id == old.id
            assert (await sessions.latest()).id == old.id
            listed = await sessions.list()
            assert [r.id for r in listed] == [old.id, elsewhere.id, new.id]
            assert [r.id for r in await sessions.list(limit=1)] == [old.id]
            assert [r.id for r in await sessions.list(workspace=here)] == [old.id, new.id]
        finally:
            await store.close()

    run(go())


def test_an_unknown_id_names_the_listing_command_and_prefixes_resolve_when_unambiguous(tmp_path: Path):
    async def go():
        store, sessions = await open_store(tmp_path)
        try:
            a = await sessions.create(model="offline", workspace=tmp_path)
            b = await sessions.create(model="offline", workspace=tmp_path)
            with pytest.raises(SessionNotFoundError) as unknown:
                await sessions.get("20990101-000000-ffffff")
            assert unknown.value.code == "SESSION_UNKNOWN"
            assert "proxima sessions list" in unknown.value.hint
            common = 0
            while a.id[common] == b.id[common]:
                common += 1
            assert (await sessions.get(a.id[: common + 1])).id == a.id
            if common >= 4:
                with pytest.raises(SessionNotFoundError) as ambiguous:
                    await sessions.get(a.id[:common])
                assert set(ambiguous.value.context["matches"]) == {a.id, b.id}
            with pytest.raises(SessionNotFoundError):
                await sessions.get(a.id[:3])  # too short to look up
            for call in (
                sessions.record("nope", "note", {}),
                sessions.load_messages("nope"),
                sessions.events("nope"),
                sessions.set_title("nope", "x"),
                sessions.delete("nope"),
            ):
                with pytest.raises(SessionNotFoundError):
                    await call
            with pytest.raises(ValueError):
                await sessions.record(a.id, "messages", {})
            with pytest.raises(ValueError):
                await sessions.record(a.id, "gossip", {})  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="codec"):
                await SessionStore(store).load_messages(a.id)
        finally:
            await store.close()

    run(go())


def test_delete_removes_the_session_and_its_events_and_keeps_the_jobs(tmp_path: Path):
    async def go():
        store, sessions = await open_store(tmp_path)
        try:
            job = JobRecord(id="20260105-093001-a1b2c3", created=0, updated=0, state="COMPLETED", circuit="ghz:3",
                            backend="cirq-sv", spec={})  # fmt: skip
            await store.insert_job(job)
            keep = await sessions.create(model="offline", workspace=tmp_path)
            await sessions.record(keep.id, "note", {"text": "stays"})
            gone = await record_session(sessions, tmp_path)
            assert (await sessions.delete(gone.id)).id == gone.id
            with pytest.raises(SessionNotFoundError):
                await sessions.get(gone.id)
            rows = await store._read(
                "SELECT COUNT(*) AS n FROM session_events WHERE session_id = ?", (gone.id,)
            )
            assert rows[0]["n"] == 0
            assert len(await sessions.events(keep.id)) == 1
            assert (await store.get_job(job.id)).state == "COMPLETED"
        finally:
            await store.close()

    run(go())


# --- secrets -----------------------------------------------------------------------------------------------------

KEY = "sk-ant-api03-" + "Zx9" * 20


def test_secrets_are_scrubbed_before_anything_is_stored(tmp_path: Path):
    async def go():
        store, sessions = await open_store(tmp_path)
        try:
            record = await sessions.create(model="anthropic:claude-sonnet-4-5", workspace=tmp_path)
            await sessions.record(
                record.id,
                "note",
                {"text": f"the key is {KEY}", "api_key": "abc", "headers": {"Authorization": "Bearer abcdef",
                 "X-API-Key": "k1"}, "config": {"openai_api_key": "k2", "github_token": "k3"}, "input_tokens": 5},
            )  # fmt: skip
            prompt = f"use ANTHROPIC_API_KEY={KEY} please"
            call = ToolCallPart("configure", {"token": "hunter2", "shots": 10}, "c1")
            await sessions.append_messages(
                record.id, [ModelRequest(parts=[UserPromptPart(prompt)]), ModelResponse(parts=[call])]
            )
            (note,) = await sessions.events(record.id, ["note"])
            messages = await sessions.load_messages(record.id)
            title = (await sessions.get(record.id)).title
        finally:
            await store.close()
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("proxima.db*"))
        return note, messages, title, raw

    note, messages, title, raw = run(go())
    assert note.data["text"] == f"the key is {REDACTED}"
    assert note.data["api_key"] == REDACTED
    assert note.data["headers"] == {"Authorization": REDACTED, "X-API-Key": REDACTED}
    assert note.data["config"] == {"openai_api_key": REDACTED, "github_token": REDACTED}
    assert note.data["input_tokens"] == 5  # a count of tokens is not a token
    assert messages[0].parts[0].content == f"use ANTHROPIC_API_KEY={REDACTED} please"
    assert messages[1].parts[0].args == {"token": REDACTED, "shots": 10}
    assert title is not None and KEY not in title
    for secret in (KEY.encode(), b"hunter2", b"abcdef", b'"k1"', b'"k2"', b'"k3"'):
        assert secret not in raw


def test_scrub_leaves_binary_content_and_ordinary_text_alone():
    blob = {"kind": "binary", "data": "sk-" + "A" * 40, "media_type": "image/png"}
    assert scrub(blob) == blob
    text = "task-based run of ghz:3; tokens used: 120; Bearer of good news"
    assert scrub({"text": text, "max_tokens": 100}) == {"text": text, "max_tokens": 100}
    assert scrub("AKIAABCDEFGHIJKLMNOP and ghp_" + "a" * 36) == f"{REDACTED} and {REDACTED}"


def test_tool_call_data_keeps_ids_and_small_fields_not_results():
    output = {"job_id": "j-1", "state": "COMPLETED", "probabilities": [0.5] * 4096, "text": "x" * 5000,
              "jobs": [{"job_id": "j-2"}, {"job_id": "j-1"}], "shots": 1000}  # fmt: skip
    data = tool_call_data("compare", {"job_ids": ["j-3"]}, output=output, duration_ms=3.0)
    assert data["job_ids"] == ["j-3", "j-1", "j-2"]
    assert data["summary"] == {"job_id": "j-1", "state": "COMPLETED", "shots": 1000}
    assert len(json.dumps(data)) < 500

    class Failed(Exception):
        code = "JOB_UNKNOWN"

    failed = tool_call_data("job_status", {"job_id": "j-9"}, error=Failed("no job 'j-9'"))
    assert failed["outcome"] == "error" and failed["error_code"] == "JOB_UNKNOWN"
    assert failed["job_ids"] == ["j-9"] and "summary" not in failed


# --- exports -------------------------------------------------------------------------------------------------------


def exported(tmp_path: Path):
    async def go():
        store, sessions = await open_store(tmp_path)
        try:
            record = await record_session(sessions, tmp_path)
            return record, await sessions.load_messages(record.id), await sessions.events(record.id)
        finally:
            await store.close()

    return run(go())


def test_the_checked_in_export_schema_is_current():
    assert json.loads(SCHEMA.read_text()) == export_json_schema(), (
        "regenerate: python -m proxima_agent.agent.export > docs/session-export.schema.json"
    )


def test_the_json_export_validates_against_the_schema_and_loads_back(tmp_path: Path):
    record, messages, events = exported(tmp_path)
    document = json.loads(export_session(record, messages, events, "json"))
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
    assert set(document) == {"format", "version", "session", "messages", "events", "totals"}
    assert document["session"]["id"] == record.id
    assert ModelMessagesTypeAdapter.validate_json(json.dumps(document["messages"])) == messages
    markers = [e["data"] for e in document["events"] if e["kind"] == "messages"]
    assert markers == [{"count": 4, "first": 0}, {"count": 4, "first": 4}]
    assert document["totals"]["requests"] == 4
    assert export_document(record, messages, events) == document
    bad = json.loads(json.dumps(document))
    bad["events"][0]["kind"] = "gossip"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, json.loads(SCHEMA.read_text()))


def test_the_markdown_export_is_a_readable_transcript(tmp_path: Path):
    record, messages, events = exported(tmp_path)
    text = export_session(record, messages, events, "md")
    assert text.startswith("# Run ghz:3 on cirq-sv")
    assert "> Run ghz:3 on cirq-sv with 1000 shots" in text
    assert "> What does this histogram show? [image/png attachment]" in text
    assert "GHZ state: 000 came up 507 times" in text
    assert (
        '- tool `execute` `{"circuit": "ghz:3", "backend": "cirq-sv", "shots": 1000}` → ok · 412.5 ms · '
        "job 20260105-093001-a1b2c3" in text
    )
    assert '- tool `compare` `{"job_ids": "not-a-list"}` → retried' in text
    assert "remote model consent: claude-sonnet-4-5 at anthropic: yes (by the user)" in text
    assert "*usage: 2 requests · 1,832 in / 104 out tokens · $0.0061 · simulation 0.35 core-s" in text
    assert "cost unknown" in text  # turn 2 reported none: said so, not estimated
    assert text.index("## Turn 1") < text.index("I'll run it.") < text.index("## Turn 2")
    assert "| cost | at least $0.0061 (some turns did not report their cost) |" in text
    assert "| tokens | 3,932 in / 134 out |" in text


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def test_the_html_export_is_self_contained_and_escaped(tmp_path: Path):
    record, messages, events = exported(tmp_path)
    page = export_session(record, messages, events, "html", charts=[("counts of <ghz:3>", PNG)])
    parser = _Collect()
    parser.feed(page)
    parser.close()
    tags = [tag for tag, _ in parser.tags]
    assert "script" not in tags and "link" not in tags and "<script src=" not in page
    assert "http://" not in page and "https://" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    text = "".join(parser.text)
    assert "Run ghz:3 on cirq-sv with 1000 shots <script>alert(1)</script>" in text  # shown, as text
    (img,) = [attrs for tag, attrs in parser.tags if tag == "img"]
    assert img["src"].startswith("data:image/png;base64,") and img["alt"] == "counts of <ghz:3>"
    assert "execute" in text and "412.5 ms" in text and "Totals" in text
    with pytest.raises(OptionError):
        export_session(record, messages, events, "html", charts=[("not a png", b"GIF89a")])
    with pytest.raises(OptionError):
        export_session(record, messages, events, "pdf")  # type: ignore[arg-type]


def test_replay_lines_tell_the_conversation_in_order(tmp_path: Path):
    _, messages, events = exported(tmp_path)
    lines = replay_lines(messages, events)
    assert lines[0] == "── turn 1 ──"
    you = lines.index("you: Run ghz:3 on cirq-sv with 1000 shots <script>alert(1)</script>")
    tool = next(i for i, line in enumerate(lines) if line.startswith("  tool execute "))
    answer = lines.index("assistant: GHZ state: 000 came up 507 times and 111 493 times.")
    usage = next(i for i, line in enumerate(lines) if line.startswith("  usage: 2 requests"))
    assert you < tool < answer < usage < lines.index("── turn 2 ──")
    assert lines[you - 2].startswith("  remote model consent") and lines[you - 1].startswith("  permission")
    assert "retry asked of the model" in " ".join(lines)
    assert "  note: exported for the lab notebook" in lines and "── turn 3 ──" not in lines


def test_exports_read_the_agent_loops_own_event_shape(tmp_path: Path):
    """Tool events with `ok` and a text summary and no call id are matched to their calls by tool name; a failed
    turn's usage (no messages stored) is still a turn."""

    async def go():
        store, sessions = await open_store(tmp_path)
        try:
            record = await sessions.create(model="offline", workspace=tmp_path)
            await sessions.append_messages(record.id, turn_one())
            await sessions.record(record.id, "tool_call", {"tool": "execute", "ok": True, "duration_ms": 9.0,
                                                           "job_ids": ["j-7"], "summary": "done"})  # fmt: skip
            await sessions.record(record.id, "usage", {"requests": 2, "cost_usd": 0.0, "model": "offline"})
            await sessions.record(
                record.id, "usage",
                {"requests": 1, "cost_usd": None, "error": {"code": "MODEL_UNREACHABLE", "message": "no network"}},
            )  # fmt: skip
            return record, await sessions.load_messages(record.id), await sessions.events(record.id)
        finally:
            await store.close()

    record, messages, events = run(go())
    lines = replay_lines(messages, events)
    assert any(line.startswith("  tool execute ") and "ok · 9 ms · job j-7" in line for line in lines)
    assert any(
        line.startswith("  tool compare ") and "→ retried" in line for line in lines
    )  # its own, no event
    assert "── turn 2 ──" in lines and "failed: MODEL_UNREACHABLE: no network" in lines[-1]
    jsonschema.validate(
        json.loads(export_session(record, messages, events, "json")), json.loads(SCHEMA.read_text())
    )
