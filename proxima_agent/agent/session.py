"""One conversation with the agent: the model, the registry's tools (plus external MCP servers), the session's
history in the store, and a turn loop that every front door drives (`proxima chat`, `proxima agent -p`).

A turn streams events to the front door as plain dicts (text deltas, tool calls, tool results, job progress,
approval questions), ends with a `TurnResult` (the answer, every tool call, tokens, cost, the simulation work),
and is stored: the new messages exactly as pydantic-ai made them, so `--continue` rebuilds the history, plus an
event per tool call and the turn's usage. A turn that fails (a provider that cannot be reached, a limit hit)
ends with a coded error and leaves the history as it was.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from proxima_agent.agent.consent import Asker, RemoteConsent
from proxima_agent.agent.models import ModelChoice, build_model, parse_model
from proxima_agent.agent.permissions import Permissions
from proxima_agent.agent.toolset import AgentDeps, ProximaToolset, TurnUse, skills_toolset
from proxima_agent.errors import (
    ModelAuthError,
    ModelError,
    ModelUnknownError,
    ModelUnreachableError,
    ProximaError,
    TurnLimitError,
)
from proxima_agent.tools.context import Runtime
from proxima_agent.tools.models import ErrorInfo

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelMessage
    from pydantic_ai.tools import DeferredToolRequests, DeferredToolResults

    from proxima_agent.store.sessions import SessionRecord, SessionStore

Events = Callable[[dict[str, Any]], Awaitable[None]]
PROMPT_OVERHEAD_CHARS = 24_000  # instructions and tool schemas, measured at about this size


@dataclass
class Approval:
    """A tool call waiting for the user: what it is and why it asks."""

    tool_call_id: str
    tool: str
    arguments: dict[str, Any]
    reasons: list[str]


# The front door's answer to each approval: "yes", "no", or "always" (this tool, for the rest of the session).
Approver = Callable[[list[Approval]], Awaitable[dict[str, str]]]


async def deny_all(approvals: list[Approval]) -> dict[str, str]:
    return {a.tool_call_id: "no" for a in approvals}


async def approve_all(approvals: list[Approval]) -> dict[str, str]:
    return {a.tool_call_id: "yes" for a in approvals}


async def no_events(event: dict[str, Any]) -> None:
    return None


@dataclass
class TurnResult:
    text: str
    model: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)  # requests, input_tokens, output_tokens, cost_usd
    simulation: dict[str, Any] = field(default_factory=dict)  # core_s, peak_memory_bytes, job_ids
    duration_ms: float = 0.0
    error: ErrorInfo | None = None

    @property
    def is_error(self) -> bool:
        return self.error is not None

    def footer(self, label: str) -> str:
        """`claude-sonnet-4-5 · 3.1k tokens · $0.012 · simulation 41 core-s, peak 1.2 GiB`."""
        from proxima_agent.selection.estimate import format_bytes

        tokens = (self.usage.get("input_tokens") or 0) + (self.usage.get("output_tokens") or 0)
        cost = self.usage.get("cost_usd")
        parts = [label]
        if label.split(" ")[0] != "offline":  # the planner uses no tokens and costs nothing
            if tokens:
                parts.append(f"{tokens / 1000:.1f}k tokens" if tokens >= 1000 else f"{tokens} tokens")
            if cost is not None:
                parts.append(f"${cost:.4f}" if cost < 0.01 else f"${cost:.3f}")
            elif self.usage.get("requests"):
                parts.append("cost unknown")
        sim = self.simulation
        if sim.get("job_ids"):
            peak = sim.get("peak_memory_bytes") or 0
            parts.append(
                f"simulation {sim.get('core_s', 0):.2f} core-s"
                + (f", peak {format_bytes(peak)}" if peak else "")
            )
        return " · ".join(parts)


class AgentSession:
    """A session: open it with `AgentSession.open`, run turns, close it."""

    def __init__(
        self,
        runtime: Runtime,
        choice: ModelChoice,
        store: SessionStore,
        record: SessionRecord,
        history: list[ModelMessage],
        *,
        approver: Approver = deny_all,
        remote: RemoteConsent | None = None,
        toolsets: list[Any] | None = None,
        tools: list[str] | None = None,
    ) -> None:
        config = runtime.config
        self.runtime = runtime
        self.choice = choice
        self.store = store
        self.record = record
        self.history = history
        self.approver = approver
        self.remote = remote or RemoteConsent(choice, allowed=config.agent.allow_remote, asker=None)
        self.permissions = Permissions.from_config(config)
        self.deps = AgentDeps(runtime, self.permissions, config.agent)
        self.external = list(toolsets or [])
        self.proxima_tools = ProximaToolset(tools)
        self.request_limit: int | None = None  # --max-turns: model requests in one turn
        self._agent: Any = None
        self._instructions: str | None = None
        self._database: Any = None
        self.notices: list[str] = []  # for the user: external servers that did not start

    @classmethod
    async def open(
        cls,
        runtime: Runtime,
        model: str | None = None,
        *,
        resume: str | None = None,
        continue_last: bool = False,
        approver: Approver = deny_all,
        asker: Asker | None = None,
        allow_remote: bool = False,
        toolsets: list[Any] | None = None,
    ) -> AgentSession:
        """A new session, or the one `resume` names, or (`continue_last`) this workspace's latest. The model
        is the one given, else the resumed session's, else `agent.model`, else offline."""
        from pydantic_ai.messages import ModelMessagesTypeAdapter

        from proxima_agent.store.db import Store
        from proxima_agent.store.sessions import SessionStore

        # Its own connection to the database: a session opens without the engine (numpy, workers), which
        # starts with the first tool call that needs it.
        database = await Store.open()
        try:
            return await cls._open(
                runtime,
                model,
                SessionStore(database, codec=ModelMessagesTypeAdapter),
                resume,
                continue_last,
                approver,
                asker,
                allow_remote,
                toolsets,
                database,
            )
        except BaseException:
            await database.close()
            raise

    @classmethod
    async def _open(
        cls, runtime: Runtime, model: str | None, store: SessionStore, resume: str | None, continue_last: bool,
        approver: Approver, asker: Asker | None, allow_remote: bool, toolsets: list[Any] | None, database: Any,
    ) -> AgentSession:  # fmt: skip
        workspace = str(runtime.workspace)
        record = None
        if resume:
            record = await store.get(resume)
        elif continue_last:
            record = await store.latest(workspace)
        history: list[ModelMessage] = []
        if record is not None:
            history = await store.load_messages(record.id)
            model = model or record.model
        choice = parse_model(model, runtime.config.agent)
        if record is None:
            record = await store.create(model=choice.spec, workspace=workspace)
        remote = RemoteConsent(choice, allowed=allow_remote or runtime.config.agent.allow_remote, asker=asker)
        session = cls(
            runtime, choice, store, record, history, approver=approver, remote=remote, toolsets=toolsets
        )
        session._database = database  # closed by close()
        if toolsets is None and runtime.config.mcp_servers:
            from proxima_agent.agent.external import start_servers

            session.external, session.notices = await start_servers(runtime.config.mcp_servers)
        return session

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def agent(self) -> Any:
        """The pydantic-ai Agent, built on first use (tests swap its model with `agent.override(model=...)`)."""
        if self._agent is None:
            self._agent = self._build()
        return self._agent

    def _build(self) -> Any:
        import pydantic_ai
        from pydantic_ai import Agent

        pydantic_ai.BANNER_ENABLED = (
            False  # Proxima owns its terminal: no first-run banner in a chat or a JSON stream
        )
        from pydantic_ai.capabilities import HandleDeferredToolCalls

        model = build_model(self.choice, self.runtime.config.agent, known_circuits=None)
        return Agent(
            model,
            deps_type=AgentDeps,
            toolsets=[self.proxima_tools, skills_toolset(self.runtime), *self.external],
            instructions=self._instructions_for,
            capabilities=[HandleDeferredToolCalls(handler=self._approve)],
            name="proxima",
        )

    async def _instructions_for(self, ctx: Any) -> str:
        if self._instructions is None:
            from proxima_agent.agent.instructions import render_instructions

            self._instructions = await render_instructions(self.runtime)
        return self._instructions

    async def _approve(self, ctx: Any, requests: DeferredToolRequests) -> DeferredToolResults:
        from pydantic_ai.tools import ToolDenied

        # the tool as the rules name it (mcp__NAME__TOOL for an external server's), so "always" matches it again
        metadata = {
            call.tool_call_id: requests.metadata.get(call.tool_call_id) or {} for call in requests.approvals
        }
        asks = [
            Approval(
                call.tool_call_id, metadata[call.tool_call_id].get("tool", call.tool_name), call.args_as_dict(),
                list(metadata[call.tool_call_id].get("reasons") or []),
            )
            for call in requests.approvals
        ]  # fmt: skip
        answers = await self.approver(asks) if asks else {}
        results: dict[str, Any] = {}
        for ask in asks:
            answer = answers.get(ask.tool_call_id, "no")
            if answer == "always":
                self.permissions.allow_for_session(ask.tool)
            approved = answer in ("yes", "always")
            await self.store.record(
                self.id, "permission",
                {"tool": ask.tool, "reasons": ask.reasons, "decision": "allow" if approved else "deny",
                 "answer": answer, "answered_by": getattr(self.approver, "who", "the user")},
            )  # fmt: skip
            results[ask.tool_call_id] = (
                True
                if approved
                else ToolDenied(
                    f"The user did not approve {ask.tool} ({'; '.join(ask.reasons)}). Do not retry it as is: "
                    "offer something smaller, or ask the user."
                )
            )
        return requests.build_results(approvals=results)

    async def turn(self, prompt: str, events: Events = no_events) -> TurnResult:
        """One user prompt to the model's final answer."""
        from pydantic_ai.messages import (
            FunctionToolCallEvent,
            PartDeltaEvent,
            PartStartEvent,
            TextPart,
            TextPartDelta,
        )
        from pydantic_ai.run import AgentRunResultEvent

        started = time.perf_counter()
        calls: list[dict[str, Any]] = []

        async def tool_events(event: dict[str, Any]) -> None:
            if event["type"] == "tool_result":
                calls.append(event)
            await events(event)

        self.deps.turn = TurnUse()
        self.deps.events = tool_events
        result: TurnResult
        try:
            agent = self.agent  # builds the model first: a missing key is said before consent is asked
            decision = await self.remote.check(len(prompt) + self._history_chars() + PROMPT_OVERHEAD_CHARS)
            if decision is not None:
                await self.store.record(self.id, "consent", decision)
            if self.record.title is None:
                await self.store.set_title(self.id, prompt)
                self.record = await self.store.get(self.id)
            run_result = None
            async with agent.run_stream_events(
                prompt, message_history=self.history, deps=self.deps, usage_limits=self._limits()
            ) as stream:
                async for event in stream:
                    if (
                        isinstance(event, PartStartEvent)
                        and isinstance(event.part, TextPart)
                        and event.part.content
                    ):
                        await events({"type": "text_delta", "text": event.part.content})
                    elif isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
                        await events({"type": "text_delta", "text": event.delta.content_delta})
                    elif isinstance(event, FunctionToolCallEvent):
                        await events(
                            {
                                "type": "tool_start",
                                "tool": event.part.tool_name,
                                "id": event.part.tool_call_id,
                            }
                        )
                    elif isinstance(event, AgentRunResultEvent):
                        run_result = event.result
            assert run_result is not None
            new = list(run_result.new_messages())
            self.history.extend(new)
            await self.store.append_messages(self.id, new)
            result = TurnResult(
                text=str(run_result.output), model=self.choice.spec, tool_calls=calls,
                usage=self._usage(run_result.usage, new),
            )  # fmt: skip
        except ProximaError as exc:
            result = TurnResult(text="", model=self.choice.spec, tool_calls=calls, error=ErrorInfo.of(exc))
        except Exception as exc:  # the provider's and pydantic-ai's failures, each as one coded line
            result = TurnResult(
                text="", model=self.choice.spec, tool_calls=calls, error=self.model_error(exc)
            )
        turn = self.deps.turn
        result.simulation = {
            "core_s": round(turn.simulation_core_s, 3),
            "peak_memory_bytes": turn.peak_memory_bytes,
            "job_ids": list(turn.job_ids),
        }
        result.duration_ms = round((time.perf_counter() - started) * 1000, 1)
        await self._record(result)
        return result

    def _history_chars(self) -> int:
        from pydantic_ai.messages import ModelMessagesTypeAdapter

        return len(ModelMessagesTypeAdapter.dump_json(self.history)) if self.history else 0

    def _limits(self) -> Any:
        from pydantic_ai.usage import UsageLimits

        budget = self.runtime.config.agent.budget
        return UsageLimits(
            request_limit=self.request_limit or budget.requests,
            tool_calls_limit=budget.tool_calls,
            total_tokens_limit=budget.tokens,
            cost_limit=Decimal(str(budget.cost_usd)) if budget.cost_usd is not None else None,
        )

    def _usage(self, usage: Any, messages: list[ModelMessage]) -> dict[str, Any]:
        from pydantic_ai.messages import ModelResponse

        cost: Decimal | None = Decimal(0)
        if self.choice.locality != "remote":
            cost = Decimal(0) if self.choice.locality == "offline" else None
        else:
            for message in messages:
                if isinstance(message, ModelResponse) and cost is not None:
                    try:
                        cost += message.cost().total_price
                    except (LookupError, ValueError, AssertionError):
                        cost = None  # a model genai-prices does not know: say so, never guess
        offline = self.choice.locality == "offline"  # the planner's "tokens" would be pydantic-ai's guess
        return {
            "requests": usage.requests,
            "input_tokens": 0 if offline else usage.input_tokens,
            "output_tokens": 0 if offline else usage.output_tokens,
            "tool_calls": usage.tool_calls,
            "cost_usd": float(cost) if cost is not None else None,
        }

    async def _record(self, result: TurnResult) -> None:
        for call in result.tool_calls:
            await self.store.record(self.id, "tool_call", {k: v for k, v in call.items() if k != "type"})
        await self.store.record(
            self.id, "usage",
            {**result.usage, "model": result.model, "simulation_core_s": result.simulation.get("core_s"),
             "peak_memory_bytes": result.simulation.get("peak_memory_bytes"), "duration_ms": result.duration_ms,
             "error": result.error.model_dump(mode="json") if result.error else None},
        )  # fmt: skip

    def model_error(self, exc: BaseException) -> ErrorInfo:
        """A failure of the model or the loop as one coded error naming the provider and what to do."""
        from pydantic_ai import exceptions as e

        who = self.choice.label
        offer = "or use --model offline (the planner, no LLM)"
        if isinstance(exc, e.UsageLimitExceeded):
            return ErrorInfo.of(
                TurnLimitError(
                    f"the turn reached its limit: {exc}",
                    hint="ask for less in one turn, or raise agent.budget in proxima.json",
                )
            )
        if isinstance(exc, e.ModelAuthenticationError):
            return ErrorInfo.of(
                ModelAuthError(f"{who}: the provider refused the API key", hint=f"check the key, {offer}")
            )
        if isinstance(exc, e.ModelNotFoundError):
            return ErrorInfo.of(
                ModelUnknownError(
                    f"{who}: the provider does not know this model", hint=f"check the name, {offer}"
                )
            )
        if isinstance(exc, e.ModelConnectionError):
            where = self.choice.base_url or "the provider"
            return ErrorInfo.of(
                ModelUnreachableError(
                    f"{who}: cannot reach {where}",
                    hint="check the network, or that the local server is running and serving this model; "
                    + offer,
                )
            )
        if isinstance(exc, e.ModelRateLimitError | e.ModelUnavailableError | e.ModelServerError):
            return ErrorInfo.of(
                ModelUnreachableError(
                    f"{who}: the provider kept failing ({type(exc).__name__}) after retries",
                    hint=f"try again later, {offer}",
                )
            )
        if isinstance(exc, e.ModelAPIError):
            return ErrorInfo.of(ModelError(f"{who}: {str(exc)[:300]}", hint=f"try again, {offer}"))
        if isinstance(exc, e.UnexpectedModelBehavior):
            return ErrorInfo.of(
                ModelError(
                    f"{who}: the model misbehaved: {str(exc)[:300]}",
                    hint=f"ask again, more simply, {offer}",
                )
            )
        from proxima_agent.tools.invoke import internal_error

        return internal_error("the agent loop")

    async def close(self) -> None:
        """Stop its external servers and close its database connection (the runtime, and so the engine, is
        the caller's)."""
        if self.external:
            from proxima_agent.agent.external import stop_servers

            await stop_servers(self.external)
            self.external = []
        if self._database is not None:
            await self._database.close()
            self._database = None
