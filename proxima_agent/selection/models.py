"""What an estimate says, as plain models: no numpy and no backend behind them, so that the tools (and the
MCP server's start-up) use these very classes instead of copies that could drift."""

from __future__ import annotations

from pydantic import BaseModel, Field

METHOD_NOTE = (
    "memory = library overhead + copies x state size (16*2^n bytes for a state vector, 16*4^n for a density "
    "matrix), overhead and copies measured per library; time = fitted model (startup + ops x (per-op + "
    "state entries x per-entry) + shots x per-shot; per shot for trajectories), fitted on this machine type by "
    "benchmarks/calibrate.py: expect a factor of 2-3 either way"
)


class MachineMemory(BaseModel):
    total_bytes: int
    available_bytes: int
    margin: float = Field(description="fraction of available memory kept free")

    @property
    def usable_bytes(self) -> int:
        return int(self.available_bytes * (1 - self.margin))


class BackendEstimate(BaseModel):
    backend: str
    available: bool
    supported: bool = Field(description="the backend can simulate this circuit and noise")
    method: str
    memory_bytes: int
    seconds: float = Field(description="rough time from the fitted model (expect a factor of 2-3 either way)")
    feasible: bool = Field(description="installed, supported, and fits in usable memory now")
    reason: str | None = Field(None, description="why it is not feasible")
    min_memory_bytes: int = Field(
        description="the least memory the run can need (equal to memory_bytes unless estimated as a range)"
    )
    note: str | None = Field(None, description="how the backend made its estimate, where it says more")


class Estimate(BaseModel):
    circuit: str
    num_qubits: int
    operations: int = Field(description="gates plus noise channels applied")
    noisy: bool
    shots: int
    machine: MachineMemory
    backends: list[BackendEstimate]
    method: str = METHOD_NOTE
