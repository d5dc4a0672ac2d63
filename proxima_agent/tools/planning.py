"""Read-only tools that decide before anything runs: `estimate_resources` (memory and rough time per backend,
feasible here or not) and `select_backend` (the documented rules' choice, with the explanation)."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field

from proxima_agent.selection.models import BackendEstimate
from proxima_agent.tools.context import ToolContext
from proxima_agent.tools.models import (
    BackendId,
    BackendOptions,
    CircuitArg,
    NoiseArg,
    ShotsArg,
    ToolInput,
    ToolOutput,
)


class EstimateInput(ToolInput):
    circuit: CircuitArg
    noise: NoiseArg = None
    shots: ShotsArg = None
    backend_options: BackendOptions = Field(
        default_factory=dict,
        description="backend-specific settings, e.g. lret's {'threshold': 1e-3, 'max_rank': 64}",
    )


class EstimateOutput(ToolOutput):
    circuit: str
    num_qubits: int
    operations: int = Field(description="gates plus noise channels applied")
    noisy: bool
    shots: int
    total_memory_bytes: int
    available_memory_bytes: int
    usable_memory_bytes: int
    backends: list[BackendEstimate]
    method: str = Field(description="how the estimates were made")

    @classmethod
    def of(cls, est: Any) -> EstimateOutput:
        return cls(
            circuit=est.circuit, num_qubits=est.num_qubits, operations=est.operations, noisy=est.noisy,
            shots=est.shots, total_memory_bytes=est.machine.total_bytes,
            available_memory_bytes=est.machine.available_bytes, usable_memory_bytes=est.machine.usable_bytes,
            backends=est.backends, method=est.method,
        )  # fmt: skip

    def text(self) -> str:
        from proxima_agent.selection.estimate import format_bytes, format_seconds

        lines = [
            f"{self.circuit}: {self.num_qubits} qubits, {self.operations} operations"
            + (" (noisy)" if self.noisy else "")
            + f", {self.shots} shots; usable memory {format_bytes(self.usable_memory_bytes)}"
        ]
        for r in self.backends:
            verdict = "fits" if r.feasible else f"not feasible: {r.reason}"
            lines.append(
                f"- {r.backend} ({r.method}): {format_bytes(r.memory_bytes)}, about {format_seconds(r.seconds)}; "
                + verdict
            )
        lines.append(f"method: {self.method}")
        return "\n".join(lines)


async def estimate_resources(args: EstimateInput, ctx: ToolContext) -> EstimateOutput:
    from proxima_agent.backends.registry import all_backends
    from proxima_agent.selection.estimate import estimate
    from proxima_agent.tools.sources import circuit_and_options

    runtime = ctx.runtime
    circuit, options = await asyncio.to_thread(
        circuit_and_options,
        runtime,
        args.circuit,
        shots=args.shots,
        noise=args.noise,
        backend_options=args.backend_options,
    )
    est = await asyncio.to_thread(
        estimate, circuit, options, backends=all_backends(), margin=runtime.config.estimate.memory_margin
    )
    return EstimateOutput.of(est)


class SelectInput(ToolInput):
    circuit: CircuitArg
    noise: NoiseArg = None
    shots: ShotsArg = None
    backends: list[BackendId] | None = Field(
        None,
        max_length=16,
        description="choose only among these backend ids (default: every enabled backend)",
    )


class SelectionOutput(ToolOutput):
    backend: str
    runner_up: str | None
    rule: str = Field(description="which documented rule decided (docs/backends.md)")
    explanation: str
    estimate: EstimateOutput

    def text(self) -> str:
        return f"{self.backend} (rule {self.rule}): {self.explanation}"


async def select_backend(args: SelectInput, ctx: ToolContext) -> SelectionOutput:
    from proxima_agent.backends.registry import all_backends, get_backend
    from proxima_agent.selection.select import select_backend as select
    from proxima_agent.tools.sources import circuit_and_options

    runtime = ctx.runtime
    for backend_id in args.backends or []:
        get_backend(backend_id, require_available=False)  # an unknown id names the known ones
    circuit, options = await asyncio.to_thread(
        circuit_and_options, runtime, args.circuit, shots=args.shots, noise=args.noise
    )
    wanted = set(args.backends) if args.backends else set(runtime.enabled_backends())
    candidates = [b for b in all_backends() if b.id in wanted]
    selection = await asyncio.to_thread(
        select, circuit, options, backends=candidates, margin=runtime.config.estimate.memory_margin
    )
    return SelectionOutput(
        backend=selection.backend,
        runner_up=selection.runner_up,
        rule=selection.rule,
        explanation=selection.explanation,
        estimate=EstimateOutput.of(selection.estimate),
    )
