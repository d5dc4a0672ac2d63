"""Reusable test assertions for Proxima and for code built on it, in the spirit of `cirq.testing`.

Every check compares against something Proxima did not compute itself:

- `exact_reference_state` / `exact_reference_probabilities` build the exact answer with
  `qiskit.quantum_info` (Statevector, DensityMatrix, Kraus) from Qiskit's own gate classes, never through
  Proxima's backends or converters; noise channels enter through the Kraus operators Proxima's noise models
  define (`channel.kraus(n)`), placed by the rules documented in `proxima_agent/circuits/noise.py`.
- `assert_distribution_matches` decides whether sampled counts could come from an exact distribution with a
  G-test (log-likelihood ratio, chi-square reference): it fails when the distribution is wrong, not when
  numbers merely wobble. Simulations feed it counts from a fixed seed, so a passing test stays passing.

Heavy libraries (qiskit, scipy) are imported inside the functions that need them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from proxima_agent.circuits.gates import BARRIER, GATES, MEASURE, RESET, gate_matrix
from proxima_agent.circuits.ir import Circuit, Operation, make_circuit, mcx, op
from proxima_agent.circuits.noise import Kraus, NoiseModel

if TYPE_CHECKING:
    from proxima_agent.backends.result import SimulationResult

# The seed the test-suite uses when it does not care which seed: fixed, so a passing statistical test stays so.
DEFAULT_SEED = 20240611
# Significance level for sampling checks: a correct simulator fails with probability alpha (per fresh seed).
DEFAULT_ALPHA = 1e-4


# --- independent references (qiskit.quantum_info) -------------------------------------------------------------


def _qiskit_gate(operation: Operation) -> Any:
    """The Qiskit gate object for an IR gate, by Qiskit's own classes (not through proxima's converters)."""
    from qiskit.circuit import library as lib

    classes = {
        "id": lib.IGate, "x": lib.XGate, "y": lib.YGate, "z": lib.ZGate, "h": lib.HGate, "s": lib.SGate,
        "sdg": lib.SdgGate, "t": lib.TGate, "tdg": lib.TdgGate, "sx": lib.SXGate, "sxdg": lib.SXdgGate,
        "rx": lib.RXGate, "ry": lib.RYGate, "rz": lib.RZGate, "p": lib.PhaseGate, "u": lib.UGate,
        "cx": lib.CXGate, "cy": lib.CYGate, "cz": lib.CZGate, "ch": lib.CHGate, "swap": lib.SwapGate,
        "iswap": lib.iSwapGate, "crx": lib.CRXGate, "cry": lib.CRYGate, "crz": lib.CRZGate, "cp": lib.CPhaseGate,
        "rxx": lib.RXXGate, "ryy": lib.RYYGate, "rzz": lib.RZZGate, "ccx": lib.CCXGate, "cswap": lib.CSwapGate,
    }  # fmt: skip
    if operation.name == "mcx":
        return lib.MCXGate(len(operation.qubits) - 1)
    return classes[operation.name](*operation.params)


def reference_gate_matrix(operation: Operation) -> np.ndarray:
    """The gate's matrix in the IR's convention (first listed qubit most significant), computed by Qiskit."""
    from qiskit.quantum_info import Operator

    k = len(operation.qubits)
    little = Operator(_qiskit_gate(operation)).data  # Qiskit: qarg 0 is the least significant
    perm = list(reversed(range(k)))
    tensor = little.reshape([2] * (2 * k))
    return tensor.transpose(perm + [p + k for p in perm]).reshape(2**k, 2**k)


def _channels_after(noise: NoiseModel, operation: Operation) -> Iterator[tuple[Any, tuple[int, ...]]]:
    """(channel, qubits) pairs after a gate, by the placement rules noise.py documents (re-derived here)."""
    for rule in noise.rules:
        channel = rule.channel
        if channel.kind == "readout":
            continue
        if rule.gates is not None and operation.name not in rule.gates:
            continue
        allowed = None if rule.qubits is None else set(rule.qubits)
        # depolarizing acts on the whole gate; a k-qubit Kraus channel (k > 1) only after k-qubit gates.
        kraus_qubits = int(math.log2(len(channel.matrices[0]))) if isinstance(channel, Kraus) else 1
        if channel.kind == "depolarizing" or kraus_qubits > 1:
            if kraus_qubits > 1 and kraus_qubits != len(operation.qubits):
                continue
            if allowed is None or allowed.issuperset(operation.qubits):
                yield channel, operation.qubits
        else:
            for q in operation.qubits:
                if allowed is None or q in allowed:
                    yield channel, (q,)


def exact_reference_state(
    circuit: Circuit, noise: NoiseModel | None = None, *, density: bool | None = None
) -> np.ndarray:
    """The exact final state of the circuit's gates (measurements and barriers ignored), little-endian.

    A statevector, unless `density` is True or the noise model has gate noise (then a density matrix).
    Noise channels use Proxima's Kraus operators; matrices are big-endian over the listed qubits, Qiskit's
    are little-endian, so the qubits are passed to Qiskit reversed.
    """
    from qiskit.quantum_info import DensityMatrix, Kraus, Operator, Statevector

    noise = noise or NoiseModel()
    if density is None:
        density = noise.has_gate_noise
    if noise.has_gate_noise and not density:
        raise ValueError("a noisy circuit has no exact statevector; ask for density=True")
    state: Any = (DensityMatrix if density else Statevector).from_int(0, 2**circuit.num_qubits)
    for operation in circuit.operations:
        if operation.name in (MEASURE, BARRIER):
            continue
        if operation.name == RESET:
            if not density:
                raise ValueError("reset has no exact statevector; ask for density=True")
            state = state.reset(list(operation.qubits))
            continue
        state = state.evolve(Operator(_qiskit_gate(operation)), qargs=list(operation.qubits))
        for channel, qubits in _channels_after(noise, operation):
            state = state.evolve(Kraus(channel.kraus(len(qubits))), qargs=list(reversed(qubits)))
    return np.asarray(state.data, dtype=complex)


def _readout_confusion(noise: NoiseModel, qubit: int) -> np.ndarray | None:
    confusion = None
    for rule in noise.rules:
        if rule.channel.kind == "readout" and (rule.qubits is None or qubit in rule.qubits):
            m = np.array([[1 - rule.channel.p01, rule.channel.p01], [rule.channel.p10, 1 - rule.channel.p10]])
            confusion = m if confusion is None else confusion @ m
    return confusion


def exact_reference_probabilities(
    circuit: Circuit, noise: NoiseModel | None = None, *, state: np.ndarray | None = None
) -> np.ndarray:
    """P(classical bit string) for a circuit whose measurements are all terminal (index = int(bits, 2)).

    A circuit without measurements is measured whole (qubit i into clbit i), as the backends do. Readout error
    applies per measured qubit; a clbit written twice keeps the last write; unwritten clbits read 0. `state`,
    if given, is the circuit's `exact_reference_state` (to save computing it again).
    """
    noise = noise or NoiseModel()
    measured = circuit.with_measurements()
    pairs: list[tuple[int, int]] = []
    seen: set[int] = set()
    for operation in measured.operations:
        if operation.name == MEASURE:
            if operation.qubits[0] in seen:
                raise ValueError("a qubit measured twice is a dynamic circuit: no exact reference")
            seen.add(operation.qubits[0])
            pairs.append((operation.qubits[0], operation.clbits[0]))
        elif operation.name != BARRIER and seen.intersection(operation.qubits):
            raise ValueError("an operation after a measurement makes a dynamic circuit: no exact reference")
    if state is None:
        state = exact_reference_state(measured, noise)
    qubit_probs = np.real(np.diagonal(state)) if state.ndim == 2 else np.abs(state) ** 2
    qubit_probs = np.clip(qubit_probs, 0, None)
    # Joint distribution of (true basis state, read values of measured qubits), folded onto clbits.
    read_qubits = sorted(seen)
    confusions = {q: _readout_confusion(noise, q) for q in read_qubits}
    source = {clbit: qubit for qubit, clbit in pairs}  # last write wins
    out = np.zeros(2**measured.num_clbits)
    for basis in np.flatnonzero(qubit_probs > 0):
        true_bits = {q: (int(basis) >> q) & 1 for q in read_qubits}
        reads: list[tuple[dict[int, int], float]] = [({}, float(qubit_probs[basis]))]
        for q in read_qubits:
            c = confusions[q]
            row = np.eye(2)[true_bits[q]] if c is None else c[true_bits[q]]
            reads = [({**r, q: v}, w * row[v]) for r, w in reads for v in (0, 1) if row[v] > 0]
        for read, weight in reads:
            index = sum(read[q] << clbit for clbit, q in source.items())
            out[index] += weight
    return out


def ir_unitary(circuit: Circuit) -> np.ndarray:
    """The unitary of the circuit's gates from Proxima's gate table (circuits/gates.py), little-endian.

    For checking that conversions and round trips preserve a circuit; gates.py itself is checked against
    Qiskit by `reference_gate_matrix`.
    """
    n = circuit.num_qubits
    unitary = np.eye(2**n, dtype=complex)
    for operation in circuit.operations:
        if operation.name in (MEASURE, BARRIER):
            continue
        if operation.name == RESET:
            raise ValueError("reset is not unitary")
        k = len(operation.qubits)
        matrix = gate_matrix(operation.name, operation.params, k).reshape([2] * (2 * k))
        tensor = unitary.reshape([2] * n + [2**n])
        axes = [n - 1 - q for q in operation.qubits]  # tensor axis a is qubit n-1-a
        tensor = np.tensordot(matrix, tensor, axes=(list(range(k, 2 * k)), axes))
        unitary = np.moveaxis(tensor, list(range(k)), axes).reshape(2**n, 2**n)
    return unitary


# --- assertions ------------------------------------------------------------------------------------------------


def global_phase_between(actual: np.ndarray, expected: np.ndarray) -> complex:
    """The unit phase c minimising |actual - c expected| (1 if either is zero)."""
    overlap = np.vdot(expected.ravel(), actual.ravel())
    return complex(overlap / abs(overlap)) if abs(overlap) > 1e-15 else 1.0


def assert_states_close(
    actual: np.ndarray | None,
    expected: np.ndarray,
    *,
    atol: float = 1e-8,
    up_to_global_phase: bool = False,
) -> None:
    """Statevectors, density matrices or unitaries equal entry by entry within atol (optionally up to phase)."""
    assert actual is not None, "no state was returned (did the run ask for return_state=True?)"
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"shape {actual.shape} != expected {expected.shape}"
    if up_to_global_phase:
        expected = expected * global_phase_between(actual, expected)
    error = float(np.max(np.abs(actual - expected))) if actual.size else 0.0
    assert error <= atol, (
        f"states differ by {error:.3e} (> {atol:.0e}) at {np.unravel_index(np.argmax(np.abs(actual - expected)), actual.shape)}"
    )


def _probability_array(
    probabilities: Mapping[str, float] | Sequence[float] | np.ndarray, width: int | None
) -> np.ndarray:
    if isinstance(probabilities, Mapping):
        keys = list(probabilities)
        width = width if width is not None else (len(keys[0]) if keys else 0)
        out = np.zeros(2**width)
        for key, value in probabilities.items():
            assert len(key) == width and set(key) <= {"0", "1"}, f"bad outcome {key!r} for {width} bits"
            out[int(key, 2) if key else 0] += value
        return out
    return np.asarray(probabilities, dtype=float)


def distribution_test(
    counts: Mapping[str, int],
    probabilities: Mapping[str, float] | Sequence[float] | np.ndarray,
    *,
    min_expected: float = 5.0,
    zero_tol: float = 1e-12,
) -> tuple[float, int, float, list[str]]:
    """G-test of counts against an exact distribution: (G, degrees of freedom, p-value, impossible outcomes).

    Outcomes expected fewer than `min_expected` times are pooled into one bin, so the chi-square reference
    holds. Outcomes of probability <= zero_tol that occurred are reported apart: one such is already wrong.
    """
    from scipy.stats import chi2

    shots = sum(counts.values())
    width = len(next(iter(counts))) if counts else None
    p = _probability_array(probabilities, width)
    width = round(math.log2(len(p))) if len(p) else 0
    assert len(p) == 2**width, f"{len(p)} probabilities is not a power of two"
    assert abs(p.sum() - 1) < 1e-6, f"the exact distribution sums to {p.sum()}, not 1"
    assert np.all(p >= -1e-12), "the exact distribution has negative entries"
    observed = np.zeros(len(p))
    for key, n in counts.items():
        assert len(key) == width and set(key) <= {"0", "1"}, f"outcome {key!r} is not a {width}-bit string"
        assert n >= 0, f"negative count for {key!r}"
        observed[int(key, 2) if key else 0] += n
    impossible = [format(i, f"0{width}b") for i in np.flatnonzero((p <= zero_tol) & (observed > 0))]
    expected = shots * np.clip(p, 0, None) / np.clip(p, 0, None).sum()
    possible = p > zero_tol
    big = possible & (expected >= min_expected)
    small = possible & ~big
    obs_bins = list(observed[big])
    exp_bins = list(expected[big])
    if small.any():
        obs_bins.append(observed[small].sum())
        exp_bins.append(expected[small].sum())
    o, e = np.array(obs_bins), np.array(exp_bins)
    nz = o > 0
    g = float(2 * np.sum(o[nz] * np.log(o[nz] / e[nz])))
    dof = len(o) - 1
    pvalue = float(chi2.sf(g, dof)) if dof > 0 else 1.0
    return g, dof, pvalue, impossible


def assert_distribution_matches(
    counts: Mapping[str, int],
    probabilities: Mapping[str, float] | Sequence[float] | np.ndarray,
    shots: int | None = None,
    alpha: float = DEFAULT_ALPHA,
) -> None:
    """Fail unless `counts` could plausibly be `shots` samples of `probabilities` (G-test at level alpha).

    Fails at once on an outcome of probability zero, on counts that do not add up to `shots`, and when the
    G-test's p-value falls below alpha. With a fixed simulation seed the verdict is deterministic.
    """
    total = sum(counts.values())
    if shots is not None:
        assert total == shots, f"counts add up to {total}, not {shots} shots"
    assert total > 0, "no counts"
    g, dof, pvalue, impossible = distribution_test(counts, probabilities)
    assert not impossible, f"outcomes of probability zero occurred: {impossible[:10]}"
    if pvalue < alpha:
        p = _probability_array(probabilities, len(next(iter(counts))))
        width = round(math.log2(len(p)))
        worst = sorted(
            (
                (format(i, f"0{width}b"), counts.get(format(i, f"0{width}b"), 0), total * p[i])
                for i in range(len(p))
            ),
            key=lambda t: -abs(t[1] - t[2]),
        )[:5]
        detail = ", ".join(f"{k}: {o} vs {e:.1f}" for k, o, e in worst)
        raise AssertionError(
            f"counts do not match the distribution: G={g:.2f} on {dof} dof, p-value {pvalue:.2e} < {alpha:g} "
            f"(largest gaps, observed vs expected: {detail})"
        )


def assert_probabilities_close(actual: np.ndarray | None, expected: np.ndarray, atol: float = 1e-8) -> None:
    assert actual is not None, "the result has no exact probabilities"
    actual = np.asarray(actual, dtype=float)
    assert actual.shape == expected.shape, f"shape {actual.shape} != expected {expected.shape}"
    error = float(np.max(np.abs(actual - expected)))
    assert error <= atol, f"probabilities differ by {error:.3e} (> {atol:.0e})"


def assert_backend_agrees(
    backend_id: str,
    circuit: Circuit,
    noise: NoiseModel | None = None,
    *,
    shots: int = 4000,
    seed: int = DEFAULT_SEED,
    alpha: float = DEFAULT_ALPHA,
    atol: float = 1e-8,
) -> SimulationResult:
    """Run the circuit on a backend and check it against the independent reference.

    Exact runs: probabilities and the returned state within atol of the reference. Every run: the sampled
    counts pass `assert_distribution_matches` against the exact distribution. Returns the result.
    """
    from proxima_agent.backends.base import RunOptions
    from proxima_agent.backends.registry import get_backend

    noise = noise or NoiseModel()
    backend = get_backend(backend_id)
    result = backend.run(circuit, RunOptions(shots=shots, seed=seed, noise=noise, return_state=True))
    reference = exact_reference_probabilities(circuit, noise)
    assert result.backend == backend_id
    assert result.shots == shots and result.seed == seed
    if result.exact:
        assert_probabilities_close(result.probabilities, reference, atol=atol)
        density = backend.capabilities.density_matrix
        state = result.density_matrix if density else result.statevector
        assert_states_close(state, exact_reference_state(circuit, noise, density=density), atol=atol)
    assert_distribution_matches(result.counts, reference, shots, alpha)
    return result


# --- random inputs ---------------------------------------------------------------------------------------------


def random_circuit(
    num_qubits: int,
    depth: int,
    seed: int,
    *,
    gates: Sequence[str] | None = None,
    measure: bool = True,
    name: str = "random-test",
) -> Circuit:
    """A seeded random circuit over the IR's gate set (every gate by default), `depth` gates per qubit on
    average, measured whole at the end if `measure`."""
    rng = np.random.default_rng(seed)
    names = [g for g in (gates or list(GATES)) if (GATES[g].num_qubits or 3) <= num_qubits]
    ops: list[Operation] = []
    for _ in range(depth * num_qubits):
        name_ = str(rng.choice(names))
        spec = GATES[name_]
        k = spec.num_qubits or int(rng.integers(2, min(num_qubits, 4) + 1))
        qubits = [int(q) for q in rng.choice(num_qubits, size=k, replace=False)]
        params = tuple(float(x) for x in rng.uniform(-2 * np.pi, 2 * np.pi, size=spec.num_params))
        ops.append(op(name_, *qubits, params=params))
    if measure:
        ops += [op(MEASURE, q, clbits=(q,)) for q in range(num_qubits)]
    return make_circuit(num_qubits, ops, num_clbits=num_qubits if measure else 0, name=name)


def random_kraus(num_qubits: int, num_operators: int, seed: int) -> list[np.ndarray]:
    """A random CPTP channel: `num_operators` Kraus matrices cut from a random isometry (sum K^dag K = I)."""
    rng = np.random.default_rng(seed)
    dim = 2**num_qubits
    a = rng.normal(size=(dim * num_operators, dim)) + 1j * rng.normal(size=(dim * num_operators, dim))
    q, r = np.linalg.qr(a)
    q = q * (np.diag(r) / np.abs(np.diag(r)))  # a unique, well-spread isometry
    return [q[i * dim : (i + 1) * dim] for i in range(num_operators)]


def ir_circuits(
    *,
    min_qubits: int = 1,
    max_qubits: int = 4,
    max_operations: int = 12,
    gates: Sequence[str] | None = None,
    instructions: bool = True,
) -> Any:
    """A hypothesis strategy for IR circuits: gates from `gates` (all by default) with random angles, and, when
    `instructions`, barriers, resets and measurements in between (hypothesis is imported only when called)."""
    from hypothesis import strategies as st

    names = sorted(gates or GATES)
    angles = st.floats(min_value=-2 * math.pi, max_value=2 * math.pi, allow_nan=False, allow_infinity=False)

    @st.composite
    def build(draw: Any) -> Circuit:
        n = draw(st.integers(min_value=min_qubits, max_value=max_qubits))
        num_clbits = draw(st.integers(min_value=0, max_value=n)) if instructions else 0
        usable = [g for g in names if (GATES[g].num_qubits or 2) <= n]
        kinds = usable + ([BARRIER, RESET] + ([MEASURE] if num_clbits else []) if instructions else [])
        ops: list[Operation] = []
        for _ in range(draw(st.integers(min_value=0, max_value=max_operations))):
            kind = draw(st.sampled_from(kinds))
            if kind in GATES:
                spec = GATES[kind]
                k = spec.num_qubits or draw(st.integers(min_value=2, max_value=n))
                qubits = draw(st.permutations(range(n)))[:k]
                params = tuple(draw(angles) for _ in range(spec.num_params))
                ops.append(mcx(*qubits) if kind == "mcx" else op(kind, *qubits, params=params))
            elif kind == MEASURE:
                q = draw(st.integers(0, n - 1))
                ops.append(op(MEASURE, q, clbits=(draw(st.integers(0, num_clbits - 1)),)))
            elif kind == RESET:
                ops.append(op(RESET, draw(st.integers(0, n - 1))))
            else:
                qubits = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
                ops.append(op(BARRIER, *qubits))
        return make_circuit(n, ops, num_clbits=num_clbits, name="hypothesis")

    return build()
