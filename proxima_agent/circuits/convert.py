"""Conversions between Proxima's IR and Qiskit / Cirq circuit objects (gates only; noise lives with backends).

Qiskit and Cirq are imported inside the functions that need them, so importing this module stays cheap.
Global phase is not part of the IR and is dropped on import.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from proxima_agent.circuits.gates import BARRIER, GATES, MEASURE, RESET, gate_matrix
from proxima_agent.circuits.ir import Circuit, Operation, make_circuit, mcx, op
from proxima_agent.circuits.limits import shown
from proxima_agent.errors import CircuitError, quoted

if TYPE_CHECKING:
    import cirq
    import qiskit

# Qiskit names that are other names in the IR.
_QISKIT_ALIASES = {
    "u3": "u",
    "u1": "p",
    "cu1": "cp",
    "cnot": "cx",
    "toffoli": "ccx",
    "fredkin": "cswap",
    "i": "id",
}


def u_angles(matrix: np.ndarray) -> tuple[float, float, float]:
    """(theta, phi, lambda) with u(theta, phi, lambda) equal to `matrix` up to a global phase."""
    m = matrix / np.sqrt(np.linalg.det(matrix))
    theta = 2 * math.atan2(abs(m[1, 0]), abs(m[0, 0]))
    phase_sum = 2 * np.angle(m[1, 1]) if abs(m[1, 1]) > 1e-12 else 0.0  # phi + lambda
    phase_diff = 2 * np.angle(m[1, 0]) if abs(m[1, 0]) > 1e-12 else 0.0  # phi - lambda
    if abs(m[1, 1]) <= 1e-12:
        phase_sum = phase_diff  # choose lambda = 0
    if abs(m[1, 0]) <= 1e-12:
        phase_diff = phase_sum
    return float(theta), float((phase_sum + phase_diff) / 2), float((phase_sum - phase_diff) / 2)


# --- Qiskit ---------------------------------------------------------------------------------------------------


def _float_params(instruction: Any, name: str) -> tuple[float, ...]:
    try:
        params = tuple(float(p) for p in instruction.params)
    except TypeError:
        raise CircuitError(
            f"gate {name} has unbound parameters {shown(instruction.params)}",
            hint="bind every parameter to a number before simulating (QuantumCircuit.assign_parameters)",
        ) from None
    if not all(math.isfinite(p) for p in params):
        raise CircuitError(
            f"gate {name} has a parameter that is not a finite number: {', '.join(map(str, params))}",
            hint="give every angle as a finite number (an expression such as 1e308*1e308 overflows to inf)",
        )
    return params


def _is_ir_gate(inst: Any, gate: str, num_qubits: int) -> bool:
    """Whether a Qiskit instruction named like an IR gate is that gate. Qiskit's own gate classes are; a gate a
    person defined under the same name (in OpenQASM, or with QuantumCircuit.to_gate) is only if its parameters
    and matrix agree, else it is decomposed by its definition like any other custom gate."""
    base = getattr(inst, "base_class", type(inst))  # standard gates' own types are Rust singletons
    if (getattr(base, "__module__", None) or "").startswith("qiskit.circuit.library"):
        return True
    try:
        params = tuple(float(p) for p in inst.params)
    except TypeError:
        return True  # unbound parameters: _float_params reports them
    if len(params) != GATES[gate].num_params:
        return False
    if num_qubits > 6:  # only a wide mcx: its matrix would cost 4^n, so its name is trusted
        return True
    try:
        from qiskit.quantum_info import Operator

        actual = Operator(inst).reverse_qargs().data  # big-endian over the listed qubits, as the IR
    except Exception:  # no matrix (not unitary, or no definition): not this gate
        return False
    expected = gate_matrix(gate, params, num_qubits)
    if actual.shape != expected.shape:
        return False
    return bool(abs(abs(np.vdot(expected, actual)) - expected.shape[0]) < 1e-8)  # equal up to a global phase


def from_qiskit(circuit: qiskit.QuantumCircuit, name: str | None = None) -> Circuit:
    """Convert a Qiskit QuantumCircuit; unknown gates are decomposed by their Qiskit definitions.

    A definition is converted once and reused for every instance of the same gate (`_definition_key`), so
    nested definitions cost what they expand to, not what building each instance's definition again would;
    the expansion stops at MAX_OPERATIONS."""
    from proxima_agent.circuits import limits

    memo: dict[Any, tuple[Any, list[Operation]]] = {}
    label = name or circuit.name or "circuit"

    def visit(qc: qiskit.QuantumCircuit, qmap: list[int], cmap: list[int], ops: list[Operation]) -> None:
        for item in qc.data:
            if len(ops) > limits.MAX_OPERATIONS:
                raise limits.too_large(
                    quoted(label), "operations", len(ops), limits.MAX_OPERATIONS, "MAX_OPERATIONS"
                )
            inst = item.operation
            qubits = tuple(qmap[qc.find_bit(q).index] for q in item.qubits)
            clbits = tuple(cmap[qc.find_bit(c).index] for c in item.clbits)
            gate = _QISKIT_ALIASES.get(inst.name, inst.name)
            if gate == MEASURE:
                ops.append(op(MEASURE, qubits[0], clbits=clbits))
            elif gate in (RESET, BARRIER):
                ops.append(Operation(name=gate, qubits=qubits))
            elif gate == "u2":
                phi, lam = _float_params(inst, gate)
                ops.append(op("u", *qubits, params=(math.pi / 2, phi, lam)))
            elif (
                gate == "u0"
            ):  # OpenQASM 2's idle for n time units: one identity (its definition is n of them)
                ops.append(op("id", *qubits))
            elif (gate == "mcx" or (gate in GATES and GATES[gate].num_qubits == len(qubits))) and _is_ir_gate(
                inst, gate, len(qubits)
            ):
                if (
                    getattr(inst, "ctrl_state", None) not in (None, 2 ** (len(qubits) - 1) - 1)
                    and gate == "mcx"
                ):
                    visit(inst.definition, list(qubits), [], ops)
                    continue
                ops.append(
                    mcx(*qubits) if gate == "mcx" else op(gate, *qubits, params=_float_params(inst, gate))
                )
            elif inst.name == "delay":
                continue
            elif (key := _definition_key(inst)) is not None:
                if key not in memo:
                    definition = inst.definition
                    local: list[Operation] = []
                    visit(
                        definition,
                        list(range(definition.num_qubits)),
                        list(range(definition.num_clbits)),
                        local,
                    )
                    memo[key] = (inst, local)  # the instance keeps what the key's ids refer to alive
                for local_op in memo[key][1]:
                    ops.append(
                        Operation(
                            name=local_op.name,
                            qubits=tuple(qubits[q] for q in local_op.qubits),
                            params=local_op.params,
                            clbits=tuple(clbits[c] for c in local_op.clbits),
                        )
                    )
            elif getattr(inst, "definition", None) is not None:
                visit(inst.definition, list(qubits), list(clbits), ops)
            else:
                raise CircuitError(
                    f"Qiskit instruction {quoted(inst.name)} has no definition Proxima can simulate",
                    hint="decompose it into standard gates (qiskit.transpile with basis_gates=['u', 'cx'])",
                )

    ops: list[Operation] = []
    visit(circuit, list(range(circuit.num_qubits)), list(range(circuit.num_clbits)), ops)
    return make_circuit(circuit.num_qubits, ops, num_clbits=circuit.num_clbits, name=label)


def _definition_key(inst: Any) -> Any:
    """What identifies an instruction's definition, where that is known without building it: an OpenQASM 2
    gate is its program and name (its definition is rebuilt at every access), another gate whose definition is a
    stored object is that object. None: convert this instance's definition on its own."""
    try:
        params = tuple(float(p) for p in inst.params)
    except (TypeError, ValueError):
        return None
    program = getattr(inst, "_gates", None)  # the gate table of the program it was parsed from
    if program is not None and type(inst).__module__.startswith("qiskit.qasm2"):
        return ("qasm2", id(program), inst.name, inst.num_qubits, params)  # a name is one gate in a program
    stored = getattr(inst, "_definition", None)
    if stored is not None:
        return ("definition", id(stored), inst.num_qubits, inst.num_clbits)
    return None


