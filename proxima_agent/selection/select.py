"""Backend selection: filter by capability and feasibility, then documented rules; explain with numbers.

The rules (docs/backends.md says the same):
1. Candidates: installed, enabled, able to simulate the circuit's gates and noise, and fitting in usable memory.
2. Noiseless circuits want a state vector: statevector backends come first (a density matrix squares the memory).
3. Noisy circuits want the exact answer: density-matrix backends come first while one fits; when none fits,
   statevector backends sample the noise by trajectories.
4. Within the preferred group, the lowest estimated time wins; the runner-up is the next in that order.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from proxima_agent.backends.base import Backend, RunOptions
from proxima_agent.backends.registry import all_backends
from proxima_agent.circuits.ir import Circuit
from proxima_agent.errors import BackendUnavailableError, ResourceError, Step, UnsupportedFeatureError
from proxima_agent.selection.estimate import (
    BackendEstimate,
    Estimate,
    estimate,
    estimate_backend,
    format_bytes,
    format_seconds,
    machine_memory,
)


class Selection(BaseModel):
    backend: str
    runner_up: str | None
    explanation: str
    rule: str = Field(description="which documented rule decided")
    estimate: Estimate


def _group(row: BackendEstimate, noisy: bool) -> int:
    """Lower is preferred (rules 2 and 3)."""
    if noisy:
        return {"density_matrix": 0, "low_rank": 0, "trajectories": 1}.get(row.method, 2)
    return {"statevector": 0, "low_rank": 1, "density_matrix": 2}.get(row.method, 3)


def select_backend(
    circuit: Circuit,
    options: RunOptions | None = None,
    *,
    backends: list[Backend] | None = None,
    margin: float = 0.2,
) -> Selection:
    options = options or RunOptions()
    est = estimate(circuit, options, backends=all_backends() if backends is None else backends, margin=margin)
    if not est.backends:
        raise BackendUnavailableError(
            "no backend is enabled",
            hint='enable one in proxima.json: "backends": {"aer-sv": {"enabled": true}}',
        )
    noisy = est.noisy
    feasible = sorted(
        (r for r in est.backends if r.feasible), key=lambda r: (_group(r, noisy), r.seconds, r.backend)
    )
    if not feasible:
        supported = [r for r in est.backends if r.supported and r.available]
        if not supported:
            raise UnsupportedFeatureError(
                "no installed backend can simulate this circuit: "
                + "; ".join(f"{r.backend}: {r.reason}" for r in est.backends),
                hint="install qiskit-aer or cirq-core, or remove the unsupported noise",
            )
        smallest = min(supported, key=lambda r: r.memory_bytes)
        raise ResourceError(
            f"{circuit.num_qubits} qubits do not fit on this machine: the smallest need is "
            f"{format_bytes(smallest.memory_bytes)} ({smallest.backend}), and "
            f"{format_bytes(est.machine.usable_bytes)} is usable now",
            hint="use fewer qubits, or free memory; noisy circuits fit longer as trajectories (aer-sv)",
            needed_bytes=smallest.memory_bytes,
            usable_bytes=est.machine.usable_bytes,
        )
    best = feasible[0]
    runner = feasible[1] if len(feasible) > 1 else None
    if noisy and best.method == "density_matrix":
        rule, why = "3", "the circuit is noisy, so an exact density matrix is preferred"
    elif noisy and best.method == "low_rank":
        rule, why = (
            "3",
            "the circuit is noisy, so a density matrix is preferred, and the low-rank one is estimated fastest",
        )
    elif noisy:
        rule, why = (
            "3",
            "the circuit is noisy and no density matrix fits, so noise is sampled by trajectories",
        )
    elif best.method == "statevector":
        rule, why = "2", "the circuit is noiseless, so a state vector suffices"
    else:
        rule, why = "4", "it is the fastest feasible backend"
    text = (
        f"{best.backend}: {why}; it needs about {format_bytes(best.memory_bytes)} of "
        f"{format_bytes(est.machine.usable_bytes)} usable memory and an estimated {format_seconds(best.seconds)}"
    )
    if runner is not None:
        text += f"; runner-up {runner.backend} (about {format_seconds(runner.seconds)}, {runner.method})"
    skipped = [r for r in est.backends if not r.feasible]
    if skipped:
        text += "; not feasible: " + ", ".join(f"{r.backend} ({r.reason})" for r in skipped)
    return Selection(
        backend=best.backend,
        runner_up=runner.backend if runner else None,
        explanation=text,
        rule=rule,
        estimate=est,
    )


def check_fits(
    backend: Backend, circuit: Circuit, options: RunOptions, margin: float = 0.2
) -> BackendEstimate:
    """For a backend the user named: refuse with the numbers, and name the backend the rules would pick instead.

    Only the named backend is estimated on the way to a run: another backend's estimate (lret's rank prediction)
    never delays it. The others are estimated only to name an alternative when the named one is refused, each
    within its own bounded cost (an estimate past its budget falls back to a crude bound)."""
    backend.check(circuit, options)
    machine = machine_memory(margin)
    row = estimate_backend(backend, circuit, options, machine)
    if row.feasible or (row.supported and row.available and row.min_memory_bytes <= machine.usable_bytes):
        return row  # a range estimate whose low end fits: the backend guards its own budget while it runs
    noisy = options.noise.has_gate_noise
    others = [estimate_backend(b, circuit, options, machine) for b in all_backends() if b.id != backend.id]
    ranked = sorted((r for r in others if r.feasible), key=lambda r: (_group(r, noisy), r.seconds, r.backend))
    alternative = ranked[0] if ranked else None
    raise ResourceError(
        f"{backend.id} cannot run {circuit.name} here: it {row.reason}",
        hint=(
            f"use {{0}} ({alternative.method}, about {format_bytes(alternative.memory_bytes)})"
            if alternative
            else "no installed backend fits; use fewer qubits or free memory"
        ),
        steps=[Step(None, {"backend": alternative.backend})] if alternative else (),
        needed_bytes=row.memory_bytes,
        usable_bytes=machine.usable_bytes,
    )
