"""The registry's tools as one pydantic-ai toolset. Each tool is described by its input model's JSON schema and
`tools/<name>.md`, runs through `tools.invoke` (as on every front door), and answers with its structured output.

Around each call, in this order: the permission rules (deny, ask, allow); for a tool that starts simulations,
its estimate against the ask thresholds and the turn's simulation budget; the engine's own consent question (a
run that does not fit). What needs asking becomes pydantic-ai's approval request (`ApprovalRequired`), which
the front door answers (the chat asks, `--yes` approves, headless denies). Bad arguments go back to the model
as a retry prompt; a tool that fails goes back as a tool error with its code and hint.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic_ai import RunContext
from pydantic_ai.exceptions import ApprovalRequired, ModelRetry, ToolFailed
from pydantic_ai.tools import ToolDefinition
from pydantic_ai.toolsets import AbstractToolset
from pydantic_ai.toolsets.abstract import ToolsetTool
from pydantic_core import SchemaValidator, core_schema

from proxima_agent.agent.permissions import SIMULATING, Permissions, Verdict
from proxima_agent.errors import ProximaError
from proxima_agent.tools.context import Runtime, ToolContext
from proxima_agent.tools.invoke import consent_question, invoke
from proxima_agent.tools.models import ErrorInfo
from proxima_agent.tools.registry import ToolSpec, registry

if TYPE_CHECKING:
    from proxima_agent.config import AgentSettings

ANY_ARGUMENTS = SchemaValidator(core_schema.dict_schema())  # the input model validates, with its own messages
ARGUMENT_RETRIES = 3
Events = Callable[[dict[str, Any]], Awaitable[None]]


async def no_events(event: dict[str, Any]) -> None:
    return None


@dataclass
class TurnUse:
    """What one turn's tool work has used: the simulation budget is checked against it before each run."""

    tool_calls: int = 0
    simulation_core_s: float = 0.0  # measured where the job reports its time, else estimated
    peak_memory_bytes: int = 0
    job_ids: list[str] = field(default_factory=list)
    counted: set[str] = field(default_factory=set)  # jobs whose simulation time is in simulation_core_s


@dataclass
class AgentDeps:
    """What the agent's tools run with: one per session, its `turn` renewed for each turn."""

    runtime: Runtime
    permissions: Permissions
    settings: AgentSettings
    events: Events = no_events  # tool calls, results and job progress, for the live view and stream-json
    turn: TurnUse = field(default_factory=TurnUse)


class ProximaToolset(AbstractToolset[AgentDeps]):
    def __init__(self, tools: list[str] | None = None) -> None:
        specs = registry()
        self.specs = {name: specs[name] for name in (tools or specs)}

    @property
    def id(self) -> str | None:
        return "proxima"

    @property
    def label(self) -> str:
        return "Proxima's tools"

    async def get_tools(self, ctx: RunContext[AgentDeps]) -> dict[str, ToolsetTool[AgentDeps]]:
        return {name: self._tool(spec) for name, spec in self.specs.items()}

    def _tool(self, spec: ToolSpec) -> ToolsetTool[AgentDeps]:
        doc = spec.doc
        return ToolsetTool(
            toolset=self,
            tool_def=ToolDefinition(
                name=spec.name,
                description=doc.description,
                parameters_json_schema=spec.input_schema(),
                metadata={"read_only": doc.annotations.read_only, "source": "proxima"},
            ),
            max_retries=ARGUMENT_RETRIES,
            args_validator=ANY_ARGUMENTS,
        )

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[AgentDeps], tool: ToolsetTool[AgentDeps]
    ) -> Any:
        deps = ctx.deps
        spec = self.specs[name]
        try:
            spec.parse(tool_args)
        except ProximaError as exc:  # the model gets the validation error and may try again
            raise ModelRetry(ErrorInfo.of(exc).text()) from None
        approved = ctx.tool_call_approved
        verdict = deps.permissions.check(name, tool_args, read_only=spec.doc.annotations.read_only)
        if verdict.decision == "deny":
            await deps.events(
                {"type": "permission", "tool": name, "decision": "deny", "reason": verdict.reason}
            )
            raise ToolFailed(f"PERMISSION_DENIED: {name} is not allowed here ({verdict.reason})")
        tool_ctx = ToolContext(deps.runtime, progress=_progress(deps, name))
        reasons = [verdict.reason] if verdict.decision == "ask" else []
        if name in SIMULATING and verdict.rule is None:
            reasons += await _cost_reasons(spec, tool_args, deps, tool_ctx)
        question = await consent_question(spec, tool_args, tool_ctx)
        if question is not None:
            reasons.append(f"{question.title}. {question.detail}".strip())
        if reasons and not approved:
            raise ApprovalRequired(metadata={"tool": name, "reasons": reasons})
        if approved and question is not None:
            from proxima_agent.engine.consent import FixedConsent

            tool_ctx.consent = FixedConsent(approve=True, who="the user, approving the tool call")
        return await self._run(spec, tool_args, deps, tool_ctx, verdict, approved)

    async def _run(
        self,
        spec: ToolSpec,
        args: dict[str, Any],
        deps: AgentDeps,
        ctx: ToolContext,
        verdict: Verdict,
        approved: bool,
    ) -> Any:
        deps.turn.tool_calls += 1
        await deps.events({"type": "tool_call", "tool": spec.name, "arguments": args})
        started = time.perf_counter()
        output = await invoke(spec, args, ctx)
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        if isinstance(output, ErrorInfo):
            await deps.events(
                {"type": "tool_result", "tool": spec.name, "arguments": args, "ok": False,
                 "error": output.model_dump(mode="json"), "duration_ms": duration_ms}
            )  # fmt: skip
            raise ToolFailed(output.text())
        data = output.model_dump(mode="json")
        jobs = _job_ids(data)
        deps.turn.job_ids += [j for j in jobs if j not in deps.turn.job_ids]
        _count_simulation(deps.turn, data)
        await deps.events(
            {"type": "tool_result", "tool": spec.name, "arguments": args, "ok": True, "duration_ms": duration_ms,
             "job_ids": jobs,
             "summary": output.text()[:500], "approved": approved, "permission": verdict.reason}
        )  # fmt: skip
        return data


