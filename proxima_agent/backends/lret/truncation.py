"""Truncation with an honest error budget.

The threshold bounds the total weight discarded over the whole run. Each truncation may spend a share of what is
left, in proportion to the noise operations it covers: allowance = left * covered / (noise operations not yet
covered). Truncating drops the smallest eigenvalues of the Gram matrix whose sum fits the allowance (and more
if a hard rank cap demands it, which the report then shows). The discarded part of rho is positive
semidefinite, and channels preserve its trace, so the unnormalised LRET state differs from the exact one by a
PSD matrix of trace D = total discarded weight: their trace distance is exactly D / 2, and after renormalising
by 1 / (1 - D) it is at most D. That is the bound reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg


@dataclass
class TruncationStats:
    threshold: float
    truncations: int = 0
    discarded_weight: float = 0.0
    peak_rank: int = 1
    rank_cap_hits: int = 0
    eig_seconds: float = 0.0
    eig_flops: float = 0.0
    history: list[tuple[int, int, int, float]] = field(
        default_factory=list
    )  # (step, width in, kept, discarded)

    @property
    def budget_left(self) -> float:
        return max(0.0, self.threshold - self.discarded_weight)

    def allowance(self, covered: int, uncovered: int) -> float:
        """What this truncation may discard: its share of the budget left."""
        if uncovered <= 0:
            return self.budget_left
        return self.budget_left * min(1.0, covered / uncovered)


def eig_descending(gram: np.ndarray, stats: TruncationStats) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and eigenvectors of a Hermitian Gram matrix, by LAPACK's divide and conquer."""
    start = time.perf_counter()
    values, vectors = scipy.linalg.eigh(gram, driver="evd", overwrite_a=True, check_finite=False)
    stats.eig_seconds += time.perf_counter() - start
    stats.eig_flops += 9.0 * gram.shape[0] ** 3 * 4  # ~9 N^3 multiply-adds, 4 real flops each (complex)
    return values[::-1], vectors[:, ::-1]


def choose_rank(values_desc: np.ndarray, allowance: float, max_rank: int | None) -> tuple[int, float, bool]:
    """(kept, discarded weight, rank cap hit) for descending eigenvalues."""
    n = len(values_desc)
    positive = np.clip(values_desc, 0.0, None)
    top = positive[0] if n else 0.0
    tail = np.cumsum(positive[::-1])  # tail[j] = weight of the j+1 smallest
    drop = int(np.searchsorted(tail, allowance, side="right"))
    # eigenvalues at rounding level (or negative) carry no weight worth a column
    rounding = float(top) * n * np.finfo(values_desc.dtype).eps
    drop = max(drop, int(np.count_nonzero(values_desc <= rounding)))
    capped = False
    if max_rank is not None and n - drop > max_rank:
        drop, capped = n - max_rank, True
    drop = min(drop, n - 1) if n else 0  # keep at least one column
    discarded = float(tail[drop - 1]) if drop > 0 else 0.0
    return n - drop, discarded, capped
