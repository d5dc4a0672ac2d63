"""Proxima's circuit intermediate representation: every backend converts from this, and only from this.

A circuit is a list of operations on qubits 0..n-1 and classical bits 0..m-1. Bit order everywhere: qubit /
classical bit 0 is the rightmost character of a bitstring (as in Qiskit).
"""

from __future__ import annotations

import math
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field, model_validator

from proxima_agent.circuits.gates import BARRIER, GATES, MEASURE, RESET
from proxima_agent.errors import CircuitError, quoted


class Operation(BaseModel):
    """One gate, measurement, reset or barrier."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    qubits: tuple[int, ...]
    params: tuple[float, ...] = ()
    clbits: tuple[int, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Operation:
        if len(set(self.qubits)) != len(self.qubits):
            raise ValueError(f"{self.name} acts on repeated qubits {list(self.qubits)}")
        if not all(math.isfinite(p) for p in self.params):
            raise ValueError(f"{self.name} has a parameter that is not a finite number: {list(self.params)}")
        if self.name in GATES:
            spec = GATES[self.name]
            if spec.num_qubits == 0:
                if len(self.qubits) < 2:
                    raise ValueError(f"{self.name} takes at least 2 qubits, got {len(self.qubits)}")
            elif len(self.qubits) != spec.num_qubits:
                raise ValueError(f"{self.name} takes {spec.num_qubits} qubit(s), got {len(self.qubits)}")
            if len(self.params) != spec.num_params:
                raise ValueError(f"{self.name} takes {spec.num_params} parameter(s), got {len(self.params)}")
        elif self.name == MEASURE:
            if len(self.qubits) != 1 or len(self.clbits) != 1:
                raise ValueError("measure takes one qubit and one classical bit")
        elif self.name == RESET:
            if len(self.qubits) != 1:
                raise ValueError("reset takes one qubit")  # as in Qiskit and Cirq: one reset per qubit
        elif self.name != BARRIER:
            raise ValueError(f"unknown operation {self.name!r}")
        return self

    @property
    def is_gate(self) -> bool:
        return self.name in GATES


class Circuit(BaseModel):
    """A quantum circuit. Immutable; round-trips through JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    num_qubits: int = Field(ge=1)
    num_clbits: int = Field(0, ge=0)
    operations: tuple[Operation, ...] = ()
    name: str = "circuit"

    @model_validator(mode="after")
    def _check(self) -> Circuit:
        for index, op in enumerate(self.operations):
            bad_q = [q for q in op.qubits if not 0 <= q < self.num_qubits]
            bad_c = [c for c in op.clbits if not 0 <= c < self.num_clbits]
            if bad_q or bad_c:
                raise ValueError(
                    f"operation {index} ({op.name}) uses qubit(s) {bad_q or ''} clbit(s) {bad_c or ''} outside "
                    f"the circuit's {self.num_qubits} qubits / {self.num_clbits} clbits"
                )
        return self

    @property
    def gates(self) -> tuple[Operation, ...]:
        return tuple(op for op in self.operations if op.is_gate)

    @property
    def has_measurements(self) -> bool:
        return any(op.name == MEASURE for op in self.operations)

    @cached_property
    def terminal_measurements(self) -> list[tuple[int, int]] | None:
        """(qubit, clbit) pairs if every measurement is terminal (nothing touches the qubit after), else None."""
        pairs: list[tuple[int, int]] = []
        measured: set[int] = set()
        for op in self.operations:
            if op.name == BARRIER:
                continue
            if op.name == MEASURE:
                if op.qubits[0] in measured:
                    return None
                measured.add(op.qubits[0])
                pairs.append((op.qubits[0], op.clbits[0]))
            elif measured.intersection(op.qubits):
                return None
        return pairs

    @property
    def is_dynamic(self) -> bool:
        """Mid-circuit measurement or reset: the outcome distribution depends on per-shot collapse."""
        return self.terminal_measurements is None or any(op.name == RESET for op in self.operations)

    def with_measurements(self) -> Circuit:
        """This circuit, measuring every qubit into clbits 0..n-1 at the end if it measures nothing."""
        if self.has_measurements:
            return self
        ops = self.operations + tuple(
            Operation(name=MEASURE, qubits=(q,), clbits=(q,)) for q in range(self.num_qubits)
        )
        return Circuit(
            num_qubits=self.num_qubits,
            num_clbits=max(self.num_clbits, self.num_qubits),
            operations=ops,
            name=self.name,
        )

    def without_measurements(self) -> Circuit:
        """The unitary/noisy part only: measurements and barriers dropped (for exact final states)."""
        ops = tuple(op for op in self.operations if op.name not in (MEASURE, BARRIER))
        return self.model_copy(update={"operations": ops})


def make_circuit(num_qubits: int, operations: list[Operation], *, num_clbits: int = 0, name: str) -> Circuit:
    """Build a circuit, turning pydantic's validation error into a CircuitError a person can act on."""
    from pydantic import ValidationError

    from proxima_agent.circuits import limits

    for value, maximum, what, limit in (
        (num_qubits, limits.MAX_QUBITS, "qubits", "MAX_QUBITS"),
        (num_clbits, limits.MAX_CLBITS, "classical bits", "MAX_CLBITS"),
        (len(operations), limits.MAX_OPERATIONS, "operations", "MAX_OPERATIONS"),
    ):
        if value > maximum:
            raise limits.too_large(quoted(name), what, value, maximum, limit)
    try:
        return Circuit(num_qubits=num_qubits, num_clbits=num_clbits, operations=tuple(operations), name=name)
    except ValidationError as exc:
        raise CircuitError(f"invalid circuit {quoted(name)}: {exc.errors()[0]['msg']}") from exc


def op(name: str, *qubits: int, params: tuple[float, ...] = (), clbits: tuple[int, ...] = ()) -> Operation:
    """Shorthand used by the library and tests: op("cx", 0, 1), op("rz", 2, params=(0.3,))."""
    return Operation(name=name, qubits=qubits, params=tuple(float(p) for p in params), clbits=clbits)


def mcx(*qubits: int) -> Operation:
    """Multi-controlled X with the IR's canonical name: cx for one control, ccx for two, else mcx."""
    return op({2: "cx", 3: "ccx"}.get(len(qubits), "mcx"), *qubits)