def _progress(deps: AgentDeps, tool: str) -> Any:
    async def report(done: float, total: float | None, message: str) -> None:
        await deps.events(
            {"type": "progress", "tool": tool, "done": done, "total": total, "message": message}
        )

    return report


async def _cost_reasons(spec: ToolSpec, args: dict[str, Any], deps: AgentDeps, ctx: ToolContext) -> list[str]:
    """Why a simulating call should ask first: its estimate is over the thresholds, or would take the turn
    past its simulation budget. Where no estimate can be made, the call itself reports why."""
    from proxima_agent.selection.estimate import format_bytes, format_seconds

    estimate = await _estimate(spec.name, args, ctx)
    if estimate is None:
        return []
    seconds, memory = estimate
    settings, budget, reasons = deps.settings, deps.settings.budget, []
    if seconds > settings.ask_over_s:
        reasons.append(
            f"estimated {format_seconds(seconds)}, over agent.ask_over_s ({settings.ask_over_s:g} s)"
        )
    if memory > settings.ask_over_memory_mb * 1e6:
        reasons.append(
            f"estimated {format_bytes(memory)}, over agent.ask_over_memory_mb ({settings.ask_over_memory_mb:g} MB)"
        )
    used = deps.turn.simulation_core_s
    if budget.simulation_core_s is not None and used + seconds > budget.simulation_core_s:
        reasons.append(
            f"this turn's simulations would reach {used + seconds:.1f} core-s (estimated), over "
            f"agent.budget.simulation_core_s ({budget.simulation_core_s:g})"
        )
    if budget.simulation_memory_mb is not None and memory > budget.simulation_memory_mb * 1e6:
        reasons.append(
            f"estimated peak {format_bytes(memory)}, over agent.budget.simulation_memory_mb "
            f"({budget.simulation_memory_mb:g} MB)"
        )
    return reasons


async def _estimate(tool: str, args: dict[str, Any], ctx: ToolContext) -> tuple[float, int] | None:
    """(seconds, peak bytes) the call's simulations are estimated to take: the named backend's estimate, the
    selected one's when none is named, the sum over a comparison's backends."""
    if not args.get("circuit"):
        return None  # a comparison of finished jobs runs nothing
    spec = registry()[
        "select_backend" if tool == "execute" and not args.get("backend") else "estimate_resources"
    ]
    keys = ("circuit", "noise", "shots") + (("backend_options",) if "backend_options" in args else ())
    output = await invoke(spec, {k: args[k] for k in keys if args.get(k) is not None}, ctx)
    if isinstance(output, ErrorInfo):
        return None
    data = output.model_dump(mode="json")
    if spec.name == "select_backend":
        chosen, per = data["backend"], data["estimate"]["backends"]
        rows = [row for row in per if row["backend"] == chosen]
    else:
        wanted = [args["backend"]] if tool == "execute" else args.get("backends")
        rows = [r for r in data["backends"] if (r["backend"] in wanted if wanted else r["feasible"])]
    if not rows:
        return None
    return sum(r["seconds"] for r in rows), max(r["memory_bytes"] for r in rows)


def _job_ids(data: dict[str, Any]) -> list[str]:
    found = []
    if isinstance(data.get("job_id"), str):
        found.append(data["job_id"])
    for row in data.get("jobs", []) or []:
        if isinstance(row, dict) and isinstance(row.get("job_id"), str):
            found.append(row["job_id"])
    return found


def _count_simulation(turn: TurnUse, data: dict[str, Any]) -> None:
    """Add the simulation time and peak memory a tool's output reports (a run's result, a comparison's jobs),
    once per job however many tools show its result."""
    views = [data] + [r for r in data.get("jobs", []) or [] if isinstance(r, dict)]
    for view in views:
        result, job_id = view.get("result"), view.get("job_id")
        if not isinstance(result, dict) or job_id in turn.counted:
            continue
        if isinstance(job_id, str):
            turn.counted.add(job_id)
        timing = result.get("timing") or {}
        turn.simulation_core_s += float(timing.get("simulation_s", 0.0) or 0.0)
        peak = result.get("peak_memory_increase_bytes")
        if isinstance(peak, int):
            turn.peak_memory_bytes = max(turn.peak_memory_bytes, peak)


def skills_toolset(runtime: Runtime) -> Any:
    """`load_skill`: the model reads a skill's steps (Agent Skills: names and descriptions are in the
    instructions; the body is loaded only when a request matches one)."""
    from pydantic_ai.toolsets import FunctionToolset

    from proxima_agent.tools.skills import load_skills

    def load_skill(name: str) -> str:
        """Read the steps of the skill NAME (one of those the instructions list), to follow them."""
        skills = {s.name: s for s in load_skills(runtime.workspace)}
        if name not in skills:
            raise ToolFailed(
                f"SKILL_UNKNOWN: no skill named {name[:64]!r}\nhint: the skills: {', '.join(skills) or 'none'}"
            )
        return skills[name].body

    return FunctionToolset([load_skill], id="skills")
