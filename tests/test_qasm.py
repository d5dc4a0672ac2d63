"""OpenQASM 2 and 3: round trips (property-based), syntax errors that say where, headers, files."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given

from proxima_agent.circuits.gates import GATES
from proxima_agent.circuits.ir import Circuit, Operation, make_circuit, op
from proxima_agent.circuits.library import build
from proxima_agent.circuits.loading import load_file
from proxima_agent.circuits.qasm import from_qasm, looks_like_qasm, qasm_version, to_qasm
from proxima_agent.errors import FileReadError, QasmSyntaxError
from proxima_agent.testing import assert_states_close, ir_circuits, ir_unitary


def _gate_segments(circuit: Circuit) -> list[tuple[str, object]]:
    """The circuit as unitaries between its non-gate instructions: what a round trip must keep."""
    out: list[tuple[str, object]] = []
    pending: list[Operation] = []
    for operation in circuit.operations:
        if operation.is_gate:
            pending.append(operation)
            continue
        if pending:
            out.append(("gates", ir_unitary(circuit.model_copy(update={"operations": tuple(pending)}))))
            pending = []
        out.append((operation.name, (operation.qubits, operation.clbits)))
    if pending:
        out.append(("gates", ir_unitary(circuit.model_copy(update={"operations": tuple(pending)}))))
    return out


def assert_same_circuit(actual: Circuit, expected: Circuit) -> None:
    """Same registers, the same instructions at the same places, the same unitaries between them."""
    assert (actual.num_qubits, actual.num_clbits) == (expected.num_qubits, expected.num_clbits)
    got, want = _gate_segments(actual), _gate_segments(expected)
    assert [kind for kind, _ in got] == [kind for kind, _ in want]
    for (kind, a), (_, b) in zip(got, want, strict=True):
        if kind == "gates":
            assert_states_close(a, b, atol=1e-9, up_to_global_phase=True)
        else:
            assert a == b


def assert_same_operations(actual: Circuit, expected: Circuit, *, qasm3: bool = False) -> None:
    """Operation by operation, angles to 1e-12. OpenQASM 3's importer reads `id` as u(0, 0, 0)."""
    assert len(actual.operations) == len(expected.operations), (actual.operations, expected.operations)
    for a, b in zip(actual.operations, expected.operations, strict=True):
        if qasm3 and b.name == "id":
            b = op("u", *b.qubits, params=(0, 0, 0))
        assert (a.name, a.qubits, a.clbits) == (b.name, b.qubits, b.clbits)
        assert np.allclose(a.params, b.params, rtol=0, atol=1e-12), (a, b)


# --- round trips -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [2, 3])
@given(circuit=ir_circuits(max_qubits=4, max_operations=12))
def test_round_trip_keeps_every_operation(version, circuit):
    text = to_qasm(circuit, version)
    assert qasm_version(text) == version
    back = from_qasm(text)
    assert_same_operations(back, circuit, qasm3=version == 3)
    assert_same_circuit(back, circuit)


@pytest.mark.parametrize("version", [2, 3])
@given(circuit=ir_circuits(min_qubits=3, max_qubits=5, max_operations=10, instructions=False))
def test_round_trip_keeps_the_unitary(version, circuit):
    back = from_qasm(to_qasm(circuit, version))
    assert_states_close(ir_unitary(back), ir_unitary(circuit), atol=1e-9, up_to_global_phase=True)


@pytest.mark.parametrize("version", [2, 3])
@pytest.mark.parametrize("name", ["bell", "ghz:4", "qft:4:3", "grover:3", "w:3", "qaoa:3:2", "random:4:5:1"])
def test_library_circuits_round_trip(version, name):
    c = build(name)
    back = from_qasm(to_qasm(c, version), name=name)
    assert back.name == name
    assert_same_operations(back, c, qasm3=version == 3)


def test_every_gate_survives_both_versions():
    ops = [
        op(name, *range(spec.num_qubits or 4), params=(0.25,) * spec.num_params)
        for name, spec in GATES.items()
    ]
    c = make_circuit(4, ops, name="all-gates")
    for version in (2, 3):
        assert_same_operations(from_qasm(to_qasm(c, version)), c, qasm3=version == 3)


def test_to_qasm_rejects_other_versions():
    with pytest.raises(ValueError, match="2 or 3"):
        to_qasm(build("bell"), 4)


def test_exported_text_is_what_qiskit_would_write():
    text = to_qasm(build("bell"), 2)
    assert text.startswith("OPENQASM 2.0;")
    assert "qreg q[2];" in text and "creg c[2];" in text
    assert "measure q[1] -> c[1];" in text
    text3 = to_qasm(build("bell"), 3)
    assert text3.startswith("OPENQASM 3.0;") and "c[1] = measure q[1];" in text3


# --- reading programs ------------------------------------------------------------------------------------------


def test_custom_gates_are_decomposed_by_their_definitions():
    from qiskit import qasm2
    from qiskit.quantum_info import Operator

    text = """OPENQASM 2.0;
include "qelib1.inc";
gate majority a,b,c { cx c,b; cx c,a; ccx a,b,c; }
gate twist(theta) a,b { rz(theta/2) a; cx a,b; ry(-theta) b; }
qreg q[3];
majority q[0],q[1],q[2];
twist(0.7) q[2],q[0];
"""
    c = from_qasm(text)
    assert {o.name for o in c.operations} <= set(GATES)
    reference = Operator(qasm2.loads(text)).data
    assert_states_close(ir_unitary(c), reference, atol=1e-10, up_to_global_phase=True)


