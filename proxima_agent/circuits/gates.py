"""The gate set of Proxima's circuit IR: names (OpenQASM / Qiskit names), arity, parameters, matrices.

Matrices act on the operation's qubits in the order listed, the first listed qubit being the most significant
(the textbook convention: cx(control, target) is [[1,0,0,0],[0,1,0,0],[0,0,0,1],[0,0,1,0]]). Phases follow
Qiskit's definitions exactly (rz(t) = diag(e^{-it/2}, e^{it/2}), p(t) = diag(1, e^{it})), so statevectors
agree with every backend without a global-phase fudge.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

_I2 = np.eye(2, dtype=complex)
_X = np.array([[0, 1], [1, 0]], dtype=complex)
_Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
_Z = np.array([[1, 0], [0, -1]], dtype=complex)
_H = np.array([[1, 1], [1, -1]], dtype=complex) / np.sqrt(2)
PAULIS = {"I": _I2, "X": _X, "Y": _Y, "Z": _Z}


def _rx(t: float) -> np.ndarray:
    c, s = np.cos(t / 2), np.sin(t / 2)
    return np.array([[c, -1j * s], [-1j * s, c]])


def _ry(t: float) -> np.ndarray:
    c, s = np.cos(t / 2), np.sin(t / 2)
    return np.array([[c, -s], [s, c]], dtype=complex)


def _rz(t: float) -> np.ndarray:
    return np.diag([np.exp(-0.5j * t), np.exp(0.5j * t)])


def _p(t: float) -> np.ndarray:
    return np.diag([1, np.exp(1j * t)])


def _u(theta: float, phi: float, lam: float) -> np.ndarray:
    c, s = np.cos(theta / 2), np.sin(theta / 2)
    return np.array(
        [[c, -np.exp(1j * lam) * s], [np.exp(1j * phi) * s, np.exp(1j * (phi + lam)) * c]], dtype=complex
    )


def controlled(u: np.ndarray, controls: int = 1) -> np.ndarray:
    """The matrix of u controlled by `controls` leading qubits (all must be |1>)."""
    dim = u.shape[0] * 2**controls
    out = np.eye(dim, dtype=complex)
    out[dim - u.shape[0] :, dim - u.shape[0] :] = u
    return out


def _pauli_rotation(pauli: np.ndarray) -> Callable[[float], np.ndarray]:
    pp = np.kron(pauli, pauli)

    def matrix(t: float) -> np.ndarray:
        return np.cos(t / 2) * np.eye(4) - 1j * np.sin(t / 2) * pp

    return matrix


_SWAP = np.eye(4, dtype=complex)[[0, 2, 1, 3]]
_ISWAP = np.array([[1, 0, 0, 0], [0, 0, 1j, 0], [0, 1j, 0, 0], [0, 0, 0, 1]], dtype=complex)


@dataclass(frozen=True)
class GateSpec:
    name: str
    num_qubits: int  # 0 means variadic: `mcx` takes any number >= 2 (the last qubit is the target)
    num_params: int
    matrix: Callable[..., np.ndarray]
    description: str


def _fixed(m: np.ndarray) -> Callable[[], np.ndarray]:
    return lambda: m


_SPECS = [
    GateSpec("id", 1, 0, _fixed(_I2), "identity"),
    GateSpec("x", 1, 0, _fixed(_X), "Pauli X"),
    GateSpec("y", 1, 0, _fixed(_Y), "Pauli Y"),
    GateSpec("z", 1, 0, _fixed(_Z), "Pauli Z"),
    GateSpec("h", 1, 0, _fixed(_H), "Hadamard"),
    GateSpec("s", 1, 0, _fixed(_p(np.pi / 2)), "sqrt(Z)"),
    GateSpec("sdg", 1, 0, _fixed(_p(-np.pi / 2)), "inverse of s"),
    GateSpec("t", 1, 0, _fixed(_p(np.pi / 4)), "fourth root of Z"),
    GateSpec("tdg", 1, 0, _fixed(_p(-np.pi / 4)), "inverse of t"),
    GateSpec("sx", 1, 0, _fixed(np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]]) / 2), "sqrt(X)"),
    GateSpec("sxdg", 1, 0, _fixed(np.array([[1 - 1j, 1 + 1j], [1 + 1j, 1 - 1j]]) / 2), "inverse of sx"),
    GateSpec("rx", 1, 1, _rx, "rotation about X"),
    GateSpec("ry", 1, 1, _ry, "rotation about Y"),
    GateSpec("rz", 1, 1, _rz, "rotation about Z"),
    GateSpec("p", 1, 1, _p, "phase"),
    GateSpec("u", 1, 3, _u, "general single-qubit gate u(theta, phi, lambda)"),
    GateSpec("cx", 2, 0, _fixed(controlled(_X)), "controlled X (CNOT)"),
    GateSpec("cy", 2, 0, _fixed(controlled(_Y)), "controlled Y"),
    GateSpec("cz", 2, 0, _fixed(controlled(_Z)), "controlled Z"),
    GateSpec("ch", 2, 0, _fixed(controlled(_H)), "controlled Hadamard"),
    GateSpec("swap", 2, 0, _fixed(_SWAP), "swap"),
    GateSpec("iswap", 2, 0, _fixed(_ISWAP), "iSWAP"),
    GateSpec("crx", 2, 1, lambda t: controlled(_rx(t)), "controlled rx"),
    GateSpec("cry", 2, 1, lambda t: controlled(_ry(t)), "controlled ry"),
    GateSpec("crz", 2, 1, lambda t: controlled(_rz(t)), "controlled rz"),
    GateSpec("cp", 2, 1, lambda t: controlled(_p(t)), "controlled phase"),
    GateSpec("rxx", 2, 1, _pauli_rotation(_X), "exp(-i t/2 X⊗X)"),
    GateSpec("ryy", 2, 1, _pauli_rotation(_Y), "exp(-i t/2 Y⊗Y)"),
    GateSpec("rzz", 2, 1, _pauli_rotation(_Z), "exp(-i t/2 Z⊗Z)"),
    GateSpec("ccx", 3, 0, _fixed(controlled(_X, 2)), "Toffoli"),
    GateSpec("cswap", 3, 0, _fixed(controlled(_SWAP)), "Fredkin (controlled swap)"),
    GateSpec("mcx", 0, 0, lambda: _X, "multi-controlled X: controls first, target last"),
]

GATES: dict[str, GateSpec] = {spec.name: spec for spec in _SPECS}

# Non-unitary instructions the IR carries besides gates.
MEASURE, RESET, BARRIER = "measure", "reset", "barrier"
INSTRUCTIONS = (MEASURE, RESET, BARRIER)


def gate_matrix(name: str, params: tuple[float, ...] = (), num_qubits: int | None = None) -> np.ndarray:
    """The gate's matrix; a variadic gate needs `num_qubits` (its matrix grows as 4^k: for small k only)."""
    spec = GATES[name]
    m = np.asarray(spec.matrix(*params), dtype=complex)
    if spec.num_qubits == 0:
        if num_qubits is None:
            raise ValueError(f"{name} needs num_qubits")
        m = controlled(m, num_qubits - 1)
    return m


@cache
def _pauli_group(n: int) -> list[np.ndarray]:
    return [
        np.array(1, dtype=complex).reshape(1, 1) if not p else _kron_all(p)
        for p in itertools.product(PAULIS.values(), repeat=n)
    ]


def _kron_all(mats: tuple[np.ndarray, ...]) -> np.ndarray:
    out = mats[0]
    for m in mats[1:]:
        out = np.kron(out, m)
    return out


def is_clifford_matrix(u: np.ndarray, atol: float = 1e-9) -> bool:
    """True if u maps every Pauli string to a Pauli string (up to a phase) under conjugation."""
    n = int(np.log2(u.shape[0]))
    group = _pauli_group(n)
    dim = 2**n
    for generator in group[1:]:
        image = u @ generator @ u.conj().T
        # The image is a Pauli string iff exactly one Pauli has |<P, image>| = dim.
        overlaps = [abs(np.trace(p.conj().T @ image)) for p in group]
        if not any(abs(o - dim) < atol for o in overlaps):
            return False
    return True
