"""Every backend (cirq-sv, cirq-dm, aer-sv, aer-dm and Proxima's own lret) against the independent reference,
plus the registry, the result model, and the test helpers' own power to fail. lret's own tests (thresholds,
ranks, save and restore, kernels) are in test_lret.py."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from proxima_agent.backends.base import Capabilities, RunOptions
from proxima_agent.backends.cirq_backend import CirqDensityMatrix
from proxima_agent.backends.common import counts_from_bits, little_endian
from proxima_agent.backends.registry import backend_ids, get_backend, list_backends, self_test
from proxima_agent.backends.result import (
    SimulationResult,
    outcome_probabilities,
    sample_counts,
)
from proxima_agent.circuits.ir import Circuit, make_circuit, op
from proxima_agent.circuits.library import build
from proxima_agent.circuits.noise import parse_noise
from proxima_agent.circuits.qasm import from_qasm
from proxima_agent.errors import NoiseError, OptionError, UnknownBackendError, UnsupportedFeatureError
from proxima_agent.testing import (
    DEFAULT_SEED,
    assert_backend_agrees,
    assert_distribution_matches,
    assert_states_close,
    distribution_test,
    exact_reference_probabilities,
    exact_reference_state,
    random_circuit,
)

BACKEND_IDS = ("cirq-sv", "cirq-dm", "aer-sv", "aer-dm")


def run(backend_id: str, circuit: Circuit, **options) -> SimulationResult:
    return get_backend(backend_id).run(circuit, RunOptions(**options))


def is_density(backend_id: str) -> bool:
    """Returns a density matrix as its state (cirq-dm, aer-dm, and lret, whose rho = L L^dagger)."""
    return get_backend(backend_id).capabilities.density_matrix


def exact_when_dynamic(backend_id: str) -> bool:
    """lret keeps every measurement record as a label on its columns: mid-circuit runs stay exact."""
    return get_backend(backend_id).capabilities.method == "low_rank"


# --- the helpers can fail ---------------------------------------------------------------------------------------


def test_distribution_helper_accepts_samples_of_the_right_distribution():
    rng = np.random.default_rng(DEFAULT_SEED)
    for width in (1, 3, 6):
        p = rng.dirichlet(np.ones(2**width))
        for shots in (100, 5000):
            draws = rng.multinomial(shots, p)
            counts = {format(i, f"0{width}b"): int(n) for i, n in enumerate(draws) if n}
            assert_distribution_matches(counts, p, shots)
            assert_distribution_matches(counts, {format(i, f"0{width}b"): v for i, v in enumerate(p)}, shots)


def test_distribution_helper_rejects_a_wrong_distribution():
    bell = run("aer-sv", build("bell"), shots=2000, seed=DEFAULT_SEED)
    with pytest.raises(AssertionError, match="p-value"):
        assert_distribution_matches(bell.counts, np.full(4, 0.25), 2000)
    # Outcomes the distribution forbids fail at once, however few.
    with pytest.raises(AssertionError, match="probability zero"):
        assert_distribution_matches({"00": 999, "01": 1}, [0.5, 0, 0, 0.5], 1000)
    with pytest.raises(AssertionError, match="add up to"):
        assert_distribution_matches(bell.counts, [0.5, 0, 0, 0.5], 1999)
    with pytest.raises(AssertionError, match="not a 2-bit string"):
        assert_distribution_matches({"000": 10}, [0.5, 0, 0, 0.5], 10)


def test_distribution_helper_catches_a_wrong_noise_convention():
    """Counts from depolarizing p (P(1) = p/2) are told apart from Cirq's convention read as Proxima's (2p/3)."""
    c = make_circuit(1, [op("id", 0), op("measure", 0, clbits=(0,))], num_clbits=1, name="idle")
    result = run("aer-dm", c, shots=4000, seed=DEFAULT_SEED, noise=parse_noise("depolarizing:0.2"))
    assert_distribution_matches(result.counts, [0.9, 0.1], 4000)
    with pytest.raises(AssertionError, match="p-value"):
        assert_distribution_matches(result.counts, [1 - 0.4 / 3, 0.4 / 3], 4000)


def test_distribution_helper_has_power_against_a_small_shift():
    """At 20 000 shots, a 1.5-point shift of probability between two outcomes is caught for every seed tried."""
    p = np.array([0.4, 0.3, 0.2, 0.1])
    q = p + np.array([0.015, -0.015, 0, 0])
    for seed in range(10):
        draws = np.random.default_rng(seed).multinomial(20_000, q)
        counts = {format(i, "02b"): int(n) for i, n in enumerate(draws)}
        _, dof, pvalue, impossible = distribution_test(counts, p)
        assert dof == 3 and not impossible
        assert pvalue < 1e-4


def test_states_close_helper():
    v = np.array([1, 1j]) / math.sqrt(2)
    assert_states_close(v, v.copy())
    assert_states_close(1j * v, v, up_to_global_phase=True)
    with pytest.raises(AssertionError, match="differ"):
        assert_states_close(1j * v, v)
    with pytest.raises(AssertionError, match="differ"):
        assert_states_close(v + 2e-8, v, atol=1e-8)
    with pytest.raises(AssertionError, match="shape"):
        assert_states_close(v, np.outer(v, v.conj()))
    with pytest.raises(AssertionError, match="return_state"):
        assert_states_close(None, v)


def test_reference_is_little_endian():
    c = make_circuit(3, [op("x", 0)], name="x0")
    expected = np.zeros(8)
    expected[1] = 1
    assert_states_close(exact_reference_state(c), expected)
    assert_states_close(exact_reference_state(c, density=True), np.diag(expected))
    assert np.array_equal(exact_reference_probabilities(c), expected)
    reset = make_circuit(2, [op("h", 0), op("x", 1), op("reset", 1)], name="reset")
    plus = np.array([1, 1, 0, 0]) / math.sqrt(2)
    assert_states_close(exact_reference_state(reset, density=True), np.outer(plus, plus))
    with pytest.raises(ValueError, match="density=True"):
        exact_reference_state(reset)
    with pytest.raises(ValueError, match="dynamic"):
        exact_reference_probabilities(
            make_circuit(1, [op("measure", 0, clbits=(0,)), op("x", 0)], num_clbits=1, name="d")
        )


# --- every backend gives the right answer ---------------------------------------------------------------------

LIBRARY_CASES = [
    "bell",
    "ghz:5",
    "qft:4:5",
    "qft:5",
    "random:5:8:1",
    "random:4:6:7",
    "w:4",
    "grover:3",
    "qaoa:4:2",
]


@pytest.mark.parametrize("name", LIBRARY_CASES)
def test_library_circuits_agree_with_the_reference(backend_id, name):
    result = assert_backend_agrees(backend_id, build(name), shots=4000)
    assert result.exact and result.num_clbits == result.num_qubits


@pytest.mark.parametrize("seed", range(4))
def test_random_circuits_over_every_gate_agree_with_the_reference(backend_id, seed):
    circuit = random_circuit(3 + seed % 3, 6, seed=seed)
    assert_backend_agrees(backend_id, circuit, shots=3000, seed=seed)


def test_states_are_returned_only_when_asked(backend_id):
    quiet = run(backend_id, build("ghz:3"), shots=10, seed=1)
    assert quiet.statevector is None and quiet.density_matrix is None
    assert quiet.probabilities is not None
    loud = run(backend_id, build("ghz:3"), shots=10, seed=1, return_state=True)
    if is_density(backend_id):
        assert loud.statevector is None and loud.density_matrix.shape == (8, 8)
    else:
        assert loud.density_matrix is None and loud.statevector.shape == (8,)
    assert np.allclose(loud.probabilities, quiet.probabilities, atol=1e-12)


@pytest.mark.parametrize(("n", "x"), [(3, 5), (4, 11), (5, 0), (6, 37)])
def test_qft_of_a_basis_state_has_the_analytic_amplitudes(backend_id, n, x):
    result = run(backend_id, build(f"qft:{n}:{x}"), shots=100, seed=1, return_state=True)
    amplitudes = np.exp(2j * np.pi * x * np.arange(2**n) / 2**n) / math.sqrt(2**n)
    if is_density(backend_id):
        assert_states_close(result.density_matrix, np.outer(amplitudes, amplitudes.conj()), atol=1e-8)
    else:
        assert_states_close(result.statevector, amplitudes, atol=1e-8)
    assert np.allclose(result.probabilities, 1 / 2**n, atol=1e-8)


@pytest.mark.parametrize("n", [3, 5])
def test_w_state_is_uniform_over_single_excitations(backend_id, n):
    result = run(backend_id, build(f"w:{n}"), shots=3000, seed=DEFAULT_SEED)
    singles = {format(1 << q, f"0{n}b"): 1 / n for q in range(n)}
    assert set(result.counts) == set(singles)
    assert result.probability_dict(cutoff=1e-10) == pytest.approx(singles, abs=1e-10)
    assert_distribution_matches(result.counts, singles, 3000)


@pytest.mark.parametrize(
    ("name", "marked"), [("grover:3:5", "101"), ("grover:4", "1111"), ("grover:5:6", "00110")]
)
def test_grover_finds_the_marked_state(backend_id, name, marked):
    result = run(backend_id, build(name), shots=1000, seed=DEFAULT_SEED)
    assert result.probability_dict()[marked] > 0.9
    assert result.top_outcomes(1)[0][0] == marked


# --- bit order -------------------------------------------------------------------------------------------------


def test_qubit_zero_is_the_rightmost_character(backend_id):
    c = make_circuit(4, [op("x", 0)], name="flip0").with_measurements()
    result = run(backend_id, c, shots=50, seed=1)
    assert result.counts == {"0001": 50}
    assert result.probabilities[0b0001] == pytest.approx(1)


def test_unmeasured_circuits_are_measured_whole(backend_id):
    c = make_circuit(4, [op("x", 0)], name="flip0")
    result = run(backend_id, c, shots=50, seed=1)
    assert result.num_clbits == 4 and result.counts == {"0001": 50}


def test_a_measurement_writes_the_clbit_it_names(backend_id):
    c = make_circuit(
        3,
        [
            op("x", 0),
            op("measure", 0, clbits=(2,)),
            op("measure", 1, clbits=(0,)),
            op("measure", 2, clbits=(1,)),
        ],
        num_clbits=3,
        name="remap",
    )
    result = run(backend_id, c, shots=20, seed=1)
    assert result.counts == {"100": 20}
    wide = make_circuit(2, [op("x", 1), op("measure", 1, clbits=(3,))], num_clbits=5, name="wide")
    assert run(backend_id, wide, shots=20, seed=1).counts == {"01000": 20}  # unwritten clbits read 0


def test_qasm_programs_keep_the_bit_order(backend_id):
    text = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[3];\ncreg c[3];\nx q[0];\nx q[1];\nmeasure q -> c;\n'
    assert run(backend_id, from_qasm(text), shots=10, seed=1).counts == {"011": 10}


def test_probabilities_are_indexed_by_the_bitstring(backend_id):
    c = make_circuit(
        3, [op("ry", 0, params=(2 * math.asin(math.sqrt(0.3)),)), op("x", 2)], name="p"
    ).with_measurements()
    result = run(backend_id, c, shots=10, seed=1)
    assert result.probability_dict() == pytest.approx({"100": 0.7, "101": 0.3}, abs=1e-12)
    assert result.probabilities[int("101", 2)] == pytest.approx(0.3)


# --- seeds -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("circuit", "noise"),
    [(build("random:4:5:3"), ""), (build("ghz:3"), "depolarizing:0.1;readout:0.05"), (None, "bit_flip:0.1")],
    ids=["exact", "noisy", "dynamic"],
)
def test_the_same_seed_gives_the_same_counts(backend_id, circuit, noise):
    circuit = circuit or make_circuit(
        2,
        [op("h", 0), op("measure", 0, clbits=(0,)), op("cx", 0, 1), op("measure", 1, clbits=(1,))],
        num_clbits=2,
        name="dyn",
    )
    options = {"shots": 200, "noise": parse_noise(noise)}
    first = run(backend_id, circuit, seed=42, **options)
    again = run(backend_id, circuit, seed=42, **options)
    other = run(backend_id, circuit, seed=43, **options)
    assert first.seed == again.seed == 42 and other.seed == 43
    assert first.counts == again.counts
    assert first.counts != other.counts


def test_an_unseeded_run_reports_a_seed_that_reproduces_it(backend_id):
    circuit = build("random:4:4:2")
    first = run(backend_id, circuit, shots=300)
    assert 0 <= first.seed < 2**31
    assert run(backend_id, circuit, shots=300, seed=first.seed).counts == first.counts


@pytest.mark.parametrize("seed", [-1, 2**31])
def test_seeds_out_of_range_are_rejected(backend_id, seed):
    with pytest.raises(OptionError, match="out of range"):
        run(backend_id, build("bell"), shots=10, seed=seed)


# --- mid-circuit measurement and reset ----------------------------------------------------------------------

DYNAMIC = {
    # h; measure q0 -> c0; cx copies the collapsed value; reset q0; measure q0 -> c1 (always 0); q1 -> c2.
    "measure-cx-reset": (
        make_circuit(
            2,
            [
                op("h", 0),
                op("measure", 0, clbits=(0,)),
                op("cx", 0, 1),
                op("reset", 0),
                op("measure", 0, clbits=(1,)),
                op("measure", 1, clbits=(2,)),
            ],
            num_clbits=3,
            name="measure-cx-reset",
        ),
        {"000": 0.5, "101": 0.5},
    ),
    "measure-twice": (
        make_circuit(
            1,
            [op("h", 0), op("measure", 0, clbits=(0,)), op("measure", 0, clbits=(1,))],
            num_clbits=2,
            name="measure-twice",
        ),
        {"00": 0.5, "11": 0.5},
    ),
    "reset-excited": (
        make_circuit(2, [op("x", 0), op("x", 1), op("reset", 0)], name="reset-excited").with_measurements(),
        {"10": 1.0},
    ),
    "measure-then-rotate": (
        # Measuring |+> then h: each branch spreads again, so c1 is uniform and independent of c0.
        make_circuit(
            1,
            [op("h", 0), op("measure", 0, clbits=(0,)), op("h", 0), op("measure", 0, clbits=(1,))],
            num_clbits=2,
            name="measure-then-rotate",
        ),
        {"00": 0.25, "01": 0.25, "10": 0.25, "11": 0.25},
    ),
}


@pytest.mark.parametrize("case", DYNAMIC)
def test_mid_circuit_measurement_and_reset(backend_id, case):
    circuit, expected = DYNAMIC[case]
    assert circuit.is_dynamic
    result = run(backend_id, circuit, shots=2000, seed=DEFAULT_SEED, return_state=True)
    if exact_when_dynamic(backend_id):
        assert result.exact and result.density_matrix is not None
        assert result.probability_dict(cutoff=1e-12) == pytest.approx(expected, abs=1e-12)
    else:
        assert not result.exact
        assert result.probabilities is None and result.statevector is None and result.density_matrix is None
    assert_distribution_matches(result.counts, expected, 2000)


def test_readout_error_applies_at_every_measurement(backend_id):
    circuit, _ = DYNAMIC["measure-cx-reset"]
    confusion = np.array([[0.95, 0.05], [0.25, 0.75]])  # rows: true value, columns: read value
    expected: dict[str, float] = {}
    for true, (c0, c1, c2) in itertools.product((0, 1), itertools.product((0, 1), repeat=3)):
        # c0 and c2 read the collapsed value, c1 reads the reset qubit (0); each read is confused on its own.
        weight = 0.5 * confusion[true, c0] * confusion[0, c1] * confusion[true, c2]
        expected[f"{c2}{c1}{c0}"] = expected.get(f"{c2}{c1}{c0}", 0) + weight
    result = run(backend_id, circuit, shots=4000, seed=DEFAULT_SEED, noise=parse_noise("readout:0.05:0.25"))
    assert result.exact == exact_when_dynamic(backend_id)
    if result.exact:
        assert result.probability_dict(cutoff=1e-12) == pytest.approx(expected, abs=1e-12)
    assert_distribution_matches(result.counts, expected, 4000)


def test_readout_error_alone_keeps_runs_exact(backend_id):
    noise = parse_noise("readout:0.1:0.2/0;readout:0.05")
    result = assert_backend_agrees(backend_id, build("ghz:3"), noise, shots=4000)
    assert result.exact
    # Qubit 0 reads through both rules: rows true, columns read.
    c0 = np.array([[0.9, 0.1], [0.2, 0.8]]) @ np.array([[0.95, 0.05], [0.05, 0.95]])
    p000 = 0.5 * c0[0, 0] * 0.95**2 + 0.5 * c0[1, 0] * 0.05**2
    assert result.probabilities[0] == pytest.approx(p000, abs=1e-12)


# --- the result and its run --------------------------------------------------------------------------------------


def test_result_describes_its_run(backend_id):
    noise = parse_noise("depolarizing:0.01")
    result = run(backend_id, build("ghz:3"), shots=64, seed=5, noise=noise)
    assert result.backend == backend_id
    assert (result.circuit, result.num_qubits, result.num_clbits, result.shots, result.seed) == (
        "ghz:3",
        3,
        3,
        64,
        5,
    )
    assert sum(result.counts.values()) == 64
    assert result.noise == noise.model_dump(mode="json")
    library = get_backend(backend_id).library
    assert result.versions[library] not in ("", "unknown")
    method = get_backend(backend_id).capabilities.method
    if method in ("density_matrix", "low_rank"):
        assert result.exact and result.method == method
    else:
        assert not result.exact and result.method == "trajectories" and result.probabilities is None
    assert result.timing.total_s >= result.timing.simulation_s >= 0
    assert result.memory is not None and result.memory.peak_rss_bytes > 0
    noiseless = run(backend_id, build("ghz:3"), shots=64, seed=5)
    assert noiseless.noise is None
    assert noiseless.method == get_backend(backend_id).capabilities.method


def test_progress_is_reported(backend_id):
    reports = []
    run_ = get_backend(backend_id).run
    run_(build("bell"), RunOptions(shots=10, seed=1), progress=reports.append)
    stages = [p.stage for p in reports]
    assert stages[0] == "conversion" and "simulation" in stages
    assert reports[-1].done == reports[-1].total


def test_noise_on_qubits_the_circuit_lacks_is_rejected(backend_id):
    with pytest.raises(NoiseError, match="the circuit has 2 qubits"):
        run(backend_id, build("bell"), shots=10, seed=1, noise=parse_noise("bit_flip:0.1/7"))


def test_a_backend_refuses_noise_it_cannot_simulate():
    class PauliOnly(CirqDensityMatrix):
        capabilities = Capabilities(
            method="density_matrix",
            noise_kinds=frozenset({"bit_flip", "phase_flip"}),
            exact_noise=True,
            statevector=False,
            density_matrix=True,
        )

    backend = PauliOnly()
    backend.run(build("bell"), RunOptions(shots=10, noise=parse_noise("bit_flip:0.1")))
    with pytest.raises(UnsupportedFeatureError, match="does not simulate amplitude_damping, readout"):
        backend.run(
            build("bell"), RunOptions(shots=10, noise=parse_noise("readout:0.1;amplitude_damping:0.1"))
        )


def test_result_json(tmp_path):
    result = run("aer-dm", build("ghz:3"), shots=100, seed=1, return_state=True)
    data = result.to_json_dict()
    assert data["probabilities"] == pytest.approx({"000": 0.5, "111": 0.5})
    assert data["density_matrix"]["shape"] == [8, 8]
    assert np.allclose(np.array(data["density_matrix"]["real"]), result.density_matrix.real)
    assert "statevector" not in data or data["statevector"] is None
    filed = result.to_json_dict(inline_limit=4, array_dir=tmp_path / "arrays")
    path = filed["density_matrix"]["path"]
    assert np.array_equal(np.load(path), result.density_matrix)
    assert np.array_equal(np.load(filed["probabilities"]["path"]), result.probabilities)
    assert "omitted" in result.to_json_dict(inline_limit=10)["density_matrix"]
    json.dumps(data)  # plain JSON types only


def test_top_outcomes_sort_by_count_then_bitstring():
    result = run("cirq-dm", build("bell"), shots=1000, seed=3)
    top = result.top_outcomes()
    assert [k for k, _ in top] == sorted(result.counts, key=lambda k: (-result.counts[k], k))
    assert len(result.top_outcomes(1)) == 1


# --- the pieces backends share -----------------------------------------------------------------------------------


def test_outcome_probabilities_marginalise_map_and_confuse():
    # Two qubits, P(q1 q0): |01> with 0.6, |10> with 0.4 (little-endian index).
    probs = np.array([0, 0.6, 0.4, 0])
    only_q1 = outcome_probabilities(probs, [(1, 0)], 2, 1)
    assert np.allclose(only_q1, [0.6, 0.4])
    swapped = outcome_probabilities(probs, [(0, 1), (1, 0)], 2, 2)
    assert np.allclose(swapped, [0, 0.4, 0.6, 0])
    flip = np.array([[0.9, 0.1], [0.2, 0.8]])
    confused = outcome_probabilities(probs, [(0, 0)], 2, 1, {0: flip})
    assert np.allclose(confused, [0.4 * 0.9 + 0.6 * 0.2, 0.4 * 0.1 + 0.6 * 0.8])
    wide = outcome_probabilities(probs, [(0, 2)], 2, 3)
    assert np.allclose(wide, [0.4, 0, 0, 0, 0.6, 0, 0, 0])


def test_sample_counts_and_counts_from_bits():
    counts = sample_counts(np.array([0.25, 0, 0, 0.75]), 1000, np.random.default_rng(0), 2)
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 1000
    assert sample_counts(np.array([0.25, 0, 0, 0.75]), 1000, np.random.default_rng(0), 2) == counts
    bits = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 1]])  # column c is clbit c
    assert counts_from_bits(bits) == {"001": 2, "110": 1}
    assert counts_from_bits(np.zeros((5, 0))) == {"": 5}


def test_little_endian_reorders_cirq_states():
    rng = np.random.default_rng(1)
    big = rng.normal(size=8) + 1j * rng.normal(size=8)
    little = little_endian(big, 3, density=False)
    for index in range(8):
        bits = format(index, "03b")
        assert little[int(bits[::-1], 2)] == big[index]
    rho = np.outer(big, big.conj())
    assert np.allclose(little_endian(rho, 3, density=True), np.outer(little, little.conj()))


# --- the registry --------------------------------------------------------------------------------------------------


def test_registry_lists_the_four_library_backends():
    assert backend_ids()[:4] == list(BACKEND_IDS)  # others (lret, ...) may follow
    infos = [i for i in list_backends() if i.id in BACKEND_IDS]
    assert [i.id for i in infos] == list(BACKEND_IDS)
    assert all(i.available and i.version and i.reason is None for i in infos)
    assert {i.capabilities.method for i in infos} == {"statevector", "density_matrix"}
    for info in infos:
        assert info.capabilities.exact_noise == (info.capabilities.method == "density_matrix")


def test_get_backend_normalises_and_rejects_unknown_ids():
    assert get_backend("  CIRQ-DM ").id == "cirq-dm"
    with pytest.raises(UnknownBackendError) as info:
        get_backend("qsim")
    assert info.value.code == "BACKEND_UNKNOWN"
    assert all(backend in info.value.hint for backend in BACKEND_IDS)


def test_self_test_is_healthy(backend_id):
    health = self_test(backend_id)
    assert health.healthy, health.detail
    assert health.id == backend_id and "bell counts" in health.detail


def test_memory_model(backend_id):
    backend = get_backend(backend_id)
    per_entry = 4 if backend.capabilities.method == "density_matrix" else 2  # lret: one column of L
    assert backend.state_bytes(10) == 16 * per_entry**10
    assert backend.memory_bytes(10) > backend.state_bytes(10)
    assert backend.memory_bytes(12) > backend.memory_bytes(11)


def test_tests_never_touch_the_real_home(isolated_home):
    from proxima_agent.paths import config_dir, data_dir

    assert data_dir().is_relative_to(isolated_home)
    assert config_dir().is_relative_to(isolated_home)
