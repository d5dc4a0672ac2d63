"""What a circuit is: qubits, depth, gate counts, two-qubit gates, Clifford or not, measurements, parameters."""

from __future__ import annotations

from collections import Counter
from functools import lru_cache

from proxima_agent.circuits.gates import BARRIER, GATES, MEASURE, RESET, gate_matrix, is_clifford_matrix
from proxima_agent.circuits.ir import Circuit, Operation
from proxima_agent.circuits.summary import CircuitSummary

_CLIFFORD = frozenset({"id", "x", "y", "z", "h", "s", "sdg", "sx", "sxdg", "cx", "cy", "cz", "swap", "iswap"})


@lru_cache(maxsize=4096)
def _param_clifford(name: str, params: tuple[float, ...]) -> bool:
    return is_clifford_matrix(gate_matrix(name, params))


def is_clifford_gate(operation: Operation) -> bool:
    if operation.name in _CLIFFORD:
        return True
    spec = GATES.get(operation.name)
    if spec is None or spec.num_params == 0 or spec.num_qubits == 0:
        return False
    return _param_clifford(operation.name, tuple(round(p, 12) for p in operation.params))


def depth(circuit: Circuit) -> int:
    level_q = [0] * circuit.num_qubits
    level_c = [0] * circuit.num_clbits
    for operation in circuit.operations:
        if operation.name == BARRIER:
            top = max((level_q[q] for q in operation.qubits), default=0)
            for q in operation.qubits:
                level_q[q] = top
            continue
        start = max([level_q[q] for q in operation.qubits] + [level_c[c] for c in operation.clbits])
        for q in operation.qubits:
            level_q[q] = start + 1
        for c in operation.clbits:
            level_c[c] = start + 1
    return max(level_q + level_c, default=0)


def describe(circuit: Circuit) -> CircuitSummary:
    gates = circuit.gates
    counts = Counter(op.name for op in gates)
    non_clifford = sum(1 for op in gates if not is_clifford_gate(op))
    return CircuitSummary(
        name=circuit.name,
        num_qubits=circuit.num_qubits,
        num_clbits=circuit.num_clbits,
        depth=depth(circuit),
        size=len(gates),
        gate_counts=dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        two_qubit_gates=sum(1 for op in gates if len(op.qubits) == 2),
        multi_qubit_gates=sum(1 for op in gates if len(op.qubits) > 2),
        measurements=sum(1 for op in circuit.operations if op.name == MEASURE),
        resets=sum(1 for op in circuit.operations if op.name == RESET),
        mid_circuit_measurement=circuit.terminal_measurements is None,
        clifford=non_clifford == 0,
        non_clifford_gates=non_clifford,
        parameterized_gates=sum(1 for op in gates if op.params),
        parameters=sum(len(op.params) for op in gates),
    )
