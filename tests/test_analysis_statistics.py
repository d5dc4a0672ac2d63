"""outcome_statistics on real runs: entropy, top outcomes, marginals and correlations in Proxima's bit order, Wilson
intervals checked against scipy and hand-worked values, purity against Qiskit, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from qiskit.quantum_info import DensityMatrix
from qiskit.quantum_info import hellinger_fidelity as qiskit_hellinger_fidelity
from qiskit.quantum_info import purity as qiskit_purity
from scipy.stats import binomtest

from proxima_agent.analysis.statistics import (
    MAX_CORRELATION_BITS,
    Z95,
    Interval,
    OutcomeStatistics,
    fidelity_to_ideal,
    outcome_statistics,
    purity,
    wilson_interval,
)
from proxima_agent.backends.base import RunOptions
from proxima_agent.backends.registry import get_backend
from proxima_agent.circuits.ir import make_circuit, op
from proxima_agent.circuits.library import build
from proxima_agent.circuits.noise import parse_noise
from proxima_agent.errors import InputError


def run(backend: str, circuit="bell", *, noise: str = "", seed: int = 1, shots: int = 1000):
    spec = build(circuit) if isinstance(circuit, str) else circuit
    options = RunOptions(shots=shots, seed=seed, return_state=True, noise=parse_noise(noise))
    return get_backend(backend).run(spec, options)


def sampled(result) -> OutcomeStatistics:
    return outcome_statistics(result.counts, None, result.shots, result.num_clbits, False)


def exact(result) -> OutcomeStatistics:
    return outcome_statistics(result.counts, result.probability_dict(), result.shots, result.num_clbits, True)


@pytest.fixture(scope="module")
def bell():
    return run("aer-sv")


# --- the Wilson interval --------------------------------------------------------------------------------------


def test_wilson_interval_by_hand():
    z2 = Z95**2
    zero = wilson_interval(0, 10)  # 0 of 10: [0, z^2 / (n + z^2)]
    assert zero.low == 0.0 and zero.high == pytest.approx(z2 / (10 + z2))
    assert zero.high == pytest.approx(0.2775, abs=1e-4)
    half = wilson_interval(5, 10)  # the textbook 0.2366-0.7634
    assert (half.low, half.high) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    p, n = 0.507, 1000  # the formula worked out for 507 of 1000
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half_width = Z95 / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    assert wilson_interval(507, 1000) == Interval(low=centre - half_width, high=centre + half_width)
    assert (centre - half_width, centre + half_width) == pytest.approx((0.4760, 0.5379), abs=1e-4)


@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 1), (3, 17), (507, 1000), (999, 1000), (12, 4096)])
def test_wilson_interval_matches_scipy(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    ours = wilson_interval(k, n)
    assert (ours.low, ours.high) == pytest.approx((ci.low, ci.high), abs=1e-12)


@pytest.mark.parametrize(("k", "n"), [(-1, 10), (11, 10), (0, 0)])
def test_wilson_interval_rejects_impossible_counts(k, n):
    with pytest.raises(InputError):
        wilson_interval(k, n)


# --- outcome statistics ---------------------------------------------------------------------------------------


def test_sampled_bell(bell):
    s = sampled(bell)
    counts = bell.counts
    assert s.source == "sampled" and s.shots == 1000 and s.num_bits == 2 and s.confidence == 0.95
    assert s.distinct_observed == 2 and s.support == 2
    first, second = sorted(counts, key=lambda k: -counts[k])
    assert [f.outcome for f in s.top] == [first, second]
    assert s.top[0].count == counts[first] and s.top[0].probability == counts[first] / 1000
    assert s.top[0].interval == wilson_interval(counts[first], 1000)
    f = np.array([counts[first], counts[second]]) / 1000
    assert s.entropy_bits == pytest.approx(float(-(f * np.log2(f)).sum()))
    ones = counts.get("11", 0)
    for b in s.bits:
        assert b.p1 == ones / 1000 and b.p1_interval == wilson_interval(ones, 1000)
        assert b.z == pytest.approx(1 - 2 * ones / 1000)
        assert b.z_interval.low == pytest.approx(1 - 2 * b.p1_interval.high)
    assert s.parity == 1.0  # 00 and 11 only: even parity in every shot
    assert s.parity_interval.high == 1.0 and s.parity_interval.low == pytest.approx(
        1 - 2 * wilson_interval(0, 1000).high
    )
    (pair,) = s.correlations
    assert pair.bits == (0, 1) and pair.zz == 1.0
    assert pair.covariance == pytest.approx(1 - (1 - 2 * ones / 1000) ** 2)
    assert OutcomeStatistics.model_validate_json(s.model_dump_json()) == s


def test_exact_bell(bell):
    s = exact(bell)
    assert s.source == "exact"
    assert s.entropy_bits == pytest.approx(1.0, abs=1e-12) and s.max_entropy_bits == 2
    assert {f.outcome: f.probability for f in s.top} == pytest.approx({"00": 0.5, "11": 0.5})
    assert all(f.interval is None for f in s.top)
    assert {f.outcome: f.count for f in s.top} == bell.counts  # the sampled counts ride along
    assert [b.p1 for b in s.bits] == pytest.approx([0.5, 0.5])
    assert all(b.p1_interval is None and b.z_interval is None for b in s.bits)
    assert s.parity == pytest.approx(1.0) and s.parity_interval is None
    assert s.correlations[0].zz == pytest.approx(1.0) and s.correlations[0].zz_interval is None


def test_bit_order_is_rightmost_first():
    """X on qubit 0 only: the outcome is 001 and bit 0 (the rightmost character) is the one that is set."""
    ops = [op("x", 0)] + [op("measure", q, clbits=(q,)) for q in range(3)]
    result = run("aer-sv", make_circuit(3, ops, num_clbits=3, name="x0"))
    assert result.counts == {"001": 1000}
    s = sampled(result)
    assert [b.p1 for b in s.bits] == [1.0, 0.0, 0.0]
    assert [b.z for b in s.bits] == [-1.0, 1.0, 1.0]
    assert s.entropy_bits == 0.0 and s.parity == -1.0
    assert s.bits[0].p1_interval.high == 1.0 and s.bits[0].p1_interval.low == pytest.approx(
        1 - wilson_interval(0, 1000).high
    )
    assert all(abs(c.covariance) < 1e-12 for c in s.correlations)  # fixed bits are not correlated


def test_ghz3_exact_parity_and_correlations():
    s = exact(run("lret", "ghz:3"))
    assert s.parity == pytest.approx(0.0, abs=1e-12)  # 000 is even, 111 is odd
    assert [c.bits for c in s.correlations] == [(0, 1), (0, 2), (1, 2)]
    assert all(c.zz == pytest.approx(1.0) and c.covariance == pytest.approx(1.0) for c in s.correlations)


def test_sampled_noisy_intervals_cover_the_exact_values():
    trajectories = run("aer-sv", noise="depolarizing:0.2", seed=3)
    truth = exact(run("aer-dm", noise="depolarizing:0.2"))
    s = sampled(trajectories)
    assert s.distinct_observed == 4 and s.support == 4
    for b, t in zip(s.bits, truth.bits, strict=True):
        assert b.p1_interval.low <= t.p1 <= b.p1_interval.high
    assert s.parity_interval.low <= truth.parity <= s.parity_interval.high
    assert s.parity < 1
    ideal = {"00": 0.5, "11": 0.5}
    assert fidelity_to_ideal(trajectories.counts, ideal) == pytest.approx(
        qiskit_hellinger_fidelity(trajectories.counts, ideal), abs=1e-12
    )
    assert fidelity_to_ideal(trajectories.counts, ideal) < 0.99


def test_top_is_capped_and_many_bits_have_no_pair_list():
    s = sampled(run("aer-sv", "random:13:3:1", shots=2000))
    assert len(s.top) == 10 and s.support > 10
    assert [f.probability for f in s.top] == sorted((f.probability for f in s.top), reverse=True)
    assert s.others_probability == pytest.approx(1 - sum(f.probability for f in s.top))
    assert MAX_CORRELATION_BITS < 13 and s.correlations == [] and len(s.bits) == 13


def test_probabilities_alone_are_used_and_counts_win_when_not_exact(bell):
    only = outcome_statistics(None, bell.probability_dict(), 0, 2, False)
    assert only.source == "exact" and only.distinct_observed is None and only.top[0].count is None
    assert sampled(bell).source == "sampled"


@pytest.mark.parametrize(
    ("counts", "probabilities", "shots", "bits", "match"),
    [
        (None, None, 0, 2, "no counts"),
        ({"00": 3, "1": 2}, None, 5, 2, "has 1 bits"),
        ({"0x": 5}, None, 5, 2, "0 and 1"),
        ({"00": 5}, None, 6, 2, "add up to 5"),
        ({"00": 2.5}, None, 2.5, 2, "whole numbers"),
    ],
)
def test_bad_input(counts, probabilities, shots, bits, match):
    with pytest.raises(InputError, match=match):
        outcome_statistics(counts, probabilities, shots, bits, False)


# --- purity ---------------------------------------------------------------------------------------------------


def test_purity_against_qiskit_and_by_hand():
    clean = run("aer-dm").density_matrix
    noisy = run("aer-dm", noise="depolarizing:0.1").density_matrix
    assert purity(clean) == pytest.approx(1.0)
    assert (
        purity(noisy) == pytest.approx(qiskit_purity(DensityMatrix(noisy)), abs=1e-12) and purity(noisy) < 0.9
    )
    assert purity(np.eye(4) / 4) == pytest.approx(0.25)
    assert purity(run("aer-sv").statevector) == pytest.approx(1.0)
    with pytest.raises(InputError, match="square"):
        purity(np.ones((2, 3)))
