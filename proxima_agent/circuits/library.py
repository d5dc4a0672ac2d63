"""Named, parameterised circuits: `bell`, `ghz:N`, `qft:N[:X]`, `random:N:DEPTH[:SEED]`, `grover:N[:MARKED]`,
`w:N`, `qaoa:N:P[:SEED]`.

A name is deterministic: the same string always builds the same circuit (random ones default to seed 0).
Every library circuit ends by measuring all qubits, qubit i into classical bit i.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from proxima_agent.circuits import limits
from proxima_agent.circuits.ir import Circuit, Operation, make_circuit, mcx, op
from proxima_agent.circuits.limits import shown
from proxima_agent.errors import CircuitParameterError, UnknownCircuitError, quoted

MAX_QUBITS = 64


@dataclass(frozen=True)
class Param:
    name: str
    minimum: int
    maximum: int
    optional: bool = False
    default: int | None = None  # for an optional parameter; None lets the builder choose


@dataclass(frozen=True)
class LibraryEntry:
    name: str
    params: tuple[Param, ...]
    description: str
    build: Callable[..., list[Operation]]
    size: Callable[..., int]  # the number of operations `build` returns, known without building them

    @property
    def usage(self) -> str:
        parts = [self.name]
        for p in self.params:
            parts.append(f"[{p.name}]" if p.optional else p.name)
        return ":".join(parts).replace(":[", "[:")


def _measure_all(n: int) -> list[Operation]:
    return [op("measure", q, clbits=(q,)) for q in range(n)]


def _bell() -> list[Operation]:
    return [op("h", 0), op("cx", 0, 1)]


def _ghz(n: int) -> list[Operation]:
    return [op("h", 0)] + [op("cx", q, q + 1) for q in range(n - 1)]


def qft_ops(n: int) -> list[Operation]:
    """The QFT (Qiskit's convention, with final swaps): |x> -> sum_k exp(2 pi i x k / 2^n) |k> / sqrt(2^n)."""
    ops: list[Operation] = []
    for j in reversed(range(n)):
        ops.append(op("h", j))
        for k in reversed(range(j)):
            ops.append(op("cp", k, j, params=(math.pi / 2 ** (j - k),)))
    ops += [op("swap", q, n - 1 - q) for q in range(n // 2)]
    return ops


def _qft(n: int, x: int) -> list[Operation]:
    if x >= 2**n:
        raise CircuitParameterError(
            f"qft:{n}:{x}: the input state {x} needs more than {n} qubits",
            hint=f"use an input between 0 and {2**n - 1}",
        )
    return [op("x", q) for q in range(n) if x >> q & 1] + qft_ops(n)


_RANDOM_1Q = ("h", "sx", "t", "s", "x")


def _random(n: int, depth: int, seed: int) -> list[Operation]:
    """`depth` layers; each: a random one-qubit gate or rotation on every qubit, then CX/CZ on random pairs."""
    rng = np.random.default_rng(seed)
    ops: list[Operation] = []
    for _ in range(depth):
        for q in range(n):
            if rng.random() < 0.5:
                ops.append(op(str(rng.choice(_RANDOM_1Q)), q))
            else:
                ops.append(
                    op(str(rng.choice(["rx", "ry", "rz"])), q, params=(float(rng.uniform(0, 2 * np.pi)),))
                )
        order = rng.permutation(n)
        for a, b in zip(order[0::2], order[1::2], strict=False):
            ops.append(op(str(rng.choice(["cx", "cz"])), int(a), int(b)))
    return ops


def _mcz(qubits: list[int]) -> list[Operation]:
    *controls, target = qubits
    if not controls:
        return [op("z", target)]
    return [op("h", target), mcx(*qubits), op("h", target)]


def _grover(n: int, marked: int | None) -> list[Operation]:
    marked = (2**n - 1) if marked is None else marked
    if marked >= 2**n:
        raise CircuitParameterError(
            f"grover:{n}:{marked}: the marked state needs more than {n} qubits",
            hint=f"mark a state between 0 and {2**n - 1}",
        )
    qubits = list(range(n))
    zeros = [op("x", q) for q in qubits if not marked >> q & 1]
    flip_all = [op("x", q) for q in qubits]
    hadamards = [op("h", q) for q in qubits]
    iterations = max(1, math.floor(math.pi / 4 * math.sqrt(2**n)))
    ops = list(hadamards)
    for _ in range(iterations):
        ops += zeros + _mcz(qubits) + zeros
        ops += hadamards + flip_all + _mcz(qubits) + flip_all + hadamards
    return ops


def _w(n: int) -> list[Operation]:
    """W state by a cascade: one excitation spread evenly over n qubits."""
    ops = [op("x", 0)]
    for k in range(n - 1):
        theta = 2 * math.acos(math.sqrt(1 / (n - k)))
        ops += [op("cry", k, k + 1, params=(theta,)), op("cx", k + 1, k)]
    return ops


def _qaoa_graph(n: int, rng: np.random.Generator) -> set[tuple[int, int]]:
    edges = {(q, (q + 1) % n) for q in range(n)} if n > 2 else {(0, 1)}
    edges |= {(a, b) for a in range(n) for b in range(a + 2, n) if rng.random() < 0.5}
    return edges


def _qaoa(n: int, layers: int, seed: int) -> list[Operation]:
    """MaxCut QAOA on a random graph (each edge kept with probability 1/2, a ring guaranteed), random angles."""
    rng = np.random.default_rng(seed)
    edges = _qaoa_graph(n, rng)
    ops = [op("h", q) for q in range(n)]
    for _ in range(layers):
        gamma, beta = rng.uniform(0, np.pi, size=2)
        ops += [op("rzz", a, b, params=(2 * gamma,)) for a, b in sorted(edges)]
        ops += [op("rx", q, params=(2 * beta,)) for q in range(n)]
    return ops


def _grover_size(n: int, marked: int | None) -> int:
    marked = (2**n - 1) if marked is None else marked
    zeros = sum(1 for q in range(n) if not marked >> q & 1)
    iterations = max(1, math.floor(math.pi / 4 * math.sqrt(2**n)))
    return n + iterations * (2 * zeros + 4 * n + 6)


_N = Param("N", 2, MAX_QUBITS)
LIBRARY: dict[str, LibraryEntry] = {
    e.name: e
    for e in [
        LibraryEntry("bell", (), "Bell pair (|00> + |11>)/sqrt(2)", _bell, lambda: 2),
        LibraryEntry("ghz", (_N,), "N-qubit GHZ state", _ghz, lambda n: n),
        LibraryEntry(
            "qft",
            (_N, Param("X", 0, 2**MAX_QUBITS, optional=True, default=0)),
            "quantum Fourier transform of the basis state |X>",
            _qft,
            lambda n, x: bin(x).count("1") + n + n * (n - 1) // 2 + n // 2,
        ),
        LibraryEntry(
            "random",
            (
                Param("N", 1, MAX_QUBITS),
                Param("DEPTH", 1, 10_000),
                Param("SEED", 0, 2**32 - 1, optional=True, default=0),
            ),
            "random layered circuit: random 1-qubit gates and rotations, then CX/CZ on random pairs",
            _random,
            lambda n, depth, seed: depth * (n + n // 2),
        ),
        LibraryEntry(
            "grover",
            (Param("N", 2, 20), Param("MARKED", 0, 2**20, optional=True)),
            "Grover search for |MARKED> (default all ones), optimal number of iterations",
            _grover,
            _grover_size,
        ),
        LibraryEntry("w", (_N,), "N-qubit W state", _w, lambda n: 2 * n - 1),
        LibraryEntry(
            "qaoa",
            (_N, Param("P", 1, 1000), Param("SEED", 0, 2**32 - 1, optional=True, default=0)),
            "MaxCut QAOA with P layers on a random graph with random angles",
            _qaoa,
            lambda n, p, seed: n + p * (len(_qaoa_graph(n, np.random.default_rng(seed))) + n),
        ),
    ]
}


def parse_name(spec: str) -> tuple[LibraryEntry, list[int | None]]:
    name, *raw = spec.strip().split(":")
    entry = LIBRARY.get(name.lower())
    if entry is None:
        raise UnknownCircuitError(
            f"unknown circuit {quoted(name)}",
            hint="library circuits: "
            + ", ".join(e.usage for e in LIBRARY.values())
            + "; or give a .qasm file",
        )
    if len(raw) > len(entry.params):
        raise CircuitParameterError(
            f"{quoted(spec)}: {entry.name} takes at most {len(entry.params)} parameter(s)",
            hint=f"usage: {entry.usage}",
        )
    values: list[int | None] = []
    for index, param in enumerate(entry.params):
        if index >= len(raw):
            if not param.optional:
                raise CircuitParameterError(
                    f"{quoted(spec)}: missing {param.name}", hint=f"usage: {entry.usage}"
                )
            values.append(param.default)
            continue
        try:
            value = int(raw[index]) if len(raw[index].strip()) <= 40 else None
        except ValueError:
            raise CircuitParameterError(
                f"{quoted(spec)}: {param.name} must be an integer, got {quoted(raw[index])}",
                hint=f"usage: {entry.usage}",
            ) from None
        if value is None or not param.minimum <= value <= param.maximum:
            raise CircuitParameterError(
                f"{quoted(spec)}: {param.name}={shown(raw[index].strip(), 30)} is out of range",
                hint=f"{param.name} must be between {param.minimum} and {param.maximum}",
            )
        values.append(value)
    return entry, values


def is_library_name(spec: str) -> bool:
    return spec.strip().split(":")[0].lower() in LIBRARY


def build(spec: str) -> Circuit:
    """Build a library circuit from its name, e.g. `ghz:5` or `random:10:20:7`."""
    entry, values = parse_name(spec)
    n = 2 if entry.name == "bell" else int(values[0])  # type: ignore[arg-type]
    size = entry.size(*values) + n  # and the final measurements
    if size > limits.MAX_OPERATIONS:
        raise limits.too_large(
            quoted(spec.strip()), "operations", size, limits.MAX_OPERATIONS, "MAX_OPERATIONS"
        )
    ops = entry.build(*values)
    return make_circuit(n, ops + _measure_all(n), num_clbits=n, name=spec.strip().lower())
