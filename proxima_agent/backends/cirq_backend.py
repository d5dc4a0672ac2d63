"""Cirq backends: `cirq-sv` (cirq.Simulator; noise by sampling trajectories) and `cirq-dm`
(cirq.DensityMatrixSimulator; noise exactly). Both in complex128."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

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
from proxima_agent.backends.common import (
    counts_from_bits,
    exact_outcome_probabilities,
    little_endian,
    make_result,
)
from proxima_agent.backends.result import Progress, SimulationResult, sample_counts
from proxima_agent.circuits.convert import cirq_operation, measurement_key
from proxima_agent.circuits.gates import MEASURE
from proxima_agent.circuits.ir import Circuit
from proxima_agent.circuits.noise import NoiseModel, NoiseOp
from proxima_agent.seeds import resolve_seed, rng

if TYPE_CHECKING:
    import cirq


def cirq_channel(noise_op: NoiseOp) -> cirq.Gate:
    """The native Cirq channel with exactly the meaning of Proxima's (see circuits/noise.py)."""
    import cirq

    ch = noise_op.channel
    n = len(noise_op.qubits)
    if ch.kind == "depolarizing":
        # Cirq's p is the total weight of the non-identity Paulis; Proxima's p is Qiskit's: (1-p) rho + p I/d.
        return cirq.depolarize(ch.p * (4**n - 1) / 4**n, n_qubits=n)
    if ch.kind == "amplitude_damping":
        return cirq.amplitude_damp(ch.gamma)
    if ch.kind == "phase_damping":
        return cirq.phase_damp(ch.lam)
    if ch.kind == "bit_flip":
        return cirq.bit_flip(ch.p)
    if ch.kind == "phase_flip":
        return cirq.phase_flip(ch.p)
    # thermal relaxation and general Kraus channels: Cirq's Kraus channel, same matrix convention as the IR.
    return cirq.KrausChannel(ch.kraus(n))


def to_cirq_noisy(circuit: Circuit, noise: NoiseModel) -> cirq.Circuit:
    """The circuit with channels after gates and readout error as each measurement's confusion map."""
    import cirq

    qubits = cirq.LineQubit.range(circuit.num_qubits)
    ops: list[cirq.Operation] = []
    index = 0
    for item in noise.stream(circuit):
        if isinstance(item, NoiseOp):
            ops.append(cirq_channel(item).on(*(qubits[q] for q in item.qubits)))
            continue
        confusion = noise.readout(item.qubits[0]) if item.name == MEASURE else None
        if confusion is not None:
            # Cirq's confusion matrix: row = true value, column = measured value, as Proxima's.
            ops.append(
                cirq.measure(
                    qubits[item.qubits[0]], key=measurement_key(index), confusion_map={(0,): confusion}
                )
            )
        elif (converted := cirq_operation(item, index, qubits)) is not None:
            ops.append(converted)
        index += 1
    return cirq.Circuit(ops)


class _CirqBackend(Backend):
    library: ClassVar[str] = "cirq-core"
    module: ClassVar[str] = "cirq"

    def _simulator(self, seed: int) -> cirq.SimulatesSamples:
        raise NotImplementedError

    def run(
        self, circuit: Circuit, options: RunOptions, progress: ProgressCallback | None = None
    ) -> SimulationResult:
        import cirq

        self.check(circuit, options)
        seed = resolve_seed(options.seed)
        density = self.capabilities.method == "density_matrix"
        noise = options.noise
        measured = circuit.with_measurements()
        exact = not measured.is_dynamic and (density or not noise.has_gate_noise)
        report = progress or (lambda p: None)
        watch = Stopwatch()
        with peak_memory() as memory:
            report(Progress(stage="conversion"))
            qubits = cirq.LineQubit.range(circuit.num_qubits)
            simulator = self._simulator(seed)
            state = probabilities = None
            if exact:
                body = to_cirq_noisy(measured.without_measurements(), noise)
                watch.mark("conversion")
                report(Progress(stage="simulation", done=0, total=1))
                final = simulator.simulate(body, qubit_order=qubits)
                raw = final.final_density_matrix if density else final.final_state_vector
                state = little_endian(np.asarray(raw, dtype=np.complex128), circuit.num_qubits, density)
                probabilities = exact_outcome_probabilities(state, density, measured, noise)
                counts = sample_counts(probabilities, options.shots, rng(seed), measured.num_clbits)
            else:
                program = to_cirq_noisy(measured, noise)
                watch.mark("conversion")
                report(Progress(stage="simulation", done=0, total=options.shots, unit="shots"))
                samples = simulator.run(program, repetitions=options.shots)
                bits = np.zeros((options.shots, measured.num_clbits), dtype=np.uint8)
                for index, operation in enumerate(measured.operations):
                    if operation.name == MEASURE:
                        bits[:, operation.clbits[0]] = samples.measurements[measurement_key(index)][:, 0]
                counts = counts_from_bits(bits)
            watch.mark("simulation")
            report(Progress(stage="simulation", done=1, total=1))
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
            metadata={"simulator": type(simulator).__name__, "dtype": "complex128"},
        )


class CirqStatevector(_CirqBackend):
    id = "cirq-sv"
    name = "Cirq state vector"
    capabilities = Capabilities(
        method="statevector",
        noise_kinds=ALL_NOISE_KINDS,
        exact_noise=False,
        statevector=True,
        density_matrix=False,
    )

    def _simulator(self, seed: int) -> cirq.SimulatesSamples:
        import cirq

        return cirq.Simulator(dtype=np.complex128, seed=seed)

    # measured by benchmarks/calibrate.py (docs/calibration.md)
    overhead_bytes = 183 * 2**20
    state_copies = 7.0
    time_model = TimeModel(startup_s=0.0018, per_op_s=4.56e-05, per_entry_s=1.76e-09, per_shot_s=6.62e-08)
    trajectory_time_model = TimeModel(startup_s=0, per_op_s=0.000159, per_entry_s=1.99e-09, per_shot_s=0)


class CirqDensityMatrix(_CirqBackend):
    id = "cirq-dm"
    name = "Cirq density matrix"
    capabilities = Capabilities(
        method="density_matrix",
        noise_kinds=ALL_NOISE_KINDS,
        exact_noise=True,
        statevector=False,
        density_matrix=True,
    )

    def _simulator(self, seed: int) -> cirq.SimulatesSamples:
        import cirq

        return cirq.DensityMatrixSimulator(dtype=np.complex128, seed=seed)

    # measured by benchmarks/calibrate.py (docs/calibration.md)
    overhead_bytes = 183 * 2**20
    state_copies = 7.5
    time_model = TimeModel(startup_s=0, per_op_s=0.000304, per_entry_s=7.29e-08, per_shot_s=0)
