"""The circuit IR: the gate table against Qiskit's matrices, validation, structure queries, JSON round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from pydantic import ValidationError

from proxima_agent.circuits.gates import GATES, controlled, gate_matrix, is_clifford_matrix
from proxima_agent.circuits.ir import Circuit, Operation, make_circuit, mcx, op
from proxima_agent.circuits.library import LIBRARY, build
from proxima_agent.errors import CircuitError
from proxima_agent.testing import (
    assert_states_close,
    exact_reference_state,
    ir_circuits,
    ir_unitary,
    random_circuit,
    reference_gate_matrix,
)

ANGLES = (0.0, 0.3, -1.7, math.pi, 2.5 * math.pi)


# --- the gate table ------------------------------------------------------------------------------------------


def _gate_cases() -> list[tuple[str, tuple[float, ...]]]:
    """Each fixed gate once; each parameterised gate at special angles and at random ones."""
    cases = []
    for name, spec in GATES.items():
        if name == "mcx":
            continue
        if spec.num_params == 0:
            cases.append((name, ()))
            continue
        cases += [(name, (angle,) * spec.num_params) for angle in ANGLES]
        rng = np.random.default_rng(len(cases))
        cases += [(name, tuple(float(x) for x in rng.uniform(-7, 7, size=spec.num_params))) for _ in range(2)]
    return cases


@pytest.mark.parametrize(("name", "params"), _gate_cases())
def test_gate_matrix_equals_qiskit_exactly(name, params):
    """Phases follow Qiskit's definitions exactly, so no global-phase fudge is needed anywhere."""
    spec = GATES[name]
    operation = op(name, *range(spec.num_qubits), params=params)
    matrix = gate_matrix(name, params)
    assert matrix.shape == (2**spec.num_qubits,) * 2
    assert_states_close(matrix, reference_gate_matrix(operation), atol=1e-12)
    assert np.allclose(matrix @ matrix.conj().T, np.eye(len(matrix)), atol=1e-12), f"{name} is not unitary"


@pytest.mark.parametrize("num_qubits", [2, 3, 4, 5])
def test_mcx_matrix_equals_qiskit(num_qubits):
    operation = Operation(name="mcx", qubits=tuple(range(num_qubits)))
    assert_states_close(gate_matrix("mcx", (), num_qubits), reference_gate_matrix(operation), atol=1e-12)


def test_mcx_needs_its_width():
    with pytest.raises(ValueError, match="num_qubits"):
        gate_matrix("mcx")


def test_textbook_cx_convention_first_qubit_most_significant():
    expected = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]])
    assert np.array_equal(gate_matrix("cx"), expected)
    assert np.array_equal(controlled(np.array([[0, 1], [1, 0]])), expected)


def test_rz_and_p_phases():
    t = 0.7
    assert np.allclose(gate_matrix("rz", (t,)), np.diag([np.exp(-0.5j * t), np.exp(0.5j * t)]))
    assert np.allclose(gate_matrix("p", (t,)), np.diag([1, np.exp(1j * t)]))


@pytest.mark.parametrize(
    ("name", "params", "clifford"),
    [
        ("h", (), True),
        ("s", (), True),
        ("sx", (), True),
        ("cx", (), True),
        ("iswap", (), True),
        ("t", (), False),
        ("rz", (math.pi / 2,), True),
        ("rz", (math.pi / 4,), False),
        ("rx", (math.pi,), True),
        ("cp", (math.pi,), True),
        ("cp", (math.pi / 2,), False),
        ("ccx", (), False),
    ],
)
def test_is_clifford_matrix(name, params, clifford):
    assert is_clifford_matrix(gate_matrix(name, params)) is clifford


def test_random_unitary_is_not_clifford():
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4)))
    assert not is_clifford_matrix(q)


