"""What the tools share: the base of every output (structured data plus a short readable text), the error
shape, and the argument types most tools take (a circuit, a noise model)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

MAX_CIRCUIT_CHARS = 1_000_000  # an OpenQASM text larger than this is refused before it is parsed

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
    str | dict[str, Any] | None,
    Field(
        description="noise model: the short syntax ('depolarizing:0.01', 'amplitude_damping:0.002@cx/0,1', "
        "'thermal:50:70:0.1', 'readout:0.01:0.02', several joined by ';'), a JSON object "
        '{"rules": [{"channel": {"kind": "depolarizing", "p": 0.01}}]}, or a .json file in the workspace; '
        "omit for a noiseless run",
    ),
]
ShotsArg = Annotated[int | None, Field(gt=0, le=10_000_000, description="shots (default from proxima.json)")]


class ToolInput(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
        return cls(code=exc.code, message=exc.message, hint=exc.hint, context=_jsonable(exc.context))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ErrorInfo:
        return cls(
            code=data.get("code", "PROXIMA_ERROR"),
            message=data.get("message", ""),
            hint=data.get("hint"),
            context=_jsonable(data.get("context") or {}),
        )

    def text(self) -> str:
        return f"{self.code}: {self.message}" + (f"\nhint: {self.hint}" if self.hint else "")


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)
