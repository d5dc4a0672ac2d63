"""`lret` behind Proxima's backend protocol."""

from __future__ import annotations

import math
import re
import time
from typing import Any

from pydantic import ValidationError

from proxima_agent.backends.base import (
    ALL_NOISE_KINDS,
    Backend,
    BackendInfo,
    Capabilities,
    Execution,
    MemorySampler,
    ProgressCallback,
    RunEstimate,
    RunOptions,
    package_version,
)
from proxima_agent.backends.common import make_result, readout_confusion
from proxima_agent.backends.lret.estimate import predict
from proxima_agent.backends.lret.simulator import LretOptions, LretRun
from proxima_agent.backends.result import Progress, SimulationResult, Timing, sample_counts
from proxima_agent.circuits.ir import Circuit
from proxima_agent.errors import OptionError, Step, quoted
from proxima_agent.seeds import resolve_seed, rng

DENSITY_MATRIX_MAX_QUBITS = 14
_PAULI = re.compile(r"^[IXYZixyz]+$")


class LretBackend(Backend):
    id = "lret"
    name = "Proxima low-rank density matrix"
    library = "proxima-agent"
    module = "proxima_agent"
    capabilities = Capabilities(
        method="low_rank",
        noise_kinds=ALL_NOISE_KINDS,
        exact_noise=True,
        statevector=False,
        density_matrix=True,
        steppable=True,
        expectations=True,
    )
    overhead_bytes = 120 * 2**20
    state_copies = 3.0  # per column of L: L, the widened or projected copy, temporaries

    def info(self) -> BackendInfo:
        return super().info().model_copy(update={"version": package_version("proxima-agent")})

    def parse_backend_options(self, values: dict[str, Any]) -> LretOptions:
        """The options, every number finite (`growth=inf` would overflow, `threshold=NaN` compare false)."""
        if not values:
            return LretOptions()
        hint = "lret options: " + ", ".join(LretOptions.model_fields)
        for key, value in values.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise OptionError(f"lret option {quoted(key)}: {value} is not a finite number", hint=hint)
        try:
            options = LretOptions.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = quoted(".".join(str(p) for p in first["loc"]))
            raise OptionError(f"lret option {field}: {first['msg']}", hint=hint) from None
        self._check_budget(None, options)  # `start` and `estimate` check the circuit
        return options

    def _check_budget(self, num_qubits: int | None, options: LretOptions) -> None:
        """A memory budget is honoured or refused: below one column of L (the least a run holds) it is refused,
        not silently raised to that."""
        if options.memory_budget_bytes is None:
            return
        itemsize = 8 if options.precision == "single" else 16
        # one column of L, with the copy an operation makes and temporaries (as LretRun counts it)
        least = 3 * itemsize * 2 ** (num_qubits or 1)
        if options.memory_budget_bytes < least:
            what = "any circuit" if num_qubits is None else f"a {num_qubits}-qubit circuit"
            raise OptionError(
                f"lret option memory_budget_bytes={options.memory_budget_bytes:,} is below the {least:,} bytes "
                f"the smallest state of {what} needs",
                hint=f"give memory_budget_bytes of at least {least:,}, or leave it out (default: half the memory "
                "available)",
            )

    def memory_bytes(self, num_qubits: int, rank: int = 1) -> int:
        return int(self.overhead_bytes + self.state_copies * 16 * 2**num_qubits * max(rank, 1))

    def estimate(self, circuit: Circuit, options: RunOptions) -> RunEstimate:
        """Predict the rank at the threshold, then memory and time from it (see lret/estimate.py).

        The prediction is an estimate, not a bound, so the least memory (a rank-1 L) is given too: a run the user
        names is refused only if that does not fit; otherwise it runs, and stops itself at its memory budget.
        Between truncations L grows to `min_width` columns, so memory is counted for at least that many.
        The prediction's own cost is bounded: past its budget it gives a crude upper bound, and the note says so.
        """
        lret_options = self.parse_backend_options(options.backend_options)
        self._check_budget(circuit.num_qubits, lret_options)
        prediction = predict(
            circuit.with_measurements(),
            options.noise,
            lret_options.threshold,
            lret_options.max_fuse,
            lret_options.max_rank,
        )
        rank = prediction.rank
        width = rank if rank == 1 else max(rank, min(lret_options.min_width, 2**circuit.num_qubits))
        if lret_options.max_rank is not None:
            width = min(width, lret_options.max_rank)
        if prediction.crude:
            note = (
                f"crude upper bound: rank at most {rank} ({prediction.how}); not a prediction, which was cut "
                f"off by its budget: {prediction.why}. The run may need far fewer columns"
            )
        else:
            note = f"predicted rank about {rank} at threshold {lret_options.threshold:g} ({prediction.how})"
        return RunEstimate(
            method="low_rank",
            memory_bytes=self.memory_bytes(circuit.num_qubits, width),
            min_memory_bytes=self.memory_bytes(circuit.num_qubits, 1),
            seconds=prediction.seconds,
            note=note,
        )

    @staticmethod
    def memory_budget(options: LretOptions) -> int:
        import psutil

        return options.memory_budget_bytes or int(psutil.virtual_memory().available * 0.5)

    def run(
        self, circuit: Circuit, options: RunOptions, progress: ProgressCallback | None = None
    ) -> SimulationResult:
        execution = self.start(circuit, options, progress)
        every = max(1, execution.total_steps // 100)
        while not execution.done:
            execution.advance()
            if execution.position % every == 0 or execution.done:
                execution.report(
                    Progress(stage="simulation", done=execution.position, total=execution.total_steps)
                )
        return execution.finish()

    def start(
        self, circuit: Circuit, options: RunOptions, progress: ProgressCallback | None = None
    ) -> LretExecution:
        self.check(circuit, options)
        options.noise.check(circuit)
        lret_options = self.parse_backend_options(options.backend_options)
        self._check_budget(circuit.num_qubits, lret_options)
        for pauli in options.observables:
            if not _PAULI.match(pauli) or len(pauli) != circuit.num_qubits:
                raise OptionError(
                    f"observable {quoted(pauli)} is not a Pauli string on {circuit.num_qubits} qubits",
                    hint=f"e.g. {'Z' * circuit.num_qubits}; the last character is qubit 0",
                )
        if options.return_state and circuit.num_qubits > DENSITY_MATRIX_MAX_QUBITS:
            raise OptionError(
                f"lret returns the density matrix only up to {DENSITY_MATRIX_MAX_QUBITS} qubits",
                hint="{0}: probabilities and expectation values come without building rho",
                steps=[Step(None, {"return_state": False})],
            )
        return LretExecution(self, circuit, options, lret_options, progress)


class LretExecution(Execution):
    """An lret run, one program step at a time; its state saves and restores exactly."""

    steppable = True

    def __init__(
        self,
        backend: LretBackend,
        circuit: Circuit,
        options: RunOptions,
        lret_options: LretOptions,
        progress: ProgressCallback | None,
    ) -> None:
        super().__init__(circuit, options, progress)
        self.backend = backend
        self.lret_options = lret_options
        self.seed = resolve_seed(options.seed)
        self.budget = backend.memory_budget(lret_options)
        self.measured = circuit.with_measurements()
        self.memory = MemorySampler()
        start = time.perf_counter()
        self.report(Progress(stage="conversion"))
        self.run = LretRun(self.measured, options.noise, lret_options, self.budget)
        self.conversion_seconds = time.perf_counter() - start

    @property
    def total_steps(self) -> int:
        return self.run.total_steps

    @property
    def position(self) -> int:
        return self.run.position

    def step(self) -> None:
        self.run.step()

    def save(self) -> bytes:
        return self.run.save()

    def restore(self, data: bytes) -> None:
        self.run.restore(data)

    def finish(self) -> SimulationResult:
        run, options, measured = self.run, self.options, self.measured
        start = time.perf_counter()
        raw = run.outcome_distribution(readout_confusion(options.noise, measured.num_qubits))
        trace = float(raw.sum())
        probabilities = raw / trace  # renormalised, and the report says by how much
        counts = sample_counts(probabilities, options.shots, rng(self.seed), measured.num_clbits)
        run.time.sampling += time.perf_counter() - start
        expectations = {p.upper(): run.expectation(p) / trace for p in options.observables}
        state = run.density_matrix() if options.return_state else None
        self.simulation_seconds += time.perf_counter() - start
        stats = run.stats
        metadata = {
            "steps": run.total_steps,
            "noise_steps": run.program.noise_steps,
            "threshold": self.lret_options.threshold,
            "final_rank": int(run.L.shape[1]),
            "peak_rank": int(stats.peak_rank),
            "truncations": stats.truncations,
            "discarded_weight": stats.discarded_weight,
            "trace_distance_bound": stats.discarded_weight,
            "trace": trace,
            "renormalized_by": 1.0 / trace,
            "rank_cap_hits": stats.rank_cap_hits,
            "precision": self.lret_options.precision,
            "strategy": self.lret_options.strategy,
            "memory_budget_bytes": self.budget,
            "time_breakdown_s": run.time.model_dump(exclude={"gram_flops", "gemm_flops", "eig_flops"}),
            "flops": {k: getattr(run.time, k) for k in ("gram_flops", "gemm_flops", "eig_flops")},
        }
        return make_result(
            self.backend,
            measured,
            options,
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
            metadata={"lret": metadata},
            expectations=expectations,
        )


__all__ = ["LretBackend"]
