"""Pieces every library backend shares: the exact path (state -> outcome probabilities -> sampled counts),
turning per-shot measurement bits into counts, and assembling the result."""

from __future__ import annotations

from typing import Any

import numpy as np

from proxima_agent.backends.base import Backend, RunOptions, package_version
from proxima_agent.backends.result import (
    MemoryUse,
    SimulationResult,
    Timing,
    outcome_probabilities,
    qubit_probabilities_from_state,
)
from proxima_agent.circuits.ir import Circuit
from proxima_agent.circuits.noise import NoiseModel


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
