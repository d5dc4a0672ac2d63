"""Pieces every library backend shares: the exact path (state -> outcome probabilities -> sampled counts),
turning per-shot measurement bits into counts, assembling the result, and the step-wise exact path
(`StateExecution`, driven by `drive`)."""

from __future__ import annotations

import hashlib
import io
import json
import time
from abc import abstractmethod
from typing import Any

import numpy as np

from proxima_agent.backends.base import (
    Backend,
    Execution,
    MemorySampler,
    ProgressCallback,
    RunOptions,
    package_version,
)
from proxima_agent.backends.result import (
    MemoryUse,
    Progress,
    SimulationResult,
    Timing,
    outcome_probabilities,
    qubit_probabilities_from_state,
)
from proxima_agent.circuits.ir import Circuit
from proxima_agent.circuits.noise import NoiseModel
from proxima_agent.seeds import resolve_seed

STATE_FORMAT = 1  # the layout of `StateExecution.save()`; restore refuses any other


def readout_confusion(noise: NoiseModel, num_qubits: int) -> dict[int, np.ndarray]:
    return {q: c for q in range(num_qubits) if (c := noise.readout(q)) is not None}


def exact_outcome_probabilities(
    state: np.ndarray, density: bool, circuit: Circuit, noise: NoiseModel, *, is_probs: bool = False
) -> np.ndarray:
    """Outcome distribution of a measured circuit's terminal measurements, from its pre-measurement state
    (or from its qubit probabilities, when `is_probs`)."""
    measurements = circuit.terminal_measurements
    assert measurements is not None, "exact probabilities need terminal measurements"
    return outcome_probabilities(
        state if is_probs else qubit_probabilities_from_state(state, density),
        measurements,
        circuit.num_qubits,
        circuit.num_clbits,
        readout_confusion(noise, circuit.num_qubits),
    )


def counts_from_bits(bits: np.ndarray) -> dict[str, int]:
    """Counts from a (shots, num_clbits) 0/1 array whose column c is classical bit c."""
    shots, width = bits.shape
    if width == 0:
        return {"": shots}
    rows, counts = np.unique(bits[:, ::-1].astype(np.uint8), axis=0, return_counts=True)
    return {"".join(map(str, row)): int(n) for row, n in zip(rows, counts, strict=True)}


def little_endian(state: np.ndarray, num_qubits: int, density: bool) -> np.ndarray:
    """Reorder a big-endian (Cirq) state so that index bit i is qubit i."""
    axes = list(reversed(range(num_qubits)))
    if density:
        tensor = state.reshape([2] * (2 * num_qubits))
        return tensor.transpose(axes + [a + num_qubits for a in axes]).reshape(state.shape)
    return state.reshape([2] * num_qubits).transpose(axes).reshape(-1)


def make_result(
    backend: Backend,
    circuit: Circuit,
    options: RunOptions,
    *,
    seed: int,
    counts: dict[str, int],
    exact: bool,
    probabilities: np.ndarray | None,
    state: np.ndarray | None,
    timing: Timing,
    memory: MemoryUse,
    metadata: dict[str, Any],
    expectations: dict[str, float] | None = None,
) -> SimulationResult:
    density = backend.capabilities.density_matrix
    keep_state = options.return_state and state is not None
    return SimulationResult(
        backend=backend.id,
        method="trajectories" if not exact and options.noise.has_gate_noise else backend.capabilities.method,
        circuit=circuit.name,
        num_qubits=circuit.num_qubits,
        num_clbits=circuit.num_clbits,
        shots=options.shots,
        seed=seed,
        counts=counts,
        exact=exact,
        probabilities=probabilities,
        statevector=state if keep_state and not density else None,
        density_matrix=state if keep_state and density else None,
        timing=timing,
        memory=memory,
        versions={
            backend.library: package_version(backend.library) or "unknown",
            "proxima-agent": package_version("proxima-agent") or "unknown",
        },
        noise=None if options.noise.is_empty else options.noise.model_dump(mode="json"),
        expectations=expectations or {},
        metadata=metadata,
    )


def exact_path(circuit: Circuit, noise: NoiseModel, density: bool) -> bool:
    """Whether a library backend runs this (measured) circuit by evolving one state exactly: a density matrix
    always, a statevector when no gate noise needs sampling; never with mid-circuit measurement or reset."""
    return not circuit.with_measurements().is_dynamic and (density or not noise.has_gate_noise)


