"""Noise models as data: the short syntax and JSON, validation with hints, the channels' Kraus operators (CPTP and
equal to independent definitions), and where rules place channels."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from proxima_agent.circuits.ir import make_circuit, op
from proxima_agent.circuits.noise import (
    AmplitudeDamping,
    BitFlip,
    Depolarizing,
    Kraus,
    NoiseModel,
    NoiseOp,
    NoiseRule,
    PhaseDamping,
    PhaseFlip,
    Readout,
    ThermalRelaxation,
    noise_from_json,
    parse_noise,
)
from proxima_agent.errors import FileReadError, NoiseError
from proxima_agent.testing import random_kraus

I2 = np.eye(2)
X = np.array([[0, 1], [1, 0]], dtype=complex)
Y = np.array([[0, -1j], [1j, 0]])
Z = np.diag([1.0, -1.0]).astype(complex)


def apply(kraus: list[np.ndarray], rho: np.ndarray) -> np.ndarray:
    return sum(k @ rho @ k.conj().T for k in kraus)


def random_density(dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(dim, dim)) + 1j * rng.normal(size=(dim, dim))
    rho = a @ a.conj().T
    return rho / np.trace(rho)


def assert_cptp(kraus: list[np.ndarray]) -> None:
    dim = kraus[0].shape[0]
    assert all(k.shape == (dim, dim) for k in kraus)
    assert np.allclose(sum(k.conj().T @ k for k in kraus), np.eye(dim), atol=1e-12), "not trace preserving"
    # Completely positive: the Choi matrix of a Kraus sum is positive semidefinite.
    choi = sum(np.outer(k.reshape(-1), k.reshape(-1).conj()) for k in kraus)
    assert np.linalg.eigvalsh(choi).min() > -1e-12


CHANNELS = [
    Depolarizing(p=0.0),
    Depolarizing(p=0.3),
    Depolarizing(p=1.0),
    AmplitudeDamping(gamma=0.25),
    AmplitudeDamping(gamma=1.0),
    PhaseDamping(lam=0.4),
    BitFlip(p=0.1),
    PhaseFlip(p=0.9),
    ThermalRelaxation(t1=50, t2=70, gate_time=3),
    ThermalRelaxation(t1=50, t2=100, gate_time=20),
    ThermalRelaxation(t1=50, t2=10, gate_time=0),
    Kraus(matrices=random_kraus(1, 3, seed=1)),
    Kraus(matrices=random_kraus(2, 4, seed=2)),
]


@pytest.mark.parametrize("channel", CHANNELS, ids=lambda c: c.kind)
def test_every_channel_is_cptp(channel):
    widths = [1, 2, 3] if channel.kind == "depolarizing" else [channel.arity]
    for n in widths:
        assert_cptp(channel.kraus(n))


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("p", [0.0, 0.1, 0.75, 1.0])
def test_depolarizing_is_mixing_with_the_maximally_mixed_state(n, p):
    """(1 - p) rho + p I / 2^n: Qiskit's convention, which every backend must follow."""
    rho = random_density(2**n, seed=n)
    expected = (1 - p) * rho + p * np.eye(2**n) / 2**n
    assert np.allclose(apply(Depolarizing(p=p).kraus(n), rho), expected, atol=1e-12)


def test_single_qubit_channels_match_their_definitions():
    rho = random_density(2, seed=7)
    g = 0.3
    damped = apply(AmplitudeDamping(gamma=g).kraus(), rho)
    assert math.isclose(damped[1, 1].real, (1 - g) * rho[1, 1].real)
    assert np.isclose(damped[0, 1], math.sqrt(1 - g) * rho[0, 1])
    lam = 0.36
    dephased = apply(PhaseDamping(lam=lam).kraus(), rho)
    assert np.allclose(np.diag(dephased), np.diag(rho))
    assert np.isclose(dephased[0, 1], math.sqrt(1 - lam) * rho[0, 1])
    p = 0.2
    assert np.allclose(apply(BitFlip(p=p).kraus(), rho), (1 - p) * rho + p * X @ rho @ X)
    assert np.allclose(apply(PhaseFlip(p=p).kraus(), rho), (1 - p) * rho + p * Z @ rho @ Z)


