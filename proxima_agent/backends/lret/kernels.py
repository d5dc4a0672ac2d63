"""The numerical kernels of `lret`: every operation acts on the factor L (rho = L L^dagger), never on rho.

L has shape (2^n, w): row index bit i is qubit i (little-endian, as every Proxima state). Gate and Kraus matrices
follow the IR's convention: the first listed qubit is the most significant index bit of the matrix.
"""

from __future__ import annotations

import numpy as np


def _axes(num_qubits: int, qubits: tuple[int, ...]) -> list[int]:
    """Tensor axes of `qubits` when L is viewed as (2,)*n + (w,): axis a is qubit n-1-a."""
    return [num_qubits - 1 - q for q in qubits]


def apply_matrix(L: np.ndarray, matrix: np.ndarray, qubits: tuple[int, ...], num_qubits: int) -> np.ndarray:
    """Return U L for a k-qubit matrix U on `qubits`, as one contraction over all columns at once."""
    width = L.shape[1]
    if len(qubits) == 1:
        q = qubits[0]
        view = L.reshape(2 ** (num_qubits - 1 - q), 2, (2**q) * width)
        return np.matmul(matrix.astype(L.dtype, copy=False), view).reshape(L.shape)
    k = len(qubits)
    tensor = L.reshape((2,) * num_qubits + (width,))
    u = matrix.astype(L.dtype, copy=False).reshape((2,) * (2 * k))
    axes = _axes(num_qubits, qubits)
    out = np.tensordot(u, tensor, axes=(list(range(k, 2 * k)), axes))
    return np.ascontiguousarray(np.moveaxis(out, list(range(k)), axes)).reshape(L.shape)


def widen(L: np.ndarray, kraus: list[np.ndarray], qubits: tuple[int, ...], num_qubits: int) -> np.ndarray:
    """[K_1 L | ... | K_m L]: the channel applied exactly, the width multiplied by m."""
    return np.concatenate([apply_matrix(L, k, qubits, num_qubits) for k in kraus], axis=1)


def row_groups(L: np.ndarray, qubits: tuple[int, ...], num_qubits: int) -> np.ndarray:
    """L regrouped by the values of `qubits`: shape (d, 2^(n-k), w), group index big-endian over `qubits`."""
    k = len(qubits)
    width = L.shape[1]
    tensor = L.reshape((2,) * num_qubits + (width,))
    moved = np.moveaxis(tensor, _axes(num_qubits, qubits), list(range(k)))
    return moved.reshape(2**k, 2 ** (num_qubits - k), width)


def from_row_groups(groups: np.ndarray, qubits: tuple[int, ...], num_qubits: int) -> np.ndarray:
    k = len(qubits)
    width = groups.shape[-1]
    tensor = groups.reshape((2,) * k + (2,) * (num_qubits - k) + (width,))
    return np.ascontiguousarray(np.moveaxis(tensor, list(range(k)), _axes(num_qubits, qubits))).reshape(
        2**num_qubits, width
    )


def channel_gram(groups: np.ndarray, kraus: np.ndarray) -> np.ndarray:
    """Gram matrix of [K_1 L | ... | K_m L] without forming it.

    With L split into row groups L_s by the channel qubits' values, G'_ab = sum_{s,s'} (K_a^H K_b)_{ss'} L_s^H L_s'.
    One GEMM builds every L_s^H L_s' (cost 2^n d w^2 instead of 2^n (m w)^2).
    """
    d, rest, width = groups.shape
    m = kraus.shape[0]
    stacked = np.ascontiguousarray(groups.transpose(1, 0, 2)).reshape(rest, d * width)
    gram_m = (stacked.conj().T @ stacked).reshape(d, width, d, width)
    mix = np.tensordot(kraus.conj(), kraus, axes=([1], [1]))  # (a, s, b, u) = sum_t conj(K_a[t,s]) K_b[t,u]
    gram = np.tensordot(mix, gram_m, axes=([1, 3], [0, 2]))  # (a, b, i, j)
    return np.ascontiguousarray(gram.transpose(0, 2, 1, 3)).reshape(m * width, m * width)


def channel_project(groups: np.ndarray, kraus: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """[K_1 L | ... | K_m L] @ V, in row groups, with d GEMMs: new group t = sum_s L_s (sum_a K_a[t,s] V_a)."""
    d, rest, width = groups.shape
    m = kraus.shape[0]
    kept = vectors.shape[1]
    blocks = np.tensordot(kraus, vectors.reshape(m, width, kept), axes=([0], [0])).reshape(d, d * width, kept)
    stacked = np.ascontiguousarray(groups.transpose(1, 0, 2)).reshape(rest, d * width)
    return np.stack([stacked @ blocks[t].astype(stacked.dtype, copy=False) for t in range(d)])


def row_probabilities(L: np.ndarray) -> np.ndarray:
    """diag(rho) = row norms of L, without forming rho."""
    return np.einsum("ij,ij->i", L.real, L.real) + np.einsum("ij,ij->i", L.imag, L.imag)


_PAULI = {
    "I": np.eye(2, dtype=complex),
    "X": np.array([[0, 1], [1, 0]], dtype=complex),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=complex),
    "Z": np.array([[1, 0], [0, -1]], dtype=complex),
}


def pauli_expectation(L: np.ndarray, pauli: str, num_qubits: int) -> float:
    """Re tr(P rho) = Re tr(L^H P L) for a Pauli string whose last character is qubit 0 (the bit order)."""
    out = L
    for position, letter in enumerate(reversed(pauli.upper())):
        if letter != "I":
            out = apply_matrix(out, _PAULI[letter], (position,), num_qubits)
    return float(np.real(np.vdot(L, out)))
