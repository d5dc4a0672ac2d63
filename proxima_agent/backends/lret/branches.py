"""Which noisy locations of a program give distinct error branches, and how much each branch weighs.

Two errors on the same qubits merge into one operator when nothing between them spreads them: gates on those
qubits alone only rotate the error (it stays an operator on the same qubits), and gates that commute with it (a
dephasing error through `cp`, `rzz` or the control of `cx`) pass it by. Such a run of locations is one *group*:
its error channel, moved to the present, is tracked as a set of canonical Kraus operators on its qubits (at most
two), so merged branches are counted once. A gate that neither rotates nor commutes with a group closes it.

Each closed group is an effective location: the eigenvalues of its channel's Choi matrix (divided by the
dimension) are the weights of its branches on an average input, the largest being the no-error branch.
Qubits known to sit in a computational basis state (untouched, or moved only by gates that keep them classical)
are tracked too: a channel that leaves such a state as it is (dephasing, or damping on |0>) adds no branch.

The analysis is bounded (`Budget`): every numerical step is charged, before it runs, in work units (about one
complex multiply-add each, with a floor per call), and none may hold more than `MAX_ENTRIES` matrix entries at
once; past either limit (or a wall-time guard) it raises `BudgetExceeded`, and the estimate falls back to a crude
upper bound that says so (lret/estimate.py). Composing a 1,024-term five-qubit depolarizing channel with itself,
as grover:5 with depolarizing noise asks, would hold 2^30 entries (16 GiB): it is refused before it starts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from proxima_agent.backends.lret.program import ChannelStep, GateStep, MeasureStep, Program, _expand

MAX_GROUP_QUBITS = 2
_TOL = 1e-12

# The estimate's own cost (docs/backends.md). Measured on the reference machine (2 cores), compiling included: the
# cases of docs/performance.md spend at most 1.4e7 units with sparse noise and 3.8e8 with noise after every gate
# (random:16:40, 0.7 s); 1e9 units take about 2 s, most of it per-call overhead.
WORK_UNITS = 1e9
MAX_ENTRIES = 1 << 22  # complex entries one step may hold: 64 MiB
WALL_SECONDS = 10.0  # a guard on top, for a machine far slower than the reference one
CALL_UNITS = 2000  # the floor charged per numpy call: small matrices cost their call, not their flops


class BudgetExceeded(Exception):
    """The rank analysis would cost more than its budget; `reason` says what and how much."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Budget:
    """What the analysis may spend: work units (deterministic), entries held at once, and a wall-time guard."""

    def __init__(
        self,
        work_units: float = WORK_UNITS,
        max_entries: int = MAX_ENTRIES,
        seconds: float | None = WALL_SECONDS,
    ) -> None:
        self.work_units = work_units
        self.max_entries = max_entries
        self.seconds = seconds
        self.spent = 0.0
        self._deadline = None if seconds is None else time.perf_counter() + seconds

    def charge(self, units: float, what: str, calls: int = 1) -> None:
        """Pay for a step before doing it; raise BudgetExceeded if it would take the total past the budget."""
        cost = max(float(units), float(calls * CALL_UNITS))
        if self.spent + cost > self.work_units:
            raise BudgetExceeded(
                f"{what} would take the work to {self.spent + cost:.2g} units, over the budget of "
                f"{self.work_units:.2g}"
            )
        self.spent += cost
        if self._deadline is not None and time.perf_counter() > self._deadline:
            raise BudgetExceeded(f"the analysis ran past its wall-time guard of {self.seconds:g} s")

    def hold(self, entries: float, what: str) -> None:
        """Refuse a step that would hold more than `max_entries` matrix entries at once."""
        if entries > self.max_entries:
            raise BudgetExceeded(
                f"{what} would hold {entries:,.0f} matrix entries ({_bytes(16 * entries)}), over the limit of "
                f"{self.max_entries:,} ({_bytes(16 * self.max_entries)})"
            )


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.0f} EiB"  # pragma: no cover