@pytest.mark.parametrize(
    ("t1", "t2", "t"), [(50, 70, 3), (50, 100, 20), (30, 10, 5), (10, 20, 0), (40, 40, 80)]
)
def test_thermal_relaxation_decays_as_t1_and_t2(t1, t2, t):
    rho = random_density(2, seed=3)
    out = apply(ThermalRelaxation(t1=t1, t2=t2, gate_time=t).kraus(), rho)
    assert math.isclose(out[1, 1].real, rho[1, 1].real * math.exp(-t / t1), abs_tol=1e-12)
    assert np.isclose(out[0, 1], rho[0, 1] * math.exp(-t / t2), atol=1e-12)


def _superop(kraus: list[np.ndarray]) -> np.ndarray:
    return sum(np.kron(k.conj(), k) for k in kraus)


@pytest.mark.parametrize("channel", [c for c in CHANNELS if c.kind != "kraus"], ids=lambda c: c.kind)
def test_channels_equal_qiskit_aer_and_cirq_native_channels(channel):
    """The backends use these native channels; they must be the very maps Proxima's Kraus operators define."""
    import cirq
    from qiskit.quantum_info import SuperOp

    from proxima_agent.backends.aer_backend import aer_error
    from proxima_agent.backends.cirq_backend import cirq_channel

    n = 2 if channel.kind == "depolarizing" else 1
    noise_op = NoiseOp(channel=channel, qubits=tuple(range(n)))
    ours = _superop(channel.kraus(n))
    # Aer's error in Qiskit's little-endian order; Proxima's matrices are big-endian: compare on symmetric maps.
    aer_superop = SuperOp(aer_error(noise_op).to_quantumchannel()).data
    assert np.allclose(aer_superop, ours, atol=1e-10)
    cirq_superop = _superop(list(cirq.kraus(cirq_channel(noise_op))))
    assert np.allclose(cirq_superop, ours, atol=1e-10)


def test_general_kraus_keeps_the_ir_convention_on_two_qubits():
    """Kraus matrices are big-endian over the listed qubits; Aer receives the qubits reversed."""
    import cirq
    from qiskit.quantum_info import DensityMatrix
    from qiskit.quantum_info import Kraus as QiskitKraus

    from proxima_agent.backends.cirq_backend import cirq_channel

    channel = Kraus(matrices=random_kraus(2, 3, seed=5))
    rho = random_density(4, seed=9)  # big-endian over (q0, q1)
    expected = apply(channel.kraus(2), rho)
    noise_op = NoiseOp(channel=channel, qubits=(0, 1))
    assert np.allclose(apply(list(cirq.kraus(cirq_channel(noise_op))), rho), expected, atol=1e-12)
    # Qiskit: a 2-qubit little-endian state; qargs reversed puts the IR's first qubit on the high bit.
    swap = np.eye(4)[[0, 2, 1, 3]]
    little = swap @ rho @ swap
    out = DensityMatrix(little).evolve(QiskitKraus(channel.kraus(2)), qargs=[1, 0]).data
    assert np.allclose(swap @ out @ swap, expected, atol=1e-12)


# --- validation ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        "depolarizing:1.5",
        "bit_flip:-0.1",
        "phase_flip:2",
        "amplitude_damping:1.0001",
        "phase_damping:-1",
        "readout:0.1:2",
        "readout:-0.5",
    ],
)
def test_probabilities_outside_the_unit_interval_are_rejected_with_a_hint(spec):
    with pytest.raises(NoiseError) as info:
        parse_noise(spec)
    assert info.value.code == "NOISE_INVALID"
    assert info.value.hint == "probabilities must lie in [0, 1]"
    assert spec in info.value.message


def test_json_probabilities_outside_the_unit_interval_are_rejected_with_a_hint():
    with pytest.raises(NoiseError) as info:
        parse_noise('{"rules": [{"channel": {"kind": "bit_flip", "p": 1.2}}]}')
    assert info.value.hint == "probabilities must lie in [0, 1]"
    assert "rules[0]" in info.value.message


def test_kraus_channels_must_be_trace_preserving():
    not_tp = [[[1, 0], [0, 1]], [[0, 1], [1, 0]]]
    with pytest.raises(ValidationError, match="not trace preserving"):
        Kraus(matrices=not_tp)
    with pytest.raises(NoiseError, match="not trace preserving"):
        parse_noise(json.dumps({"rules": [{"channel": {"kind": "kraus", "matrices": not_tp}}]}))
    scaled = [0.999 * m for m in random_kraus(1, 2, seed=0)]
    with pytest.raises(ValidationError, match="not trace preserving"):
        Kraus(matrices=scaled)