def test_a_user_gate_reusing_a_standard_name_keeps_its_own_meaning():
    """Regression: a program's own `gate iswap` (not in stdgates.inc) used to be read as the standard iSWAP."""
    text = """OPENQASM 3.0;
include "stdgates.inc";
gate iswap a, b { cx a, b; }
gate rzz a, b { cz a, b; }
qubit[2] q;
iswap q[0], q[1];
rzz q[1], q[0];
"""
    c = from_qasm(text)
    assert [(o.name, o.qubits) for o in c.operations] == [("cx", (0, 1)), ("cz", (1, 0))]


def test_qasm3_features_read_into_the_ir():
    text = """OPENQASM 3.0;
include "stdgates.inc";
qubit[3] q;
bit[3] c;
h q[0];
cx q[0], q[1];
c[0] = measure q[0];
reset q[0];
barrier q;
rz(pi/4) q[2];
c[2] = measure q[2];
"""
    c = from_qasm(text)
    names = [o.name for o in c.operations]
    assert names == ["h", "cx", "measure", "reset", "barrier", "rz", "measure"]
    assert c.operations[4].qubits == (0, 1, 2)
    assert math.isclose(c.operations[5].params[0], math.pi / 4)
    assert c.operations[6].clbits == (2,)


def test_legacy_qasm2_gates_map_to_ir_names():
    text = (
        'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nu1(0.1) q[0];\nu2(0.2,0.3) q[1];\nu3(0.4,0.5,0.6) q[0];\n'
        "cu1(0.7) q[0],q[1];\nU(0.1,0.2,0.3) q[1];\nCX q[1],q[0];\n"
    )
    c = from_qasm(text)
    assert [o.name for o in c.operations] == ["p", "u", "u", "cp", "u", "cx"]
    assert np.allclose(c.operations[1].params, (math.pi / 2, 0.2, 0.3))


# --- errors that say where -------------------------------------------------------------------------------------

HEADER2 = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\n'
HEADER3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\n'


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        (HEADER2 + "h q[0]\ncx q[0],q[1];\n", 5, 1, "needed ';'"),
        (HEADER2 + "h q[0];\n  foo q[0];\n", 5, 3, "'foo' is not defined"),
        (HEADER2 + "   cx q[0],;\n", 4, 4, "takes 2 quantum arguments"),  # Qiskit points at the statement
        (HEADER3 + "h q[0]\ncx q[0], q[1];\n", 5, 1, "unexpected 'cx'"),
        (HEADER3 + "h q[0];\n   cx q[0] q[1];\n", 5, 12, "unexpected 'q'"),
        (HEADER3 + "foo q[0];\n", 4, 1, "'foo' is not defined"),
    ],
    ids=[
        "qasm2-missing-semicolon",
        "qasm2-unknown-gate",
        "qasm2-missing-argument",
        "qasm3-missing-semicolon",
        "qasm3-missing-comma",
        "qasm3-unknown-gate",
    ],
)
def test_syntax_errors_report_line_and_column(text, line, column, fragment):
    with pytest.raises(QasmSyntaxError) as info:
        from_qasm(text, source="prog.qasm")
    error = info.value
    assert error.code == "QASM_SYNTAX"
    assert (error.context["line"], error.context["column"]) == (line, column)
    assert error.context["source"] == "prog.qasm"
    assert error.message.startswith(f"prog.qasm:{line}:{column}: OpenQASM {qasm_version(text)} syntax error")
    assert fragment in error.message
    assert error.hint


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("qreg q[2];\nh q[0];\n", "no 'OPENQASM 2.0;'"),
        ("OPENQASM 4.0;\nqubit q;\n", "found version 4"),
        ("", "header"),
    ],
)
def test_programs_without_a_known_header_are_rejected(text, fragment):
    with pytest.raises(QasmSyntaxError, match=fragment) as info:
        from_qasm(text)
    assert "OPENQASM 2.0;" in info.value.hint


def test_version_detection_ignores_comments():
    text = "// OPENQASM 3.0;\n/* OPENQASM 3.0; */\nOPENQASM 2.0;\n"
    assert qasm_version(text) == 2
    assert looks_like_qasm("  OPENQASM 3;\nqubit q;")
    assert not looks_like_qasm("ghz:5")


def test_comments_before_the_header_keep_line_numbers(tmp_path):
    text = "// my program\n// second line\n" + HEADER2 + "h q[0]\n"
    with pytest.raises(QasmSyntaxError) as info:
        from_qasm(text)
    assert info.value.context["line"] == 6


def test_files_report_their_path(tmp_path):
    path = tmp_path / "broken.qasm"
    path.write_text(HEADER3 + "h q[0]\nx q[1];\n")
    with pytest.raises(QasmSyntaxError) as info:
        load_file(path)
    assert info.value.context["source"] == str(path)
    assert info.value.message.startswith(f"{path}:5:1:")
    with pytest.raises(FileReadError, match="no such file"):
        load_file(tmp_path / "absent.qasm")
    latin = tmp_path / "latin.qasm"
    latin.write_bytes(b"OPENQASM 2.0;\n// caf\xe9\n")
    with pytest.raises(FileReadError, match="cannot read"):
        load_file(latin)
