"""The named circuit library: what each name builds (checked against the independent reference), parameter
errors, and the one entry point that resolves "a circuit" from names, text, files and objects."""

from __future__ import annotations

import math

import numpy as np
import pytest

from proxima_agent.circuits.ir import Circuit
from proxima_agent.circuits.library import LIBRARY, build, is_library_name, parse_name, qft_ops
from proxima_agent.circuits.loading import load_circuit
from proxima_agent.errors import CircuitParameterError, FileReadError, ProximaError, UnknownCircuitError
from proxima_agent.testing import assert_states_close, exact_reference_probabilities, exact_reference_state


@pytest.mark.parametrize(
    ("name", "num_qubits"),
    [
        ("bell", 2),
        ("ghz:5", 5),
        ("qft:3", 3),
        ("qft:4:9", 4),
        ("random:3:4", 3),
        ("random:3:4:9", 3),
        ("grover:3", 3),
        ("grover:4:5", 4),
        ("w:5", 5),
        ("qaoa:4:2", 4),
        ("qaoa:4:2:3", 4),
    ],
)
def test_every_library_circuit_measures_every_qubit_at_the_end(name, num_qubits):
    c = build(name)
    assert c.num_qubits == num_qubits and c.num_clbits == num_qubits
    assert c.terminal_measurements == [(q, q) for q in range(num_qubits)]
    assert [o.name for o in c.operations[-num_qubits:]] == ["measure"] * num_qubits
    assert not c.is_dynamic
    assert c.name == name


def test_names_are_case_and_space_insensitive_and_deterministic():
    assert build("  GHZ:4 ") == build("ghz:4")
    assert build("random:4:6").operations == build("random:4:6:0").operations  # seed 0 by default
    assert build("random:4:6:1").operations != build("random:4:6:2").operations
    assert build("qaoa:4:1:5") == build("qaoa:4:1:5")
    assert build("qaoa:4:1:5").operations != build("qaoa:4:1:6").operations


def test_bell_and_ghz_states():
    s = 1 / math.sqrt(2)
    assert_states_close(exact_reference_state(build("bell")), np.array([s, 0, 0, s]))
    ghz = np.zeros(2**6, dtype=complex)
    ghz[0] = ghz[-1] = s
    assert_states_close(exact_reference_state(build("ghz:6")), ghz)


@pytest.mark.parametrize(("n", "x"), [(2, 1), (3, 0), (3, 5), (4, 11), (5, 19), (6, 63)])
def test_qft_of_a_basis_state_has_the_analytic_amplitudes(n, x):
    state = exact_reference_state(build(f"qft:{n}:{x}"))
    k = np.arange(2**n)
    expected = np.exp(2j * np.pi * x * k / 2**n) / math.sqrt(2**n)
    assert_states_close(state, expected, atol=1e-10)


def test_qft_ops_alone_transform_zero_into_the_uniform_state():
    c = Circuit(num_qubits=3, operations=tuple(qft_ops(3)))
    assert_states_close(exact_reference_state(c), np.full(8, 1 / math.sqrt(8)), atol=1e-12)


@pytest.mark.parametrize("n", [2, 3, 5, 7])
def test_w_state_is_uniform_over_single_excitations(n):
    probabilities = exact_reference_probabilities(build(f"w:{n}"))
    singles = [1 << q for q in range(n)]
    assert np.allclose(probabilities[singles], 1 / n, atol=1e-12)
    assert math.isclose(probabilities.sum(), 1, abs_tol=1e-12)
    assert np.allclose(np.delete(probabilities, singles), 0, atol=1e-12)


@pytest.mark.parametrize(
    ("name", "marked", "floor"),
    [("grover:2", 3, 0.99), ("grover:3:2", 2, 0.9), ("grover:4:9", 9, 0.9), ("grover:5:17", 17, 0.95)],
)
def test_grover_finds_the_marked_state(name, marked, floor):
    probabilities = exact_reference_probabilities(build(name))
    assert int(np.argmax(probabilities)) == marked
    assert probabilities[marked] > floor


def test_grover_marks_all_ones_by_default():
    assert int(np.argmax(exact_reference_probabilities(build("grover:3")))) == 0b111


def test_random_circuit_layers():
    c = build("random:6:4:3")
    two_qubit = [o for o in c.gates if len(o.qubits) == 2]
    assert len(two_qubit) == 4 * 3  # depth 4, three random pairs per layer on 6 qubits
    assert {o.name for o in two_qubit} <= {"cx", "cz"}
    assert len([o for o in c.gates if len(o.qubits) == 1]) == 4 * 6


def test_qaoa_structure():
    c = build("qaoa:5:3:0")
    names = [o.name for o in c.gates]
    assert names[:5] == ["h"] * 5
    assert names.count("rx") == 3 * 5
    ring = {(q, (q + 1) % 5) for q in range(5)}
    edges = {tuple(sorted(o.qubits)) for o in c.gates if o.name == "rzz"}
    assert {tuple(sorted(e)) for e in ring} <= edges


# --- errors ----------------------------------------------------------------------------------------------------