@pytest.mark.parametrize(
    "matrices",
    [[], [np.eye(3)], [np.eye(2), np.zeros((4, 4))], [np.eye(1)]],
    ids=["empty", "not-power-of-two", "mixed-sizes", "one-by-one"],
)
def test_kraus_channels_must_be_well_formed(matrices):
    with pytest.raises(ValidationError):
        Kraus(matrices=matrices)


def test_kraus_accepts_complex_numbers_and_pairs():
    a = Kraus(matrices=[np.diag([1, 1j])])
    b = Kraus(matrices=[[[(1, 0), (0, 0)], [(0, 0), (0, 1)]]])
    c = Kraus(matrices=[[[1, 0], [0, 1j]]])
    assert a == b == c
    assert np.allclose(a.kraus()[0], np.diag([1, 1j]))
    assert a.arity == 1 and Kraus(matrices=random_kraus(3, 2, seed=1)).arity == 3


def test_thermal_relaxation_with_t2_above_twice_t1_is_rejected():
    with pytest.raises(NoiseError, match="exceeds 2\\*T1"):
        parse_noise("thermal:10:30:1")
    with pytest.raises(ValidationError, match="no physical qubit"):
        ThermalRelaxation(t1=10, t2=20.0001, gate_time=1)
    ThermalRelaxation(t1=10, t2=20, gate_time=1)  # the boundary is allowed
    with pytest.raises(NoiseError):
        parse_noise("thermal:-1:1:1")


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("foo:0.1", "unknown noise kind 'foo'"),
        ("depolarizing:0.1:0.2", "depolarizing takes P"),
        ("thermal:1:1", "thermal_relaxation takes T1:T2:GATE_TIME"),
        ("depolarizing:x", "parameters must be numbers"),
        ("depolarizing:0.1@foo", "unknown gate(s) ['foo']"),
        ("depolarizing:0.1/a", "qubits must be integers"),
        ('{"rules": [}', "not valid JSON"),
        ('{"rules": 3}', "needs a list under 'rules'"),
        ('{"rules": [{"channel": {"kind": "teleport"}}]}', "rules[0]"),
    ],
)
def test_malformed_noise_specs(spec, fragment):
    with pytest.raises(NoiseError) as info:
        parse_noise(spec)
    assert fragment in info.value.message
    assert info.value.hint


def test_missing_noise_file(tmp_path):
    with pytest.raises(FileReadError, match="cannot read noise model"):
        parse_noise(str(tmp_path / "absent.json"))


# --- the short syntax and JSON ---------------------------------------------------------------------------------


def test_short_syntax():
    m = parse_noise(
        " depol:0.01@CX,h/0,1 ; readout:0.02 ; thermal:50:70:1;amp_damp:0.1;dephasing:0.2/3;bit-flip:0.3"
    )
    assert [r.channel for r in m.rules] == [
        Depolarizing(p=0.01),
        Readout(p01=0.02, p10=0.02),
        ThermalRelaxation(t1=50, t2=70, gate_time=1),
        AmplitudeDamping(gamma=0.1),
        PhaseDamping(lam=0.2),
        BitFlip(p=0.3),
    ]
    assert m.rules[0].gates == ("cx", "h") and m.rules[0].qubits == (0, 1)
    assert m.rules[4].qubits == (3,) and m.rules[4].gates is None
    assert parse_noise("readout:0.1:0.3").rules[0].channel == Readout(p01=0.1, p10=0.3)
    assert m.kinds == {
        "depolarizing",
        "readout",
        "thermal_relaxation",
        "amplitude_damping",
        "phase_damping",
        "bit_flip",
    }


@pytest.mark.parametrize("spec", [None, "", "   "])
def test_no_noise(spec):
    m = parse_noise(spec)
    assert m == NoiseModel() and m.is_empty and not m.has_gate_noise and m.kinds == set()


NOISE_MODELS = [
    parse_noise("depolarizing:0.01"),
    parse_noise("depol:0.01@cx,h/0,1;readout:0.02:0.05/2;thermal:50:70:1;phase_flip:0.5@rz"),
    NoiseModel(rules=(NoiseRule(channel=Kraus(matrices=random_kraus(2, 3, seed=4)), gates=("cx",)),)),
]


