"""The `lret` simulator: rho = L L^dagger, stepped through a compiled program, truncated within a budget.

Channels widen L ([K_1 L | ... | K_m L]) while the width stays within a limit; past it, the channel and the
truncation are fused: the Gram matrix of the widened L comes from the row blocks of L that the channel needs
(kernels.channel_gram), is eigendecomposed by LAPACK, and the new L is formed directly with one GEMM per non-zero
block (kernels.channel_project). Columns
carry the classical record of mid-circuit measurements (a label); only columns with equal labels are ever mixed.
"""

from __future__ import annotations

import io
import json
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from proxima_agent.backends.lret import kernels
from proxima_agent.backends.lret.program import ChannelStep, GateStep, MeasureStep, Program, compile_program
from proxima_agent.backends.lret.truncation import TruncationStats, choose_rank, eig_descending
from proxima_agent.backends.result import outcome_probabilities
from proxima_agent.circuits.ir import Circuit
from proxima_agent.circuits.noise import NoiseModel
from proxima_agent.errors import ResourceError

STATE_FORMAT = 1
# Below this many flops, BLAS threads cost more than they give (measured: a 64x64 eigh is 3-8x slower on two
# threads than on one, and far worse when the cores are busy), so small operations run single-threaded.
SINGLE_THREAD_FLOPS = 2e8
_CONTROLLER = None


def blas_threads(flops: float) -> AbstractContextManager[object]:
    global _CONTROLLER
    if flops >= SINGLE_THREAD_FLOPS:
        return nullcontext()
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


def _join(blocks: list[np.ndarray]) -> np.ndarray:
    """Columns side by side (one label's block, the usual case, is taken as it is: no copy)."""
    return np.ascontiguousarray(blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1))