@dataclass
class _Group:
    qubits: tuple[int, ...]
    kraus: list[np.ndarray] = field(default_factory=list)
    merged: int = 0  # program locations in the group

    def compose(self, kraus: np.ndarray, qubits: tuple[int, ...], budget: Budget) -> None:
        """Follow the group's error channel by a channel on (a subset of) its qubits."""
        d = 2 ** len(self.qubits)
        terms = len(kraus) * len(self.kraus)
        what = f"composing a {len(kraus)}-term channel with a {len(self.kraus)}-term one on {len(self.qubits)} qubits"
        budget.hold(max(terms * d * d, d**4), what)
        budget.charge(len(kraus) * d * d + terms * d**3, what, calls=len(kraus) + terms)
        ops = [_expand(k, qubits, self.qubits) for k in kraus]
        self.kraus = _canonical([a @ b for a in ops for b in self.kraus], len(self.qubits), budget)

    def rotate(self, matrix: np.ndarray, qubits: tuple[int, ...], budget: Budget) -> None:
        """A gate on the group's qubits alone: the error moves past it as U K U^dagger."""
        d = 2 ** len(self.qubits)
        budget.charge(
            2 * len(self.kraus) * d**3, f"moving {len(self.kraus)} error terms past a gate", len(self.kraus)
        )
        u = _expand(matrix, qubits, self.qubits)
        self.kraus = [u @ k @ u.conj().T for k in self.kraus]

    def commutes_with(self, matrix: np.ndarray, qubits: tuple[int, ...], budget: Budget) -> bool:
        target = tuple(sorted(set(self.qubits) | set(qubits)))
        dim = 2 ** len(target)
        budget.charge(
            len(self.kraus) * (2 * dim**3 + dim * dim),
            "testing a gate against a group's errors",
            len(self.kraus),
        )
        u = _expand(matrix, qubits, target)
        for k in self.kraus:
            big = _expand(k, self.qubits, target)
            if np.abs(u @ big - big @ u).max() > _TOL:
                return False
        return True

    def weights(self) -> np.ndarray:
        """Branch weights, descending; the first is the no-error branch."""
        d = 2 ** len(self.qubits)
        values = np.array([np.vdot(k, k).real / d for k in self.kraus])
        return np.sort(values)[::-1]


def _canonical(kraus: list[np.ndarray], num_qubits: int, budget: Budget) -> list[np.ndarray]:
    """The fewest Kraus operators of the same channel (from its Choi matrix), mutually orthogonal."""
    d = 2**num_qubits
    what = f"the Choi matrix of {len(kraus)} terms on {num_qubits} qubits"
    budget.hold(max(len(kraus) * d * d, d**4), what)
    budget.charge(len(kraus) * d**4 + 10 * d**6, what, calls=2)
    vectors = np.array([k.reshape(-1) for k in kraus])  # (terms, d^2)
    choi = vectors.T @ vectors.conj()  # sum of v v^dagger over the terms
    values, vectors = np.linalg.eigh(choi)
    keep = values > _TOL * d
    return [np.sqrt(values[i]) * vectors[:, i].reshape(d, d) for i in np.flatnonzero(keep)]


@dataclass(frozen=True)
class Location:
    """An effective noisy location: its branch weights (descending, the first the no-error branch)."""

    weights: tuple[float, ...]
    merged: int  # program locations merged into it


