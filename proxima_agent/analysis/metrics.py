"""How far apart two results are, and whether the difference is more than shot noise can explain.

Distributions are dicts {bitstring: weight} (qubit/clbit 0 is the rightmost character) that may have different
key sets; a missing key is probability 0. Every metric normalises its inputs first, so counts work too.

`compare_pair` and `consensus` turn the metrics into a verdict. The threshold a TVD is held against is computed
from the results themselves (their shots, their distributions, LRET's own truncation bound), never chosen to
make backends look good: see `sampling_bound` for the derivation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from proxima_agent.analysis.figures import BackendStanding, Consensus, PairAgreement
from proxima_agent.backends.result import SimulationResult
from proxima_agent.errors import InputError

CONFIDENCE = 0.99  # the agreement test's confidence: P(false alarm) <= 1 - CONFIDENCE
NUMERICAL_TOLERANCE = 1e-6  # float rounding of two exact simulators (single precision reaches ~1e-7)


def distribution(result: SimulationResult) -> dict[str, float]:
    """The outcome distribution a result stands for: exact probabilities when it has them, else frequencies."""
    if result.exact and result.probabilities is not None:
        return result.probability_dict()
    return _normalised(result.counts, f"the counts of {result.backend}")


def _normalised(dist: Mapping[str, float | int], what: str = "a distribution") -> dict[str, float]:
    total = float(sum(dist.values()))
    if not total > 0 or not math.isfinite(total):
        raise InputError(
            f"{what} is empty or sums to {total}", hint="give counts or probabilities with a positive total"
        )
    return {k: float(v) / total for k, v in dist.items()}


def total_variation_distance(p: Mapping[str, float | int], q: Mapping[str, float | int]) -> float:
    """TVD = 1/2 sum_x |p(x) - q(x)|: the largest difference in probability the two give any event."""
    p, q = _normalised(p), _normalised(q)
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in p.keys() | q.keys())


def hellinger_fidelity(p: Mapping[str, float | int], q: Mapping[str, float | int]) -> float:
    """Classical fidelity (sum_x sqrt(p(x) q(x)))^2, computed as qiskit.quantum_info.hellinger_fidelity does:
    (1 - H^2)^2 with H the Hellinger distance, so the two agree to the last bit."""
    p, q = _normalised(p), _normalised(q)
    total = 0.0
    for key, value in p.items():
        total += (math.sqrt(value) - math.sqrt(q[key])) ** 2 if key in q else value
    total += sum(value for key, value in q.items() if key not in p)
    return (1.0 - total / 2.0) ** 2


def _hermitian_sqrt(rho: np.ndarray) -> np.ndarray:
    """sqrt of a Hermitian PSD matrix by eigendecomposition: more accurate and faster than scipy.linalg.sqrtm,
    which does not know the matrix is Hermitian. Eigenvalues at rounding level (below 10 * dim * eps * the
    largest) count as 0: the square root would turn a 1e-17 rounding error into a 3e-9 error in the fidelity,
    so a rank-1 density matrix gives exactly the pure-state value <psi|sigma|psi>."""
    values, vectors = np.linalg.eigh((rho + rho.conj().T) / 2)
    floor = 10 * rho.shape[0] * np.finfo(float).eps * max(float(values[-1]), 0.0)
    keep = values > floor
    return (vectors[:, keep] * np.sqrt(values[keep])) @ vectors[:, keep].conj().T


def state_fidelity(a: np.ndarray, b: np.ndarray) -> float:
    """Fidelity of two states, each a statevector (1-D) or a density matrix (2-D), as Qiskit defines it:
    |<a|b>|^2 (pure, pure), <a|rho|a> (pure, mixed), (tr sqrt(sqrt(rho) sigma sqrt(rho)))^2 (mixed, mixed).

    The mixed case uses tr sqrt(sqrt(rho) sigma sqrt(rho)) = ||sqrt(rho) sqrt(sigma)||_1 (sum of singular
    values), which needs only Hermitian square roots."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim not in (1, 2) or b.ndim not in (1, 2) or a.shape[0] != b.shape[0]:
        raise InputError(
            f"cannot compare states of shapes {a.shape} and {b.shape}",
            hint="both must be statevectors or density matrices of the same number of qubits",
        )
    if a.ndim == 1 and b.ndim == 1:
        return float(abs(np.vdot(a, b)) ** 2)
    if a.ndim == 1 or b.ndim == 1:
        psi, rho = (a, b) if a.ndim == 1 else (b, a)
        return float(np.real(np.vdot(psi, rho @ psi)))
    singular = np.linalg.svd(_hermitian_sqrt(a) @ _hermitian_sqrt(b), compute_uv=False)
    return float(np.sum(singular) ** 2)


