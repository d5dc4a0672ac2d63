"""The one registry of typed tools. Each tool is an async function taking its pydantic input model and a
`ToolContext`, returning its pydantic output model; what a model is told about it lives in `tools/<name>.md`.

The agent loop and the MCP server both serve tools from here; neither re-implements one.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from proxima_agent.errors import InputError, ProximaError, quoted
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

    def input_schema(self) -> dict[str, Any]:
        """The input model's JSON schema, refusing unknown arguments (as the model does)."""
        schema = self.input_model.model_json_schema()
        schema["additionalProperties"] = False
        return schema

    def parse(self, arguments: dict[str, Any]) -> BaseModel:
        """Validate arguments into the input model; a bad argument is an InputError naming the field."""
        try:
            return self.input_model.model_validate(arguments)
        except ValidationError as exc:
            raise argument_error(self.name, exc, self.input_model) from None

    async def call(self, arguments: dict[str, Any] | BaseModel, ctx: ToolContext) -> ToolOutput:
        args = arguments if isinstance(arguments, BaseModel) else self.parse(arguments)
        return await self.fn(args, ctx)


def argument_error(tool: str, exc: ValidationError, model: type[BaseModel] | None = None) -> InputError:
    """The InputError for arguments the input model refused: the arguments named (never their values), and a
    hint in the tools' language saying what the first of them takes."""
    fields = list(model.model_fields) if model is not None else []
    errors = exc.errors()
    unknown = [e["loc"][0] for e in errors if e["type"] == "extra_forbidden" and len(e["loc"]) == 1]
    if unknown:
        names = ", ".join(_name(u) for u in unknown[:5]) + (
            f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        )
        return InputError(
            f"{tool}: unknown argument(s) {names}",
            hint=f"{tool} takes: {', '.join(fields)}"
            if fields
            else "the tool's input schema lists its arguments",
            tool=tool,
            arguments=[_name(u) for u in unknown[:5]],
        )
    missing = [str(e["loc"][0]) for e in errors if e["type"] == "missing" and len(e["loc"]) == 1]
    if missing:
        first = missing[0]
        return InputError(
            f"{tool}: missing required argument(s) {', '.join(missing)}",
            hint=f"give {first}: {_takes(model, first)}",
            tool=tool,
            arguments=missing,
        )
    problems = [f"{_where(e['loc'], model)}: {e['msg']}" for e in _relevant(errors)[:5]]
    first = str(errors[0]["loc"][0]) if errors and errors[0]["loc"] else ""
    return InputError(
        f"{tool}: invalid arguments: " + "; ".join(problems),
        hint=f"{first}: {_takes(model, first)}"
        if first in fields
        else "the tool's input schema lists each argument, its type and its limits",
        tool=tool,
        arguments=[first] if first in fields else [],
    )


def _relevant(errors: list[Any]) -> list[Any]:
    """One argument that fails every branch of a union (`str | object | null`) gives an error per branch: keep
    the branches whose type matched (a string too long, not "should be an object")."""
    groups: dict[Any, list[Any]] = {}
    for error in errors:
        groups.setdefault(error["loc"][:1], []).append(error)
    kept = []
    for group in groups.values():
        matched = [e for e in group if not e["type"].endswith("_type")]
        kept.extend(matched or group[:1])
    return kept


def _where(loc: tuple[Any, ...], model: type[BaseModel] | None) -> str:
    """Where in the arguments: the argument, list positions, and the key of a dict argument (not the names
    pydantic gives union branches)."""
    if not loc:
        return "(arguments)"
    text = _name(loc[0])
    is_dict = (
        model is not None
        and _input_schema(model).get("properties", {}).get(str(loc[0]), {}).get("type") == "object"
    )
    for i, part in enumerate(loc[1:]):
        if isinstance(part, int):
            text += f"[{part}]"
        elif i == 0 and is_dict:
            text += f"[{_name(part)}]"
    return text


def _name(part: Any) -> str:
    """An argument's name or a position in it, as given by the caller: never echoed at length."""
    return str(part) if isinstance(part, int) or len(str(part)) <= 40 else quoted(part, 40)


def _takes(model: type[BaseModel] | None, name: str) -> str:
    """What an argument takes, from the input schema: its type and limits, then its description."""
    if model is None:
        return "see the tool's input schema"
    schema = _input_schema(model).get("properties", {}).get(name, {})
    return describe_schema(schema, _input_schema(model).get("$defs", {}))


@cache
def _input_schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


def describe_schema(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> str:
    """A JSON Schema in a few words: `an integer > 0 and <= 10000000, or null; shots (default ...)`."""
    options = schema.get("anyOf") or [schema]
    kinds = []
    for option in options:
        if "$ref" in option and defs:
            option = defs.get(option["$ref"].rsplit("/", 1)[-1], option)
        kinds.append(_describe_one(option))
    text = ", or ".join(dict.fromkeys(k for k in kinds if k))
    description = schema.get("description")
    return f"{text}; {description}" if text and description else text or description or "see the input schema"


def _describe_one(schema: dict[str, Any]) -> str:
    if "enum" in schema or "const" in schema:
        values = schema.get("enum", [schema.get("const")])
        return "one of " + ", ".join(json.dumps(v) for v in values)
    kind = schema.get("type")
    words = {"integer": "an integer", "number": "a number", "string": "a string", "boolean": "true or false",
             "array": "an array", "object": "an object", "null": "null"}  # fmt: skip
    text = words.get(kind, "") if isinstance(kind, str) else ""
    bounds = [f"{sign} {schema[key]}" for key, sign in
              (("exclusiveMinimum", ">"), ("minimum", ">="), ("exclusiveMaximum", "<"), ("maximum", "<="))
              if key in schema]  # fmt: skip
    sizes = [f"{word} {schema[key]} {unit}" for key, word, unit in
             (("minLength", "at least", "characters"), ("maxLength", "at most", "characters"),
              ("minItems", "at least", "items"), ("maxItems", "at most", "items"),
              ("maxProperties", "at most", "keys"))
             if key in schema and not (key == "minLength" and schema[key] == 1)]  # fmt: skip
    if sizes:
        text += " of " + " and ".join(sizes)
    if bounds:
        text += " " + " and ".join(bounds)
    return text.strip()


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
        raise InputError(f"unknown tool {quoted(name)}", hint="tools: " + ", ".join(tools), tool=quoted(name))
    return tools[name]


async def call_tool(name: str, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutput:
    """Validate and run one tool: the entry point for the agent loop and for tests."""
    return await get_tool(name).call(arguments, ctx)


__all__ = ["ProximaError", "ToolDoc", "ToolSpec", "call_tool", "get_tool", "registry", "tool_doc"]
