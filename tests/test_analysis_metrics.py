"""Agreement metrics against independent references (Qiskit's functions, hand-worked numbers), the sampling
bound's false-alarm rate and power, and compare_pair / consensus on real simulator runs, agreeing and not."""

from __future__ import annotations

import math

import numpy as np
import pytest
from qiskit.quantum_info import DensityMatrix, Statevector
from qiskit.quantum_info import hellinger_fidelity as qiskit_hellinger_fidelity
from qiskit.quantum_info import state_fidelity as qiskit_state_fidelity

from proxima_agent.analysis.metrics import (
    NUMERICAL_TOLERANCE,
    Consensus,
    PairAgreement,
    approximation_bound,
    compare_pair,
    consensus,
    distribution,
    hellinger_fidelity,
    sampling_bound,
    state_fidelity,
    total_variation_distance,
)
from proxima_agent.backends.base import RunOptions
from proxima_agent.backends.registry import get_backend
from proxima_agent.circuits.ir import make_circuit, op
from proxima_agent.circuits.library import build
from proxima_agent.circuits.noise import parse_noise
from proxima_agent.errors import InputError


def run(backend: str, circuit: str = "bell", *, noise: str = "", seed: int = 1, shots: int = 1000, **extra):
    options = RunOptions(shots=shots, seed=seed, return_state=True, noise=parse_noise(noise), **extra)
    return get_backend(backend).run(build(circuit), options)


@pytest.fixture(scope="module")
def bells():
    return [run(b) for b in ("aer-sv", "aer-dm", "lret")]


@pytest.fixture(scope="module")
def noisy_trajectories():
    return run("aer-sv", noise="depolarizing:0.3", seed=5)


def flipped_bell():
    """Bell with an X on qubit 0: (|01> + |10>)/sqrt(2), same entropy and marginals, disjoint outcomes."""
    ops = [
        op("h", 0),
        op("cx", 0, 1),
        op("x", 0),
        op("measure", 0, clbits=(0,)),
        op("measure", 1, clbits=(1,)),
    ]
    circuit = make_circuit(2, ops, num_clbits=2, name="bell-x")
    return get_backend("aer-sv").run(circuit, RunOptions(shots=1000, seed=1, return_state=True))


# --- distributions and distances ------------------------------------------------------------------------------


def test_distribution_exact_uses_probabilities_and_sampled_uses_counts(bells, noisy_trajectories):
    exact = bells[0]
    assert exact.exact and distribution(exact) == exact.probability_dict()
    assert distribution(exact) != {k: v / 1000 for k, v in exact.counts.items()}  # the counts are 482/518
    assert not noisy_trajectories.exact
    assert distribution(noisy_trajectories) == {k: v / 1000 for k, v in noisy_trajectories.counts.items()}
    assert math.isclose(sum(distribution(noisy_trajectories).values()), 1.0)


def test_total_variation_distance_by_hand():
    assert total_variation_distance(
        {"00": 0.5, "11": 0.5}, {"00": 0.4, "01": 0.1, "11": 0.5}
    ) == pytest.approx(0.1)
    assert total_variation_distance({"0": 3, "1": 1}, {"0": 1}) == pytest.approx(0.25)  # counts normalised
    assert total_variation_distance({"01": 1.0}, {"10": 1.0}) == 1.0
    assert total_variation_distance({"0": 0.3, "1": 0.7}, {"1": 0.7, "0": 0.3}) == 0.0


def test_hellinger_fidelity_by_hand():
    assert hellinger_fidelity({"0": 0.5, "1": 0.5}, {"0": 1.0}) == pytest.approx(0.5)  # (sqrt(1/2))^2
    assert hellinger_fidelity({"0": 1}, {"1": 1}) == 0.0
    p, q = {"0": 0.36, "1": 0.64}, {"0": 0.64, "1": 0.36}
    assert hellinger_fidelity(p, q) == pytest.approx((0.6 * 0.8 + 0.8 * 0.6) ** 2)