def _state(result: SimulationResult) -> np.ndarray | None:
    return result.statevector if result.statevector is not None else result.density_matrix


def sampling_bound(
    reference: Mapping[str, float],
    shots_a: int | None,
    shots_b: int | None,
    *,
    confidence: float = CONFIDENCE,
) -> float:
    """A TVD below which two results are consistent with sampling one distribution (`reference`, normalised),
    with `shots_a` / `shots_b` samples each (None: that side is exact, no sampling). 0 when both are exact.

    Derivation. Let s = sum of 1/N over the sampled sides. Under the hypothesis that both sample p, the
    difference of the two estimates at outcome x has variance p(x)(1 - p(x)) s, so by Jensen
        E[TVD] <= 1/2 sum_x sqrt(p(x)(1 - p(x)) s).
    TVD is a function of the independent shots in which one shot of a side with N shots moves it by at most
    1/N, so McDiarmid's inequality gives P(TVD >= E[TVD] + t) <= exp(-2 t^2 / s); with
    t = sqrt(s ln(1 / (1 - confidence)) / 2) a false alarm has probability at most 1 - confidence.
        bound = 1/2 sqrt(s) sum_x sqrt(p(x)(1 - p(x))) + sqrt(s ln(1 / (1 - confidence)) / 2), capped at 1.
    p is not known: `reference` stands in for it (the exact side's distribution, or the shot-weighted pooled
    frequencies when both are sampled). Outcomes nobody observed add nothing to the first term; when the support
    is far larger than the shots the pooled estimate still drives the first term to about 1, as it should.
    """
    s = sum(1.0 / n for n in (shots_a, shots_b) if n is not None)
    if s == 0:
        return 0.0
    if not 0 < confidence < 1:
        raise InputError(f"confidence must be between 0 and 1, got {confidence}", hint="use e.g. 0.99")
    p = np.fromiter(_normalised(reference).values(), dtype=float)
    expected = 0.5 * math.sqrt(s) * float(np.sum(np.sqrt(np.clip(p * (1 - p), 0.0, None))))
    deviation = math.sqrt(s * math.log(1.0 / (1.0 - confidence)) / 2.0)
    return min(1.0, expected + deviation)


def approximation_bound(result: SimulationResult) -> float:
    """What an approximate exact method says its distribution may be off by: LRET's trace-distance bound (the
    TVD of any measurement is at most the trace distance); 0 for everything else."""
    lret = result.metadata.get("lret")
    if isinstance(lret, dict):
        return float(lret.get("trace_distance_bound") or 0.0)
    return 0.0


def compare_pair(
    a: SimulationResult, b: SimulationResult, *, labels: tuple[str, str] | None = None
) -> PairAgreement:
    """Compare two results of the same circuit. Sampled results use their frequencies, exact ones their exact
    probabilities; the TVD is held against sampling_bound(...) plus each method's approximation bound."""
    if a.num_clbits != b.num_clbits:
        raise InputError(
            f"cannot compare results over {a.num_clbits} and {b.num_clbits} classical bits",
            hint="compare runs of the same circuit",
        )
    label_a, label_b = labels or (a.backend, b.backend)
    p, q = distribution(a), distribution(b)
    exact_a = a.exact and a.probabilities is not None
    exact_b = b.exact and b.probabilities is not None
    if exact_a:
        reference = p
    elif exact_b:
        reference = q
    else:  # pooled frequencies, weighted by shots: the best estimate of a common distribution
        reference = {k: a.counts.get(k, 0) + b.counts.get(k, 0) for k in a.counts.keys() | b.counts.keys()}
    bound = sampling_bound(reference, None if exact_a else a.shots, None if exact_b else b.shots)
    approx = approximation_bound(a) + approximation_bound(b)
    threshold = min(1.0, bound + approx + NUMERICAL_TOLERANCE)
    tvd = total_variation_distance(p, q)
    state_a, state_b = _state(a), _state(b)
    fidelity = None
    if state_a is not None and state_b is not None and state_a.shape[0] == state_b.shape[0]:
        fidelity = state_fidelity(state_a, state_b)
    return PairAgreement(
        a=label_a,
        b=label_b,
        exact_a=exact_a,
        exact_b=exact_b,
        shots_a=a.shots,
        shots_b=b.shots,
        tvd=tvd,
        hellinger_fidelity=hellinger_fidelity(p, q),
        state_fidelity=fidelity,
        sampling_bound=bound,
        approximation_bound=approx,
        tolerance=NUMERICAL_TOLERANCE,
        threshold=threshold,
        confidence=CONFIDENCE,
        agrees=tvd <= threshold,
    )