def to_qiskit(circuit: Circuit) -> qiskit.QuantumCircuit:
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(circuit.num_qubits, circuit.num_clbits, name=circuit.name)
    for operation in circuit.operations:
        append_qiskit(qc, operation)
    return qc


def append_qiskit(qc: qiskit.QuantumCircuit, operation: Operation) -> None:
    q, name = list(operation.qubits), operation.name
    if name == MEASURE:
        qc.measure(q[0], operation.clbits[0])
    elif name == RESET:
        qc.reset(q[0]) if len(q) == 1 else [qc.reset(x) for x in q]
    elif name == BARRIER:
        qc.barrier(*q)
    elif name == "mcx":
        qc.mcx(q[:-1], q[-1])
    else:
        getattr(qc, name)(*operation.params, *q)


# --- Cirq -----------------------------------------------------------------------------------------------------


_CIRQ_PAIR_ROTATIONS = {  # exp(-i theta/2 PP) is PPPowGate(theta/pi) with global shift -1/2
    "rxx": lambda cirq: cirq.XXPowGate,
    "ryy": lambda cirq: cirq.YYPowGate,
    "rzz": lambda cirq: cirq.ZZPowGate,
}


def cirq_gate(name: str, params: tuple[float, ...], num_qubits: int) -> cirq.Gate:
    """The Cirq gate with exactly the IR gate's matrix (phases included)."""
    import cirq

    fixed = {
        "id": cirq.I, "x": cirq.X, "y": cirq.Y, "z": cirq.Z, "h": cirq.H, "s": cirq.S, "sdg": cirq.S**-1,
        "t": cirq.T, "tdg": cirq.T**-1, "cx": cirq.CNOT, "cz": cirq.CZ, "swap": cirq.SWAP,
        "ccx": cirq.CCX, "cswap": cirq.CSWAP, "cy": cirq.Y.controlled(1), "ch": cirq.H.controlled(1),
        "iswap": cirq.ISWAP,
    }  # fmt: skip
    if name in fixed:
        return fixed[name]
    if name in ("rx", "ry", "rz"):
        return getattr(cirq, name)(params[0])
    # Native gates, not matrices: a matrix gate comes back through Cirq's decomposition, which drops what is
    # below its tolerance (a controlled rotation by 1e-7 came back as a phase gate, wrong by 4e-8).
    if name in ("crx", "cry", "crz"):
        return getattr(cirq, name[1:])(params[0]).controlled(1)
    if name in _CIRQ_PAIR_ROTATIONS:
        return _CIRQ_PAIR_ROTATIONS[name](cirq)(exponent=params[0] / np.pi, global_shift=-0.5)
    if name == "cp":
        return cirq.CZPowGate(exponent=params[0] / np.pi)
    if name == "mcx":
        return cirq.X.controlled(num_qubits - 1)
    return cirq.MatrixGate(gate_matrix(name, params, num_qubits))


