"""Qiskit Aer backends: `aer-sv` (AerSimulator statevector; noise by sampling trajectories) and `aer-dm`
(AerSimulator density_matrix; noise exactly). Noise channels are inserted as Aer quantum errors after each gate;
readout error goes through Aer's NoiseModel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from proxima_agent.backends.base import (
    ALL_NOISE_KINDS,
    Backend,
    Capabilities,
    ProgressCallback,
    RunOptions,
    Stopwatch,
    TimeModel,
    peak_memory,
)
from proxima_agent.backends.common import exact_outcome_probabilities, make_result
from proxima_agent.backends.result import Progress, SimulationResult
from proxima_agent.circuits.convert import append_qiskit
from proxima_agent.circuits.gates import GATES, gate_matrix
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


def to_aer_noisy(
    circuit: Circuit, noise: NoiseModel, basis: set[str], save: str | None
) -> tuple[qiskit.QuantumCircuit, qiskit_aer.noise.NoiseModel | None]:
    """The Qiskit circuit with Aer errors after gates; `save` adds a save instruction before terminal measures."""
    from qiskit import QuantumCircuit
    from qiskit_aer.noise import NoiseModel as AerNoiseModel
    from qiskit_aer.noise import ReadoutError

    qc = QuantumCircuit(circuit.num_qubits, circuit.num_clbits, name=circuit.name)
    body = circuit.without_measurements() if save else circuit
    for item in noise.stream(body):
        if isinstance(item, NoiseOp):
            qubits = list(item.qubits)
            qc.append(aer_error(item), list(reversed(qubits)) if item.channel.kind == "kraus" else qubits)
        else:
            _append_gate(qc, item, basis)
    if save:
        all_qubits = list(range(circuit.num_qubits))
        getattr(qc, f"save_{save}")(*([all_qubits] if save == "probabilities" else []))
        for operation in circuit.operations:
            if operation.name == "measure":
                append_qiskit(qc, operation)
    aer_noise = None
    readout_rules = [r for r in noise.rules if isinstance(r.channel, Readout)]
    if readout_rules:
        aer_noise = AerNoiseModel()
        for q in range(circuit.num_qubits):
            if (confusion := noise.readout(q)) is not None:
                aer_noise.add_readout_error(ReadoutError(confusion), [q])
    return qc, aer_noise


class _AerBackend(Backend):
    library: ClassVar[str] = "qiskit-aer"
    module: ClassVar[str] = "qiskit_aer"
    aer_method: ClassVar[str]

    def run(
        self, circuit: Circuit, options: RunOptions, progress: ProgressCallback | None = None
    ) -> SimulationResult:
        from qiskit_aer import AerSimulator

        self.check(circuit, options)
        seed = resolve_seed(options.seed)
        density = self.aer_method == "density_matrix"
        noise = options.noise
        measured = circuit.with_measurements()
        exact = not measured.is_dynamic and (density or not noise.has_gate_noise)
        report = progress or (lambda p: None)
        watch = Stopwatch()
        with peak_memory() as memory:
            report(Progress(stage="conversion"))
            simulator = AerSimulator(method=self.aer_method, seed_simulator=seed)
            basis = set(simulator.configuration().basis_gates)
            save = None
            if exact:
                save = (
                    ("density_matrix" if density else "statevector")
                    if options.return_state
                    else "probabilities"
                )
            qc, aer_noise = to_aer_noisy(measured, noise, basis, save)
            watch.mark("conversion")
            report(Progress(stage="simulation", done=0, total=1))
            job = simulator.run(qc, shots=options.shots, noise_model=aer_noise)
            result = job.result()
            if not result.success:
                raise SimulationError(
                    f"{self.id} failed: {result.status}", hint="see the log file for details"
                )
            counts = {k.replace(" ", ""): int(v) for k, v in result.get_counts().items()}
            state = probabilities = None
            if save:
                data: dict[str, Any] = result.data(0)
                if save == "probabilities":
                    qubit_probs = np.asarray(data["probabilities"], dtype=float)
                    probabilities = exact_outcome_probabilities(
                        qubit_probs, False, measured, noise, is_probs=True
                    )
                else:
                    state = np.asarray(data[save].data if hasattr(data[save], "data") else data[save])
                    probabilities = exact_outcome_probabilities(state, density, measured, noise)
            watch.mark("simulation")
            report(Progress(stage="simulation", done=1, total=1))
            metadata = {
                k: v for k, v in result.results[0].metadata.items() if isinstance(v, str | int | float | bool)
            }
        return make_result(
            self,
            measured,
            options,
            seed=seed,
            counts=counts,
            exact=exact,
            probabilities=probabilities,
            state=state,
            timing=watch.timing(),
            memory=memory(),
            metadata={"aer_method": self.aer_method, "precision": "double", **metadata},
        )


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
    )
    # measured by benchmarks/calibrate.py (docs/calibration.md)
    overhead_bytes = 104 * 2**20
    state_copies = 1.5
    time_model = TimeModel(startup_s=0.000104, per_op_s=0.00034, per_entry_s=4.03e-09, per_shot_s=1.72e-07)
