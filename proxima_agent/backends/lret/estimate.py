"""What `lret` predicts before it runs: the rank it will need at the threshold, and from that memory and time.

The rank is set by how many distinct error branches carry weight above the budget. The program's noisy
locations are first merged where their errors cannot be told apart (lret/branches.py: runs of errors that gates
only rotate or pass by, and channels that leave a known basis state alone), each effective location with the
weights of its branches. An error configuration picks one branch at some of the locations and weighs the
product of their weights; the run keeps the heaviest configurations until what is left is within the threshold,
so the prediction counts them, heaviest first (best-first over products of branch ratios), until the weight left
is at most the threshold. Distinct branches are taken as orthogonal and independent: errors that converge later
on the same states (or cancel) make the true rank smaller; benchmarks/lret.py prints predicted against measured.
The count is capped at 2^n and doubles per mid-circuit measurement.

The prediction's own cost is bounded (branches.Budget: work units, entries held at once, a wall-time guard), and
so is the program it reads: it is compiled only if that fits the same budget (its cost is known beforehand from
the operations, and its channels may hold at most branches.MAX_ENTRIES Kraus matrix entries in all: depolarizing
after a k-qubit gate has 4^k operators of 4^k entries each).
Past either bound the estimate falls back to a crude upper bound, and says so: the rank of the exact,
untruncated state, which a channel with m Kraus operators multiplies by at most m and a mid-circuit measurement
by at most 2, and which never exceeds 2^n per classical record. Truncation only lowers it, so the run never needs
more; it is far above the rank the run keeps wherever noise is light.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

from proxima_agent.backends.lret.branches import Budget, BudgetExceeded, effective_locations
from proxima_agent.backends.lret.program import ChannelStep, GateStep, MeasureStep, Program, compile_program
from proxima_agent.circuits.gates import BARRIER, MEASURE, RESET
from proxima_agent.circuits.ir import Circuit
from proxima_agent.circuits.noise import NoiseModel

# Effective rates on the reference machine (benchmarks/lret.py prints this machine's; docs/performance.md).
GEMM_FLOPS_PER_S = 3.0e10
GATE_FLOPS_PER_S = 8.0e9  # gate contractions move L through memory more than they compute
EIG_FLOPS_PER_S = 1.0e10
STEP_OVERHEAD_S = 1.5e-4
# Configurations counted at most: far past the rank where a full density matrix (or trajectories) win.
COUNT_LIMIT = 1 << 16

# A step's shape, all the time model needs: ("gate", qubits, dense), ("channel", kraus terms, dimension),
# ("measure", 0, 0).
Shape = tuple[str, int, int]


@dataclass(frozen=True)
class RankPrediction:
    rank: int
    how: str
    crude: bool = False  # an upper bound from counting Kraus terms: the prediction ran past its budget
    why: str | None = None  # why it fell back
    seconds: float = 0.0


def predict(
    circuit: Circuit,
    noise: NoiseModel,
    threshold: float,
    max_fuse: int = 3,
    max_rank: int | None = None,
    budget: Budget | None = None,
) -> RankPrediction:
    """The rank (at most `max_rank`) and time of a run, predicted within the budget, else bounded crudely (and
    labelled so). `circuit` is the circuit as run (with its measurements)."""
    budget = budget or Budget()
    shapes, entries = noise_shapes(circuit, noise)
    try:
        # compiling builds every channel's Kraus operators: paid for (and its memory bounded) before it starts
        what = "compiling the program's channels for the estimate"
        budget.hold(entries, what)
        budget.charge(compile_units(shapes, entries), "compiling the program for the estimate")
    except BudgetExceeded as exc:
        return _crude(shapes, circuit.num_qubits, exc.reason, max_rank)
    program = compile_program(circuit, noise, max_fuse)
    try:
        rank, how = predict_rank(program, threshold, budget)
    except BudgetExceeded as exc:
        return _crude(program_shapes(program), circuit.num_qubits, exc.reason, max_rank)
    rank = rank if max_rank is None else min(rank, max_rank)
    return RankPrediction(rank, how, seconds=predict_seconds(program, rank))


def compile_units(shapes: list[Shape], entries: int) -> float:
    """compile_program's cost in work units (measured: ~20 us per gate, ~10 us per Kraus operator built)."""
    gates = sum(1 for kind, _, _ in shapes if kind == "gate")
    terms = sum(m for kind, m, _ in shapes if kind == "channel")
    return 10_000.0 * gates + 5_000.0 * terms + 4.0 * entries