def test_hellinger_fidelity_matches_qiskit(bells, noisy_trajectories):
    rng = np.random.default_rng(7)
    cases = [
        (bells[0].counts, noisy_trajectories.counts),
        (distribution(bells[0]), noisy_trajectories.counts),
        (flipped_bell().counts, noisy_trajectories.counts),
    ]
    for _ in range(20):
        keys = [format(i, "03b") for i in range(8)]
        p = {k: int(v) for k, v in zip(keys, rng.integers(0, 50, 8), strict=True) if v}
        q = {k: float(v) for k, v in zip(keys, rng.random(8), strict=True) if v > 0.3}
        cases.append((p, q))
    for p, q in cases:
        assert hellinger_fidelity(p, q) == pytest.approx(qiskit_hellinger_fidelity(p, q), abs=1e-12)


def _random_density(rng: np.random.Generator, dim: int, rank: int) -> np.ndarray:
    g = rng.normal(size=(dim, rank)) + 1j * rng.normal(size=(dim, rank))
    rho = g @ g.conj().T
    return rho / np.trace(rho)


def _random_state(rng: np.random.Generator, dim: int) -> np.ndarray:
    v = rng.normal(size=dim) + 1j * rng.normal(size=dim)
    return v / np.linalg.norm(v)


def _qiskit(state: np.ndarray):
    return Statevector(state) if state.ndim == 1 else DensityMatrix(state)


def test_state_fidelity_matches_qiskit_for_every_mix():
    rng = np.random.default_rng(11)
    for _ in range(10):
        dim = int(rng.choice([2, 4, 8]))
        states = [_random_state(rng, dim), _random_state(rng, dim)]
        states += [_random_density(rng, dim, 1), _random_density(rng, dim, 2), _random_density(rng, dim, dim)]
        for a in states:
            for b in states:
                expected = qiskit_state_fidelity(_qiskit(a), _qiskit(b), validate=False)
                assert state_fidelity(a, b) == pytest.approx(expected, abs=1e-7)  # Qiskit: ~1e-9 on rank 1


def test_state_fidelity_of_a_rank_one_density_matrix_is_the_pure_value():
    """sqrt of a rank-deficient matrix amplifies rounding; Proxima drops rounding-level eigenvalues."""
    rng = np.random.default_rng(5)
    for dim in (2, 4, 8):
        psi, phi = _random_state(rng, dim), _random_state(rng, dim)
        rho, sigma = np.outer(psi, psi.conj()), _random_density(rng, dim, 2)
        assert state_fidelity(rho, sigma) == pytest.approx(np.real(psi.conj() @ sigma @ psi), abs=1e-13)
        overlap = abs(np.vdot(psi, phi)) ** 2
        assert state_fidelity(rho, np.outer(phi, phi.conj())) == pytest.approx(overlap, abs=1e-13)


def test_state_fidelity_on_real_states(bells):
    sv, dm, lret = (r.statevector if r.statevector is not None else r.density_matrix for r in bells)
    assert sv.ndim == 1 and dm.ndim == 2 and lret.ndim == 2
    assert state_fidelity(sv, dm) == pytest.approx(1.0)
    assert state_fidelity(dm, lret) == pytest.approx(1.0)
    noisy = run("aer-dm", noise="depolarizing:0.1").density_matrix
    for a, b in ((sv, noisy), (dm, noisy), (noisy, lret)):
        expected = qiskit_state_fidelity(_qiskit(a), _qiskit(b), validate=False)
        assert state_fidelity(a, b) == pytest.approx(expected, abs=1e-7)
    # by hand: depolarizing(0.1) after h leaves F = 0.9 + 0.1 / 2 = 0.95; after cx, 0.9 * 0.95 + 0.1 / 4 = 0.88
    assert state_fidelity(dm, noisy) == pytest.approx(0.88, abs=1e-12)
    assert state_fidelity(sv, noisy) == pytest.approx(0.88, abs=1e-12)
    flipped = flipped_bell().statevector
    assert state_fidelity(sv, flipped) == pytest.approx(0.0, abs=1e-12)


def test_state_fidelity_rejects_mismatched_shapes():
    with pytest.raises(InputError, match="shapes"):
        state_fidelity(np.ones(2) / math.sqrt(2), np.eye(4) / 4)


# --- the sampling bound ---------------------------------------------------------------------------------------


