"""Noisy simulation: cirq-dm, aer-dm and lret (at threshold 0) give the same density matrix as each other and as
an independent qiskit.quantum_info reference built from Proxima's Kraus operators, for every noise kind; the
trajectory backends (cirq-sv, aer-sv) sample the same distribution; the depolarizing convention is pinned
everywhere."""

from __future__ import annotations

import numpy as np
import pytest

from proxima_agent.backends.base import RunOptions
from proxima_agent.backends.registry import get_backend
from proxima_agent.circuits.gates import GATES
from proxima_agent.circuits.ir import make_circuit, op
from proxima_agent.circuits.noise import Kraus, NoiseModel, NoiseRule, parse_noise
from proxima_agent.testing import (
    DEFAULT_SEED,
    assert_distribution_matches,
    assert_probabilities_close,
    assert_states_close,
    exact_reference_probabilities,
    exact_reference_state,
    random_circuit,
    random_kraus,
)


def kraus_rule(num_qubits: int, seed: int, **where) -> NoiseRule:
    return NoiseRule(channel=Kraus(matrices=random_kraus(num_qubits, 2 + num_qubits, seed=seed)), **where)


NOISE = {
    "depolarizing": parse_noise("depolarizing:0.08"),
    # Two-qubit gates only: the channel then always acts on pairs (and on the 3-4 qubit gates' full width).
    "depolarizing-2q": parse_noise("depolarizing:0.15@cx,cz,swap,iswap,rzz,crx,cp,ch,cy,cry,crz,rxx,ryy"),
    "amplitude_damping": parse_noise("amplitude_damping:0.12"),
    "phase_damping": parse_noise("phase_damping:0.2"),
    "bit_flip": parse_noise("bit_flip:0.07"),
    "phase_flip": parse_noise("phase_flip:0.1"),
    "thermal_relaxation": parse_noise("thermal:50:70:4"),
    "kraus-1q": NoiseModel(rules=(kraus_rule(1, seed=1),)),
    "kraus-2q": NoiseModel(rules=(kraus_rule(2, seed=2),)),
    "readout": parse_noise("readout:0.04:0.09;readout:0.1/1"),
    "mixed": NoiseModel(
        rules=(
            *parse_noise("depolarizing:0.05/0,1,2;amplitude_damping:0.1/1,2;thermal:40:30:2@h,rx,ry").rules,
            *parse_noise("phase_flip:0.2@rz,p,t;bit_flip:0.03/0;readout:0.05:0.02/0,2").rules,
            kraus_rule(2, seed=3, gates=("cz", "swap")),
        )
    ),
}


# Strong noise for the sampling checks, so that a wrong channel moves the distribution by more than the bound.
STRONG_NOISE = {
    "depolarizing": parse_noise("depolarizing:0.3"),
    "depolarizing-2q": parse_noise("depolarizing:0.4@cx,cz,swap"),
    "amplitude_damping": parse_noise("amplitude_damping:0.4"),
    "phase_damping": parse_noise("phase_damping:0.6"),
    "bit_flip": parse_noise("bit_flip:0.25"),
    "phase_flip": parse_noise("phase_flip:0.35"),
    "thermal_relaxation": parse_noise("thermal:10:5:5"),
    "kraus-1q": NoiseModel(rules=(kraus_rule(1, seed=1),)),
    "kraus-2q": NoiseModel(rules=(kraus_rule(2, seed=2),)),
    "readout": parse_noise("readout:0.15:0.3"),
}
STRONG_NOISE_AND_MIXED = {**STRONG_NOISE, "mixed": NOISE["mixed"]}


def assert_valid_density_matrix(rho: np.ndarray) -> None:
    assert np.allclose(rho, rho.conj().T, atol=1e-10), "not Hermitian"
    assert abs(np.trace(rho) - 1) < 1e-10, "trace is not 1"
    assert np.linalg.eigvalsh(rho).min() > -1e-10, "not positive semidefinite"


