"""The backend protocol: what every simulator offers, how it reports itself, and the options of a run.

A backend is a small object with an id, a description of what it can do (`capabilities`), a memory model for
estimates, and `run`. Heavy libraries are imported inside `run` (and `version`), never at module import.
The engine (a later layer) drives runs in worker processes and receives `Progress` through the callback.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from proxima_agent.backends.result import MemoryUse, Method, Progress, SimulationResult, Timing
from proxima_agent.circuits.ir import Circuit
from proxima_agent.circuits.noise import NoiseModel
from proxima_agent.errors import UnsupportedFeatureError

ProgressCallback = Callable[[Progress], None]

ALL_NOISE_KINDS = frozenset(
    {"depolarizing", "amplitude_damping", "phase_damping", "bit_flip", "phase_flip", "thermal_relaxation",
     "kraus", "readout"}
)  # fmt: skip


class Capabilities(BaseModel):
    model_config = ConfigDict(frozen=True)

    method: Method
    noise_kinds: frozenset[str] = Field(description="noise channels it simulates")
    exact_noise: bool = Field(
        description="noise is simulated exactly (density matrix), not by sampling trajectories"
    )
    statevector: bool
    density_matrix: bool
    mid_circuit_measurement: bool = True
    reset: bool = True
    steppable: bool = Field(False, description="can run step by step (for pause and checkpoints)")
    expectations: bool = Field(False, description="computes Pauli expectation values exactly")


class RunOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    shots: int = Field(1024, gt=0)
    seed: int | None = None
    noise: NoiseModel = NoiseModel()
    return_state: bool = Field(False, description="include the final statevector / density matrix")
    observables: tuple[str, ...] = Field(
        (),
        description="Pauli strings (last character is qubit 0) whose expectation values to compute exactly",
    )
    backend_options: dict[str, Any] = Field(default_factory=dict, description="backend-specific settings")


class TimeModel(BaseModel):
    """A rough run-time model, fitted to measurements (benchmarks/calibrate.py, docs/performance.md).

    seconds = startup + ops * (per_op + entries * per_entry) [once, or once per shot for trajectories]
              + shots * per_shot, where entries is 2^n (statevector) or 4^n (density matrix).
    """

    model_config = ConfigDict(frozen=True)

    startup_s: float
    per_op_s: float
    per_entry_s: float
    per_shot_s: float

    def seconds(self, entries: int, ops: int, shots: int, trajectories: bool) -> float:
        one_pass = ops * (self.per_op_s + entries * self.per_entry_s)
        return self.startup_s + (shots * one_pass if trajectories else one_pass) + shots * self.per_shot_s


class RunEstimate(BaseModel):
    """A backend's own estimate of one run: how it would run it, memory, rough time, and how that was made."""

    model_config = ConfigDict(frozen=True)

    method: str
    memory_bytes: int
    min_memory_bytes: int | None = Field(
        None, description="the least the run can need, if less (an upper estimate)"
    )
    seconds: float
    note: str | None = None


class BackendInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    library: str
    available: bool
    version: str | None
    reason: str | None = Field(None, description="why it is unavailable")
    capabilities: Capabilities


@functools.cache  # reading a distribution's metadata costs milliseconds; estimates ask for every backend's
def package_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


class Backend(ABC):
    """One simulator behind Proxima's protocol."""

    id: ClassVar[str]
    name: ClassVar[str]
    library: ClassVar[str]  # the distribution that must be installed
    module: ClassVar[str]  # the module imported to run
    capabilities: ClassVar[Capabilities]
    # Memory model: bytes = overhead_bytes + state_copies * bytes of the state (16 * 2^n or 16 * 4^n).
    overhead_bytes: ClassVar[int]
    state_copies: ClassVar[float]
    time_model: ClassVar[TimeModel]
    trajectory_time_model: ClassVar[TimeModel | None] = None  # when sampling noise per shot costs differently

    def info(self) -> BackendInfo:
        available = importlib.util.find_spec(self.module) is not None
        return BackendInfo(
            id=self.id,
            name=self.name,
            library=self.library,
            available=available,
            version=package_version(self.library),
            reason=None if available else f"{self.library} is not installed (pip install {self.library})",
            capabilities=self.capabilities,
        )

    def state_bytes(self, num_qubits: int) -> int:
        dim = 2**num_qubits
        return 16 * (dim * dim if self.capabilities.method == "density_matrix" else dim)

    def memory_bytes(self, num_qubits: int) -> int:
        """Peak memory a run needs, from first principles plus this library's measured overhead."""
        return int(self.overhead_bytes + self.state_copies * self.state_bytes(num_qubits))

    def estimate_seconds(self, num_qubits: int, ops: int, shots: int, trajectories: bool) -> float:
        entries = self.state_bytes(num_qubits) // 16
        model = (self.trajectory_time_model if trajectories else None) or self.time_model
        return model.seconds(entries, ops, shots, trajectories)

    def estimate(self, circuit: Circuit, options: RunOptions) -> RunEstimate:
        """Memory and time of this run: the state's size from first principles, the time from the fitted model."""
        noise = options.noise
        ops = len(circuit.gates) + sum(len(noise.after(o)) for o in circuit.operations)
        caps = self.capabilities
        trajectories = not caps.exact_noise and (
            noise.has_gate_noise or circuit.with_measurements().is_dynamic
        )
        return RunEstimate(
            method="trajectories" if trajectories else caps.method,
            memory_bytes=self.memory_bytes(circuit.num_qubits),
            seconds=self.estimate_seconds(circuit.num_qubits, ops, options.shots, trajectories),
        )

    def check(self, circuit: Circuit, options: RunOptions) -> None:
        """Raise UnsupportedFeatureError if this backend cannot run the circuit with these options."""
        from proxima_agent.backends.registry import all_backends

        unsupported = options.noise.kinds - self.capabilities.noise_kinds
        if unsupported:
            able = [b.id for b in all_backends() if unsupported <= b.capabilities.noise_kinds]
            raise UnsupportedFeatureError(
                f"{self.id} does not simulate {', '.join(sorted(unsupported))} noise",
                hint=f"backends that do: {', '.join(able)}" if able else "no backend simulates it",
                backend=self.id,
            )
        if options.observables and not self.capabilities.expectations:
            able = [b.id for b in all_backends() if b.capabilities.expectations]
            raise UnsupportedFeatureError(
                f"{self.id} does not compute expectation values", hint=f"backends that do: {', '.join(able)}"
            )
        if options.backend_options:
            self.parse_backend_options(options.backend_options)
        if circuit.terminal_measurements is None and not self.capabilities.mid_circuit_measurement:
            able = [b.id for b in all_backends() if b.capabilities.mid_circuit_measurement]
            raise UnsupportedFeatureError(
                f"{self.id} does not support mid-circuit measurement",
                hint=f"backends that do: {', '.join(able)}",
                backend=self.id,
            )

    def parse_backend_options(self, values: dict[str, Any]) -> Any:
        """Validate backend-specific options; backends without any refuse every key."""
        from proxima_agent.errors import OptionError

        raise OptionError(
            f"{self.id} takes no backend options (got {', '.join(sorted(values))})",
            hint="backend options (-O key=value) apply to lret",
        )

    @abstractmethod
    def run(
        self, circuit: Circuit, options: RunOptions, progress: ProgressCallback | None = None
    ) -> SimulationResult: ...

    def start(
        self, circuit: Circuit, options: RunOptions, progress: ProgressCallback | None = None
    ) -> Execution:
        """Begin a run that the engine advances step by step. Backends that cannot step run in one step."""
        return OneShotExecution(self, circuit, options, progress)