def _crude(shapes: list[Shape], num_qubits: int, why: str, max_rank: int | None) -> RankPrediction:
    rank, how = crude_rank(shapes, num_qubits)
    rank = rank if max_rank is None else min(rank, max_rank)
    return RankPrediction(rank, how, crude=True, why=why, seconds=shape_seconds(shapes, num_qubits, rank))


def crude_rank(shapes: list[Shape], num_qubits: int) -> tuple[int, str]:
    """An upper bound on the rank of the exact state: x m per m-term channel, x 2 per mid-circuit measurement,
    never past 2^n per classical record."""
    rank, measured, channels = 1, 0, 0
    for kind, m, _ in shapes:
        if kind == "channel":
            channels += 1
            rank = min(rank * m, 2 ** (num_qubits + measured))
        elif kind == "measure":
            measured += 1
            rank = min(rank * 2, 2 ** (num_qubits + measured))
    record = f" and {measured} mid-circuit measurements" if measured else ""
    return rank, (
        f"the product of the Kraus terms of {channels} channels{record}, capped at 2^{num_qubits}"
        + (" per classical record" if measured else "")
    )


def predict_rank(program: Program, threshold: float, budget: Budget | None = None) -> tuple[int, str]:
    """The predicted rank and how it was found; raises BudgetExceeded past `budget` (default: `Budget()`)."""
    budget = budget or Budget()
    measurements = sum(1 for s in program.steps if isinstance(s, MeasureStep))
    cap = min(2**program.num_qubits, COUNT_LIMIT)
    locations, trivial = effective_locations(program, budget)
    noisy = sum(1 for s in program.steps if isinstance(s, ChannelStep))
    if not locations:
        how = f"{noisy} noisy locations, none adding a branch" if noisy else "no noisy locations"
        return min(cap, 2**measurements), how
    branches = sum(len(loc.weights) - 1 for loc in locations)
    budget.charge(
        branches * (1 + math.log2(branches + 1)), "sorting the error branches", calls=len(locations)
    )
    ratios = sorted(
        (w / loc.weights[0] for loc in locations for w in loc.weights[1:] if loc.weights[0] > 0), reverse=True
    )
    rank = count_configurations(ratios, threshold, max(1, cap // 2**measurements), budget)
    predicted = int(min(cap, rank * 2**measurements))
    error = 1.0 - math.prod(loc.weights[0] for loc in locations)
    how = (
        f"{noisy} noisy locations ({trivial} leaving the state alone), {len(locations)} distinct after merging, "
        f"{len(ratios)} error branches weighing {error:.2g} in all"
    )
    return predicted, how


_COUNT_BATCH = 4096  # configurations counted between charges to the budget


def count_configurations(
    ratios: list[float], threshold: float, limit: int, budget: Budget | None = None
) -> int:
    """How many of the heaviest error configurations hold all but `threshold` of the weight (at most `limit`).

    `ratios` (descending, each <= 1) are branch weights over their location's no-error weight; a configuration
    is a set of branches and weighs the product of its ratios, over the normaliser prod(1 + r). Sets come off a
    heap heaviest first: from the set whose last branch is i, the next ones add i+1 or replace i by i+1.
    """
    log_total = sum(math.log1p(r) for r in ratios)
    kept = math.exp(-log_total)  # the no-error configuration
    count = 1
    heap: list[tuple[float, int]] = [(-math.log(ratios[0]), 0)] if ratios and ratios[0] > 0 else []
    while heap and 1.0 - kept > threshold and count < limit:
        if budget is not None and count % _COUNT_BATCH == 0:
            budget.charge(0, "counting error configurations", calls=_COUNT_BATCH)
        neg_log, last = heapq.heappop(heap)
        kept += math.exp(-neg_log - log_total)
        count += 1
        if last + 1 < len(ratios) and ratios[last + 1] > 0:
            step = math.log(ratios[last + 1])
            heapq.heappush(heap, (neg_log - step, last + 1))
            heapq.heappush(heap, (neg_log - step + math.log(ratios[last]), last + 1))
    return count


def program_shapes(program: Program) -> list[Shape]:
    shapes: list[Shape] = []
    for step in program.steps:
        if isinstance(step, GateStep):
            shapes.append(("gate", len(step.qubits), int(step.matrix is not None)))
        elif isinstance(step, ChannelStep):
            shapes.append(("channel", step.kraus.shape[0], step.kraus.shape[1]))
        else:
            shapes.append(("measure", 0, 0))
    return shapes


def noise_shapes(circuit: Circuit, noise: NoiseModel) -> tuple[list[Shape], int]:
    """The steps of the run as shapes (gates unfused), without building a Kraus operator, and the Kraus entries
    compiling it would hold. Measurements count as mid-circuit exactly where compile_program makes them steps."""
    ops = [o for o in circuit.operations if o.name != BARRIER]
    last_touch: dict[int, int] = {}
    for index, operation in enumerate(ops):
        for q in operation.qubits:
            last_touch[q] = index
    mid: set[int] = set()
    written: set[int] = set()
    for index in reversed(range(len(ops))):
        operation = ops[index]
        if operation.name == MEASURE and (
            last_touch[operation.qubits[0]] != index or operation.clbits[0] in written
        ):
            mid.add(index)
            written.add(operation.clbits[0])
    counts: dict[tuple[int, int], int] = {}
    shapes: list[Shape] = []
    entries = 0
    for index, operation in enumerate(ops):
        if operation.is_gate:
            shapes.append(("gate", len(operation.qubits), int(operation.name != "mcx")))
            for noise_op in noise.after(operation):
                k = len(noise_op.qubits)
                key = (id(noise_op.channel), k)
                if key not in counts:
                    counts[key] = _kraus_terms(noise_op.channel, k)
                shapes.append(("channel", counts[key], 2**k))
                entries += counts[key] * 4**k
        elif operation.name == RESET:
            shapes.extend(("channel", 2, 2) for _ in operation.qubits)
            entries += 8 * len(operation.qubits)
        elif operation.name == MEASURE and index in mid:
            shapes.append(("measure", 0, 0))
    return shapes, entries


def _kraus_terms(channel, num_qubits: int) -> int:
    """How many Kraus operators compile_program keeps for the channel on `num_qubits`, without building them for
    depolarizing noise (4^k operators; the identity alone when p = 0)."""
    if channel.kind == "depolarizing":
        return 4**num_qubits if channel.p > 0 else 1
    kraus = channel.kraus(num_qubits)
    return sum(1 for k in kraus if abs(k).max() > 0) or 1


def predict_seconds(program: Program, rank: int) -> float:
    """Flop counts of the run at the predicted rank (growing linearly to it), at the reference rates."""
    return shape_seconds(program_shapes(program), program.num_qubits, rank)


def shape_seconds(shapes: list[Shape], num_qubits: int, rank: int) -> float:
    rows = 2**num_qubits
    noise_total = max(1, sum(1 for kind, _, _ in shapes if kind != "gate"))
    gates = gemm = eig = 0.0
    seen = 0
    for kind, a, b in shapes:
        r = max(1.0, rank * seen / noise_total)
        if kind == "gate":
            gates += 8.0 * rows * r * (2**a if b else 1)
        elif kind == "channel":
            seen += 1
            m, d = a, b
            gemm += 8.0 * rows * d * r * r * 2 + 8.0 * rows * m * r
            eig += 36.0 * (min(m * r, rows)) ** 3
        else:
            gemm += 16.0 * rows * r
    return (
        len(shapes) * STEP_OVERHEAD_S
        + gates / GATE_FLOPS_PER_S
        + gemm / GEMM_FLOPS_PER_S
        + eig / EIG_FLOPS_PER_S
    )