@pytest.mark.parametrize("num_qubits", [4, 6, 8])
@pytest.mark.parametrize("kind", NOISE)
def test_density_matrix_backends_agree_with_each_other_and_the_reference(kind, num_qubits):
    noise = NOISE[kind]
    # Every gate of the IR; at 8 qubits no 4-qubit mcx (a 4-qubit channel on 8 qubits is slow in every library).
    gates = [g for g in GATES if g != "mcx"] if num_qubits == 8 else None
    circuit = random_circuit(num_qubits, 3, seed=100 * num_qubits + len(kind), gates=gates)
    options = RunOptions(shots=2000, seed=DEFAULT_SEED, noise=noise, return_state=True)
    cirq_result = get_backend("cirq-dm").run(circuit, options)
    aer_result = get_backend("aer-dm").run(circuit, options)
    assert cirq_result.exact and aer_result.exact
    assert_states_close(cirq_result.density_matrix, aer_result.density_matrix, atol=1e-8)
    reference = exact_reference_state(circuit, noise, density=True)
    assert_valid_density_matrix(reference)
    assert_states_close(cirq_result.density_matrix, reference, atol=1e-8)
    assert_states_close(aer_result.density_matrix, reference, atol=1e-8)
    if noise.has_gate_noise:  # the noise did something: the state is mixed
        assert np.real(np.trace(reference @ reference)) < 1 - 1e-3
    probabilities = exact_reference_probabilities(circuit, noise, state=reference)
    assert_probabilities_close(cirq_result.probabilities, probabilities, atol=1e-8)
    assert_probabilities_close(aer_result.probabilities, probabilities, atol=1e-8)
    assert_distribution_matches(cirq_result.counts, probabilities, 2000)
    assert_distribution_matches(aer_result.counts, probabilities, 2000)
    if num_qubits <= 6:  # lret at threshold 0 is exact; at 8 qubits with noise on every gate it is slow
        lret = get_backend("lret").run(
            circuit, options.model_copy(update={"backend_options": {"threshold": 0}})
        )
        assert lret.exact and lret.metadata["lret"]["discarded_weight"] < 1e-12
        assert_states_close(lret.density_matrix, aer_result.density_matrix, atol=1e-10)
        assert_states_close(lret.density_matrix, reference, atol=1e-10)
        assert_probabilities_close(lret.probabilities, probabilities, atol=1e-10)
        assert_distribution_matches(lret.counts, probabilities, 2000)


def test_readout_changes_probabilities_but_not_the_state():
    circuit = random_circuit(4, 3, seed=5)
    noiseless = exact_reference_state(circuit, density=True)
    for backend_id in ("cirq-dm", "aer-dm", "lret"):
        result = get_backend(backend_id).run(
            circuit, RunOptions(shots=100, seed=1, noise=NOISE["readout"], return_state=True)
        )
        assert_states_close(result.density_matrix, noiseless, atol=1e-8)
        assert np.max(np.abs(result.probabilities - exact_reference_probabilities(circuit))) > 1e-3


@pytest.mark.parametrize("backend_id", ["cirq-dm", "aer-dm", "lret"])
def test_noisy_mid_circuit_runs_sample_the_right_distribution(backend_id):
    """Dynamic circuits with gate noise run shot by shot even on density-matrix backends (lret alone keeps the
    measurement record in its state, so its answer stays exact)."""
    circuit = make_circuit(
        1,
        [op("h", 0), op("measure", 0, clbits=(0,)), op("x", 0), op("measure", 0, clbits=(1,))],
        num_clbits=2,
        name="dyn",
    )
    result = get_backend(backend_id).run(
        circuit, RunOptions(shots=3000, seed=DEFAULT_SEED, noise=parse_noise("bit_flip:0.2"))
    )
    # c0 is uniform (a flip after h changes nothing); x and a flip with 0.2 make c1 = not c0 with 0.8.
    expected = {"10": 0.4, "01": 0.4, "00": 0.1, "11": 0.1}
    assert result.exact == (backend_id == "lret")
    if result.exact:
        assert result.probability_dict() == pytest.approx(expected, abs=1e-12)
    assert_distribution_matches(result.counts, expected, 3000)


