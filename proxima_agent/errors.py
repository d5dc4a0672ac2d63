"""One error hierarchy: every failure a person can act on is a ProximaError with a stable code and a hint.

Codes are stable strings (documented in docs/errors.md); each family maps to one CLI exit code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

QUOTE_LIMIT = 60


def quoted(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """repr() of what a caller gave, cut to `limit` characters: an error never echoes input at length."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…' ({len(str(value))} characters)"


@dataclass(frozen=True)
class Step:
    """A next step a hint recommends, named as a tool call. Each front door says it in its caller's language:
    tools and MCP as the call (`rollback(job_id="...", number=2)`), the CLI as its command. `tool=None` means
    the same call again with these arguments (`force=true`; on the CLI `--force`)."""

    tool: str | None
    args: dict[str, Any] = field(default_factory=dict)

    def as_call(self) -> str:
        args = ", ".join(f"{k}={json.dumps(v)}" for k, v in self.args.items())
        return args if self.tool is None else f"{self.tool}({args})"

    def to_dict(self) -> dict[str, Any]:
        return {"tool": self.tool, "args": self.args}


StepRenderer = Callable[[Step], str]


class ProximaError(Exception):
    """Base of all errors Proxima reports to people and programs.

    A hint that recommends an action names it as a `Step` and refers to it as `{0}`, `{1}`...: the hint is
    then rendered for whoever reads it (`hint` in the tools' language, `hint_for(render)` for another)."""

    code: ClassVar[str] = "PROXIMA_ERROR"
    exit_code: ClassVar[int] = 1

    def __init__(
        self, message: str, *, hint: str | None = None, steps: Sequence[Step] = (), **context: Any
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint_template = hint
        self.steps = tuple(steps)
        self.context = context

    @property
    def hint(self) -> str | None:
        return self.hint_for(Step.as_call)

    def hint_for(self, render: StepRenderer) -> str | None:
        if self.hint_template is None or not self.steps:
            return self.hint_template
        return self.hint_template.format(*(f"`{render(step)}`" for step in self.steps))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "context": self.context,
        }
        if self.steps:  # enough to render the hint again in another front door (error_from_dict)
            data["hint_template"] = self.hint_template
            data["steps"] = [step.to_dict() for step in self.steps]
        return data

    def __str__(self) -> str:
        return self.message


# Exit code 3: the input (circuit, noise, options, files) is wrong.
class InputError(ProximaError):
    code = "INPUT_INVALID"
    exit_code = 3


class ConfigError(InputError):
    code = "CONFIG_INVALID"


class CircuitError(InputError):
    code = "CIRCUIT_INVALID"


class QasmSyntaxError(CircuitError):
    code = "QASM_SYNTAX"


class UnknownCircuitError(CircuitError):
    code = "CIRCUIT_UNKNOWN"


class CircuitParameterError(CircuitError):
    code = "CIRCUIT_PARAMETERS"


class CircuitTooLargeError(CircuitError):
    """Over one of the limits in `proxima_agent.circuits.limits` (qubits, clbits, operations, nesting, size);
    `context` names the limit, the value and the maximum."""

    code = "CIRCUIT_TOO_LARGE"


class NoiseError(InputError):
    code = "NOISE_INVALID"


class OptionError(InputError):
    code = "OPTION_INVALID"


class FileReadError(InputError):
    code = "FILE_UNREADABLE"


class JobNotFoundError(InputError):
    code = "JOB_UNKNOWN"


class JobStateError(InputError):
    code = "JOB_STATE"


class SessionNotFoundError(InputError):
    """No chat session has this id, or an id prefix matches none or several (`context.matches` lists them)."""

    code = "SESSION_UNKNOWN"


class CheckpointError(InputError):
    code = "CHECKPOINT_INVALID"


# Exit code 4: the backend cannot do this.
class BackendError(ProximaError):
    code = "BACKEND_ERROR"
    exit_code = 4


class UnknownBackendError(BackendError):
    code = "BACKEND_UNKNOWN"


class BackendUnavailableError(BackendError):
    code = "BACKEND_UNAVAILABLE"


class UnsupportedFeatureError(BackendError):
    code = "BACKEND_UNSUPPORTED"


class SimulationError(BackendError):
    code = "SIMULATION_FAILED"


class WorkerDiedError(SimulationError):
    code = "WORKER_DIED"


# Exit code 5: this machine cannot take it.
class ResourceError(ProximaError):
    code = "RESOURCES_INSUFFICIENT"
    exit_code = 5


class ResourcesExhaustedError(ResourceError):
    code = "RESOURCES_EXHAUSTED"


# Exit code 6: the result could not be written.
class OutputError(ProximaError):
    code = "OUTPUT_FAILED"
    exit_code = 6


class CheckpointWriteError(OutputError):
    code = "CHECKPOINT_WRITE_FAILED"


class StoreError(OutputError):
    code = "STORE_FAILED"


# Exit code 7: the job did not finish (aborted by request).
class JobAbortedError(ProximaError):
    code = "JOB_ABORTED"
    exit_code = 7


# Exit code 8: the model (an LLM provider) could not be used, or a turn hit its limits.
class ModelError(ProximaError):
    code = "MODEL_FAILED"
    exit_code = 8


class ModelUnknownError(ModelError):
    code = "MODEL_UNKNOWN"


class ModelUnreachableError(ModelError):
    code = "MODEL_UNREACHABLE"


class ModelAuthError(ModelError):
    code = "MODEL_AUTH"


class RemoteConsentError(ModelError):
    code = "MODEL_CONSENT"


class TurnLimitError(ModelError):
    code = "TURN_LIMIT"


def error_from_dict(data: dict[str, Any]) -> ProximaError:
    """The error `to_dict` described (from a worker, another process or the database), of its own class."""
    classes = {cls.code: cls for cls in all_error_types()}
    cls = classes.get(data.get("code", ""), ProximaError)
    steps = [Step(s.get("tool"), dict(s.get("args") or {})) for s in data.get("steps") or []]
    hint = data.get("hint_template") if steps else data.get("hint")
    error = cls(data.get("message", "unknown error"), hint=hint, steps=steps, **(data.get("context") or {}))
    return error


def all_error_types() -> list[type[ProximaError]]:
    """Every error class, base first: docs/errors.md is checked against this list."""
    seen: list[type[ProximaError]] = []
    stack: list[type[ProximaError]] = [ProximaError]
    while stack:
        cls = stack.pop(0)
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    return seen
