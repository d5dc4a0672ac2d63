"""What one result says: entropy, the likeliest outcomes, per-bit marginals and correlations, with 95 % Wilson
intervals whenever the figures come from samples (an exact distribution has no sampling error to report).

Bit i is the i-th character from the RIGHT of a bitstring (qubit/clbit 0 is the rightmost), as everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from proxima_agent.analysis.figures import (
    MAX_CORRELATION_BITS,
    TOP,
    BitFigure,
    Interval,
    OutcomeFigure,
    OutcomeStatistics,
    PairCorrelation,
)
from proxima_agent.analysis.metrics import hellinger_fidelity
from proxima_agent.errors import InputError

Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile
CONFIDENCE = 0.95


def wilson_interval(successes: int, trials: int, z: float = Z95) -> Interval:
    """Wilson score interval for a binomial proportion: unlike p +- z sqrt(p(1-p)/n) it stays inside [0, 1] and
    does not collapse to a point when 0 or all of the shots hit (p = 0 still gets an upper bound)."""
    if trials <= 0 or not 0 <= successes <= trials:
        raise InputError(
            f"a proportion needs 0 <= successes <= trials and trials > 0, got {successes} of {trials}",
            hint="pass whole-number counts",
        )
    p = successes / trials
    z2n = z * z / trials
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p * (1 - p) / trials + z2n / (4 * trials))
    return Interval(low=max(0.0, centre - half), high=min(1.0, centre + half))


def _z_interval(p1: Interval) -> Interval:
    """<Z> = 1 - 2 P(1) is decreasing in P(1), so the interval's ends swap."""
    return Interval(low=1 - 2 * p1.high, high=1 - 2 * p1.low)


def _bit_matrix(keys: list[str], num_bits: int) -> np.ndarray:
    """(outcomes x bits) 0/1 matrix, column i = bit i (counted from the right)."""
    bad = next((k for k in keys if len(k) != num_bits), None)
    if bad is not None:
        raise InputError(
            f"outcome {bad!r} has {len(bad)} bits, expected {num_bits}",
            hint="every bitstring must have num_bits characters",
        )
    raw = np.frombuffer("".join(keys).encode("ascii", errors="replace"), dtype=np.uint8)
    if np.any((raw != ord("0")) & (raw != ord("1"))):
        raise InputError("outcomes must be strings of 0 and 1", hint="check the outcome keys")
    return (raw == ord("1")).astype(np.int64).reshape(len(keys), num_bits)[:, ::-1]


def outcome_statistics(
    counts: Mapping[str, int] | None,
    probabilities: Mapping[str, float] | None,
    shots: int,
    num_bits: int,
    exact: bool,
) -> OutcomeStatistics:
    """Figures of one result. The exact distribution is used when `exact` and probabilities are given (or when
    there are no counts); otherwise the counts, with 95 % Wilson intervals on every proportion."""
    sampled = not (probabilities and (exact or not counts))
    source = counts if sampled else probabilities
    if not source:
        raise InputError("no counts and no probabilities to describe", hint="give a result with outcomes")
    if sampled and any(int(v) != v or v < 0 for v in source.values()):
        raise InputError("counts must be whole numbers >= 0", hint="pass the counts as integers")
    keys = [k for k, v in source.items() if v > 0]
    values = np.array([source[k] for k in keys], dtype=float)
    total = float(values.sum())
    if not total > 0 or not math.isfinite(total):
        raise InputError(f"the outcome weights sum to {total}", hint="give a normalised distribution")
    if sampled and int(total) != shots:
        raise InputError(
            f"the counts add up to {int(total)} but shots is {shots}",
            hint="pass the shots the counts come from",
        )
    weights = values / total
    hits = values.astype(np.int64) if sampled else None
    ones = _bit_matrix(keys, num_bits)

    def interval(indicator: np.ndarray) -> Interval | None:
        """Wilson interval of P(outcome in the set marked by the 0/1 `indicator`), when sampled."""
        return wilson_interval(int(hits @ indicator), shots) if hits is not None else None

    order = sorted(range(len(keys)), key=lambda i: (-weights[i], keys[i]))[:TOP]
    top = [
        OutcomeFigure(
            outcome=keys[i],
            probability=float(weights[i]),
            count=int(counts.get(keys[i], 0)) if counts else None,
            interval=interval(np.arange(len(keys)) == i),
        )
        for i in order
    ]
    p1 = weights @ ones
    bits = []
    for i in range(num_bits):
        p1_interval = interval(ones[:, i])
        bits.append(
            BitFigure(
                bit=i,
                p1=float(p1[i]),
                p1_interval=p1_interval,
                z=float(1 - 2 * p1[i]),
                z_interval=_z_interval(p1_interval) if p1_interval else None,
            )
        )
    odd = ones.sum(axis=1) % 2
    odd_interval = interval(odd)
    correlations = []
    if num_bits <= MAX_CORRELATION_BITS:
        z = 1 - 2 * ones
        zz = (z * weights[:, None]).T @ z
        for i in range(num_bits):
            for j in range(i + 1, num_bits):
                differ = interval(ones[:, i] ^ ones[:, j])
                correlations.append(
                    PairCorrelation(
                        bits=(i, j),
                        zz=float(zz[i, j]),
                        zz_interval=_z_interval(differ) if differ else None,
                        covariance=float(zz[i, j] - (1 - 2 * p1[i]) * (1 - 2 * p1[j])),
                    )
                )
    return OutcomeStatistics(
        source="sampled" if sampled else "exact",
        shots=shots,
        num_bits=num_bits,
        confidence=CONFIDENCE,
        entropy_bits=float(-np.sum(weights * np.log2(weights)) + 0.0),
        max_entropy_bits=num_bits,
        support=len(keys),
        distinct_observed=sum(1 for v in counts.values() if v > 0) if counts else None,
        top=top,
        others_probability=float(max(0.0, 1.0 - sum(f.probability for f in top))),
        bits=bits,
        parity=float(weights @ (1 - 2 * odd)),
        parity_interval=_z_interval(odd_interval) if odd_interval else None,
        correlations=correlations,
    )


def purity(state: np.ndarray) -> float:
    """Re tr(rho^2): 1 for a pure state, 1/2^n for the maximally mixed one. A statevector gives <psi|psi>^2."""
    state = np.asarray(state)
    if state.ndim == 1:
        return float(np.vdot(state, state).real ** 2)
    if state.ndim != 2 or state.shape[0] != state.shape[1]:
        raise InputError(f"a density matrix must be square, got shape {state.shape}", hint="pass rho")
    return float(np.real(np.einsum("ij,ji->", state, state)))


def fidelity_to_ideal(observed: Mapping[str, float | int], ideal: Mapping[str, float]) -> float:
    """Hellinger fidelity of a result (counts or probabilities) to an ideal distribution the caller supplies."""
    return hellinger_fidelity(observed, ideal)