def measurement_key(index: int) -> str:
    """The Cirq measurement key of the IR's operation `index`."""
    return f"m{index}"


def cirq_operation(operation: Operation, index: int, qubits: Sequence[cirq.Qid]) -> cirq.Operation | None:
    import cirq

    targets = [qubits[q] for q in operation.qubits]
    if operation.name == MEASURE:
        return cirq.measure(*targets, key=measurement_key(index))
    if operation.name == RESET:
        return cirq.reset(targets[0])
    if operation.name == BARRIER:
        return None
    return cirq_gate(operation.name, operation.params, len(targets)).on(*targets)


def to_cirq(circuit: Circuit) -> cirq.Circuit:
    import cirq

    qubits = cirq.LineQubit.range(circuit.num_qubits)
    ops = [cirq_operation(o, i, qubits) for i, o in enumerate(circuit.operations)]
    return cirq.Circuit(o for o in ops if o is not None)


def _cirq_known(operation: cirq.Operation) -> Operation | None:
    """The IR operation equal to a Cirq operation's gate, if it is one of the IR's gates (else None)."""
    import cirq

    gate = operation.gate
    n = len(operation.qubits)
    if gate is None:
        return None
    if isinstance(gate, cirq.Rx | cirq.Ry | cirq.Rz):
        return Operation(
            name=type(gate).__name__.lower(), qubits=tuple(range(n)), params=(float(gate._rads),)
        )
    fixed = (
        "x",
        "y",
        "z",
        "h",
        "s",
        "sdg",
        "t",
        "tdg",
        "cx",
        "cz",
        "swap",
        "ccx",
        "cswap",
        "cy",
        "ch",
        "iswap",
    )
    for name in fixed:
        if GATES[name].num_qubits == n and gate == cirq_gate(name, (), n):
            return Operation(name=name, qubits=tuple(range(n)))
    if isinstance(gate, cirq.CZPowGate) and gate.global_shift == 0:
        return Operation(name="cp", qubits=(0, 1), params=(float(np.pi * gate.exponent),))
    pair: Any = gate  # an XX/YY/ZZPowGate once its type is checked
    for name, kind in _CIRQ_PAIR_ROTATIONS.items():
        if type(pair) is kind(cirq) and pair.global_shift == -0.5:
            return Operation(name=name, qubits=(0, 1), params=(float(np.pi * pair.exponent),))
    if (
        isinstance(gate, cirq.ControlledGate)
        and n == 2
        and isinstance(gate.sub_gate, cirq.Rx | cirq.Ry | cirq.Rz)
        and gate == gate.sub_gate.controlled(1)  # the control on |1>
    ):
        return Operation(
            name="c" + type(gate.sub_gate).__name__.lower(),
            qubits=(0, 1),
            params=(float(gate.sub_gate._rads),),
        )
    if (
        isinstance(gate, cirq.ControlledGate)
        and gate.sub_gate == cirq.X
        and gate == cirq.X.controlled(n - 1)  # all controls on |1>
    ):
        return mcx(*range(n))
    return None


