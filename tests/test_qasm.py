"""OpenQASM 2 and 3: round trips (property-based), syntax errors that say where, headers, files."""

from __future__ import annotations

import contextlib
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given

from proxima_agent.circuits.gates import GATES
from proxima_agent.circuits.ir import Circuit, Operation, make_circuit, op
from proxima_agent.circuits.library import build
from proxima_agent.circuits.loading import load_file
from proxima_agent.circuits.qasm import from_qasm, looks_like_qasm, qasm_version, to_qasm
from proxima_agent.errors import CircuitError, CircuitTooLargeError, FileReadError, QasmSyntaxError
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
    """Operation by operation, angles to 1e-12 (1e-9 in OpenQASM 3). Its importer reads `id` as u(0, 0, 0)."""
    assert len(actual.operations) == len(expected.operations), (actual.operations, expected.operations)
    for a, b in zip(actual.operations, expected.operations, strict=True):
        if qasm3 and b.name == "id":
            b = op("u", *b.qubits, params=(0, 0, 0))
        assert (a.name, a.qubits, a.clbits) == (b.name, b.qubits, b.clbits)
        # Qiskit's OpenQASM 3 exporter writes angles below about 1e-9 as 0
        assert np.allclose(a.params, b.params, rtol=0, atol=1e-9 if qasm3 else 1e-12), (a, b)


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


# --- includes: only the standard library or files inside the allowed folders -------------------------------------

SECRET = "gate leaked a { x a; }\nTOP-SECRET-CONTENT\n"