def _labels(results: list[SimulationResult]) -> list[str]:
    """Backend ids, with #2, #3 ... for repeats so that two runs of one backend stay apart."""
    seen: dict[str, int] = {}
    labels = []
    for r in results:
        seen[r.backend] = seen.get(r.backend, 0) + 1
        labels.append(r.backend if seen[r.backend] == 1 else f"{r.backend}#{seen[r.backend]}")
    return labels


def _ratio(value: float | None, smallest: float | None) -> float | None:
    if value is None or smallest is None or smallest <= 0:
        return None
    return value / smallest


def _verdict(labels: list[str], pairs: list[PairAgreement], outliers: list[str]) -> str:
    n = len(labels)
    failing = [p for p in pairs if not p.agrees]
    if not failing:
        worst = max(pairs, key=lambda p: p.tvd)
        return (
            f"all {n} backends agree within sampling error (largest TVD {worst.tvd:.3g}, {worst.a} vs "
            f"{worst.b}, bound {worst.threshold:.3g})"
        )
    parts = []
    for label in outliers:
        own = [p for p in failing if label in (p.a, p.b)]
        closest = min(own, key=lambda p: p.tvd)  # the most favourable figure for the outlier
        other = closest.b if closest.a == label else closest.a
        parts.append(
            f"{label} disagrees with the others: TVD {closest.tvd:.3g} > bound {closest.threshold:.3g} "
            f"against {other}" + (f" (and with {len(own) - 1} more)" if len(own) > 1 else "")
        )
    rest = [p for p in failing if p.a not in outliers and p.b not in outliers]
    for p in rest:
        parts.append(f"{p.a} and {p.b} disagree: TVD {p.tvd:.3g} > bound {p.threshold:.3g}")
    if n == 2:
        parts.append("with two backends it cannot be told which one is right")
    return "; ".join(parts)


def consensus(results: list[SimulationResult], *, labels: list[str] | None = None) -> Consensus:
    """Compare every pair, name the outliers, rank the results. Every figure comes from the results: time from
    `timing`, memory from `memory.peak_increase_bytes`, agreement from `compare_pair`."""
    if len(results) < 2:
        raise InputError(
            f"a comparison needs at least two results, got {len(results)}", hint="run two or more backends"
        )
    labels = labels or _labels(results)
    if len(labels) != len(results) or len(set(labels)) != len(labels):
        raise InputError("labels must be distinct, one per result", hint="give one unique label per result")
    pairs = [
        compare_pair(results[i], results[j], labels=(labels[i], labels[j]))
        for i in range(len(results))
        for j in range(i + 1, len(results))
    ]
    disagreements = {label: 0 for label in labels}
    for p in pairs:
        if not p.agrees:
            disagreements[p.a] += 1
            disagreements[p.b] += 1
    others = len(results) - 1
    outliers = [x for x in labels if len(results) > 2 and disagreements[x] > others / 2]
    fastest = min(r.timing.total_s for r in results)
    memories = [r.memory.peak_increase_bytes for r in results if r.memory is not None]
    smallest = min(memories) if memories else None
    order = sorted(
        range(len(results)),
        key=lambda i: (labels[i] in outliers, disagreements[labels[i]], results[i].timing.total_s, labels[i]),
    )
    ranking = []
    for rank, i in enumerate(order, start=1):
        r = results[i]
        memory = r.memory.peak_increase_bytes if r.memory is not None else None
        ranking.append(
            BackendStanding(
                label=labels[i],
                backend=r.backend,
                rank=rank,
                disagreements=disagreements[labels[i]],
                outlier=labels[i] in outliers,
                exact=r.exact and r.probabilities is not None,
                shots=r.shots,
                time_s=r.timing.total_s,
                simulation_s=r.timing.simulation_s,
                time_ratio=_ratio(r.timing.total_s, fastest),
                memory_bytes=memory,
                memory_ratio=_ratio(memory, smallest),
            )
        )
    return Consensus(
        backends=labels,
        pairs=pairs,
        agree=all(p.agrees for p in pairs),
        outliers=outliers,
        verdict=_verdict(labels, pairs, outliers),
        ranking=ranking,
        confidence=CONFIDENCE,
    )
