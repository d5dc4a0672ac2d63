"""The agent loop in process: a scripted model (pydantic-ai's FunctionModel, standing in for the LLM) drives the
real toolset, engine, permissions, approvals, session store and external MCP servers. What the model sees
back (tool returns, failures, retry prompts) is what these tests read."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelRequest, RetryPromptPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel

from proxima_agent.agent.consent import RemoteConsent, remembered
from proxima_agent.agent.models import parse_model
from proxima_agent.agent.session import AgentSession, Approval, approve_all, deny_all
from proxima_agent.config import ProximaConfig
from proxima_agent.errors import RemoteConsentError
from proxima_agent.tools.context import Runtime

Call = tuple[str, dict[str, Any]]


class Script:
    """A model that answers request N with replies[N]: a list of tool calls, or a text. It keeps what it was
    sent, so a test reads the tool returns the model got."""

    def __init__(self, *replies: list[Call] | str) -> None:
        self.replies = list(replies)
        self.seen: list[list[ModelMessage]] = []
        self.tools: list[str] = []  # the tools offered in the last request

    def model(self) -> FunctionModel:
        async def stream(
            messages: list[ModelMessage], info: AgentInfo
        ) -> AsyncIterator[str | DeltaToolCalls]:
            self.seen.append(list(messages))
            self.tools = [t.name for t in info.function_tools]
            reply = self.replies[len(self.seen) - 1] if len(self.seen) <= len(self.replies) else "done"
            if isinstance(reply, str):
                yield reply
                return
            yield {
                i: DeltaToolCall(name, json.dumps(args), tool_call_id=f"call-{len(self.seen)}-{i}")
                for i, (name, args) in enumerate(reply)
            }

        return FunctionModel(stream_function=stream, model_name="scripted")

    def returns(self) -> list[ToolReturnPart | RetryPromptPart]:
        """Every tool return and retry prompt in the last request the model got."""
        last = self.seen[-1]
        return [
            p
            for m in last
            if isinstance(m, ModelRequest)
            for p in m.parts
            if isinstance(p, ToolReturnPart | RetryPromptPart)
        ]


def turn(
    tmp_path: Path,
    script: Script,
    prompt: str = "go",
    *,
    config: dict[str, Any] | None = None,
    approver: Any = deny_all,
) -> tuple[Any, list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """One turn: (result, events sent to the front door, session events stored, session notices)."""

    async def go() -> Any:
        runtime = Runtime(ProximaConfig.model_validate(config or {}), workspace=tmp_path)
        events: list[dict[str, Any]] = []

        async def collect(event: dict[str, Any]) -> None:
            events.append(event)

        session = await AgentSession.open(runtime, "offline", approver=approver)
        try:
            with session.agent.override(model=script.model()):
                result = await session.turn(prompt, collect)
            stored = [e.model_dump(mode="json") for e in await session.store.events(session.id)]
            engine_jobs = []
            if runtime._engine is not None:
                engine_jobs = list(runtime._engine.jobs)
            return result, events, stored, session.notices, engine_jobs
        finally:
            await session.close()
            await runtime.close()

    result, events, stored, notices, jobs = asyncio.run(go())
    result.engine_jobs = jobs
    return result, events, stored, notices


ROOT_SKILLS = Path(__file__).resolve().parents[1] / "skills"
RUN_BELL: Call = ("execute", {"circuit": "bell", "shots": 50, "backend": "aer-sv"})


def test_a_tool_call_runs_a_real_job_and_the_model_reads_its_result(tmp_path: Path):
    script = Script([RUN_BELL], "the answer")
    result, events, stored, _ = turn(tmp_path, script)
    (returned,) = script.returns()
    assert isinstance(returned, ToolReturnPart) and returned.outcome == "success"
    assert returned.content["job_id"] == result.simulation["job_ids"][0]
    assert result.text == "the answer" and result.error is None
    assert [e["type"] for e in events if e["type"] in ("tool_call", "tool_result")] == [
        "tool_call",
        "tool_result",
    ]
    kinds = [e["kind"] for e in stored]
    assert kinds.count("messages") == 1 and "tool_call" in kinds and "usage" in kinds


def test_a_deny_rule_refuses_the_call_and_starts_no_job(tmp_path: Path):
    script = Script([RUN_BELL], "refused")
    result, events, _, _ = turn(
        tmp_path, script, config={"permissions": {"deny": ["execute(backend=aer-sv)"]}}
    )
    (returned,) = script.returns()
    assert isinstance(returned, ToolReturnPart) and returned.outcome == "failed"
    assert "PERMISSION_DENIED" in str(returned.content) and "execute(backend=aer-sv)" in str(returned.content)
    assert result.simulation["job_ids"] == [] and result.engine_jobs == []
    assert any(e["type"] == "permission" and e["decision"] == "deny" for e in events)


def test_a_rule_for_another_backend_does_not_match(tmp_path: Path):
    script = Script([RUN_BELL], "ran")
    result, _, _, _ = turn(tmp_path, script, config={"permissions": {"deny": ["execute(backend=lret)"]}})
    (returned,) = script.returns()
    assert returned.outcome == "success" and len(result.simulation["job_ids"]) == 1  # type: ignore[union-attr]


@pytest.mark.parametrize("answer", ["no", "yes"])
def test_an_ask_rule_goes_to_the_approver_and_its_answer_is_recorded(tmp_path: Path, answer: str):
    asked: list[Approval] = []

    async def approver(approvals: list[Approval]) -> dict[str, str]:
        asked.extend(approvals)
        return {a.tool_call_id: answer for a in approvals}

    script = Script([RUN_BELL], "after the answer")
    result, _, stored, _ = turn(
        tmp_path, script, config={"permissions": {"ask": ["execute"]}}, approver=approver
    )
    assert [a.tool for a in asked] == ["execute"] and asked[0].arguments["circuit"] == "bell"
    assert any("rule execute" in reason for reason in asked[0].reasons)
    (returned,) = script.returns()
    permission = next(e["data"] for e in stored if e["kind"] == "permission")
    if answer == "no":
        assert returned.outcome == "denied" and "did not approve" in str(returned.content)
        assert permission["decision"] == "deny" and result.engine_jobs == []
    else:
        assert returned.outcome == "success" and permission["decision"] == "allow"
        assert len(result.simulation["job_ids"]) == 1


def test_an_estimate_over_the_threshold_asks_and_says_why(tmp_path: Path):
    asked: list[Approval] = []

    async def approver(approvals: list[Approval]) -> dict[str, str]:
        asked.extend(approvals)
        return {a.tool_call_id: "no" for a in approvals}

    script = Script([RUN_BELL], "declined")
    turn(tmp_path, script, config={"agent": {"ask_over_s": 0}}, approver=approver)
    assert asked and any("agent.ask_over_s" in reason for reason in asked[0].reasons)


def test_read_only_tools_run_without_asking(tmp_path: Path):
    async def refuse(approvals: list[Approval]) -> dict[str, str]:
        raise AssertionError(f"asked for {approvals}")

    script = Script([("list_backends", {}), ("describe_circuit", {"circuit": "ghz:3"})], "both")
    turn(tmp_path, script, approver=refuse)
    returned = script.returns()
    assert [r.tool_name for r in returned] == ["list_backends", "describe_circuit"]
    assert all(isinstance(r, ToolReturnPart) and r.outcome == "success" for r in returned)
    assert returned[1].content["num_qubits"] == 3  # type: ignore[index]


def test_bad_arguments_go_back_as_a_retry_prompt_then_a_good_call_works(tmp_path: Path):
    script = Script([("execute", {"circuit": "bell", "shots": -5})], [RUN_BELL], "fixed")
    result, _, _, _ = turn(tmp_path, script, approver=approve_all)
    first = [p for m in script.seen[1] if isinstance(m, ModelRequest) for p in m.parts]
    retry = next(p for p in first if isinstance(p, RetryPromptPart) or getattr(p, "outcome", "") == "retried")
    assert "shots" in str(retry.content)
    assert result.error is None and len(result.simulation["job_ids"]) == 1


def test_a_tool_that_fails_reports_its_code_and_hint_to_the_model(tmp_path: Path):
    script = Script([("describe_circuit", {"circuit": "grovr:5"})], "said")
    turn(tmp_path, script)
    (returned,) = script.returns()
    assert returned.outcome == "failed" and "CIRCUIT_UNKNOWN" in str(returned.content)  # type: ignore[union-attr]
    assert "hint:" in str(returned.content)


def twin_server() -> dict[str, Any]:
    """A second Proxima MCP server over stdio, as an external server the agent attaches."""
    return {"command": sys.executable, "args": ["-m", "proxima_agent", "mcp"], "timeout_s": 60}


def test_an_external_mcp_servers_tool_asks_by_default(tmp_path: Path):
    asked: list[Approval] = []

    async def approver(approvals: list[Approval]) -> dict[str, str]:
        asked.extend(approvals)
        return {a.tool_call_id: "no" for a in approvals}

    script = Script([("twin_list_backends", {})], "denied")
    turn(tmp_path, script, config={"mcpServers": {"twin": twin_server()}}, approver=approver)
    assert [a.tool for a in asked] == ["mcp__twin__list_backends"]
    (returned,) = script.returns()
    assert returned.outcome == "denied"  # type: ignore[union-attr]


def test_an_allowed_external_tool_runs_and_a_broken_server_is_a_notice(tmp_path: Path):
    config = {
        "mcpServers": {"twin": twin_server(), "broken": {"command": str(tmp_path / "no-such-server")}},
        "permissions": {"allow": ["mcp__twin__list_backends"]},
    }
    script = Script([("twin_list_backends", {})], "listed")
    result, _, _, notices = turn(tmp_path, script, config=config)
    (returned,) = script.returns()
    assert returned.outcome == "success" and "aer-sv" in str(returned.content)  # type: ignore[union-attr]
    assert len(notices) == 1 and "MCP server broken did not start" in notices[0]
    assert result.error is None
    assert (
        "twin_execute" in script.tools and "execute" in script.tools and "broken_execute" not in script.tools
    )


def test_remote_consent_is_asked_once_per_session_and_never_is_remembered(tmp_path: Path):
    choice = parse_model("anthropic:claude-sonnet-4-5")
    assert choice.locality == "remote"
    answers = iter(["session"])

    async def asker(question: Any) -> Any:
        assert "anthropic" in question.text() and question.estimated_tokens > 0
        return next(answers)

    async def go(consent: RemoteConsent) -> Any:
        return await consent.check(4000)

    consent = RemoteConsent(choice, allowed=False, asker=asker)
    assert asyncio.run(go(consent))["answer"] == "session"
    assert asyncio.run(go(consent)) is None  # not asked again in this session

    async def never(question: Any) -> Any:
        return "never"

    with pytest.raises(RemoteConsentError):
        asyncio.run(go(RemoteConsent(choice, allowed=False, asker=never)))
    assert remembered("anthropic") == "never"
    with pytest.raises(RemoteConsentError, match="not allowed"):  # remembered: nobody is asked
        asyncio.run(go(RemoteConsent(choice, allowed=False, asker=lambda q: pytest.fail("asked"))))  # type: ignore[arg-type,return-value]
    assert asyncio.run(go(RemoteConsent(choice, allowed=True, asker=None)))["answered_by"].startswith(
        "--allow"
    )
    assert parse_model("ollama:qwen3:8b").locality == "local"
    assert parse_model("offline").locality == "offline"


def test_headless_remote_without_permission_is_refused_before_any_request(tmp_path: Path):
    choice = parse_model("openai:gpt-5.2")
    with pytest.raises(RemoteConsentError) as caught:
        asyncio.run(RemoteConsent(choice, allowed=False, asker=None).check(100))
    assert "--allow-remote" in (caught.value.hint or "")


def test_the_model_loads_a_skills_body_by_name(tmp_path: Path):
    script = Script([("load_skill", {"name": "will-it-fit"}), ("load_skill", {"name": "nope"})], "read")
    turn(tmp_path, script)
    good, bad = script.returns()
    assert good.outcome == "success" and len(str(good.content)) > 100  # type: ignore[union-attr]
    assert (ROOT_SKILLS / "will-it-fit" / "SKILL.md").read_text().find(str(good.content)[:60]) >= 0
    assert bad.outcome == "failed" and "will-it-fit" in str(bad.content)  # type: ignore[union-attr]


def test_a_model_that_calls_tools_forever_hits_the_turn_limit(tmp_path: Path):
    script = Script(*([[("list_backends", {})]] * 50))
    result, _, _, _ = turn(tmp_path, script, config={"agent": {"budget": {"requests": 4}}})
    assert result.error is not None and result.error.code == "TURN_LIMIT"
    assert len(script.seen) == 4 and result.error.hint


def test_a_local_server_that_is_not_running_is_one_clear_error(tmp_path: Path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def go() -> Any:
        config = ProximaConfig.model_validate({"agent": {"base_url": f"http://127.0.0.1:{port}/v1"}})
        runtime = Runtime(config, workspace=tmp_path)
        session = await AgentSession.open(runtime, "lmstudio:qwen3-8b")
        try:
            assert session.choice.locality == "local"
            return await session.turn("hello")
        finally:
            await session.close()
            await runtime.close()

    result = asyncio.run(go())
    assert result.error is not None and result.error.code == "MODEL_UNREACHABLE"
    assert "lmstudio" in result.error.message and "offline" in (result.error.hint or "")
    assert "Traceback" not in result.error.message