# --- trajectories ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", STRONG_NOISE_AND_MIXED)
def test_aer_trajectories_sample_the_exact_distribution(kind):
    noise = STRONG_NOISE_AND_MIXED[kind]
    circuit = random_circuit(5, 3, seed=7 + len(kind))
    result = get_backend("aer-sv").run(circuit, RunOptions(shots=3000, seed=DEFAULT_SEED, noise=noise))
    assert result.exact == (not noise.has_gate_noise)
    assert_distribution_matches(result.counts, exact_reference_probabilities(circuit, noise), 3000)


def _small_noisy_circuit():
    """cirq-sv runs every shot in Python, so its trajectories stay short: three qubits, six gates, ending near a
    basis state (so noise shows in the counts), with an h-h pair that makes lost coherence visible too."""
    return make_circuit(
        3,
        [op("h", 0), op("h", 0), op("x", 1), op("cx", 1, 2), op("sx", 2), op("sxdg", 2)],
        name="small-noisy",
    ).with_measurements()


@pytest.mark.parametrize("kind", STRONG_NOISE)
def test_cirq_trajectories_sample_the_exact_distribution(kind):
    noise = STRONG_NOISE[kind]
    circuit = _small_noisy_circuit()
    result = get_backend("cirq-sv").run(circuit, RunOptions(shots=500, seed=DEFAULT_SEED, noise=noise))
    assert result.exact == (not noise.has_gate_noise)
    if noise.has_gate_noise:
        assert result.method == "trajectories" and result.probabilities is None
    assert_distribution_matches(result.counts, exact_reference_probabilities(circuit, noise), 500)


@pytest.mark.slow
def test_cirq_trajectories_with_every_kind_at_once():
    circuit = random_circuit(3, 3, seed=11, gates=["h", "rx", "ry", "cx", "cz", "swap", "ccx"])
    noise = NOISE["mixed"]
    result = get_backend("cirq-sv").run(circuit, RunOptions(shots=500, seed=DEFAULT_SEED, noise=noise))
    assert_distribution_matches(result.counts, exact_reference_probabilities(circuit, noise), 500)


# --- the depolarizing convention ---------------------------------------------------------------------------------

SHOTS = {"cirq-sv": 2000, "cirq-dm": 4000, "aer-sv": 4000, "aer-dm": 4000, "lret": 4000}


@pytest.mark.parametrize("p", [0.1, 0.3])
def test_one_qubit_depolarizing_leaves_half_of_p_in_one(backend_id, p):
    circuit = make_circuit(1, [op("id", 0), op("measure", 0, clbits=(0,))], num_clbits=1, name="idle")
    shots = SHOTS[backend_id]
    result = get_backend(backend_id).run(
        circuit, RunOptions(shots=shots, seed=DEFAULT_SEED, noise=parse_noise(f"depolarizing:{p}"))
    )
    if result.exact:
        assert result.probabilities == pytest.approx([1 - p / 2, p / 2], abs=1e-12)
    assert_distribution_matches(result.counts, [1 - p / 2, p / 2], shots)


@pytest.mark.parametrize("p", [0.2])
def test_two_qubit_depolarizing_leaves_one_minus_three_quarters_p_in_00(backend_id, p):
    circuit = make_circuit(2, [op("cx", 0, 1)], name="cx").with_measurements()
    shots = SHOTS[backend_id]
    result = get_backend(backend_id).run(
        circuit, RunOptions(shots=shots, seed=DEFAULT_SEED, noise=parse_noise(f"depolarizing:{p}"))
    )
    expected = [1 - 3 * p / 4, p / 4, p / 4, p / 4]
    if result.exact:
        assert result.probabilities == pytest.approx(expected, abs=1e-12)
    assert_distribution_matches(result.counts, expected, shots)
