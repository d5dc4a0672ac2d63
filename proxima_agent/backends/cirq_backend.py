"""Cirq backends: `cirq-sv` (cirq.Simulator; noise by sampling trajectories) and `cirq-dm`
(cirq.DensityMatrixSimulator; noise exactly). Both in complex128; both step moment by moment on the exact path."""

from __future__ import annotations

from collections.abc import Iterator
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
    counts_from_bits,
    drive,
    exact_outcome_probabilities,
    exact_path,
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
    """Exact path (density matrix, or statevector without gate noise; no mid-circuit measurement or reset):
    one state evolved moment by moment (`CirqExecution`), which `start()` hands to the engine to step, save and
    restore. Otherwise noise is sampled per shot by `cirq.Simulator.run`, in one step (`OneShotExecution`).
    `capabilities.steppable` says the exact path steps; the execution's own `steppable` says it for a run."""

    library: ClassVar[str] = "cirq-core"
    module: ClassVar[str] = "cirq"

    def _simulator(self, seed: int) -> cirq.SimulatorBase:
        raise NotImplementedError

    def _exact(self, circuit: Circuit, options: RunOptions) -> bool:
        return exact_path(circuit, options.noise, self.capabilities.method == "density_matrix")

    def run(
        self, circuit: Circuit, options: RunOptions, progress: ProgressCallback | None = None
    ) -> SimulationResult:
        self.check(circuit, options)
        if self._exact(circuit, options):
            return drive(CirqExecution(self, circuit, options, progress))
        return self._run_trajectories(circuit, options, progress)

    def start(
        self, circuit: Circuit, options: RunOptions, progress: ProgressCallback | None = None
    ) -> Execution:
        self.check(circuit, options)
        if self._exact(circuit, options):
            return CirqExecution(self, circuit, options, progress)
        return OneShotExecution(self, circuit, options, progress)

    def _run_trajectories(
        self, circuit: Circuit, options: RunOptions, progress: ProgressCallback | None
    ) -> SimulationResult:
        seed = resolve_seed(options.seed)
        measured = circuit.with_measurements()
        report = progress or (lambda p: None)
        watch = Stopwatch()
        with peak_memory() as memory:
            report(Progress(stage="conversion"))
            simulator = self._simulator(seed)
            program = to_cirq_noisy(measured, options.noise)
            watch.mark("conversion")
            report(Progress(stage="simulation", done=0, total=options.shots, unit="shots"))
            samples = simulator.run(program, repetitions=options.shots)
            bits = np.zeros((options.shots, measured.num_clbits), dtype=np.uint8)
            for index, operation in enumerate(measured.operations):
                if operation.name == MEASURE:
                    bits[:, operation.clbits[0]] = samples.measurements[measurement_key(index)][:, 0]
            counts = counts_from_bits(bits)
            watch.mark("simulation")
            report(Progress(stage="simulation", done=options.shots, total=options.shots, unit="shots"))
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
            metadata={"simulator": type(simulator).__name__, "dtype": "complex128"},
        )


class CirqExecution(StateExecution):
    """Cirq's exact path, one moment of the noisy circuit (`to_cirq_noisy`) per step.

    The state lives in a Cirq simulation state that `simulate_moment_steps` evolves in place; a restored state
    is copied into a fresh one (Cirq's own validation of an initial density matrix diagonalises it, which at
    12 qubits takes seconds; `restore` has checked shape, norm and fingerprint instead). Every step applies the
    same operations to the same numbers whether or not the run was interrupted, so a resumed run is exact.
    """

    backend: _CirqBackend

    def _convert(self) -> None:
        import cirq

        self.qubits = cirq.LineQubit.range(self.circuit.num_qubits)
        self.simulator = self.backend._simulator(self.seed)
        body = to_cirq_noisy(self.measured.without_measurements(), self.options.noise)
        self.moments = list(body.moments)
        self._total = len(self.moments)
        self._sim_state = self._new_state(None)
        self._moment_steps: Iterator[Any] | None = None

    def _new_state(
        self, state: np.ndarray | None
    ) -> cirq.DensityMatrixSimulationState | cirq.StateVectorSimulationState:
        import cirq

        kind = cirq.DensityMatrixSimulationState if self.density else cirq.StateVectorSimulationState
        sim_state = kind(qubits=self.qubits, initial_state=0, dtype=np.complex128)
        if state is not None:
            np.copyto(sim_state.target_tensor, state.reshape(sim_state.target_tensor.shape))
        return sim_state

    def _step(self) -> None:
        import cirq

        if self._moment_steps is None:  # from the start, or from a restored state
            rest = cirq.Circuit(self.moments[self.position :])
            self._moment_steps = iter(
                self.simulator.simulate_moment_steps(
                    rest, qubit_order=self.qubits, initial_state=self._sim_state
                )
            )
        next(self._moment_steps)

    def _state(self) -> np.ndarray:
        return self._sim_state.target_tensor.reshape(self.shape)

    def _load(self, state: np.ndarray, position: int) -> None:
        self._sim_state = self._new_state(state)
        self._moment_steps = None

    def _outcome(self) -> tuple[dict[str, int], np.ndarray, np.ndarray | None, dict[str, Any]]:
        measured = self.measured
        state = little_endian(self._state(), measured.num_qubits, self.density)
        probabilities = exact_outcome_probabilities(state, self.density, measured, self.options.noise)
        counts = sample_counts(probabilities, self.options.shots, rng(self.seed), measured.num_clbits)
        return (
            counts,
            probabilities,
            state,
            {"simulator": type(self.simulator).__name__, "dtype": "complex128"},
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
        steppable=True,  # the noiseless exact path; noisy trajectories run in one step
    )

    def _simulator(self, seed: int) -> cirq.SimulatorBase:
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
        steppable=True,
    )

    def _simulator(self, seed: int) -> cirq.SimulatorBase:
        import cirq

        return cirq.DensityMatrixSimulator(dtype=np.complex128, seed=seed)

    # measured by benchmarks/calibrate.py (docs/calibration.md)
    overhead_bytes = 183 * 2**20
    state_copies = 7.5
    time_model = TimeModel(startup_s=0, per_op_s=0.000304, per_entry_s=7.29e-08, per_shot_s=0)