@pytest.mark.parametrize("model", NOISE_MODELS)
def test_json_round_trip(model, tmp_path):
    assert NoiseModel.model_validate_json(model.to_json()) == model
    assert parse_noise(model.to_json()) == model
    path = tmp_path / "noise.json"
    path.write_text(model.to_json())
    assert parse_noise(str(path)) == model
    assert noise_from_json(str(path)) == model


@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                ["depolarizing", "amplitude_damping", "phase_damping", "bit_flip", "phase_flip", "readout"]
            ),
            st.floats(0, 1),
            st.floats(0, 1),
            st.none()
            | st.lists(st.sampled_from(["h", "cx", "rz", "ccx"]), min_size=1, max_size=3, unique=True),
            st.none() | st.lists(st.integers(0, 9), min_size=1, max_size=3, unique=True),
        ),
        max_size=4,
    )
)
def test_short_syntax_and_json_agree(rules):
    args = {
        "depolarizing": 1,
        "amplitude_damping": 1,
        "phase_damping": 1,
        "bit_flip": 1,
        "phase_flip": 1,
        "readout": 2,
    }
    parts = []
    for kind, a, b, gates, qubits in rules:
        text = ":".join([kind, repr(a), repr(b)][: args[kind] + 1])
        text += "@" + ",".join(gates) if gates else ""
        text += "/" + ",".join(map(str, qubits)) if qubits else ""
        parts.append(text)
    model = parse_noise(";".join(parts))
    assert len(model.rules) == len(rules)
    assert NoiseModel.model_validate_json(model.to_json()) == model
    for rule, (kind, a, _, gates, qubits) in zip(model.rules, rules, strict=True):
        assert rule.channel.kind == kind
        assert rule.gates == (tuple(gates) if gates else None)
        assert rule.qubits == (tuple(qubits) if qubits else None)
        assert (
            rule.channel.model_dump()[
                {"amplitude_damping": "gamma", "phase_damping": "lam", "readout": "p01"}.get(kind, "p")
            ]
            == a
        )


# --- placement ---------------------------------------------------------------------------------------------------


def test_channels_follow_gates_by_the_documented_rules():
    m = NoiseModel(
        rules=(
            NoiseRule(channel=Depolarizing(p=0.1)),
            NoiseRule(channel=BitFlip(p=0.2), gates=("cx",), qubits=(1,)),
            NoiseRule(channel=Kraus(matrices=random_kraus(2, 2, seed=1))),
            NoiseRule(channel=Readout(p01=0.1, p10=0.1)),
        )
    )
    cx = op("cx", 0, 1)
    placed = [(n.channel.kind, n.qubits) for n in m.after(cx)]
    assert placed == [("depolarizing", (0, 1)), ("bit_flip", (1,)), ("kraus", (0, 1))]
    placed_h = [(n.channel.kind, n.qubits) for n in m.after(op("h", 2))]
    assert placed_h == [("depolarizing", (2,))]  # the 2-qubit Kraus channel does not follow 1-qubit gates
    assert [n.channel.kind for n in m.after(op("ccx", 0, 1, 2))] == ["depolarizing"]
    assert m.after(op("measure", 0, clbits=(0,))) == [] and m.after(op("reset", 0)) == []


def test_qubit_restricted_depolarizing_needs_every_gate_qubit_allowed():
    m = parse_noise("depolarizing:0.1/0,1")
    assert [n.qubits for n in m.after(op("cx", 0, 1))] == [(0, 1)]
    assert m.after(op("cx", 1, 2)) == []
    single = parse_noise("amplitude_damping:0.1/0,1")
    assert [n.qubits for n in single.after(op("ccx", 2, 1, 0))] == [(1,), (0,)]


def test_one_qubit_kraus_acts_on_each_qubit_of_a_gate():
    m = NoiseModel(rules=(NoiseRule(channel=Kraus(matrices=random_kraus(1, 2, seed=3))),))
    assert [n.qubits for n in m.after(op("cx", 2, 0))] == [(2,), (0,)]


def test_readout_combines_rules_per_qubit():
    m = parse_noise("readout:0.1:0.2;readout:0.05/1")
    assert np.allclose(m.readout(0), [[0.9, 0.1], [0.2, 0.8]])
    expected = np.array([[0.9, 0.1], [0.2, 0.8]]) @ np.array([[0.95, 0.05], [0.05, 0.95]])
    assert np.allclose(m.readout(1), expected)
    assert parse_noise("bit_flip:0.1").readout(0) is None
    assert not parse_noise("readout:0.1").has_gate_noise
    assert parse_noise("readout:0.1;bit_flip:0.1").has_gate_noise