def test_unknown_circuit_lists_the_library():
    with pytest.raises(UnknownCircuitError) as info:
        build("teleport:3")
    error = info.value
    assert error.code == "CIRCUIT_UNKNOWN"
    assert "teleport" in error.message
    for entry in LIBRARY.values():
        assert entry.usage in error.hint
    assert "qft:N[:X]" in error.hint and "random:N:DEPTH[:SEED]" in error.hint


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("ghz", "missing N"),
        ("ghz:1", "out of range"),
        ("ghz:65", "out of range"),
        ("ghz:five", "must be an integer"),
        ("ghz:3:4", "at most 1 parameter"),
        ("bell:2", "at most 0 parameter"),
        ("random:3", "missing DEPTH"),
        ("qft:3:8", "needs more than 3 qubits"),
        ("grover:3:8", "needs more than 3 qubits"),
        ("grover:21", "out of range"),
        ("qaoa:3:0", "out of range"),
        ("qft:1", "out of range"),
    ],
)
def test_bad_parameters_raise_circuit_parameter_error(spec, fragment):
    with pytest.raises(CircuitParameterError, match=fragment) as info:
        build(spec)
    assert info.value.hint
    assert info.value.code == "CIRCUIT_PARAMETERS"


def test_parameter_hints_show_usage_or_range():
    with pytest.raises(CircuitParameterError) as info:
        build("ghz:three")
    assert info.value.hint == "usage: ghz:N"
    with pytest.raises(CircuitParameterError) as info:
        build("qft:3:9")
    assert "between 0 and 7" in info.value.hint


def test_parse_name_and_is_library_name():
    entry, values = parse_name("qft:4")
    assert entry.name == "qft" and values == [4, 0]
    entry, values = parse_name("grover:3")
    assert values == [3, None]
    assert is_library_name("GHZ:9") and is_library_name("bell")
    assert not is_library_name("circuit.qasm") and not is_library_name("teleport")


# --- load_circuit: one entry point ---------------------------------------------------------------------------

BELL_QASM = (
    'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n'
)


def test_load_circuit_from_every_kind_of_source(tmp_path):
    import cirq
    from qiskit import QuantumCircuit

    bell = build("bell")
    assert load_circuit(bell) is bell
    assert load_circuit("bell") == bell
    from_text = load_circuit(BELL_QASM)
    assert from_text.operations == bell.operations
    path = tmp_path / "my_bell.qasm"
    path.write_text(BELL_QASM)
    for source in (path, str(path)):
        loaded = load_circuit(source)
        assert loaded.operations == bell.operations
        assert loaded.name == "my_bell"
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    assert load_circuit(qc).operations == bell.operations
    a, b = cirq.LineQubit.range(2)
    assert load_circuit(
        cirq.Circuit(cirq.H(a), cirq.CNOT(a, b), cirq.measure(a), cirq.measure(b))
    ).operations == (bell.operations)


def test_load_circuit_errors(tmp_path):
    with pytest.raises(UnknownCircuitError) as info:
        load_circuit("teleport")
    assert "ghz:N" in info.value.hint
    with pytest.raises(FileReadError, match="no such file"):
        load_circuit(str(tmp_path / "missing.qasm"))
    with pytest.raises(FileReadError, match="is a directory"):
        load_circuit(tmp_path)
    with pytest.raises(ProximaError, match="cannot make a circuit from a int"):
        load_circuit(42)


# --- sizes known before building -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["bell", "ghz:7", "qft:6", "qft:5:19", "random:7:9:3", "random:1:5", "grover:4", "grover:5:0", "w:6",
     "qaoa:7:3:2", "qaoa:2:1", "qaoa:3:2"],
)  # fmt: skip
def test_a_library_entry_knows_its_size_without_building(name):
    entry, values = parse_name(name)
    n = 2 if entry.name == "bell" else values[0]
    assert entry.size(*values) + n == len(build(name).operations)


@pytest.mark.parametrize("name", ["random:64:2000", "qaoa:64:1000", "random:64:10000:5"])
def test_library_circuits_over_the_operation_limit_are_refused_before_building(name):
    import time

    from proxima_agent.errors import CircuitTooLargeError

    start = time.perf_counter()
    with pytest.raises(CircuitTooLargeError) as info:
        build(name)
    assert time.perf_counter() - start < 1
    assert info.value.context["limit"] == "MAX_OPERATIONS" and "100,000" in info.value.message


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("ghz:1000000000", CircuitParameterError),
        ("random:10:100000000", CircuitParameterError),
        ("ghz:" + "9" * 100_000, CircuitParameterError),
        ("ghz:" + "x" * 100_000, CircuitParameterError),
        ("ghz:5:" + ":".join(["1"] * 50_000), CircuitParameterError),
        ("nosuch" + "x" * 100_000, UnknownCircuitError),
    ],
    ids=["ghz-huge", "random-deep", "ghz-long-number", "ghz-long-text", "many-parameters", "long-unknown"],
)
def test_huge_library_names_are_refused_with_a_short_message(spec, error):
    with pytest.raises(error) as info:
        load_circuit(spec)
    assert len(info.value.message) < 300 and len(info.value.hint or "") < 1000
