"""Qiskit Aer backends: `aer-sv` (AerSimulator statevector; noise by sampling trajectories) and `aer-dm`
(AerSimulator density_matrix; noise exactly). Noise channels are inserted as Aer quantum errors after each gate;
readout error goes through Aer's NoiseModel. On the exact path both run in segments that step, save and restore."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from proxima_agent.backends.base import (
    ALL_NOISE_KINDS,
    Backend,
    Capabilities,
    Execution,
    OneShotExecution,
    ProgressCallback,
    RunOptions,
    Stopwatch,
    TimeModel,
    peak_memory,
)
from proxima_agent.backends.common import (
    StateExecution,
    drive,
    exact_outcome_probabilities,
    exact_path,
    make_result,
)
from proxima_agent.backends.result import Progress, SimulationResult
from proxima_agent.circuits.convert import append_qiskit
from proxima_agent.circuits.gates import GATES, MEASURE, gate_matrix
from proxima_agent.circuits.ir import Circuit, Operation
from proxima_agent.circuits.noise import NoiseModel, NoiseOp, Readout
from proxima_agent.errors import SimulationError
from proxima_agent.seeds import resolve_seed

if TYPE_CHECKING:
    import qiskit
    import qiskit_aer.noise


def aer_error(noise_op: NoiseOp) -> qiskit_aer.noise.QuantumError:
    """The native Aer error with exactly the meaning of Proxima's channel (see circuits/noise.py)."""
    from qiskit_aer import noise as aer

    ch = noise_op.channel
    n = len(noise_op.qubits)
    if ch.kind == "depolarizing":
        return aer.depolarizing_error(ch.p, n)
    if ch.kind == "amplitude_damping":
        return aer.amplitude_damping_error(ch.gamma)
    if ch.kind == "phase_damping":
        return aer.phase_damping_error(ch.lam)
    if ch.kind == "bit_flip":
        return aer.pauli_error([("X", ch.p), ("I", 1 - ch.p)])
    if ch.kind == "phase_flip":
        return aer.pauli_error([("Z", ch.p), ("I", 1 - ch.p)])
    if ch.kind == "thermal_relaxation":
        return aer.thermal_relaxation_error(ch.t1, ch.t2, ch.gate_time)
    # General Kraus: the IR's matrices are big-endian over the listed qubits; the caller appends with the qubits
    # reversed, which is the same operator in Qiskit's little-endian convention.
    return aer.kraus_error(ch.kraus(n))


def _append_gate(qc: qiskit.QuantumCircuit, operation: Operation, basis: set[str]) -> None:
    if operation.name in GATES and operation.name not in basis:
        # Not native to this Aer method: its exact matrix (big-endian IR matrix, qubits reversed for Qiskit).
        matrix = gate_matrix(operation.name, operation.params, len(operation.qubits))
        qc.unitary(matrix, list(reversed(operation.qubits)), label=operation.name)
    else:
        append_qiskit(qc, operation)


def _append_items(qc: qiskit.QuantumCircuit, items: list[Operation | NoiseOp], basis: set[str]) -> None:
    """Gates and the noise channels after them (from `NoiseModel.stream`), as Aer instructions."""
    for item in items:
        if isinstance(item, NoiseOp):
            qubits = list(item.qubits)
            qc.append(aer_error(item), list(reversed(qubits)) if item.channel.kind == "kraus" else qubits)
        else:
            _append_gate(qc, item, basis)


def aer_readout_noise(noise: NoiseModel, num_qubits: int) -> qiskit_aer.noise.NoiseModel | None:
    """Readout error goes through Aer's NoiseModel (gate noise is in the circuit itself)."""
    from qiskit_aer.noise import NoiseModel as AerNoiseModel
    from qiskit_aer.noise import ReadoutError

    if not any(isinstance(r.channel, Readout) for r in noise.rules):
        return None
    aer_noise = AerNoiseModel()
    for q in range(num_qubits):
        if (confusion := noise.readout(q)) is not None:
            aer_noise.add_readout_error(ReadoutError(confusion), [q])
    return aer_noise


def to_aer_noisy(
    circuit: Circuit, noise: NoiseModel, basis: set[str]
) -> tuple[qiskit.QuantumCircuit, qiskit_aer.noise.NoiseModel | None]:
    """The whole Qiskit circuit with Aer errors after gates, and the readout noise model (the sampled path)."""
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(circuit.num_qubits, circuit.num_clbits, name=circuit.name)
    _append_items(qc, list(noise.stream(circuit)), basis)
    return qc, aer_readout_noise(noise, circuit.num_qubits)


def _append_save(qc: qiskit.QuantumCircuit, save: str) -> None:
    all_qubits = list(range(qc.num_qubits))
    getattr(qc, f"save_{save}")(*([all_qubits] if save == "probabilities" else []))