def test_stream_and_noisy_locations():
    c = make_circuit(
        2,
        [op("h", 0), op("cx", 0, 1), op("measure", 0, clbits=(0,)), op("measure", 1, clbits=(1,))],
        num_clbits=2,
        name="c",
    )
    m = parse_noise("bit_flip:0.1;readout:0.1/1")
    stream = m.stream(c)
    kinds = [s.channel.kind if isinstance(s, NoiseOp) else s.name for s in stream]
    assert kinds == ["h", "bit_flip", "cx", "bit_flip", "bit_flip", "measure", "measure"]
    assert m.noisy_locations(c) == 3 + 1


def test_rules_naming_missing_qubits_are_rejected_against_a_circuit():
    c = make_circuit(2, [op("h", 0)], name="small")
    with pytest.raises(NoiseError, match="qubit\\(s\\) \\[5\\]") as info:
        parse_noise("bit_flip:0.1/0,5").stream(c)
    assert info.value.hint == "use qubits 0..1"


# --- hostile specs: refused, never run noiseless, never echoed at length --------------------------------------------


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (";;;", "names no channel"),
        (" ; ", "names no channel"),
        ("depolarizing:0.01@cx/0,0", "listed more than once"),
        ("depolarizing:0.01/1,2,1", "listed more than once"),
        ("depolarizing:0.01/-1", "numbered from 0"),
        ("depolarizing:0.01@/0", "empty list of gates"),
        ("depolarizing:nan", "less than or equal"),
        ("thermal:inf:1:0.1", "finite"),
        ("thermal:50:70:nan", "finite"),
        ('{"rules": [{"channel": {"kind": "bit_flip", "p": 0.1}, "qubits": []}]}', "empty list of qubits"),
        ('{"rules": [{"channel": {"kind": "bit_flip", "p": 0.1}, "qubits": [3, 3]}]}', "listed more than once"),
        ('{"rules": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ],
    ids=[
        "semicolons", "blank-part", "repeated-qubit", "repeated-qubit-2", "negative-qubit", "empty-gates", "nan",
        "thermal-inf", "thermal-nan", "json-empty-qubits", "json-repeated-qubits", "json-deep",
    ],
)  # fmt: skip
def test_hostile_noise_specs_are_refused(spec, fragment):
    with pytest.raises(NoiseError) as info:
        parse_noise(spec)
    assert fragment in info.value.message
    assert info.value.hint


@pytest.mark.parametrize(
    "spec",
    [
        "x" * 1_000_000,
        "depolarizing:" + "9" * 1_000_000,
        "depolarizing:0.1@" + "nosuch," * 100_000,
        "depolarizing:0.1/" + "1," * 100_000 + "1",
        '{"rules": [{"channel": {"kind": "' + "k" * 1_000_000 + '"}}]}',
        '{"rules": [{"channel": {"kind": "bit_flip", "p": 0.1, "' + "k" * 1_000_000 + '": 1}}]}',
    ],
    ids=["unknown-kind", "long-number", "many-gates", "many-qubits", "long-kind", "long-key"],
)
def test_noise_errors_never_echo_the_spec_at_length(spec):
    with pytest.raises(NoiseError) as info:
        parse_noise(spec)
    assert len(info.value.message) < 600


def test_a_noise_file_is_read_like_a_circuit_file(tmp_path):
    fifo = tmp_path / "noise.json"
    os.mkfifo(fifo)
    with pytest.raises(FileReadError, match="FIFO"):
        parse_noise(str(fifo))  # returns at once: stat'ed, never opened for a blocking read
    big = tmp_path / "big.json"
    big.write_text('{"rules": []}' + " " * 1_000_000)
    with pytest.raises(FileReadError, match="over the limit"):
        parse_noise(str(big))


def test_noise_on_circuits_names_few_missing_qubits():
    model = parse_noise("depolarizing:0.01/" + ",".join(str(q) for q in range(2, 5000)))
    with pytest.raises(NoiseError) as info:
        model.check(make_circuit(2, [op("h", 0)], name="c"))
    assert "and 4993 more" in info.value.message and len(info.value.message) < 200