def effective_locations(program: Program, budget: Budget | None = None) -> tuple[list[Location], int]:
    """The program's effective noisy locations, and how many program locations added no branch at all.

    Raises BudgetExceeded when the analysis would cost more than `budget` (by default a fresh `Budget()`)."""
    budget = budget or Budget()
    support = _Support(program.num_qubits, budget)
    groups: dict[int, _Group] = {}  # qubit -> the open group on it
    diagonal: dict[frozenset[int], _Group] = {}  # value function -> the open group of dephasing errors on it
    out: list[Location] = []
    trivial = 0

    def close(group: _Group) -> None:
        for q in group.qubits:
            if groups.get(q) is group:
                del groups[q]
        budget.charge(len(group.kraus) * 4 ** len(group.qubits), "weighing a group's branches")
        weights = group.weights()
        if len(weights) > 1:
            out.append(Location(tuple(float(w) for w in weights), group.merged))

    def close_orphans() -> None:
        held = support.held()
        for key in [k for k in diagonal if k not in held]:
            close(diagonal.pop(key))

    for step in program.steps:
        if isinstance(step, GateStep):
            support.apply(step.matrix, step.qubits)
            for group in {id(g): g for q in step.qubits if (g := groups.get(q))}.values():
                if set(step.qubits) <= set(group.qubits):
                    group.rotate(_gate_matrix(step, budget), step.qubits, budget)
                elif len(step.qubits) + len(group.qubits) > 6 or not group.commutes_with(
                    _gate_matrix(step, budget), step.qubits, budget
                ):
                    close(group)
            close_orphans()
            continue
        if isinstance(step, MeasureStep):
            if (g := groups.get(step.qubit)) is not None:
                close(g)
            continue
        qubits = step.qubits
        m, d = step.kraus.shape[0], step.kraus.shape[1]
        budget.charge(m * d, "a channel step", calls=1)
        if support.known(qubits):
            budget.charge(m * d * d + 10 * d**3, "a channel on a basis state", calls=2)
            weights = _weights_on_basis_state(step.kraus, qubits, support)
            if len(weights) == 1:  # the state is left as it was (or reset to where it was)
                trivial += 1
                support.after_channel(step)
                continue
            out.append(Location(tuple(weights), 1))
            support.after_channel(step)
            close_orphans()
            continue
        if len(qubits) == 1 and _is_diagonal(step.kraus):
            # a dephasing error acts on the state through the qubit's value only: it is the same error on every
            # qubit that holds the same function of the superposed values (all of a GHZ state's qubits)
            key, flip = support.value(qubits[0])
            kraus = step.kraus[:, ::-1, ::-1] if flip else step.kraus
            group = diagonal.setdefault(key, _Group((qubits[0],), [np.eye(2, dtype=complex)]))
            group.compose(kraus, group.qubits, budget)
            group.merged += 1
            continue
        touching = {id(g): g for q in qubits if (g := groups.get(q))}
        union = tuple(sorted(set(qubits).union(*(g.qubits for g in touching.values()))))
        if len(touching) == 1 and set(qubits) <= set(next(iter(touching.values())).qubits):
            group = next(iter(touching.values()))
        elif len(union) <= MAX_GROUP_QUBITS:
            # the open groups act on disjoint qubits: their joint channel is their tensor product
            group = _Group(union, [np.eye(2 ** len(union), dtype=complex)])
            for g in touching.values():
                group.compose(np.array(g.kraus), g.qubits, budget)
                group.merged += g.merged
        else:
            for g in touching.values():
                close(g)
            group = _Group(tuple(sorted(qubits)), [np.eye(2 ** len(qubits), dtype=complex)])
        group.compose(step.kraus, qubits, budget)
        group.merged += 1
        for q in group.qubits:
            groups[q] = group
        if step.kind == "reset":
            close(group)
        support.after_channel(step)
        close_orphans()
    for group in [*{id(g): g for g in groups.values()}.values(), *diagonal.values()]:
        close(group)
    return out, trivial