# --- validation ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "cx", "qubits": (0,)}, "takes 2 qubit"),
        ({"name": "h", "qubits": (0, 1)}, "takes 1 qubit"),
        ({"name": "rx", "qubits": (0,)}, "takes 1 parameter"),
        ({"name": "h", "qubits": (0,), "params": (0.1,)}, "takes 0 parameter"),
        ({"name": "cx", "qubits": (1, 1)}, "repeated qubits"),
        ({"name": "mcx", "qubits": (0,)}, "at least 2 qubits"),
        ({"name": "measure", "qubits": (0,)}, "one qubit and one classical bit"),
        ({"name": "measure", "qubits": (0, 1), "clbits": (0, 1)}, "one qubit and one classical bit"),
        ({"name": "reset", "qubits": (0, 1)}, "reset takes one qubit"),
        ({"name": "frobnicate", "qubits": (0,)}, "unknown operation"),
    ],
)
def test_invalid_operations_are_rejected(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        Operation(**kwargs)


def test_extra_fields_are_rejected():
    with pytest.raises(ValidationError):
        Operation(name="h", qubits=(0,), colour="red")


def test_circuit_rejects_qubits_and_clbits_out_of_range():
    with pytest.raises(ValidationError, match="outside"):
        Circuit(num_qubits=2, operations=(op("cx", 0, 2),))
    with pytest.raises(ValidationError, match="outside"):
        Circuit(num_qubits=2, num_clbits=1, operations=(op("measure", 0, clbits=(1,)),))
    with pytest.raises(ValidationError):
        Circuit(num_qubits=0)


def test_make_circuit_turns_validation_errors_into_circuit_errors():
    with pytest.raises(CircuitError, match="invalid circuit 'bad'") as info:
        make_circuit(2, [op("h", 5)], name="bad")
    assert info.value.code == "CIRCUIT_INVALID"


def test_circuits_and_operations_are_immutable_values():
    c = build("bell")
    with pytest.raises(ValidationError):
        c.num_qubits = 3
    assert c == build("bell")
    assert hash(op("rx", 0, params=(0.5,))) == hash(op("rx", 0, params=(0.5,)))
    assert op("rx", 0, params=(0.5,)) != op("rx", 0, params=(0.6,))


def test_op_and_mcx_helpers():
    assert op("rz", 2, params=(1,)).params == (1.0,)
    assert isinstance(op("rz", 2, params=(1,)).params[0], float)
    assert mcx(0, 1) == op("cx", 0, 1)
    assert mcx(2, 0, 1) == op("ccx", 2, 0, 1)
    assert mcx(0, 1, 2, 3).name == "mcx"


# --- structure queries ---------------------------------------------------------------------------------------


def test_terminal_measurements_and_dynamic_circuits():
    bell = build("bell")
    assert bell.terminal_measurements == [(0, 0), (1, 1)]
    assert not bell.is_dynamic
    mid = make_circuit(
        2,
        [op("h", 0), op("measure", 0, clbits=(0,)), op("cx", 0, 1), op("measure", 1, clbits=(1,))],
        num_clbits=2,
        name="mid",
    )
    assert mid.terminal_measurements is None and mid.is_dynamic
    twice = make_circuit(
        1, [op("measure", 0, clbits=(0,)), op("measure", 0, clbits=(1,))], num_clbits=2, name="t"
    )
    assert twice.terminal_measurements is None
    reset = make_circuit(
        1, [op("x", 0), op("reset", 0), op("measure", 0, clbits=(0,))], num_clbits=1, name="r"
    )
    assert reset.terminal_measurements == [(0, 0)]
    assert reset.is_dynamic
    barrier_after = make_circuit(
        2,
        [op("measure", 0, clbits=(0,)), op("barrier", 0, 1), op("measure", 1, clbits=(1,))],
        num_clbits=2,
        name="b",
    )
    assert barrier_after.terminal_measurements == [(0, 0), (1, 1)]


def test_with_and_without_measurements():
    bare = make_circuit(3, [op("h", 0), op("barrier", 0, 1), op("cx", 0, 1)], name="bare")
    assert not bare.has_measurements
    measured = bare.with_measurements()
    assert measured.num_clbits == 3
    assert measured.terminal_measurements == [(0, 0), (1, 1), (2, 2)]
    assert measured.operations[: len(bare.operations)] == bare.operations
    assert build("ghz:3").with_measurements() == build("ghz:3")  # already measured: unchanged
    stripped = build("ghz:3").without_measurements()
    assert [o.name for o in stripped.operations] == ["h", "cx", "cx"]
    assert stripped.num_clbits == 3
    assert [o.name for o in bare.without_measurements().operations] == ["h", "cx"]
    assert [o.name for o in measured.gates] == ["h", "cx"]


def test_ir_unitary_matches_qiskit_reference_state():
    """The test helper built from gates.py and the independent Qiskit reference agree (on |0...0>)."""
    c = random_circuit(4, 6, seed=11, measure=False)
    assert_states_close(ir_unitary(c)[:, 0], exact_reference_state(c), atol=1e-10)


# --- JSON round trips -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["bell", "ghz:5", "qft:4:3", "random:4:5:2", "grover:3", "w:4", "qaoa:4:2:1"]
)
def test_library_circuits_round_trip_through_json(name):
    c = build(name)
    back = Circuit.model_validate_json(c.model_dump_json())
    assert back == c
    assert back.operations == c.operations


@given(ir_circuits(max_qubits=5, max_operations=15))
def test_any_circuit_round_trips_through_json(circuit):
    assert Circuit.model_validate_json(circuit.model_dump_json()) == circuit


def test_json_round_trip_keeps_exact_angles():
    c = make_circuit(
        1, [op("rx", 0, params=(1 / 3,)), op("u", 0, params=(math.pi, -1e-300, 7e10))], name="angles"
    )
    back = Circuit.model_validate_json(c.model_dump_json())
    assert back.operations[1].params == (math.pi, -1e-300, 7e10)
    assert back == c


def test_library_covers_every_documented_name():
    assert set(LIBRARY) == {"bell", "ghz", "qft", "random", "grover", "w", "qaoa"}