def from_cirq(circuit: cirq.Circuit, name: str = "circuit") -> Circuit:
    """Convert a Cirq circuit: qubits in sorted order become 0..n-1; each measured qubit gets the next clbit."""
    import cirq

    qubits = sorted(circuit.all_qubits())
    index = {q: i for i, q in enumerate(qubits)}

    def keep(operation: cirq.Operation) -> bool:
        return (
            cirq.is_measurement(operation)
            or isinstance(operation.gate, cirq.ResetChannel)
            or _cirq_known(operation) is not None
            or (len(operation.qubits) == 1 and cirq.has_unitary(operation))
        )

    ops: list[Operation] = []
    clbit = 0
    for operation in cirq.decompose(circuit, keep=keep, on_stuck_raise=None):
        targets = tuple(index[q] for q in operation.qubits)
        if not targets:  # a global phase
            continue
        if cirq.is_measurement(operation):
            for q in targets:
                ops.append(op(MEASURE, q, clbits=(clbit,)))
                clbit += 1
        elif isinstance(operation.gate, cirq.ResetChannel):
            ops.append(Operation(name=RESET, qubits=targets))
        elif (known := _cirq_known(operation)) is not None:
            ops.append(Operation(name=known.name, qubits=targets, params=known.params))
        elif len(targets) == 1 and cirq.has_unitary(operation):
            ops.append(op("u", *targets, params=u_angles(cirq.unitary(operation))))
        else:
            raise CircuitError(
                f"Cirq operation {shown(operation)} cannot be converted",
                hint="use unitary gates, measurements and resets only (noise belongs in a Proxima noise model)",
            )
    return make_circuit(len(qubits), ops, num_clbits=clbit, name=name)