class _Support:
    """A superset of the noiseless state's support: each qubit's value as an affine function of free bits.

    A qubit holds (bits, constant): its value is the XOR of those free bits and the constant on every basis
    state the state may hold. Classical reversible affine gates (x, cx, swap) and diagonal gates keep the
    functions exact; any other gate gives the qubits whose value it may change fresh free bits (a superset).
    """

    def __init__(self, num_qubits: int, budget: Budget) -> None:
        self.functions: dict[int, tuple[frozenset[int], int]] = {
            q: (frozenset(), 0) for q in range(num_qubits)
        }
        self.fresh = 0
        self.budget = budget

    def _new(self) -> tuple[frozenset[int], int]:
        self.fresh += 1
        return frozenset({self.fresh}), 0

    def known(self, qubits: tuple[int, ...]) -> bool:
        return all(not self.functions[q][0] for q in qubits)

    def constant(self, q: int) -> int:
        return self.functions[q][1]

    def value(self, q: int) -> tuple[frozenset[int], int]:
        return self.functions[q]

    def held(self) -> set[frozenset[int]]:
        return {bits for bits, _ in self.functions.values() if bits}

    def apply(self, matrix: np.ndarray | None, qubits: tuple[int, ...]) -> None:
        """Follow a gate; `matrix` None is a multi-controlled X (controls first), handled without its matrix."""
        k = len(qubits)
        if matrix is None and k > 2:
            # not affine (an AND of the controls): the controls keep their values, the target gets a fresh bit
            self.functions[qubits[-1]] = self._new()
            return
        if matrix is None:
            matrix = _mcx_matrix(k)
        self.budget.charge(2**k * (k + 2**k) * (1 + k), "tracking a gate's support", calls=2**k + k)
        nonzero = np.abs(matrix) > _TOL
        inputs = [self.functions[q] for q in qubits]
        if np.all(nonzero.sum(axis=0) == 1):  # a permutation of basis states (with phases)
            image = nonzero.argmax(axis=0)  # image[x] = the basis state x goes to
            c = int(image[0])
            columns = [int(image[1 << (k - 1 - j)]) ^ c for j in range(k)]  # image of each input bit alone
            affine = all(
                int(image[x]) == c ^ _xor(columns[j] for j in range(k) if x >> (k - 1 - j) & 1)
                for x in range(2**k)
            )
            if affine:
                for i, q in enumerate(qubits):
                    bits: frozenset[int] = frozenset()
                    const = c >> (k - 1 - i) & 1
                    for j in range(k):
                        if columns[j] >> (k - 1 - i) & 1:
                            bits, const = bits ^ inputs[j][0], const ^ inputs[j][1]
                    self.functions[q] = (bits, const)
                return
        for i, q in enumerate(qubits):
            if not _keeps_value(matrix, i, k):
                self.functions[q] = self._new()

    def after_channel(self, step: ChannelStep) -> None:
        """The no-error branch keeps the support if its Kraus operator is diagonal; a reset leaves |0>."""
        if step.kind == "reset":
            for q in step.qubits:
                self.functions[q] = (frozenset(), 0)
            return
        norms = np.array([np.vdot(k, k).real for k in step.kraus])
        if not _is_diagonal(step.kraus[int(norms.argmax())][None]):
            for q in step.qubits:
                self.functions[q] = self._new()


def _xor(values) -> int:
    out = 0
    for v in values:
        out ^= v
    return out


def _is_diagonal(kraus: np.ndarray) -> bool:
    d = kraus.shape[-1]
    return bool(np.abs(kraus * (1 - np.eye(d))).max() <= _TOL)


def _gate_matrix(step: GateStep, budget: Budget) -> np.ndarray:
    """The step's matrix; a multi-controlled X's is built only when asked for, and paid for."""
    if step.matrix is not None:
        return step.matrix
    k = len(step.qubits)
    budget.hold(4**k, f"the matrix of an mcx on {k} qubits")
    budget.charge(4**k, f"the matrix of an mcx on {k} qubits")
    return _mcx_matrix(k)


def _mcx_matrix(k: int) -> np.ndarray:
    matrix = np.eye(2**k, dtype=complex)
    matrix[[-2, -1]] = matrix[[-1, -2]]
    return matrix


def _keeps_value(matrix: np.ndarray, position: int, k: int) -> bool:
    """Whether the gate commutes with Z on its `position`-th qubit (never changes that qubit's basis value)."""
    z = np.array([1 - 2 * (index >> (k - 1 - position) & 1) for index in range(2**k)])
    return bool(np.abs(matrix * z[None, :] - z[:, None] * matrix).max() <= _TOL)


def _weights_on_basis_state(kraus: np.ndarray, qubits: tuple[int, ...], support: _Support) -> list[float]:
    """Branch weights of a channel on a computational basis state: the spectrum of its output, descending."""
    k = len(qubits)
    index = sum(support.constant(q) << (k - 1 - i) for i, q in enumerate(qubits))
    columns = kraus[:, :, index]  # K_a |s>
    rho = columns.T @ columns.conj()
    values = np.linalg.eigvalsh(rho)[::-1]
    return [float(v) for v in values if v > _TOL]