def drive(execution: Execution) -> SimulationResult:
    """Advance an execution to its end, reporting progress about a hundred times, and finish it."""
    total = execution.total_steps
    every = max(1, total // 100)
    execution.report(Progress(stage="simulation", done=execution.position, total=total))
    while not execution.done:
        execution.advance()
        if execution.position % every == 0 or execution.done:
            execution.report(Progress(stage="simulation", done=execution.position, total=total))
    return execution.finish()


class StateExecution(Execution):
    """The exact path of a library backend, a step at a time: one statevector or density matrix, evolved without
    sampling, that saves and restores bit for bit.

    A subclass converts the circuit in `_convert` (setting `total_steps` and `layout`), does one step in
    `_step`, hands its state out in `_state` and takes a restored one in `_load`, and turns the final state
    into counts and probabilities in `_outcome`. Saving, restoring, timing and the result are here.

    The saved bytes hold the state in the library's own layout, the position, the seed and the active time,
    with a fingerprint of the backend, its library version, the circuit, the noise and the step layout:
    bytes of another run, or of another installation that might cut the steps differently, are refused.
    """

    steppable = True

    def __init__(
        self, backend: Backend, circuit: Circuit, options: RunOptions, progress: ProgressCallback | None
    ) -> None:
        super().__init__(circuit, options, progress)
        self.backend = backend
        self.seed = resolve_seed(options.seed)
        self.measured = circuit.with_measurements()
        self.density = backend.capabilities.density_matrix
        dim = 2**circuit.num_qubits
        self.shape: tuple[int, ...] = (dim, dim) if self.density else (dim,)
        self._position = 0
        self._total = 0
        self.layout = ""
        self.memory = MemorySampler()
        try:
            start = time.perf_counter()
            self.report(Progress(stage="conversion"))
            self._convert()
            self.conversion_seconds = time.perf_counter() - start
        except BaseException:
            self.memory.stop()
            raise
        identity = [
            backend.id,
            package_version(backend.library) or "unknown",
            self.measured.model_dump_json(),
            options.noise.model_dump_json(),
            f"{self._total}:{self.layout}",
        ]
        self.fingerprint = hashlib.sha256("\n".join(identity).encode()).hexdigest()

    @property
    def total_steps(self) -> int:
        return self._total

    @property
    def position(self) -> int:
        return self._position

    def zero_state(self) -> np.ndarray:
        """|0...0> (or its density matrix) in this execution's shape."""
        state = np.zeros(self.shape, dtype=np.complex128)
        state[(0,) * len(self.shape)] = 1
        return state

    @abstractmethod
    def _convert(self) -> None:
        """Build what the steps need; set `_total` (and `layout`, how the steps are cut, if not by `_total`)."""

    @abstractmethod
    def _step(self) -> None:
        """Do step number `position` (the caller counts it)."""

    @abstractmethod
    def _state(self) -> np.ndarray:
        """The current state, in `shape` (the library's layout; it may be a view)."""

    @abstractmethod
    def _load(self, state: np.ndarray, position: int) -> None:
        """Continue from a validated saved state at `position`."""

    @abstractmethod
    def _outcome(self) -> tuple[dict[str, int], np.ndarray, np.ndarray | None, dict[str, Any]]:
        """From the final state: counts, outcome probabilities, the state to return (little-endian) if asked,
        metadata."""

    def step(self) -> None:
        if self.done:
            raise RuntimeError("every step is done")
        self._step()
        self._position += 1

    def save(self) -> bytes:
        meta = {
            "format": STATE_FORMAT,
            "backend": self.backend.id,
            "fingerprint": self.fingerprint,
            "position": self._position,
            "total_steps": self._total,
            "seed": self.seed,
            "simulation_seconds": self.simulation_seconds,
        }
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer, state=self._state(), meta=np.frombuffer(json.dumps(meta).encode(), np.uint8)
        )
        return buffer.getvalue()

    def restore(self, data: bytes) -> None:
        """Continue from saved bytes; bytes that are not a state of this very run are refused (ValueError) and
        change nothing."""
        name = self.backend.id
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                meta = json.loads(archive["meta"].tobytes().decode())
                if meta.get("format") != STATE_FORMAT:
                    raise ValueError(f"state format {meta.get('format')} is not {STATE_FORMAT}")
                if meta.get("backend") != name:
                    raise ValueError(f"the state was saved by {meta.get('backend')}")
                if meta.get("fingerprint") != self.fingerprint:
                    raise ValueError("the state belongs to another circuit, noise model or library version")
                state = archive["state"]
            position = int(meta["position"])
            seed, seconds = int(meta["seed"]), float(meta["simulation_seconds"])
            if not 0 <= position <= self._total:
                raise ValueError(f"position {position} is outside 0..{self._total}")
            if state.shape != self.shape or state.dtype != np.complex128:
                raise ValueError(f"a {state.dtype} state of shape {state.shape}, not complex128 {self.shape}")
            norm = np.trace(state).real if self.density else np.vdot(state, state).real
            if not np.isfinite(state).all() or abs(norm - 1) > 1e-6:
                raise ValueError(f"the state is not normalised (norm {norm})")
        except (
            Exception
        ) as exc:  # zip, zlib, npy, JSON, key and the checks above alike: not a state of this run
            raise ValueError(f"not a valid {name} state: {exc}") from exc
        self._load(state, position)
        self._position = position
        self.simulation_seconds = seconds
        if (
            self.options.seed is None
        ):  # the seed drawn at the start, so the counts come out as they would have
            self.seed = seed

    def finish(self) -> SimulationResult:
        if not self.done:
            raise RuntimeError(f"finish() at step {self._position} of {self._total}")
        start = time.perf_counter()
        counts, probabilities, state, metadata = self._outcome()
        self.simulation_seconds += time.perf_counter() - start
        return make_result(
            self.backend,
            self.measured,
            self.options,
            seed=self.seed,
            counts=counts,
            exact=True,
            probabilities=probabilities,
            state=state,
            timing=Timing(
                conversion_s=self.conversion_seconds,
                simulation_s=self.simulation_seconds,
                total_s=self.conversion_seconds + self.simulation_seconds,
            ),
            memory=self.memory.stop(),
            metadata={**metadata, "steps": self._total},
        )
