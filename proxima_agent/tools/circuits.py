"""Read-only tools about what is here: the simulators (`list_backends`) and a circuit (`describe_circuit`)."""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import BaseModel, Field

from proxima_agent.circuits.summary import CircuitSummary
from proxima_agent.tools.context import ToolContext
from proxima_agent.tools.models import CircuitArg, ToolInput, ToolOutput


class ListBackendsInput(ToolInput):
    check: bool = Field(False, description="also run a one-circuit self test (a Bell pair) on each backend")


class SelfTest(BaseModel):
    healthy: bool
    seconds: float
    detail: str


class BackendRow(BaseModel):
    id: str
    name: str
    available: bool
    enabled: bool = Field(description="offered by proxima.json; a disabled backend is never selected")
    version: str | None
    reason: str | None = Field(None, description="why it is unavailable")
    method: str
    noise_kinds: list[str]
    exact_noise: bool
    steppable: bool = Field(description="can pause to a checkpoint between steps")
    expectations: bool = Field(description="computes Pauli expectation values exactly")
    max_qubits_here: int = Field(description="most qubits whose estimated memory fits in usable memory now")
    self_test: SelfTest | None = None


class BackendList(ToolOutput):
    backends: list[BackendRow]
    usable_memory_bytes: int = Field(description="available memory less the configured safety margin")

    def text(self) -> str:
        from proxima_agent.selection.estimate import format_bytes

        lines = [f"{len(self.backends)} backends; {format_bytes(self.usable_memory_bytes)} usable memory now"]
        for b in self.backends:
            state = "available" if b.available else f"unavailable ({b.reason})"
            if not b.enabled:
                state += ", disabled in proxima.json"
            test = ""
            if b.self_test is not None:
                test = f"; self test {'ok' if b.self_test.healthy else 'FAILED'} ({b.self_test.detail})"
            lines.append(
                f"- {b.id} ({b.name} {b.version or ''}): {b.method}, {state}, up to {b.max_qubits_here} "
                f"qubits here{test}"
            )
        return "\n".join(lines)


async def _self_test(ctx: ToolContext, backend_id: str) -> SelfTest:
    """The registry's one-circuit self test, run as a job in a worker (never in the serving process)."""
    from proxima_agent.backends.registry import SELF_TEST_CIRCUIT, SELF_TEST_OPTIONS, judge_self_test
    from proxima_agent.circuits.library import build
    from proxima_agent.errors import ProximaError

    engine = await ctx.runtime.engine()
    try:
        job = await engine.submit(build(SELF_TEST_CIRCUIT), SELF_TEST_OPTIONS, backend_id)
        await engine.wait(job.id, timeout=120)
    except ProximaError as exc:
        return SelfTest(healthy=False, seconds=0.0, detail=f"{exc.code}: {exc.message}")
    if job.result is None:
        detail = f"{job.error.code}: {job.error.message}" if job.error else f"the self test is {job.state}"
        return SelfTest(healthy=False, seconds=job.timer.elapsed(), detail=detail)
    health = judge_self_test(backend_id, job.result.counts, job.result.timing.total_s)
    return SelfTest(healthy=health.healthy, seconds=health.seconds, detail=health.detail)


async def list_backends(args: ListBackendsInput, ctx: ToolContext) -> BackendList:
    from proxima_agent.backends.registry import all_backends
    from proxima_agent.selection.estimate import machine_memory, max_qubits

    config = ctx.runtime.config
    machine = machine_memory(config.estimate.memory_margin)
    rows = []
    for backend in all_backends():
        info = backend.info()
        caps = info.capabilities
        health = await _self_test(ctx, info.id) if args.check and info.available else None
        rows.append(
            BackendRow(
                id=info.id, name=info.name, available=info.available, enabled=config.enabled(info.id),
                version=info.version, reason=info.reason, method=caps.method,
                noise_kinds=sorted(caps.noise_kinds), exact_noise=caps.exact_noise, steppable=caps.steppable,
                expectations=caps.expectations, max_qubits_here=max_qubits(backend, machine.usable_bytes),
                self_test=health,
            )
        )  # fmt: skip
    return BackendList(backends=rows, usable_memory_bytes=machine.usable_bytes)


class DescribeInput(ToolInput):
    circuit: CircuitArg
    qasm: Literal[2, 3] | None = Field(None, description="also return the circuit as OpenQASM 2 or 3")


class CircuitDescription(CircuitSummary, ToolOutput):
    """The circuit's summary (the core's own model), and the circuit as OpenQASM when asked."""

    qasm: str | None = None

    def text(self) -> str:
        gates = ", ".join(f"{k} {v}" for k, v in self.gate_counts.items()) or "none"
        text = (
            f"{self.name}: {self.num_qubits} qubits, {self.num_clbits} clbits, depth {self.depth}, {self.size} "
            f"gates ({gates}); {self.two_qubit_gates} two-qubit, {self.multi_qubit_gates} on 3+ qubits; "
            f"{self.measurements} measurements"
            + (" (mid-circuit)" if self.mid_circuit_measurement else "")
            + f", {self.resets} resets; "
            + (
                "Clifford"
                if self.clifford
                else f"not Clifford ({self.non_clifford_gates} non-Clifford gates)"
            )
        )
        return text + (f"\n\n{self.qasm}" if self.qasm else "")


async def describe_circuit(args: DescribeInput, ctx: ToolContext) -> CircuitDescription:
    from proxima_agent.circuits.analysis import describe
    from proxima_agent.tools.sources import load_circuit

    circuit = await asyncio.to_thread(load_circuit, ctx.runtime, args.circuit)
    summary = describe(circuit)
    qasm = None
    if args.qasm is not None:
        from proxima_agent.circuits.qasm import to_qasm

        qasm = to_qasm(circuit, args.qasm)
    return CircuitDescription(**summary.model_dump(), qasm=qasm)