def _outside_and_workspace(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.inc").write_text(SECRET)
    workspace = tmp_path / "ws"
    (workspace / "sub").mkdir(parents=True)
    (workspace / "link").symlink_to(outside)
    return outside, workspace


@pytest.mark.parametrize("version", [2, 3])
def test_an_include_outside_the_workspace_is_refused_the_same_whether_it_exists_or_not(tmp_path, version):
    outside, workspace = _outside_and_workspace(tmp_path)
    header = HEADER2 if version == 2 else HEADER3
    messages = {}
    for label, name in [
        ("absolute", str(outside / "secret.inc")),
        ("absolute-missing", str(outside / "absent.inc")),
        ("traversal", "../outside/secret.inc"),
        ("traversal-missing", "../outside/absent.inc"),
        ("link", "link/secret.inc"),
        ("link-missing", "link/absent.inc"),
        ("etc", "/etc/passwd"),
    ]:
        text = header.replace("qreg q[2];\n", "").replace("qubit[2] q;\n", "") + f'include "{name}";\n'
        with pytest.raises(FileReadError) as info:
            from_qasm(text, base_dir=workspace, roots=[workspace])
        message = info.value.message
        assert "TOP-SECRET" not in message and "leaked" not in message and "root:x:" not in message
        assert "not a file Proxima may read" in message and str(workspace) in message
        messages[label] = re.sub(r"include .*?: not a file", "include NAME: not a file", message)
    assert messages["absolute"] == messages["absolute-missing"]
    assert messages["traversal"] == messages["traversal-missing"]
    assert messages["link"] == messages["link-missing"]


@pytest.mark.parametrize("version", [2, 3])
def test_workspace_includes_are_inlined_and_errors_point_into_them(tmp_path, version):
    workspace = tmp_path / "ws"
    (workspace / "sub").mkdir(parents=True)
    (workspace / "sub" / "defs.inc").write_text(
        'include "more.inc";\ngate bar a, b { foo a; cx a, b; }\n'
    )  # nested: found next to the including file
    body = "U(pi/2, 0, pi) a;" if version == 3 else "h a;"
    (workspace / "sub" / "more.inc").write_text(f"gate foo a {{ {body} }}\n")
    header = HEADER2 if version == 2 else HEADER3
    text = header + 'include "sub/defs.inc"; bar q[0], q[1];\nmeasure q[0] -> c[0];\n'
    text = text.replace("qreg q[2];\n", "qreg q[2];\ncreg c[2];\n").replace(
        "qubit[2] q;\n", "qubit[2] q;\nbit[2] c;\n"
    )
    circuit = from_qasm(text, base_dir=workspace, roots=[workspace])
    assert [o.name for o in circuit.operations][-3:] == [
        "h" if version == 2 else "u",
        "cx",
        "measure",
    ]
    # an error inside the included file names that file and its own line and column
    (workspace / "sub" / "more.inc").write_text("\n\ngate foo a { h a }\n")
    with pytest.raises(QasmSyntaxError) as info:
        from_qasm(text, base_dir=workspace, roots=[workspace])
    assert info.value.context["source"] == str((workspace / "sub" / "more.inc").resolve())
    assert info.value.context["line"] == 3
    # an error after an include, on the include's own line, keeps its line and column in the program
    (workspace / "sub" / "more.inc").write_text(f"gate foo a {{ {body} }}\n")
    broken = text.replace("bar q[0], q[1];", "foo q[0] q[1];")
    with pytest.raises(QasmSyntaxError) as info:
        from_qasm(broken, source="prog.qasm", base_dir=workspace, roots=[workspace])
    line_text = broken.splitlines()[info.value.context["line"] - 1]
    assert info.value.context["source"] == "prog.qasm"
    assert line_text.startswith('include "sub/defs.inc";')
    assert line_text[info.value.context["column"] - 1 :].startswith("q[1]")


def test_include_cycles_and_depth_are_refused(tmp_path):
    (tmp_path / "a.inc").write_text('include "b.inc";\n')
    (tmp_path / "b.inc").write_text('include "a.inc";\n')
    with pytest.raises(CircuitError, match="includes itself"):
        from_qasm(HEADER2 + 'include "a.inc";\n', base_dir=tmp_path)
    for i in range(12):
        (tmp_path / f"d{i}.inc").write_text(f'include "d{i + 1}.inc";\n')
    (tmp_path / "d12.inc").write_text("")
    with pytest.raises(CircuitTooLargeError) as info:
        from_qasm(HEADER2 + 'include "d0.inc";\n', base_dir=tmp_path)
    assert info.value.context["limit"] == "MAX_INCLUDE_DEPTH"


def test_qiskit_is_given_no_include_path(tmp_path, monkeypatch):
    """A file in the current folder is not found by Qiskit behind Proxima's back: only what was vetted is read."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil.inc").write_text("gate evil a { x a; }\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(FileReadError):
        from_qasm(HEADER2 + 'include "evil.inc";\nevil q[0];\n', base_dir=elsewhere, roots=[elsewhere])


# --- bounds before expansion ---------------------------------------------------------------------------------------

_DOUBLING = "gate g0 a { x a; }\n" + "".join(
    f"gate g{i} a {{ g{i - 1} a; g{i - 1} a; }}\n" for i in range(1, 60)
)
_CHAIN = "gate g0 a { x a; }\n" + "".join(f"gate g{i} a {{ g{i - 1} a; }}\n" for i in range(1, 2000))


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1000000000];\n', "MAX_QUBITS"),
        ('OPENQASM 2.0;\nqreg q[2048];\nqreg r[2049];\n', "MAX_QUBITS"),
        ('OPENQASM 2.0;\nqreg q[1];\ncreg c[1000000000];\n', "MAX_CLBITS"),
        ("OPENQASM 2.0;\nqreg q[" + "9" * 5000 + "];\n", "MAX_QUBITS"),
        ('OPENQASM 3.0;\nqubit[1000000000] q;\n', "MAX_QUBITS"),
        ('OPENQASM 3.0;\nqubit[100000*100000] q;\n', "MAX_QUBITS"),
        ('OPENQASM 3.0;\nqreg q[5000];\n', "MAX_QUBITS"),
        ('OPENQASM 3.0;\nqubit q;\nbit[1000000000] c;\n', "MAX_CLBITS"),
        ('OPENQASM 3.0;\nqubit q;\ncreg c[5000];\n', "MAX_CLBITS"),
        (HEADER2 + _DOUBLING + "g59 q[0];\n", "MAX_OPERATIONS"),
        (HEADER3 + _DOUBLING.replace("x a;", "U(0, 0, 0) a;") + "g59 q[0];\n", "MAX_OPERATIONS"),
        (HEADER2 + _CHAIN + "g1999 q[0];\n", "MAX_GATE_DEPTH"),
        ('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[4000];\n' + "h q;\n" * 30, "MAX_OPERATIONS"),
        ('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[4000];\ncreg c[4000];\n' + "measure q -> c;\n" * 30, "MAX_OPERATIONS"),
        ('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[4000] q;\n' + "h q;\n" * 30, "MAX_OPERATIONS"),
        ('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[4000] q;\n' + "h q[0:3999];\n" * 30, "MAX_OPERATIONS"),
        (HEADER2 + "rz(" + "(" * 100 + "1" + ")" * 100 + ") q[0];\n", "MAX_NESTING"),
        (HEADER3 + "rz(" + "(" * 2000 + "1" + ")" * 2000 + ") q[0];\n", "MAX_NESTING"),
        (HEADER3 + "rz(" + "1+" * 3000 + "1) q[0];\n", "MAX_NESTING"),
        (HEADER2 + "".join(f"gate a{i} q {{ x q; }}\n" for i in range(2001)), "MAX_GATE_DEFINITIONS"),
        (HEADER3 + "qubit[5] r;\ngate big a, b, c, d, e { h a; }\npow(2) @ big r[0], r[1], r[2], r[3], r[4];\n", "MAX_POW_QUBITS"),
        (HEADER3 + "qubit[1] r;\n" + "x r[0];\n" * 12_500, "MAX_QASM3_CHARS"),
        (HEADER2 + "x q[0];\n" * 130_000, "MAX_CIRCUIT_CHARS"),
    ],
    ids=[
        "qreg", "qregs-together", "creg", "qreg-long-number", "qubit3", "qubit3-expression", "qreg3", "bit3",
        "creg3", "doubling-gates", "doubling-gates3", "gate-chain-2000", "broadcast", "broadcast-measure",
        "broadcast3", "range3", "nested-parens", "nested-parens3", "expression-chain3", "gate-definitions",
        "pow-on-5-qubits", "qasm3-chars", "qasm2-chars",
    ],
)  # fmt: skip
def test_programs_over_a_limit_are_refused_before_they_are_expanded(text, limit):
    import time

    start = time.perf_counter()
    with pytest.raises(CircuitTooLargeError) as info:
        from_qasm(text)
    assert time.perf_counter() - start < 5
    error = info.value
    assert error.code == "CIRCUIT_TOO_LARGE" and error.hint
    assert error.context["limit"] == limit and limit in error.message
    assert f"{error.context['maximum']:,}" in error.message
    assert len(error.message) < 400


def test_the_limits_are_the_ones_documented_and_shared():
    from proxima_agent.circuits import limits
    from proxima_agent.tools import models

    assert limits.MAX_CIRCUIT_CHARS == models.MAX_CIRCUIT_CHARS
    assert models.ShotsArg.__metadata__[0].metadata[1].le == limits.MAX_SHOTS  # type: ignore[attr-defined]
    docs = (Path(__file__).resolve().parents[1] / "docs" / "circuits.md").read_text()
    for name in dir(limits):
        if name.startswith("MAX_"):
            assert f"`{name}`" in docs or name in ("MAX_PATH_CHARS",), name
            if name not in ("MAX_PATH_CHARS", "MAX_INCLUDES", "MAX_INCLUDE_DEPTH"):
                assert f"{getattr(limits, name):,}" in docs, name


@given(circuit=ir_circuits(max_qubits=5, max_operations=30))
def test_the_pre_scan_never_counts_less_than_the_conversion_builds(circuit):
    from proxima_agent.circuits import qasm_scan

    for version in (2, 3):
        text = to_qasm(circuit, version)
        expanded = qasm_scan.Expanded(text, [(1, "<qasm>", 1)])
        if version == 2:
            tally = qasm_scan.scan_qasm2(expanded)
        else:
            import openqasm3

            tally = qasm_scan.scan_qasm3(openqasm3.parse(text), expanded)
        back = from_qasm(text)
        assert tally.operations >= len(back.operations)
        assert (tally.qubits, tally.clbits) == (back.num_qubits, back.num_clbits)


def test_the_pre_scan_counts_broadcasts_and_definitions_exactly():
    from proxima_agent.circuits import qasm_scan

    text = HEADER2 + (
        "qreg r[3];\ncreg c[3];\ngate pair a, b { h a; cx a, b; }\ngate quad a, b { pair a, b; pair b, a; }\n"
        "quad q[0], q[1];\nh r;\nmeasure r -> c;\nbarrier q, r;\nCX r[0], q[1];\nU(0, 0, 0) r;\n"
    )
    tally = qasm_scan.scan_qasm2(qasm_scan.Expanded(text, [(1, "<qasm>", 1)]))
    circuit = from_qasm(text)
    assert tally.operations == len(circuit.operations) == 4 + 3 + 3 + 1 + 1 + 3
    assert (tally.qubits, tally.clbits) == (circuit.num_qubits, circuit.num_clbits) == (5, 3)
    conditional = qasm_scan.scan_qasm2(qasm_scan.Expanded(text + "if (c == 1) quad q[0], q[1];\n", []))
    assert conditional.operations == tally.operations + 4


def test_the_largest_accepted_programs_parse_in_well_under_a_few_seconds():
    import time

    from proxima_agent.circuits import limits

    width = 4000
    layers = limits.MAX_OPERATIONS // width
    worst2 = f'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[{width}];\n' + "rz(0.1) q;\n" * layers
    worst3 = f'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[{width}] q;\n' + "rz(0.1) q;\n" * layers
    text3 = HEADER3 + "x q[0];\n" * ((limits.MAX_QASM3_CHARS - len(HEADER3)) // 8)
    for text, size in [(worst2, width * layers), (worst3, width * layers), (text3, None)]:
        start = time.perf_counter()
        circuit = from_qasm(text)
        elapsed = time.perf_counter() - start
        assert size is None or len(circuit.operations) == size
        assert elapsed < 6, elapsed  # about 1.5 s on a quiet machine; CI runners are slower and shared


@pytest.mark.parametrize(
    "text",
    [
        "/*" * 300_000,
        "\n" * 900_000 + "OPENQASM 2.0;",
        "OPENQASM 2.0;\n" + "gate " * 190_000,
        "OPENQASM 2.0;\n" + 'include "' * 100_000,
        "OPENQASM 2.0;\nqreg q[1];\nh q" + " " * 900_000 + "x;\n",
        'OPENQASM 2.0;\n"' + "a" * 900_000,
        "OPENQASM 2.0;\n" + "(" * 64 + "[" * 10 + ";" * 900_000,
    ],
    ids=[
        "comment-openers",
        "blank-lines",
        "gate-keywords",
        "include-keywords",
        "spaces",
        "open-string",
        "semicolons",
    ],
)
def test_pathological_text_is_handled_in_linear_time(text):
    import time

    start = time.perf_counter()
    with contextlib.suppress(CircuitError):
        from_qasm(text)
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize(
    "text",
    [
        HEADER2 + "rz(1e308*1e308) q[0];\n",
        HEADER2 + "rz(1e308*1e308 - 1e308*1e308) q[0];\n",
        HEADER2 + "u3(0, 1e308*10, 0) q[1];\n",
        HEADER3 + "rz(1e308*1e308) q[0];\n",
        HEADER3 + "rz(-1e308*1e308) q[0];\n",
    ],
    ids=["inf", "nan", "u3-inf", "inf3", "-inf3"],
)
def test_angles_must_be_finite(text):
    with pytest.raises(CircuitError, match="not a finite number") as info:
        from_qasm(text)
    assert info.value.code == "CIRCUIT_INVALID" and info.value.hint


def test_u0_is_one_identity_however_long():
    circuit = from_qasm(HEADER2 + "u0(1000000000) q[0];\n")
    assert [o.name for o in circuit.operations] == ["id"]


def test_nested_definitions_are_converted_once_per_gate():
    import time

    depth = 16  # 65,536 leaves
    text = HEADER2 + _DOUBLING.split("gate g17")[0] + f"g{depth} q[0];\n"
    start = time.perf_counter()
    circuit = from_qasm(text)
    assert len(circuit.operations) == 2**depth
    assert time.perf_counter() - start < 10


def test_parser_messages_that_quote_the_input_are_cut():
    with pytest.raises(QasmSyntaxError) as info:
        from_qasm(HEADER2 + "a" * 500_000 + " q[0];\n")
    assert len(info.value.message) < 500


# --- files ---------------------------------------------------------------------------------------------------------


def test_a_fifo_is_refused_without_being_read(tmp_path):
    import threading

    fifo = tmp_path / "circuit.qasm"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def load() -> None:
        try:
            load_file(fifo)
        except BaseException as exc:  # recorded for the assertion
            outcome.append(exc)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(5)
    assert not thread.is_alive(), "reading a FIFO blocked"
    assert isinstance(outcome[0], FileReadError) and "FIFO" in outcome[0].message


def test_files_are_size_checked_before_they_are_read(tmp_path):
    big = tmp_path / "big.qasm"
    big.write_text(HEADER2 + "// " + "x" * 1_000_000 + "\n")
    with pytest.raises(CircuitTooLargeError, match="over the limit of 1,000,000"):
        load_file(big)
    with pytest.raises(FileReadError, match="a device"):
        load_file(Path("/dev/zero"))
    with pytest.raises(FileReadError, match="is a directory"):
        load_file(tmp_path)


@pytest.mark.parametrize("version", [2, 3])
def test_an_included_file_may_include_the_standard_library_again(tmp_path, version):
    standard = "qelib1.inc" if version == 2 else "stdgates.inc"
    (tmp_path / "lib.inc").write_text(f'include "{standard}";\ngate hh a {{ h a; h a; }}\n')
    header = HEADER2 if version == 2 else HEADER3
    circuit = from_qasm(header + 'include "lib.inc";\nhh q[0];\n', base_dir=tmp_path)
    assert [o.name for o in circuit.operations] == ["h", "h"]
