"""What `circuits.analysis.describe` says of a circuit, as a plain model (no numpy behind it), so that the
tools and the terminal use this very class."""

from __future__ import annotations

from pydantic import BaseModel, Field


class CircuitSummary(BaseModel):
    name: str
    num_qubits: int
    num_clbits: int
    depth: int = Field(
        description="layers of operations when each starts as early as its qubits and bits allow"
    )
    size: int = Field(description="gates (measurements, resets and barriers not counted)")
    gate_counts: dict[str, int]
    two_qubit_gates: int
    multi_qubit_gates: int = Field(description="gates on three or more qubits")
    measurements: int
    resets: int
    mid_circuit_measurement: bool
    clifford: bool = Field(description="every gate is a Clifford gate (efficiently simulable by stabilizers)")
    non_clifford_gates: int
    parameterized_gates: int = Field(description="gates with angle parameters")
    parameters: int = Field(description="angle parameters in all (all bound to numbers)")
