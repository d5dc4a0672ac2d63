"""One error hierarchy: every failure a person can act on is a ProximaError with a stable code and a hint.

Codes are stable strings (documented in docs/errors.md); each family maps to one CLI exit code.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ProximaError(Exception):
    """Base of all errors Proxima reports to people and programs."""

    code: ClassVar[str] = "PROXIMA_ERROR"
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, hint: str | None = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.context = context

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "hint": self.hint, "context": self.context}

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


def all_error_types() -> list[type[ProximaError]]:
    """Every error class, base first: docs/errors.md is checked against this list."""
    seen: list[type[ProximaError]] = []
    stack: list[type[ProximaError]] = [ProximaError]
    while stack:
        cls = stack.pop(0)
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    return seen