def test_sampling_bound_by_hand():
    assert sampling_bound({"00": 0.5, "11": 0.5}, None, None) == 0.0
    s = 1 / 1000  # one side sampled with 1000 shots
    expected = 0.5 * math.sqrt(s) * 2 * math.sqrt(0.25) + math.sqrt(s * math.log(100) / 2)
    assert sampling_bound({"00": 0.5, "11": 0.5}, 1000, None) == pytest.approx(expected)
    assert sampling_bound({"00": 0.5, "11": 0.5}, None, 1000) == pytest.approx(expected)
    s = 1 / 1000 + 1 / 250
    expected = 0.5 * math.sqrt(s) * (2 * math.sqrt(0.24)) + math.sqrt(s * math.log(100) / 2)
    assert sampling_bound({"0": 4, "1": 6}, 1000, 250) == pytest.approx(expected)  # counts normalised
    assert sampling_bound({format(i, "010b"): 1 for i in range(1024)}, 10, 10) == 1.0  # capped


def test_sampling_bound_false_alarm_rate_and_power():
    """Same distribution: the bound is exceeded (well) under 1 % of the time; a real difference of TVD 0.15 at
    1000 shots is caught every time."""
    rng = np.random.default_rng(3)
    keys = [format(i, "03b") for i in range(8)]
    p = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.08, 0.05, 0.02])
    q = p + np.array([-0.15, 0.15, 0, 0, 0, 0, 0, 0])
    exact = dict(zip(keys, p, strict=True))
    false_alarms = detected = 0
    for _ in range(300):
        a = dict(zip(keys, rng.multinomial(1000, p), strict=True))
        b = dict(zip(keys, rng.multinomial(1000, p), strict=True))
        c = dict(zip(keys, rng.multinomial(1000, q), strict=True))
        false_alarms += total_variation_distance(a, exact) > sampling_bound(exact, 1000, None)
        pooled = {k: a[k] + b[k] for k in keys}
        false_alarms += total_variation_distance(a, b) > sampling_bound(pooled, 1000, 1000)
        detected += total_variation_distance(c, exact) > sampling_bound(exact, 1000, None)
    assert false_alarms <= 6  # of 600 trials: at most 1 %
    assert detected == 300


# --- compare_pair ---------------------------------------------------------------------------------------------


def test_exact_results_agree_to_rounding(bells):
    pair = compare_pair(bells[0], bells[2])
    assert (pair.a, pair.b) == ("aer-sv", "lret")
    assert pair.exact_a and pair.exact_b
    assert pair.sampling_bound == 0.0 and pair.approximation_bound == 0.0
    assert pair.threshold == NUMERICAL_TOLERANCE
    assert pair.tvd < 1e-12 and pair.agrees
    assert pair.hellinger_fidelity == pytest.approx(1.0)
    assert pair.state_fidelity == pytest.approx(1.0)
    assert PairAgreement.model_validate_json(pair.model_dump_json()) == pair


def test_sampled_noisy_run_agrees_with_the_exact_noisy_one():
    trajectories = run("aer-sv", noise="depolarizing:0.1", seed=4)
    exact = run("aer-dm", noise="depolarizing:0.1")
    pair = compare_pair(trajectories, exact)
    assert not pair.exact_a and pair.exact_b
    assert pair.state_fidelity is None  # trajectories keep no state
    assert pair.sampling_bound == pytest.approx(sampling_bound(distribution(exact), 1000, None))
    assert 0 < pair.tvd <= pair.threshold and pair.agrees
    assert pair.tvd == pytest.approx(total_variation_distance(trajectories.counts, exact.probability_dict()))


def test_two_sampled_runs_use_the_pooled_counts():
    a = run("aer-sv", noise="depolarizing:0.1", seed=4)
    b = run("aer-sv", noise="depolarizing:0.1", seed=9, shots=500)
    pair = compare_pair(a, b)
    pooled = {k: a.counts.get(k, 0) + b.counts.get(k, 0) for k in a.counts.keys() | b.counts.keys()}
    assert pair.sampling_bound == pytest.approx(sampling_bound(pooled, 1000, 500))
    assert pair.agrees


def test_different_circuits_disagree(bells):
    pair = compare_pair(bells[1], flipped_bell())
    assert pair.tvd == pytest.approx(1.0) and not pair.agrees
    assert pair.hellinger_fidelity == pytest.approx(0.0, abs=1e-12)
    assert pair.state_fidelity == pytest.approx(0.0, abs=1e-12)


