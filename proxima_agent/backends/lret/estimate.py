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
"""

from __future__ import annotations

import heapq
import math

from proxima_agent.backends.lret.branches import effective_locations
from proxima_agent.backends.lret.program import ChannelStep, GateStep, MeasureStep, Program

# Effective rates on the reference machine (benchmarks/lret.py prints this machine's; docs/performance.md).
GEMM_FLOPS_PER_S = 3.0e10
GATE_FLOPS_PER_S = 8.0e9  # gate contractions move L through memory more than they compute
EIG_FLOPS_PER_S = 1.0e10
STEP_OVERHEAD_S = 1.5e-4
# Configurations counted at most: far past the rank where a full density matrix (or trajectories) win.
COUNT_LIMIT = 1 << 16


def predict_rank(program: Program, threshold: float) -> tuple[int, str]:
    measurements = sum(1 for s in program.steps if isinstance(s, MeasureStep))
    cap = min(2**program.num_qubits, COUNT_LIMIT)
    locations, trivial = effective_locations(program)
    noisy = sum(1 for s in program.steps if isinstance(s, ChannelStep))
    if not locations:
        how = f"{noisy} noisy locations, none adding a branch" if noisy else "no noisy locations"
        return min(cap, 2**measurements), how
    ratios = sorted(
        (w / loc.weights[0] for loc in locations for w in loc.weights[1:] if loc.weights[0] > 0), reverse=True
    )
    rank = count_configurations(ratios, threshold, max(1, cap // 2**measurements))
    predicted = int(min(cap, rank * 2**measurements))
    error = 1.0 - math.prod(loc.weights[0] for loc in locations)
    how = (
        f"{noisy} noisy locations ({trivial} leaving the state alone), {len(locations)} distinct after merging, "
        f"{len(ratios)} error branches weighing {error:.2g} in all"
    )
    return predicted, how


def count_configurations(ratios: list[float], threshold: float, limit: int) -> int:
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
        neg_log, last = heapq.heappop(heap)
        kept += math.exp(-neg_log - log_total)
        count += 1
        if last + 1 < len(ratios) and ratios[last + 1] > 0:
            step = math.log(ratios[last + 1])
            heapq.heappush(heap, (neg_log - step, last + 1))
            heapq.heappush(heap, (neg_log - step + math.log(ratios[last]), last + 1))
    return count


def predict_seconds(program: Program, rank: int) -> float:
    """Flop counts of the run at the predicted rank (growing linearly to it), at the reference rates."""
    rows = 2**program.num_qubits
    steps = program.steps
    noise_total = max(1, program.noise_steps)
    gates = gemm = eig = 0.0
    seen = 0
    for step in steps:
        r = max(1.0, rank * seen / noise_total)
        if isinstance(step, GateStep):
            k = len(step.qubits)
            gates += 8.0 * rows * r * (2**k if step.matrix is not None else 1)
        elif isinstance(step, ChannelStep):
            seen += 1
            m, d = step.kraus.shape[0], step.kraus.shape[1]
            gemm += 8.0 * rows * d * r * r * 2 + 8.0 * rows * m * r
            eig += 36.0 * (min(m * r, rows)) ** 3
        else:
            gemm += 16.0 * rows * r
    return (
        len(steps) * STEP_OVERHEAD_S
        + gates / GATE_FLOPS_PER_S
        + gemm / GEMM_FLOPS_PER_S
        + eig / EIG_FLOPS_PER_S
    )
