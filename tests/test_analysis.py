"""describe(): depth, sizes, gate counts, Clifford-ness, measurements and parameters of known circuits."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given

from proxima_agent.circuits.analysis import depth, describe, is_clifford_gate
from proxima_agent.circuits.convert import to_qiskit
from proxima_agent.circuits.gates import BARRIER
from proxima_agent.circuits.ir import make_circuit, op
from proxima_agent.circuits.library import build
from proxima_agent.testing import ir_circuits


def test_ghz5():
    s = describe(build("ghz:5"))
    assert s.name == "ghz:5"
    assert (s.num_qubits, s.num_clbits) == (5, 5)
    assert s.depth == 6  # h, four cx in a chain, then the last qubit's measurement
    assert s.size == 5
    assert s.gate_counts == {"cx": 4, "h": 1}
    assert list(s.gate_counts) == ["cx", "h"]  # most frequent first
    assert s.two_qubit_gates == 4 and s.multi_qubit_gates == 0
    assert s.measurements == 5 and s.resets == 0
    assert not s.mid_circuit_measurement
    assert s.clifford and s.non_clifford_gates == 0
    assert s.parameterized_gates == 0 and s.parameters == 0


def test_qft3():
    s = describe(build("qft:3"))
    assert s.gate_counts == {"cp": 3, "h": 3, "swap": 1}
    assert s.size == 7
    assert s.two_qubit_gates == 4
    assert s.depth == 7
    assert not s.clifford
    assert (
        s.non_clifford_gates == 3
    )  # cp(pi/2) twice and cp(pi/4): controlled-S and controlled-T are not Clifford
    assert s.parameterized_gates == 3 and s.parameters == 3


def test_qft_with_input_state():
    s = describe(build("qft:3:5"))
    assert s.gate_counts["x"] == 2
    assert s.size == 9


def test_bell():
    s = describe(build("bell"))
    assert (s.depth, s.size, s.two_qubit_gates, s.measurements, s.clifford) == (3, 2, 1, 2, True)


def test_grover_and_w_and_qaoa():
    grover = describe(build("grover:3"))
    assert grover.multi_qubit_gates == grover.gate_counts["ccx"] == 4  # two iterations, two reflections each
    assert grover.two_qubit_gates == 0
    assert not grover.clifford
    w = describe(build("w:4"))
    assert w.gate_counts == {"cry": 3, "cx": 3, "x": 1}
    assert w.parameters == 3 and not w.clifford
    qaoa = describe(build("qaoa:4:2:0"))
    assert qaoa.gate_counts["rx"] == 8 and qaoa.gate_counts["h"] == 4
    assert qaoa.parameters == qaoa.parameterized_gates == qaoa.gate_counts["rx"] + qaoa.gate_counts["rzz"]


def test_mid_circuit_measurement_and_reset():
    c = make_circuit(
        2,
        [
            op("h", 0),
            op("measure", 0, clbits=(0,)),
            op("reset", 0),
            op("cx", 0, 1),
            op("measure", 1, clbits=(1,)),
        ],
        num_clbits=2,
        name="dyn",
    )
    s = describe(c)
    assert s.mid_circuit_measurement
    assert s.resets == 1 and s.measurements == 2
    assert s.size == 2  # measurements and resets are not gates
    assert s.depth == 5


def test_parameterised_clifford_angles_count_as_clifford():
    c = make_circuit(
        2,
        [
            op("rz", 0, params=(math.pi / 2,)),
            op("rx", 1, params=(-math.pi,)),
            op("cp", 0, 1, params=(math.pi,)),
            op("u", 0, params=(math.pi / 2, 0, math.pi)),
        ],
        name="clifford-angles",
    )
    s = describe(c)
    assert s.clifford and s.non_clifford_gates == 0
    assert s.parameterized_gates == 4 and s.parameters == 6
    t = describe(make_circuit(1, [op("rz", 0, params=(math.pi / 2 + 1e-3,))], name="almost"))
    assert not t.clifford and t.non_clifford_gates == 1


@pytest.mark.parametrize(
    ("operation", "clifford"),
    [
        (op("h", 0), True),
        (op("t", 0), False),
        (op("ccx", 0, 1, 2), False),
        (op("mcx", 0, 1, 2, 3), False),
        (op("crz", 0, 1, params=(math.pi,)), True),
        (op("crz", 0, 1, params=(math.pi / 2,)), False),
        (op("rzz", 0, 1, params=(math.pi / 2,)), True),
        (op("iswap", 0, 1), True),
        (op("sxdg", 0), True),
    ],
)
def test_is_clifford_gate(operation, clifford):
    assert is_clifford_gate(operation) is clifford


def test_barriers_align_the_qubits_they_span():
    c = make_circuit(2, [op("h", 0), op("h", 0), op("barrier", 0, 1), op("x", 1)], name="b")
    assert depth(c) == 3  # x on qubit 1 waits for the barrier, which waits for the two h on qubit 0
    assert depth(make_circuit(2, [op("h", 0), op("h", 0), op("x", 1)], name="nb")) == 2


def test_classical_bits_order_measurements():
    c = make_circuit(
        2, [op("measure", 0, clbits=(0,)), op("measure", 1, clbits=(0,))], num_clbits=1, name="c"
    )
    assert depth(c) == 2  # both write clbit 0


def test_empty_circuit():
    s = describe(make_circuit(3, [], name="empty"))
    assert (s.depth, s.size, s.gate_counts, s.clifford) == (0, 0, {}, True)


@given(
    ir_circuits(max_qubits=4, max_operations=15).filter(
        lambda c: all(o.name != BARRIER for o in c.operations)
    )
)
def test_depth_and_counts_agree_with_qiskit(circuit):
    """Without barriers (which Qiskit's depth ignores but Proxima aligns on) both count the same layers."""
    qc = to_qiskit(circuit)
    s = describe(circuit)
    assert s.depth == qc.depth()
    counts = Counter(o.name for o in circuit.gates)
    assert s.gate_counts == dict(counts)
    assert s.size == sum(counts.values())
    assert s.measurements == sum(1 for o in circuit.operations if o.name == "measure")
    assert s.two_qubit_gates == sum(1 for o in circuit.gates if len(o.qubits) == 2)