def test_heavy_noise_disagrees_with_the_noiseless_run(bells, noisy_trajectories):
    pair = compare_pair(noisy_trajectories, bells[1])
    assert pair.tvd > 0.15 and pair.tvd > pair.threshold and not pair.agrees


def test_small_noise_is_a_disagreement_between_exact_results(bells):
    """Both exact: no shot noise to hide behind, so even a 5 % difference is reported."""
    pair = compare_pair(run("aer-dm", noise="depolarizing:0.1"), bells[1])
    assert pair.tvd == pytest.approx(0.05) and not pair.agrees


def test_lret_truncation_bound_widens_the_threshold():
    lret = run("lret", "random:6:8:3", noise="depolarizing:0.02", backend_options={"threshold": 0.05})
    exact = run("aer-dm", "random:6:8:3", noise="depolarizing:0.02")
    bound = lret.metadata["lret"]["trace_distance_bound"]
    assert bound > 0 and approximation_bound(lret) == bound and approximation_bound(exact) == 0.0
    pair = compare_pair(lret, exact)
    assert pair.approximation_bound == bound
    assert pair.threshold == pytest.approx(bound + NUMERICAL_TOLERANCE)
    assert NUMERICAL_TOLERANCE < pair.tvd <= pair.threshold and pair.agrees


def test_compare_refuses_different_widths(bells):
    with pytest.raises(InputError, match="classical bits"):
        compare_pair(bells[0], run("aer-sv", "ghz:3"))


# --- consensus ------------------------------------------------------------------------------------------------


def test_consensus_all_agree_and_ranks_by_time(bells):
    c = consensus(bells)
    assert c.agree and c.outliers == []
    assert c.verdict.startswith("all 3 backends agree within sampling error")
    assert len(c.pairs) == 3 and all(p.agrees for p in c.pairs)
    assert [s.label for s in c.ranking] == [r.backend for r in sorted(bells, key=lambda r: r.timing.total_s)]
    fastest = min(r.timing.total_s for r in bells)
    smallest = min(r.memory.peak_increase_bytes for r in bells)
    for standing in c.ranking:
        r = next(r for r in bells if r.backend == standing.backend)
        assert standing.time_s == r.timing.total_s and standing.simulation_s == r.timing.simulation_s
        assert standing.time_ratio == pytest.approx(r.timing.total_s / fastest)
        assert standing.memory_bytes == r.memory.peak_increase_bytes
        assert standing.memory_ratio == pytest.approx(r.memory.peak_increase_bytes / smallest)
    assert c.ranking[0].time_ratio == 1.0
    assert Consensus.model_validate_json(c.model_dump_json()) == c


def test_consensus_names_the_outlier_and_ranks_it_last(bells, noisy_trajectories):
    c = consensus([*bells, noisy_trajectories])
    assert not c.agree
    assert c.backends == ["aer-sv", "aer-dm", "lret", "aer-sv#2"]
    assert c.outliers == ["aer-sv#2"]
    assert c.verdict.startswith("aer-sv#2 disagrees with the others: TVD ")
    closest = min((p for p in c.pairs if "aer-sv#2" in (p.a, p.b)), key=lambda p: p.tvd)
    assert f"TVD {closest.tvd:.3g} > bound {closest.threshold:.3g}" in c.verdict
    assert c.ranking[-1].label == "aer-sv#2" and c.ranking[-1].outlier and c.ranking[-1].disagreements == 3
    assert [s.rank for s in c.ranking] == [1, 2, 3, 4]
    assert sum(p.agrees for p in c.pairs) == 3


def test_consensus_of_two_that_disagree_names_no_outlier(bells):
    c = consensus([bells[0], flipped_bell()])
    assert not c.agree and c.outliers == []
    assert "aer-sv and aer-sv#2 disagree: TVD 1 > bound 1e-06" in c.verdict
    assert "cannot be told" in c.verdict


def test_consensus_needs_two_results_and_distinct_labels(bells):
    with pytest.raises(InputError, match="at least two"):
        consensus(bells[:1])
    with pytest.raises(InputError, match="distinct"):
        consensus(bells[:2], labels=["x", "x"])
    assert consensus(bells[:2], labels=["first", "second"]).backends == ["first", "second"]
