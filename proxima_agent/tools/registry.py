"""The one registry of typed tools. Each tool is an async function taking its pydantic input model and a
`ToolContext`, returning its pydantic output model; what a model is told about it lives in `tools/<name>.md`.

The agent loop and the MCP server both serve tools from here; neither re-implements one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from proxima_agent.errors import InputError, ProximaError
from proxima_agent.tools.context import ToolContext
from proxima_agent.tools.models import ToolOutput


class Annotations(BaseModel):
    """The hints a client shows next to a tool (MCP tool annotations)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False
    open_world: bool = False


class ToolDoc(BaseModel):
    """`tools/<name>.md`: YAML front matter (title, annotations) and the description the model sees."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    title: str
    annotations: Annotations = Annotations()
    description: str = Field(min_length=1)


ToolFunction = Callable[[Any, ToolContext], Awaitable[ToolOutput]]
ConsentCheck = Callable[[Any, ToolContext], Awaitable[Any]]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    fn: ToolFunction
    input_model: type[BaseModel]
    output_model: type[ToolOutput]
    # For tools that may need the user's explicit consent (running past a memory refusal): returns the
    # ConsentRequest to put to the user before the call, or None when none is needed.
    consent_check: ConsentCheck | None = None

    @property
    def doc(self) -> ToolDoc:
        return tool_doc(self.name)

    def parse(self, arguments: dict[str, Any]) -> BaseModel:
        """Validate arguments into the input model; a bad argument is an InputError naming the field."""
        try:
            return self.input_model.model_validate(arguments)
        except ValidationError as exc:
            raise argument_error(self.name, exc) from None

    async def call(self, arguments: dict[str, Any] | BaseModel, ctx: ToolContext) -> ToolOutput:
        args = arguments if isinstance(arguments, BaseModel) else self.parse(arguments)
        return await self.fn(args, ctx)


def argument_error(tool: str, exc: ValidationError) -> InputError:
    problems = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error["loc"]) or "(arguments)"
        problems.append(f"{where}: {error['msg']}")
    return InputError(
        f"{tool}: invalid arguments: " + "; ".join(problems),
        hint="the tool's input schema lists each argument, its type and its limits",
        tool=tool,
    )


def split_front_matter(text: str, where: str) -> tuple[dict[str, Any], str]:
    """A Markdown file with YAML front matter between `---` lines: (front matter, body)."""
    import yaml

    if not text.startswith("---\n"):
        raise ValueError(f"{where}: no YAML front matter (the file must start with a '---' line)")
    head, sep, body = text[4:].partition("\n---\n")
    if not sep:
        raise ValueError(f"{where}: the front matter is not closed by a '---' line")
    data = yaml.load(head, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}  # C parser if built
    if not isinstance(data, dict):
        raise ValueError(f"{where}: the front matter is not a mapping")
    return data, body.strip()


@cache
def tool_doc(name: str) -> ToolDoc:
    from proxima_agent.paths import resource_dir

    path = resource_dir("tools") / f"{name}.md"
    front, body = split_front_matter(path.read_text(encoding="utf-8"), str(path))
    return ToolDoc(name=name, description=body, **front)


def _specs() -> list[ToolSpec]:
    from proxima_agent.tools import analysis, circuits, jobs, planning

    return [
        ToolSpec("list_backends", circuits.list_backends, circuits.ListBackendsInput, circuits.BackendList),
        ToolSpec("describe_circuit", circuits.describe_circuit, circuits.DescribeInput, circuits.CircuitDescription),
        ToolSpec("select_backend", planning.select_backend, planning.SelectInput, planning.SelectionOutput),
        ToolSpec("estimate_resources", planning.estimate_resources, planning.EstimateInput, planning.EstimateOutput),
        ToolSpec("execute", jobs.execute, jobs.ExecuteInput, jobs.JobView, consent_check=jobs.execute_consent),
        ToolSpec("wait_job", jobs.wait_job, jobs.WaitInput, jobs.JobView),
        ToolSpec("job_status", jobs.job_status, jobs.JobInput, jobs.JobStatus),
        ToolSpec("list_jobs", jobs.list_jobs, jobs.ListJobsInput, jobs.JobList),
        ToolSpec("pause", jobs.pause, jobs.PauseInput, jobs.JobView),
        ToolSpec("resume", jobs.resume, jobs.JobInput, jobs.JobView),
        ToolSpec("abort", jobs.abort, jobs.JobInput, jobs.JobView),
        ToolSpec("checkpoint", jobs.checkpoint, jobs.JobInput, jobs.CheckpointOutput),
        ToolSpec("rollback", jobs.rollback, jobs.RollbackInput, jobs.JobView),
        ToolSpec("compare", analysis.compare, analysis.CompareInput, analysis.CompareOutput),
        ToolSpec("interpret", analysis.interpret, analysis.InterpretInput, analysis.InterpretOutput),
    ]  # fmt: skip


@cache
def registry() -> dict[str, ToolSpec]:
    return {spec.name: spec for spec in _specs()}


def get_tool(name: str) -> ToolSpec:
    tools = registry()
    if name not in tools:
        raise InputError(f"unknown tool {name!r}", hint="tools: " + ", ".join(tools), tool=name)
    return tools[name]


async def call_tool(name: str, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutput:
    """Validate and run one tool: the entry point for the agent loop and for tests."""
    return await get_tool(name).call(arguments, ctx)


__all__ = ["ProximaError", "ToolDoc", "ToolSpec", "call_tool", "get_tool", "registry", "tool_doc"]
