"""Compiling a circuit and noise model into `lret` steps: fused gate blocks, channels, mid-circuit measurements.

Runs of gates between noise operations are fused greedily into blocks on at most `max_fuse` qubits (one
contraction instead of several passes over L). Resets are channels (Kraus |0><0|, |0><1|). Terminal measurements
are not steps: the final distribution reads them from L. Mid-circuit measurements split each column into its
projections, labelled with the recorded bit, so the record stays correlated with the rest of the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from proxima_agent.circuits.gates import BARRIER, MEASURE, RESET, gate_matrix
from proxima_agent.circuits.ir import Circuit
from proxima_agent.circuits.noise import NoiseModel, NoiseOp

_RESET_KRAUS = np.array([[[1, 0], [0, 0]], [[0, 1], [0, 0]]], dtype=complex)


@dataclass(frozen=True)
class GateStep:
    matrix: (
        np.ndarray | None
    )  # None: a multi-controlled X (controls first), applied by swapping two row blocks
    qubits: tuple[int, ...]
    gates: int  # IR gates fused into this block


@dataclass(frozen=True)
class ChannelStep:
    kraus: np.ndarray  # (m, d, d)
    qubits: tuple[int, ...]
    kind: str


@dataclass(frozen=True)
class MeasureStep:
    qubit: int
    clbit: int


Step = GateStep | ChannelStep | MeasureStep


@dataclass(frozen=True)
class Program:
    num_qubits: int
    num_clbits: int
    steps: tuple[Step, ...]
    terminal: tuple[tuple[int, int], ...]  # (qubit, clbit) read from the final state
    clbit_source: dict[int, int]  # clbit -> qubit of its last measurement (for readout error)

    @property
    def noise_steps(self) -> int:
        return sum(1 for s in self.steps if not isinstance(s, GateStep))


def _expand(matrix: np.ndarray, qubits: tuple[int, ...], target: tuple[int, ...]) -> np.ndarray:
    """The matrix of a gate on `qubits` as an operator on the larger ordered set `target` (big-endian)."""
    k, t = len(qubits), len(target)
    op = matrix.reshape((2,) * (2 * k))
    ident = np.eye(2 ** (t - k), dtype=complex).reshape((2,) * (2 * (t - k)))
    full = np.tensordot(op, ident, axes=0)  # axes: out(qubits), in(qubits), out(rest), in(rest)
    rest = [q for q in target if q not in qubits]
    order_out = list(qubits) + rest
    out_axes = [order_out.index(q) for q in target]
    # current layout: out(qubits) [0..k), in(qubits) [k..2k), out(rest) [2k..2k+t-k), in(rest) [...]
    current_out = list(range(k)) + list(range(2 * k, 2 * k + t - k))
    current_in = list(range(k, 2 * k)) + list(range(2 * k + t - k, 2 * t))
    perm = [current_out[i] for i in out_axes] + [current_in[i] for i in out_axes]
    return full.transpose(perm).reshape(2**t, 2**t)


def compile_program(circuit: Circuit, noise: NoiseModel, max_fuse: int = 3) -> Program:
    ops = [o for o in circuit.operations if o.name != BARRIER]
    last_touch: dict[int, int] = {}
    for index, operation in enumerate(ops):
        for q in operation.qubits:
            last_touch[q] = index
    # A measurement is read from the final state (as every backend does) when nothing touches its qubit after it
    # and no later mid-circuit measurement overwrites its clbit; later terminal writes simply win.
    read_at_end: set[int] = set()
    mid_written: set[int] = set()
    for index in reversed(range(len(ops))):
        operation = ops[index]
        if operation.name == MEASURE:
            if last_touch[operation.qubits[0]] == index and operation.clbits[0] not in mid_written:
                read_at_end.add(index)
            else:
                mid_written.add(operation.clbits[0])
    steps: list[Step] = []
    terminal: list[tuple[int, int]] = []
    source: dict[int, int] = {}
    block: tuple[np.ndarray, tuple[int, ...], int] | None = None

    def flush() -> None:
        nonlocal block
        if block is not None:
            steps.append(GateStep(matrix=block[0], qubits=block[1], gates=block[2]))
            block = None

    for index, operation in enumerate(ops):
        if operation.name == "mcx":
            flush()
            steps.append(GateStep(matrix=None, qubits=operation.qubits, gates=1))
        elif operation.is_gate:
            matrix = gate_matrix(operation.name, operation.params, len(operation.qubits))
            qubits = operation.qubits
            union = tuple(sorted(set(block[1]) | set(qubits))) if block is not None else qubits
            if block is not None and len(union) <= max_fuse:
                block = (
                    _expand(matrix, qubits, union) @ _expand(block[0], block[1], union),
                    union,
                    block[2] + 1,
                )
            else:
                flush()
                block = (matrix, qubits, 1)
        if operation.is_gate:
            channels = noise.after(operation)
            if channels:
                flush()
                steps.extend(_channel(c) for c in channels)
        elif operation.name == RESET:
            flush()
            steps.extend(ChannelStep(kraus=_RESET_KRAUS, qubits=(q,), kind="reset") for q in operation.qubits)
        elif operation.name == MEASURE:
            qubit, clbit = operation.qubits[0], operation.clbits[0]
            source[clbit] = qubit
            if index in read_at_end:
                terminal.append((qubit, clbit))
            else:
                flush()
                steps.append(MeasureStep(qubit=qubit, clbit=clbit))
    flush()
    return Program(
        num_qubits=circuit.num_qubits,
        num_clbits=circuit.num_clbits,
        steps=tuple(steps),
        terminal=tuple(terminal),
        clbit_source=source,
    )


def _channel(noise_op: NoiseOp) -> ChannelStep:
    kraus = np.array(noise_op.channel.kraus(len(noise_op.qubits)), dtype=complex)
    # drop Kraus operators that are exactly zero (e.g. thermal relaxation with no extra dephasing)
    kraus = kraus[np.abs(kraus).reshape(len(kraus), -1).max(axis=1) > 0]
    return ChannelStep(kraus=kraus, qubits=noise_op.qubits, kind=noise_op.channel.kind)
