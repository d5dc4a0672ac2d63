"""What the tools share: the base of every input (strict about unknown arguments, lax about how a value is
written) and output (structured data plus a short readable text), the error shape, and the argument types most
tools take (a circuit, a noise model, a backend id), each with a bound on its size."""

from __future__ import annotations

import json
import re
import types
from functools import cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

MAX_CIRCUIT_CHARS = 1_000_000  # an OpenQASM text larger than this is refused before it is parsed
MAX_NOISE_CHARS = 100_000  # a noise model: the short syntax, JSON text, or the JSON object once serialized
MAX_ID_CHARS = 64  # a backend id, a state name, an option name
MAX_OPTION_CHARS = 256  # a string value among backend_options
MAX_ERROR_CHARS = 2_000  # an error's message (or hint) as reported: longer ones are cut, never echoed whole


def clipped(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """TEXT, cut to LIMIT characters with a note of its length: nothing a caller gave is echoed at length."""
    if len(text) <= limit:
        return text
    return f"{text[: max(limit - 40, limit // 2)]}… (cut: {len(text)} characters in all)"


def _bounded_json(value: dict[str, Any]) -> dict[str, Any]:
    size = len(json.dumps(value, default=str))
    if size > MAX_NOISE_CHARS:
        raise ValueError(f"the object is {size} characters as JSON, over the limit of {MAX_NOISE_CHARS}")
    return value


CircuitArg = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_CIRCUIT_CHARS,
        description="OpenQASM 2 or 3 text, a library name (bell, ghz:8, qft:12, random:10:20:7, grover:4, w:5, "
        "qaoa:6:2), or the path of a .qasm file inside the workspace",
    ),
]
NoiseArg = Annotated[
    Annotated[str, Field(max_length=MAX_NOISE_CHARS)]
    | Annotated[dict[str, Any], AfterValidator(_bounded_json)]
    | None,
    Field(
        description="noise model: the short syntax ('depolarizing:0.01', 'amplitude_damping:0.002@cx/0,1', "
        "'thermal:50:70:0.1', 'readout:0.01:0.02', several joined by ';'), a JSON object "
        '{"rules": [{"channel": {"kind": "depolarizing", "p": 0.01}}]}, or a .json file in the workspace; '
        "omit for a noiseless run",
    ),
]
ShotsArg = Annotated[int | None, Field(gt=0, le=10_000_000, description="shots (default from proxima.json)")]
BackendId = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]
OptionValue = bool | int | float | Annotated[str, Field(max_length=MAX_OPTION_CHARS)] | None
BackendOptions = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)], OptionValue], Field(max_length=32)
]


class ToolInput(BaseModel):
    """A tool's arguments. Unknown ones are refused; a value written as a string is read the same way by every
    tool, whichever front door sent it (CLI clients such as the MCP Inspector send every argument as a string):
    numbers and booleans as pydantic's lax mode reads them ("2000", "true"), integer choices too ("3" for
    `qasm`), and a JSON array or object for an argument that takes one (what Claude Desktop tends to send)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _read_strings(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        kinds = _field_kinds(cls)
        out = dict(data)
        for name, value in data.items():
            if isinstance(value, str) and name in kinds:
                out[name] = _from_string(kinds[name], value)
        return out


_INTEGER = re.compile(r"\s*[+-]?\d{1,19}\s*")


def _from_string(kinds: frozenset[str], value: str) -> Any:
    if "str" in kinds:
        return value
    if "int-choice" in kinds and _INTEGER.fullmatch(value):
        return int(value)
    if kinds & {"list", "dict"} and value.lstrip()[:1] in ("[", "{") and len(value) <= MAX_NOISE_CHARS:
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            return value
        if ("list" in kinds and isinstance(parsed, list)) or ("dict" in kinds and isinstance(parsed, dict)):
            return parsed
    return value


@cache
def _field_kinds(model: type[BaseModel]) -> dict[str, frozenset[str]]:
    return {name: frozenset(_kinds(field.annotation)) for name, field in model.model_fields.items()}


def _kinds(annotation: Any) -> set[str]:
    """What an annotation takes, coarsely: str, int-choice (a Literal of integers), list, dict, other."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _kinds(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return set().union(*(_kinds(arg) for arg in get_args(annotation)))
    if origin is Literal:
        values = get_args(annotation)
        found = {"str"} if any(isinstance(v, str) for v in values) else set()
        if any(isinstance(v, int) and not isinstance(v, bool) for v in values):
            found.add("int-choice")
        return found
    if annotation is str or annotation is Any:
        return {"str"}
    if origin in (list, tuple, set) or annotation in (list, tuple, set):
        return {"list"}
    if origin is dict or annotation is dict:
        return {"dict"}
    return {"other"}


class ToolOutput(BaseModel):
    """Every tool's result: the fields are the structured output; `text()` is the short block a person reads."""

    def text(self) -> str:
        return self.model_dump_json(indent=1)

    def images(self) -> list[tuple[str, bytes]]:
        """Pictures that go with the result, as (MIME type, bytes): a histogram, a comparison chart."""
        return []


class ErrorInfo(BaseModel):
    code: str = Field(description="stable error code (docs/errors.md)")
    message: str
    hint: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, exc: Any) -> ErrorInfo:
        return cls.build(exc.code, exc.message, exc.hint, exc.context)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ErrorInfo:
        return cls.build(
            data.get("code", "PROXIMA_ERROR"), data.get("message", ""), data.get("hint"), data.get("context")
        )

    @classmethod
    def build(cls, code: str, message: str, hint: str | None = None, context: Any = None) -> ErrorInfo:
        """The error as reported: message and hint cut to MAX_ERROR_CHARS, context made JSON and bounded."""
        return cls(
            code=code,
            message=clipped(str(message)),
            hint=None if hint is None else clipped(str(hint)),
            context=_jsonable(context or {}),
        )

    def text(self) -> str:
        return f"{self.code}: {self.message}" + (f"\nhint: {self.hint}" if self.hint else "")


def _jsonable(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return clipped(value, 500)
    if isinstance(value, int | float | bool) or value is None:
        return value
    if depth > 4:
        return clipped(str(value), 500)
    if isinstance(value, list | tuple):
        return [_jsonable(v, depth + 1) for v in value[:100]]
    if isinstance(value, dict):
        return {clipped(str(k), 100): _jsonable(v, depth + 1) for k, v in list(value.items())[:100]}
    return clipped(str(value), 500)
