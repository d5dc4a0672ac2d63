"""The numerical kernels of `lret`: every operation acts on the factor L (rho = L L^dagger), never on rho.

L has shape (2^n, w): row index bit i is qubit i (little-endian, as every Proxima state). Gate and Kraus matrices
follow the IR's convention: the first listed qubit is the most significant index bit of the matrix.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg.blas


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


def channel_gram(groups: np.ndarray, kraus: np.ndarray) -> tuple[np.ndarray, float]:
    """Gram matrix of [K_1 L | ... | K_m L] without forming it, and the flops spent on row blocks.

    With L split into row groups L_s by the channel qubits' values, G'_ab = sum_{s,u} (K_a^H K_b)_{su} L_s^H L_u.
    Only the blocks some K_a^H K_b needs are built (a dephasing channel needs the diagonal ones alone), the
    diagonal ones by HERK (half a GEMM's flops), the others once each (L_u^H L_s is the adjoint of L_s^H L_u).
    """
    d, rest, width = groups.shape
    m = kraus.shape[0]
    mix = np.tensordot(kraus.conj(), kraus, axes=([1], [1]))  # (a, s, b, u) = sum_t conj(K_a[t,s]) K_b[t,u]
    needed = np.abs(mix).max(axis=(0, 2)) > 0  # (s, u)
    gram = np.zeros((m, width, m, width), dtype=np.result_type(groups.dtype, kraus.dtype))
    flops = 0.0
    for s in range(d):
        for u in range(s, d):
            if not (needed[s, u] or needed[u, s]):
                continue
            if s == u:
                block = gram_of(groups[s])
                flops += 4.0 * rest * width * width
            else:
                block = groups[s].conj().T @ groups[u]
                flops += 8.0 * rest * width * width
            gram += np.einsum("ab,ij->aibj", mix[:, s, :, u], block)
            if s != u:
                gram += np.einsum("ab,ij->aibj", mix[:, u, :, s], block.conj().T)
    return gram.reshape(m * width, m * width), flops


def gram_of(block: np.ndarray) -> np.ndarray:
    """block^H block by HERK: a C-ordered (rows, w) array is BLAS's (w, rows) B, and B B^H = conj(block^H block)."""
    b = np.ascontiguousarray(block).T
    herk = scipy.linalg.blas.get_blas_funcs("herk", (b,))
    upper = herk(1.0, b, trans=0)
    full = np.triu(upper) + np.triu(upper, 1).conj().T
    return full.conj()


def channel_project(groups: np.ndarray, kraus: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, float]:
    """[K_1 L | ... | K_m L] @ V in row groups, and its flops: new group t = sum_s L_s (sum_a K_a[t,s] V_a).

    Blocks sum_a K_a[t,s] V_a that vanish are skipped (a dephasing channel needs d GEMMs, not d^2).
    """
    d, rest, width = groups.shape
    m = kraus.shape[0]
    kept = vectors.shape[1]
    blocks = np.tensordot(kraus, vectors.reshape(m, width, kept), axes=([0], [0]))  # (t, s, width, kept)
    blocks = blocks.astype(groups.dtype, copy=False)
    out = np.empty((d, rest, kept), dtype=groups.dtype)
    flops = 0.0
    for t in range(d):
        terms = [s for s in range(d) if np.any(blocks[t, s])]
        if not terms:
            out[t] = 0
        for i, s in enumerate(terms):
            if i == 0:
                np.matmul(groups[s], blocks[t, s], out=out[t])
            else:
                out[t] += groups[s] @ blocks[t, s]
            flops += 8.0 * rest * width * kept
    return out, flops


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