def _append_measures(qc: qiskit.QuantumCircuit, circuit: Circuit) -> None:
    for operation in circuit.operations:
        if operation.name == MEASURE:
            append_qiskit(qc, operation)


def _set_state(qc: qiskit.QuantumCircuit, kind: str, state: np.ndarray) -> None:
    """Start the circuit from `state`. Aer's own SetDensityMatrix checks the matrix is positive semidefinite by
    diagonalising it (seconds at 12 qubits, once per segment); the state here was checked when it was restored
    or comes straight from Aer, so the instruction is built without that check (Aer reads only name and data)."""
    from qiskit.circuit import Instruction

    qc.append(Instruction(f"set_{kind}", qc.num_qubits, 0, [state]), list(range(qc.num_qubits)))


def _checked(result: Any, backend_id: str) -> Any:
    if not result.success:
        raise SimulationError(f"{backend_id} failed: {result.status}", hint="see the log file for details")
    return result


def _saved_state(data: dict[str, Any], kind: str) -> np.ndarray:
    state = data[kind]
    return np.asarray(state.data if hasattr(state, "data") else state, dtype=np.complex128)


def _counts(result: Any) -> dict[str, int]:
    return {k.replace(" ", ""): int(v) for k, v in result.get_counts().items()}


def _scalar_metadata(result: Any) -> dict[str, Any]:
    return {k: v for k, v in result.results[0].metadata.items() if isinstance(v, str | int | float | bool)}


# Steps of the exact path: about TARGET_STEPS segments of the instruction stream. Each segment copies the state
# into Aer and back out (set_* + save_*): negligible for small states, but at 2^24 entries (a 12-qubit density
# matrix, a 24-qubit statevector) about half a second, several gate applications' worth; so from
# LARGE_STATE_ENTRIES on, a segment holds at least LARGE_STATE_MIN_SEGMENT instructions.
TARGET_STEPS = 50
LARGE_STATE_ENTRIES = 2**18
LARGE_STATE_MIN_SEGMENT = 16