class Execution(ABC):
    """One run in progress, advanced a step at a time by `advance()` and finished by `finish()`.

    A steppable execution can `save()` its exact state between steps and `restore()` it in a fresh process, so
    that the continued run gives exactly the result of an uninterrupted one (same seed).
    """

    steppable: ClassVar[bool] = False

    def __init__(self, circuit: Circuit, options: RunOptions, progress: ProgressCallback | None) -> None:
        self.circuit = circuit
        self.options = options
        self.report: ProgressCallback = progress or (lambda p: None)
        self.simulation_seconds = 0.0  # active stepping time, carried across save and restore

    @property
    @abstractmethod
    def total_steps(self) -> int: ...

    @property
    @abstractmethod
    def position(self) -> int:
        """Steps done."""

    @property
    def done(self) -> bool:
        return self.position >= self.total_steps

    @abstractmethod
    def step(self) -> None:
        """Do the next step."""

    def advance(self) -> None:
        start = time.perf_counter()
        self.step()
        self.simulation_seconds += time.perf_counter() - start

    def save(self) -> bytes:
        raise UnsupportedFeatureError(
            f"{type(self).__name__} cannot save its state between steps",
            hint="pause by freezing the worker instead, or use a steppable backend (lret)",
        )

    def restore(self, data: bytes) -> None:
        raise UnsupportedFeatureError(f"{type(self).__name__} cannot restore a saved state")

    @abstractmethod
    def finish(self) -> SimulationResult:
        """The result, once every step is done."""


class OneShotExecution(Execution):
    """A backend that cannot step: one step runs the whole simulation."""

    def __init__(
        self, backend: Backend, circuit: Circuit, options: RunOptions, progress: ProgressCallback | None
    ) -> None:
        super().__init__(circuit, options, progress)
        self.backend = backend
        self._result: SimulationResult | None = None

    @property
    def total_steps(self) -> int:
        return 1

    @property
    def position(self) -> int:
        return 0 if self._result is None else 1

    def step(self) -> None:
        self._result = self.backend.run(self.circuit, self.options, self.report)

    def finish(self) -> SimulationResult:
        assert self._result is not None, "finish() before the run is done"
        return self._result


class MemorySampler:
    """Samples this process's RSS in a thread from start() to stop(); stop() returns the peak."""

    def __init__(self, interval: float = 0.005) -> None:
        import psutil

        self.interval = interval
        self._process = psutil.Process()
        self.baseline = self._process.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="proxima-memory", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._stop.wait(self.interval)

    def stop(self) -> MemoryUse:
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, self._process.memory_info().rss)
        return MemoryUse(peak_rss_bytes=self.peak, peak_increase_bytes=self.peak - self.baseline)


@contextmanager
def peak_memory(interval: float = 0.005) -> Iterator[Callable[[], MemoryUse]]:
    """Sample this process's RSS while the block runs; yields a function returning the peak."""
    sampler = MemorySampler(interval)
    try:
        yield sampler.stop
    finally:
        sampler.stop()


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.marks: dict[str, float] = {}
        self._last = self.start

    def mark(self, name: str) -> float:
        now = time.perf_counter()
        self.marks[name] = now - self._last
        self._last = now
        return self.marks[name]

    @property
    def total(self) -> float:
        return time.perf_counter() - self.start

    def timing(self) -> Timing:
        return Timing(
            conversion_s=self.marks.get("conversion", 0.0),
            simulation_s=self.marks.get("simulation", 0.0),
            total_s=self.total,
        )
