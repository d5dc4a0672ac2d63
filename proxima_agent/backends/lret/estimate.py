"""What `lret` predicts before it runs: the rank it will need at the threshold, and from that memory and time.

The rank is set by how many distinct error branches carry weight above the budget. Each noisy location has an
error weight e (one minus the weight of its dominant Kraus branch on a maximally mixed input) and b other
branches. With N locations of mean weight e, configurations with j errors weigh about e^j (1-e)^(N-j) each and
number C(N, j) b^j; the run keeps every class of configurations until the weight of all the larger-j classes is
within the threshold. The prediction is capped at 2^n (and doubles per mid-circuit measurement). It ignores
structure that merges branches (errors that act trivially, or collapse onto few states), so it is an upper
estimate on structured circuits; benchmarks/lret.py prints predicted against measured ranks.
"""

from __future__ import annotations

import math

import numpy as np

from proxima_agent.backends.lret.program import ChannelStep, GateStep, MeasureStep, Program

# Effective rates on the reference machine (benchmarks/lret.py prints this machine's; docs/performance.md).
GEMM_FLOPS_PER_S = 3.0e10
EIG_FLOPS_PER_S = 1.0e10
STEP_OVERHEAD_S = 4.0e-5


def location_weights(step: ChannelStep) -> tuple[float, int]:
    """(error weight e, number of non-dominant branches b) of one noisy location."""
    d = step.kraus.shape[1]
    weights = np.array([np.vdot(k, k).real / d for k in step.kraus])
    dominant = float(weights.max())
    return max(0.0, 1.0 - dominant), int(np.count_nonzero(weights > 1e-15)) - 1


def predict_rank(program: Program, threshold: float) -> tuple[int, str]:
    channels = [s for s in program.steps if isinstance(s, ChannelStep)]
    measurements = sum(1 for s in program.steps if isinstance(s, MeasureStep))
    cap = 2**program.num_qubits
    if not channels:
        return min(cap, 2**measurements), "no noisy locations"
    pairs = [location_weights(c) for c in channels]
    active = [(e, b) for e, b in pairs if b > 0]
    if not active:
        return min(cap, 2**measurements), "no noisy location branches"
    n_loc = len(active)
    e = float(np.mean([p[0] for p in active]))
    b = float(np.mean([p[1] for p in active]))
    rank = 0.0
    tail = 1.0
    for j in range(n_loc + 1):
        log_weight = _log_binom(n_loc, j) + j * _log(e) + (n_loc - j) * _log(1 - e)
        tail -= math.exp(log_weight)
        rank += math.exp(_log_binom(n_loc, j) + j * math.log(max(b, 1.0)))
        if tail <= threshold or rank >= cap:
            break
    predicted = int(min(cap, max(1.0, rank) * 2**measurements))
    return predicted, f"{n_loc} noisy locations, mean error weight {e:.2g}, {b:.2g} branches each"


def _log(x: float) -> float:
    return math.log(x) if x > 0 else -math.inf


def _log_binom(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def predict_seconds(program: Program, rank: int) -> float:
    """Flop counts of the run at the predicted rank (growing linearly to it), at the reference rates."""
    rows = 2**program.num_qubits
    steps = program.steps
    noise_total = max(1, program.noise_steps)
    gemm = eig = 0.0
    seen = 0
    for step in steps:
        r = max(1.0, rank * seen / noise_total)
        if isinstance(step, GateStep):
            k = len(step.qubits)
            gemm += 8.0 * rows * r * (2**k if step.matrix is not None else 1)
        elif isinstance(step, ChannelStep):
            seen += 1
            m, d = step.kraus.shape[0], step.kraus.shape[1]
            gemm += 8.0 * rows * d * r * r * 2 + 8.0 * rows * m * r
            eig += 36.0 * (min(m * r, rows)) ** 3
        else:
            gemm += 16.0 * rows * r
    return len(steps) * STEP_OVERHEAD_S + gemm / GEMM_FLOPS_PER_S + eig / EIG_FLOPS_PER_S