def segment_size(instructions: int, entries: int) -> int:
    """Instructions per step for a stream of `instructions` on a state of `entries` amplitudes."""
    size = max(1, -(-instructions // TARGET_STEPS))
    return max(size, LARGE_STATE_MIN_SEGMENT) if entries >= LARGE_STATE_ENTRIES else size


class _AerBackend(Backend):
    """Exact path (density matrix, or statevector without gate noise; no mid-circuit measurement or reset): the
    instruction stream in segments, each starting from the state the last one saved (`AerExecution`), which
    `start()` hands to the engine to step, save and restore. Otherwise Aer samples noise per shot, in one step
    (`OneShotExecution`). `capabilities.steppable` says the exact path steps; the execution's own `steppable`
    says it for a run."""

    library: ClassVar[str] = "qiskit-aer"
    module: ClassVar[str] = "qiskit_aer"
    aer_method: ClassVar[str]

    def _exact(self, circuit: Circuit, options: RunOptions) -> bool:
        return exact_path(circuit, options.noise, self.aer_method == "density_matrix")

    def run(
        self, circuit: Circuit, options: RunOptions, progress: ProgressCallback | None = None
    ) -> SimulationResult:
        self.check(circuit, options)
        if self._exact(circuit, options):
            return drive(AerExecution(self, circuit, options, progress))
        return self._run_trajectories(circuit, options, progress)

    def start(
        self, circuit: Circuit, options: RunOptions, progress: ProgressCallback | None = None
    ) -> Execution:
        self.check(circuit, options)
        if self._exact(circuit, options):
            return AerExecution(self, circuit, options, progress)
        return OneShotExecution(self, circuit, options, progress)

    def _run_trajectories(
        self, circuit: Circuit, options: RunOptions, progress: ProgressCallback | None
    ) -> SimulationResult:
        from qiskit_aer import AerSimulator

        seed = resolve_seed(options.seed)
        measured = circuit.with_measurements()
        report = progress or (lambda p: None)
        watch = Stopwatch()
        with peak_memory() as memory:
            report(Progress(stage="conversion"))
            simulator = AerSimulator(method=self.aer_method, seed_simulator=seed)
            basis = set(simulator.configuration().basis_gates)
            qc, aer_noise = to_aer_noisy(measured, options.noise, basis)
            watch.mark("conversion")
            report(Progress(stage="simulation", done=0, total=1))
            result = _checked(simulator.run(qc, shots=options.shots, noise_model=aer_noise).result(), self.id)
            counts = _counts(result)
            watch.mark("simulation")
            report(Progress(stage="simulation", done=1, total=1))
            metadata = _scalar_metadata(result)
        return make_result(
            self,
            measured,
            options,
            seed=seed,
            counts=counts,
            exact=False,
            probabilities=None,
            state=None,
            timing=watch.timing(),
            memory=memory(),
            metadata={"aer_method": self.aer_method, "precision": "double", **metadata},
        )


class AerExecution(StateExecution):
    """Aer's exact path, `segment_size` instructions of the noisy stream per step.

    Each step runs one circuit: set the state saved by the step before (none on the first step: Aer starts in
    |0...0>), the segment's gates and errors, save the state. `finish` runs the measurements as the one-shot run
    did: from the final state, Aer's probabilities (or the state itself, when asked for) and Aer's own sampling
    of the shots with readout error, with the run's seed. Every step computes the same numbers from the same
    input whether or not the run was interrupted, so a resumed run is exact.
    """

    backend: _AerBackend

    def _convert(self) -> None:
        from qiskit_aer import AerSimulator

        self.kind = "density_matrix" if self.density else "statevector"
        # Seeded in finish, the only place it samples: a restore may bring the seed the run started with.
        self.simulator = AerSimulator(method=self.backend.aer_method)
        self.basis = set(self.simulator.configuration().basis_gates)
        self.items = list(self.options.noise.stream(self.measured.without_measurements()))
        self.segment = segment_size(len(self.items), int(np.prod(self.shape)))
        self._total = -(-len(self.items) // self.segment)
        self.layout = f"{self.segment} instructions per step"
        self.aer_noise = aer_readout_noise(self.options.noise, self.circuit.num_qubits)
        self._current: np.ndarray | None = None  # None: |0...0>, where Aer starts anyway

    def _circuit(self, clbits: int = 0) -> qiskit.QuantumCircuit:
        from qiskit import QuantumCircuit

        qc = QuantumCircuit(self.circuit.num_qubits, clbits)
        if self._current is not None:
            _set_state(qc, self.kind, self._current)
        return qc

    def _step(self) -> None:
        qc = self._circuit()
        first = self.position * self.segment
        _append_items(qc, self.items[first : first + self.segment], self.basis)
        _append_save(qc, self.kind)
        result = _checked(self.simulator.run(qc, shots=1).result(), self.backend.id)
        self._current = _saved_state(result.data(0), self.kind)

    def _state(self) -> np.ndarray:
        return self.zero_state() if self._current is None else self._current

    def _load(self, state: np.ndarray, position: int) -> None:
        self._current = state

    def _outcome(self) -> tuple[dict[str, int], np.ndarray, np.ndarray | None, dict[str, Any]]:
        measured, noise = self.measured, self.options.noise
        qc = self._circuit(measured.num_clbits)
        if not self.options.return_state:
            _append_save(qc, "probabilities")
        _append_measures(qc, measured)
        result = _checked(
            self.simulator.run(
                qc, shots=self.options.shots, noise_model=self.aer_noise, seed_simulator=self.seed
            ).result(),
            self.backend.id,
        )
        state = None
        if self.options.return_state:
            state = self._state()
            probabilities = exact_outcome_probabilities(state, self.density, measured, noise)
        else:
            qubit_probs = np.asarray(result.data(0)["probabilities"], dtype=float)
            probabilities = exact_outcome_probabilities(qubit_probs, False, measured, noise, is_probs=True)
        metadata = {
            "aer_method": self.backend.aer_method,
            "precision": "double",
            **_scalar_metadata(result),
            "instructions_per_step": self.segment,
        }
        return _counts(result), probabilities, state, metadata


class AerStatevector(_AerBackend):
    id = "aer-sv"
    name = "Qiskit Aer state vector"
    aer_method = "statevector"
    capabilities = Capabilities(
        method="statevector",
        noise_kinds=ALL_NOISE_KINDS,
        exact_noise=False,
        statevector=True,
        density_matrix=False,
        steppable=True,  # the noiseless exact path; noisy trajectories run in one step
    )
    # measured by benchmarks/calibrate.py (docs/calibration.md)
    overhead_bytes = 104 * 2**20
    state_copies = 1.5
    time_model = TimeModel(startup_s=0, per_op_s=4.71e-05, per_entry_s=8.52e-10, per_shot_s=2.11e-07)
    trajectory_time_model = TimeModel(
        startup_s=0.00318, per_op_s=0, per_entry_s=2.43e-09, per_shot_s=0.000633
    )


class AerDensityMatrix(_AerBackend):
    id = "aer-dm"
    name = "Qiskit Aer density matrix"
    aer_method = "density_matrix"
    capabilities = Capabilities(
        method="density_matrix",
        noise_kinds=ALL_NOISE_KINDS,
        exact_noise=True,
        statevector=False,
        density_matrix=True,
        steppable=True,
    )
    # measured by benchmarks/calibrate.py (docs/calibration.md)
    overhead_bytes = 104 * 2**20
    state_copies = 1.5
    time_model = TimeModel(startup_s=0.000104, per_op_s=0.00034, per_entry_s=4.03e-09, per_shot_s=1.72e-07)
