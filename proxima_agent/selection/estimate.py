"""Resource estimates per backend: peak memory from first principles plus each library's measured overhead,
and a rough time from a fitted model; feasible or not against the memory available right now."""

from __future__ import annotations

from proxima_agent.backends.base import Backend, RunOptions
from proxima_agent.backends.registry import all_backends
from proxima_agent.circuits.ir import Circuit
from proxima_agent.errors import ProximaError
from proxima_agent.selection.models import BackendEstimate, Estimate, MachineMemory


def machine_memory(margin: float = 0.2) -> MachineMemory:
    import psutil

    vm = psutil.virtual_memory()
    return MachineMemory(total_bytes=vm.total, available_bytes=vm.available, margin=margin)


def max_qubits(backend: Backend, usable_bytes: int, limit: int = 64) -> int:
    """The most qubits whose estimated memory fits in `usable_bytes`."""
    n = 0
    while n < limit and backend.memory_bytes(n + 1) <= usable_bytes:
        n += 1
    return n


def estimate_backend(
    backend: Backend, circuit: Circuit, options: RunOptions, machine: MachineMemory
) -> BackendEstimate:
    run = backend.estimate(circuit, options)
    memory = run.memory_bytes
    info = backend.info()
    reason = None
    supported = True
    try:
        backend.check(circuit, options)
    except ProximaError as exc:
        supported, reason = False, exc.message
    if not info.available:
        reason = info.reason
    elif supported and memory > machine.usable_bytes:
        reason = (
            f"needs {format_bytes(memory)} for {circuit.num_qubits} qubits; "
            f"{format_bytes(machine.usable_bytes)} usable of {format_bytes(machine.available_bytes)} available"
        )
    return BackendEstimate(
        backend=backend.id,
        available=info.available,
        supported=supported,
        method=run.method,
        memory_bytes=memory,
        min_memory_bytes=run.min_memory_bytes or memory,
        seconds=run.seconds,
        feasible=reason is None,
        reason=reason,
        note=run.note,
    )


def estimate(
    circuit: Circuit,
    options: RunOptions | None = None,
    *,
    backends: list[Backend] | None = None,
    margin: float = 0.2,
) -> Estimate:
    options = options or RunOptions()
    machine = machine_memory(margin)
    rows = [
        estimate_backend(b, circuit, options, machine)
        for b in (all_backends() if backends is None else backends)
    ]
    noise = options.noise
    return Estimate(
        circuit=circuit.name,
        num_qubits=circuit.num_qubits,
        operations=len(circuit.gates) + sum(len(noise.after(o)) for o in circuit.operations),
        noisy=noise.has_gate_noise,
        shots=options.shots,
        machine=machine,
        backends=rows,
    )


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} EiB"  # pragma: no cover


def format_seconds(s: float) -> str:
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 2 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.0f} days"