class LretOptions(BaseModel):
    """Options of the `lret` backend (`--option key=value` on the command line)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: float = Field(1e-4, ge=0, le=1, description="total weight the run may discard (0: exact)")
    max_rank: int | None = Field(
        None, ge=1, description="hard cap on the columns of L (may exceed the threshold)"
    )
    memory_budget_bytes: int | None = Field(
        None, gt=0, description="default: half the memory usable at start"
    )
    precision: Literal["double", "single"] = Field("double", description="complex128 or complex64")
    strategy: Literal["fused", "lazy", "naive"] = Field(
        "fused",
        description="fused: block Gram when the width limit is reached; lazy: materialise, then truncate by the "
        "full Gram; naive: materialise every branch and truncate after every channel (the baseline)",
    )
    min_width: int = Field(
        32, ge=1, description="channels widen L without truncating while the width stays <= this"
    )
    growth: float = Field(2.0, ge=1, description="... or <= growth x the width after the last truncation")
    max_fuse: int = Field(
        3, ge=1, le=4, description="largest gate block (qubits) built by fusing runs of gates"
    )


class Breakdown(BaseModel):
    gates: float = 0.0
    channels: float = 0.0
    gram: float = 0.0
    eigensolver: float = 0.0
    measurement: float = 0.0
    sampling: float = 0.0
    gram_flops: float = 0.0
    gemm_flops: float = 0.0
    eig_flops: float = 0.0


class LretRun:
    """One run of a circuit: step it, save and restore it, then read its distribution and figures."""

    def __init__(self, circuit: Circuit, noise: NoiseModel, options: LretOptions, memory_budget: int) -> None:
        self.circuit = circuit
        self.options = options
        self.memory_budget = memory_budget
        self.program: Program = compile_program(circuit, noise, options.max_fuse)
        self.dtype = np.complex128 if options.precision == "double" else np.complex64
        n = circuit.num_qubits
        self.L = np.zeros((2**n, 1), dtype=self.dtype)
        self.L[0, 0] = 1.0
        self.labels = np.zeros(1, dtype=np.int64)
        self.position = 0
        self.noise_done = 0
        self.covered = 0  # noise steps since the last truncation
        self.base_width = 1  # width after the last truncation
        self.stats = TruncationStats(threshold=options.threshold)
        self.time = Breakdown()

    # --- stepping ---------------------------------------------------------------------------------------------

    @property
    def total_steps(self) -> int:
        return len(self.program.steps)

    @property
    def done(self) -> bool:
        return self.position >= self.total_steps

    def step(self) -> None:
        step = self.program.steps[self.position]
        rows, width = self.L.shape
        # gates and widening are sized here; the Gram, eigensolver and projection size their own calls
        with blas_threads(8.0 * rows * width * 4):
            self._step(step)
        self.position += 1
        self.stats.peak_rank = max(self.stats.peak_rank, self.L.shape[1])

    def _step(self, step: GateStep | ChannelStep | MeasureStep) -> None:
        if isinstance(step, GateStep):
            start = time.perf_counter()
            self._gate(step)
            self.time.gates += time.perf_counter() - start
        elif isinstance(step, ChannelStep):
            self._channel(step)
        else:
            start = time.perf_counter()
            self._measure(step)
            self.time.measurement += time.perf_counter() - start

    def run(self, progress: Callable[[int, int], None] | None = None, every: int = 1) -> None:
        while not self.done:
            self.step()
            if progress is not None and (self.position % every == 0 or self.done):
                progress(self.position, self.total_steps)

    # --- operations -------------------------------------------------------------------------------------------

    def _gate(self, step: GateStep) -> None:
        n = self.circuit.num_qubits
        if step.matrix is None:  # multi-controlled X: swap the two row blocks where every control is 1
            groups = kernels.row_groups(self.L, step.qubits, n).copy()
            last = groups.shape[0] - 1
            groups[[last - 1, last]] = groups[[last, last - 1]]
            self.L = kernels.from_row_groups(groups, step.qubits, n)
        else:
            self.L = kernels.apply_matrix(self.L, step.matrix, step.qubits, n)

    def _width_limit(self) -> int:
        opts = self.options
        limit = max(opts.min_width, int(opts.growth * self.base_width))
        if opts.max_rank is not None:
            limit = min(limit, opts.max_rank)  # a hard cap: L never grows past it, even between truncations
        return min(limit, self._memory_width(), 2**self.circuit.num_qubits)

    def _memory_width(self) -> int:
        """The widest L the memory budget holds, with room for the copy an operation makes."""
        row_bytes = 2**self.circuit.num_qubits * np.dtype(self.dtype).itemsize
        return max(1, self.memory_budget // (3 * row_bytes))

    def _channel(self, step: ChannelStep) -> None:
        n = self.circuit.num_qubits
        kraus = step.kraus.astype(self.dtype)
        m, width = len(kraus), self.L.shape[1]
        self.noise_done += 1
        self.covered += 1
        strategy = self.options.strategy
        if strategy != "naive" and m * width <= self._width_limit():
            start = time.perf_counter()
            self.L = kernels.widen(self.L, list(kraus), step.qubits, n)
            self.labels = np.tile(self.labels, m)
            self.time.channels += time.perf_counter() - start
            return
        if strategy == "fused" and m * width <= 2**n:
            self._fused_truncate(kraus, step.qubits)
            return
        if m * width > self._memory_width():
            # Make room first, for the channels before this one; this channel's share of the budget belongs to
            # the truncation after it (spending it here left that one nothing, and the rank grew).
            self.noise_done, self.covered = self.noise_done - 1, self.covered - 1
            self._truncate()
            self.noise_done, self.covered = self.noise_done + 1, 1
        start = time.perf_counter()
        self.L = kernels.widen(self.L, list(kraus), step.qubits, n)
        self.labels = np.tile(self.labels, m)
        self.time.channels += time.perf_counter() - start
        self._truncate()

    def _measure(self, step: MeasureStep) -> None:
        n = self.circuit.num_qubits
        groups = kernels.row_groups(self.L, (step.qubit,), n)
        zero, one = groups.copy(), groups.copy()
        zero[1] = 0
        one[0] = 0
        bit = np.int64(1) << step.clbit
        L = np.concatenate(
            [kernels.from_row_groups(zero, (step.qubit,), n), kernels.from_row_groups(one, (step.qubit,), n)],
            axis=1,
        )
        labels = np.concatenate([self.labels & ~bit, self.labels | bit])
        nonzero = np.any(L != 0, axis=0)  # a branch that cannot happen is dropped exactly, not truncated
        self.L, self.labels = np.ascontiguousarray(L[:, nonzero]), labels[nonzero]
        if self.L.shape[1] > self._width_limit():
            self._truncate()

    # --- truncation -------------------------------------------------------------------------------------------

    def _label_groups(self) -> dict[int, np.ndarray]:
        groups: dict[int, list[int]] = defaultdict(list)
        for column, label in enumerate(self.labels.tolist()):
            groups[label].append(column)
        return {label: np.array(cols) for label, cols in groups.items()}

    def _allowance(self) -> float:
        uncovered = self.program.noise_steps - (self.noise_done - self.covered)
        return self.stats.allowance(self.covered, uncovered)

    def _select(
        self, spectra: dict[int, tuple[np.ndarray, np.ndarray]], width_in: int
    ) -> dict[int, np.ndarray]:
        """Keep the globally largest eigenpairs within the allowance; returns kept eigenvectors per label."""
        labels = list(spectra)
        values = np.concatenate([spectra[label][0] for label in labels])
        owner = np.concatenate([np.full(len(spectra[label][0]), i) for i, label in enumerate(labels)])
        order = np.argsort(-values, kind="stable")
        kept, discarded, capped = choose_rank(values[order], self._allowance(), self.options.max_rank)
        counts = np.bincount(owner[order[:kept]], minlength=len(labels))
        self.stats.truncations += 1
        self.stats.discarded_weight += discarded
        self.stats.rank_cap_hits += int(capped)
        self.stats.history.append((self.position, width_in, kept, discarded))
        self.covered = 0
        self.base_width = kept
        self._check_memory(kept)
        return {label: spectra[label][1][:, : counts[i]] for i, label in enumerate(labels) if counts[i] > 0}

    def _truncate(self) -> None:
        """Truncate the materialised L by its full Gram matrix (per label)."""
        groups = self._label_groups()
        spectra = {}
        dual = {}  # a block wider than tall: eigendecompose rho_label = B B^H (same nonzero spectrum) instead
        for label, cols in groups.items():
            block = self.L[:, cols]
            rows, width = block.shape
            dual[label] = width > rows
            start = time.perf_counter()
            with blas_threads(8.0 * rows * width * min(rows, width)):
                gram = block @ block.conj().T if dual[label] else block.conj().T @ block
            self.time.gram += time.perf_counter() - start
            self.time.gram_flops += 8.0 * rows * width * min(rows, width)
            spectra[label] = self._eig(gram)
        kept = self._select(spectra, self.L.shape[1])
        start = time.perf_counter()
        blocks = []
        for label, vectors in kept.items():
            if dual[label]:  # L_new = U_k sqrt(lambda_k): the leading eigenvectors of rho, weighted
                values = np.clip(spectra[label][0][: vectors.shape[1]], 0.0, None)
                blocks.append((vectors * np.sqrt(values)).astype(self.dtype))
            else:
                blocks.append(self.L[:, groups[label]] @ vectors)
                self.time.gemm_flops += 8.0 * self.L.shape[0] * len(groups[label]) * vectors.shape[1]
        self.L = _join(blocks)
        self.labels = np.concatenate([np.full(v.shape[1], label) for label, v in kept.items()])
        self.time.channels += time.perf_counter() - start

    def _fused_truncate(self, kraus: np.ndarray, qubits: tuple[int, ...]) -> None:
        """Apply a channel and truncate at once, never forming [K_1 L | ... | K_m L]."""
        n = self.circuit.num_qubits
        label_groups = self._label_groups()
        row_blocks = {}
        spectra = {}
        m = len(kraus)
        for label, cols in label_groups.items():
            block = self.L[:, cols] if len(label_groups) > 1 else self.L
            rows = kernels.row_groups(block, qubits, n)
            d, rest, width = rows.shape
            start = time.perf_counter()
            with blas_threads(4.0 * rest * d * width**2):
                gram, flops = kernels.channel_gram(rows, kraus)
            self.time.gram += time.perf_counter() - start
            self.time.gram_flops += flops
            row_blocks[label] = rows
            spectra[label] = self._eig(gram)
        kept = self._select(spectra, m * self.L.shape[1])
        start = time.perf_counter()
        new_blocks = []
        for label, vectors in kept.items():
            projected, flops = kernels.channel_project(row_blocks[label], kraus, vectors)
            new_blocks.append(kernels.from_row_groups(projected, qubits, n))
            self.time.gemm_flops += flops
        self.L = _join(new_blocks)
        self.labels = np.concatenate([np.full(v.shape[1], label) for label, v in kept.items()])
        self.time.channels += time.perf_counter() - start

    def _eig(self, gram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        before = self.stats.eig_seconds
        with blas_threads(36.0 * gram.shape[0] ** 3):
            values, vectors = eig_descending(gram, self.stats)
        self.time.eigensolver += self.stats.eig_seconds - before
        self.time.eig_flops = self.stats.eig_flops
        return values, vectors

    def _check_memory(self, width: int) -> None:
        if width <= self._memory_width():
            return
        n = self.circuit.num_qubits
        needed = 3 * width * 2**n * np.dtype(self.dtype).itemsize
        raise ResourceError(
            f"lret reached rank {width} at step {self.position + 1} of {self.total_steps}; holding it needs about "
            f"{needed / 2**30:.1f} GiB, over its memory budget of {self.memory_budget / 2**30:.1f} GiB",
            hint=(
                "this circuit's noise is high-rank at this threshold: use aer-dm (exact density matrix, "
                f"{16 * 4**n / 2**30:.1f} GiB for {n} qubits) if it fits, aer-sv trajectories otherwise, "
                "or loosen lret's threshold option"
            ),
            rank=width,
            step=self.position + 1,
        )

    # --- reading the state ------------------------------------------------------------------------------------

    @property
    def trace(self) -> float:
        return float(np.sum(kernels.row_probabilities(self.L)))

    def outcome_distribution(self, confusion: dict[int, np.ndarray]) -> np.ndarray:
        """P(classical bits) at the end, unnormalised (sums to the trace): terminal reads plus recorded labels."""
        program = self.program
        n, m = program.num_qubits, program.num_clbits
        terminal_mask = 0
        for _, clbit in program.terminal:
            terminal_mask |= 1 << clbit
        out = np.zeros(2**m)
        index = np.arange(2**m)
        for label, cols in self._label_groups().items():
            qubit_probs = kernels.row_probabilities(self.L[:, cols]).astype(float)
            part = outcome_probabilities(qubit_probs, list(program.terminal), n, m)
            np.add.at(out, index | (label & ~terminal_mask), part)
        if confusion:
            tensor = out.reshape([2] * m)
            for clbit, qubit in program.clbit_source.items():
                if qubit in confusion:
                    axis = m - 1 - clbit
                    tensor = np.moveaxis(np.tensordot(tensor, confusion[qubit], axes=([axis], [0])), -1, axis)
            out = tensor.reshape(-1)
        return out

    def density_matrix(self) -> np.ndarray:
        """rho = L L^dagger (unnormalised, as computed), for small n only."""
        L = self.L.astype(np.complex128)
        return L @ L.conj().T

    def expectation(self, pauli: str) -> float:
        return kernels.pauli_expectation(self.L, pauli, self.circuit.num_qubits)

    # --- save and restore -------------------------------------------------------------------------------------

    def save(self) -> bytes:
        """The exact state of the run (L, labels, position, budget spent), as compressed bytes."""
        meta = {
            "format": STATE_FORMAT,
            "position": self.position,
            "noise_done": self.noise_done,
            "covered": self.covered,
            "base_width": self.base_width,
            "stats": {k: v for k, v in vars(self.stats).items() if k != "history"},
            "history": self.stats.history,
            "time": self.time.model_dump(),
        }
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer, L=self.L, labels=self.labels, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8)
        )
        return buffer.getvalue()

    def restore(self, data: bytes) -> None:
        """Continue from saved bytes; bytes that are not a state of this run are refused and change nothing."""
        try:
            with np.load(io.BytesIO(data)) as archive:
                meta = json.loads(archive["meta"].tobytes().decode())
                if meta.get("format") != STATE_FORMAT:
                    raise ValueError(f"lret state format {meta.get('format')} is not {STATE_FORMAT}")
                L, labels = archive["L"].astype(self.dtype), archive["labels"]
            if L.shape[0] != 2**self.circuit.num_qubits or not 0 <= meta["position"] <= self.total_steps:
                raise ValueError("the state belongs to another circuit")
            stats = TruncationStats(**meta["stats"])
            stats.history = [tuple(h) for h in meta["history"]]
            counters = {k: int(meta[k]) for k in ("position", "noise_done", "covered", "base_width")}
            breakdown = Breakdown(**meta["time"])
        except Exception as exc:  # zip, zlib, npy, JSON and missing-key errors alike: not a state
            raise ValueError(f"not a valid lret state: {exc}") from exc
        self.L, self.labels, self.stats, self.time = L, labels, stats, breakdown
        for name, value in counters.items():
            setattr(self, name, value)
