"""Step-wise executions of every backend (`Backend.start`): a run paused at any step, saved, and continued by a
brand-new execution (or a brand-new process) gives exactly the uninterrupted result; foreign or broken saved
states are refused without harm; runs that cannot step say so. lret's own save/restore tests are in
test_lret.py; these hold all five backends to the same contract."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from proxima_agent.backends.base import Execution, OneShotExecution, RunOptions
from proxima_agent.backends.registry import get_backend
from proxima_agent.backends.result import SimulationResult
from proxima_agent.circuits.ir import Circuit, make_circuit, op
from proxima_agent.circuits.library import build
from proxima_agent.circuits.noise import parse_noise
from proxima_agent.errors import UnsupportedFeatureError

LIBRARY_BACKENDS = ("cirq-sv", "cirq-dm", "aer-sv", "aer-dm")

# (backend, circuit, noise, return the state): one noiseless statevector, noisy density matrices, readout error.
CASES = [
    ("cirq-sv", "qft:4", None, False),
    ("cirq-sv", "random:5:6:3", "readout:0.05", True),
    ("cirq-dm", "random:5:6:3", "depolarizing:0.01", False),
    ("cirq-dm", "ghz:4", "amplitude_damping:0.02;readout:0.03", True),
    ("aer-sv", "qft:4", None, False),
    ("aer-sv", "random:5:6:3", "readout:0.05", True),
    ("aer-dm", "random:5:6:3", "depolarizing:0.01", False),
    ("aer-dm", "ghz:4", "amplitude_damping:0.02;readout:0.03", True),
    ("lret", "random:5:6:3", "depolarizing:0.01", False),
]
CASE_IDS = [f"{b}-{c}-{n or 'noiseless'}" for b, c, n, _ in CASES]


def _options(noise: str | None, seed: int | None = 11, return_state: bool = False) -> RunOptions:
    return RunOptions(shots=2000, seed=seed, noise=parse_noise(noise), return_state=return_state)


def _finish(execution: Execution) -> SimulationResult:
    while not execution.done:
        execution.advance()
    return execution.finish()


def _assert_same(got: SimulationResult, expected: SimulationResult, where: str) -> None:
    assert got.counts == expected.counts, f"counts differ {where}"
    assert got.probabilities is not None and expected.probabilities is not None
    np.testing.assert_allclose(got.probabilities, expected.probabilities, rtol=0, atol=1e-12, err_msg=where)
    for name in ("statevector", "density_matrix"):
        mine, theirs = getattr(got, name), getattr(expected, name)
        assert (mine is None) == (theirs is None), f"{name} {where}"
        if mine is not None:
            np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-12, err_msg=f"{name} {where}")
    assert got.exact and got.seed == expected.seed and got.method == expected.method


@pytest.mark.parametrize(("backend_id", "spec", "noise", "return_state"), CASES, ids=CASE_IDS)
def test_a_run_resumed_from_any_step_equals_the_uninterrupted_run(backend_id, spec, noise, return_state):
    backend, circuit = get_backend(backend_id), build(spec)
    options = _options(noise, return_state=return_state)
    whole = backend.run(circuit, options)
    stepped = backend.start(circuit, options)
    assert stepped.steppable and stepped.total_steps > 2 and stepped.position == 0
    _assert_same(_finish(stepped), whole, "when stepped through start()")
    total = stepped.total_steps
    for k in sorted({0, 1, total // 2, total - 1, total}):
        first = backend.start(circuit, options)
        for _ in range(k):
            first.advance()
        saved = first.save()
        assert isinstance(saved, bytes) and first.position == k
        second = backend.start(circuit, options)  # a brand-new execution, as a fresh worker builds it
        second.restore(saved)
        assert second.position == k and second.done == (k == total)
        _assert_same(_finish(second), whole, f"after restoring at step {k} of {total}")
        # The execution that saved goes on as if nothing happened.
        _assert_same(_finish(first), whole, f"for the execution that saved at step {k}")


@pytest.mark.parametrize("backend_id", LIBRARY_BACKENDS)
def test_broken_or_foreign_states_are_refused_and_the_run_goes_on(backend_id):
    backend, circuit = get_backend(backend_id), build("qft:4")
    density = backend.capabilities.density_matrix
    noise = "depolarizing:0.02" if density else None
    options = _options(noise)
    whole = backend.run(circuit, options)
    target = backend.start(circuit, options)
    for _ in range(3):
        target.advance()
    good = target.save()
    other = backend.start(build("ghz:4"), options)  # same qubits and state shape, another circuit
    other.advance()
    twin = "cirq-dm" if backend_id == "aer-dm" else "aer-dm" if backend_id == "cirq-dm" else None
    twin = twin or ("aer-sv" if backend_id == "cirq-sv" else "cirq-sv")
    foreign = get_backend(twin).start(circuit, options)  # same circuit and shape, another library's layout
    foreign.advance()
    wider = backend.start(build("qft:5"), options)
    bad = {
        "garbage": b"not a checkpoint",
        "empty": b"",
        "truncated": good[: len(good) // 2],
        "another circuit": other.save(),
        "another backend": foreign.save(),
        "another size": wider.save(),
    }
    for name, data in bad.items():
        with pytest.raises(ValueError, match=f"not a valid {backend_id} state"):
            target.restore(data)
        assert target.position == 3, f"{name} moved the run"
    with pytest.raises(ValueError, match="another circuit"):
        target.restore(bad["another circuit"])
    _assert_same(_finish(target), whole, "after refusing every bad state")
    # A refused restore leaves a fresh execution usable too, and a good one still restores after it.
    fresh = backend.start(circuit, options)
    with pytest.raises(ValueError):
        fresh.restore(bad["another circuit"])
    fresh.restore(good)
    _assert_same(_finish(fresh), whole, "after a refused then a good restore")


@pytest.mark.parametrize("backend_id", LIBRARY_BACKENDS)
def test_a_state_of_another_format_or_with_bad_numbers_is_refused(backend_id):
    import io

    backend, circuit = get_backend(backend_id), build("ghz:4")
    options = _options(None)
    execution = backend.start(circuit, options)
    execution.advance()
    with np.load(io.BytesIO(execution.save())) as archive:
        parts = {k: archive[k] for k in archive.files}

    def rebuilt(meta_change: dict | None = None, state: np.ndarray | None = None) -> bytes:
        meta = json.loads(parts["meta"].tobytes().decode())
        meta.update(meta_change or {})
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            state=parts["state"] if state is None else state,
            meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
        )
        return buffer.getvalue()

    execution.restore(rebuilt())  # the archive itself round-trips
    with pytest.raises(ValueError, match="format"):
        execution.restore(rebuilt({"format": 99}))
    with pytest.raises(ValueError, match="position"):
        execution.restore(rebuilt({"position": execution.total_steps + 1}))
    with pytest.raises(ValueError, match="normalised"):
        execution.restore(rebuilt(state=parts["state"] * 2))
    with pytest.raises(ValueError, match="normalised"):
        execution.restore(rebuilt(state=parts["state"] * np.nan))
    with pytest.raises(ValueError, match="complex128"):
        execution.restore(rebuilt(state=parts["state"].astype(np.complex64)))
    assert execution.position == 1
    _assert_same(_finish(execution), backend.run(circuit, options), "after refusing bad numbers")


def _dynamic() -> Circuit:
    return make_circuit(
        2,
        [op("h", 0), op("measure", 0, clbits=(0,)), op("cx", 0, 1), op("measure", 1, clbits=(1,))],
        num_clbits=2,
        name="dynamic",
    )


@pytest.mark.parametrize(
    ("backend_id", "circuit", "noise"),
    [
        ("cirq-sv", build("ghz:4"), "depolarizing:0.01"),
        ("aer-sv", build("ghz:4"), "depolarizing:0.01"),
        ("cirq-dm", _dynamic(), None),
        ("aer-dm", _dynamic(), None),
    ],
    ids=["cirq-sv-noisy", "aer-sv-noisy", "cirq-dm-dynamic", "aer-dm-dynamic"],
)
def test_sampled_runs_run_in_one_step_that_cannot_be_saved(backend_id, circuit, noise):
    backend = get_backend(backend_id)
    assert backend.capabilities.steppable  # the capability: the exact path steps
    options = _options(noise).model_copy(update={"shots": 100})  # cirq samples trajectories slowly
    execution = backend.start(circuit, options)
    assert isinstance(execution, OneShotExecution) and not execution.steppable
    assert execution.total_steps == 1
    with pytest.raises(UnsupportedFeatureError):
        execution.save()
    with pytest.raises(UnsupportedFeatureError):
        execution.restore(b"")
    result = _finish(execution)
    assert not result.exact
    assert result.counts == backend.run(circuit, options).counts  # the same one-shot run, same seed


@pytest.mark.parametrize("backend_id", LIBRARY_BACKENDS)
def test_a_circuit_without_gates_takes_no_steps(backend_id):
    backend = get_backend(backend_id)
    idle = make_circuit(
        2, [op("measure", 0, clbits=(0,)), op("measure", 1, clbits=(1,))], num_clbits=2, name="idle"
    )
    options = _options("readout:0.1")
    execution = backend.start(idle, options)
    assert execution.total_steps == 0 and execution.done
    saved = execution.save()
    again = backend.start(idle, options)
    again.restore(saved)
    result = again.finish()
    np.testing.assert_allclose(result.probabilities, [0.81, 0.09, 0.09, 0.01], atol=1e-12)
    _assert_same(result, backend.run(idle, options), "for a circuit without gates")


@pytest.mark.parametrize("backend_id", LIBRARY_BACKENDS)
def test_steps_and_finish_refuse_to_run_out_of_order(backend_id):
    backend = get_backend(backend_id)
    execution = backend.start(build("bell"), _options(None))
    with pytest.raises(RuntimeError, match="finish"):
        execution.finish()
    _finish(execution)
    with pytest.raises(RuntimeError):
        execution.step()


RESUME_SCRIPT = """
import json, sys
from proxima_agent.backends.base import RunOptions
from proxima_agent.backends.registry import get_backend
from proxima_agent.circuits.library import build
from proxima_agent.circuits.noise import parse_noise

backend_id, spec, noise = sys.argv[1:4]
execution = get_backend(backend_id).start(build(spec), RunOptions(shots=2000, noise=parse_noise(noise)))
execution.restore(sys.stdin.buffer.read())
while not execution.done:
    execution.advance()
result = execution.finish()
print(json.dumps({"seed": result.seed, "counts": result.counts, "probabilities": result.probabilities.tolist()}))
"""


@pytest.mark.parametrize("backend_id", ["aer-dm"])
def test_a_fresh_process_resumes_with_the_seed_drawn_at_the_start(backend_id):
    """No seed given: the one drawn when the run started travels in the saved state to the process that ends it."""
    backend, spec, noise = get_backend(backend_id), "random:4:4:2", "depolarizing:0.02;readout:0.02"
    execution = backend.start(build(spec), _options(noise, seed=None))
    for _ in range(execution.total_steps // 2):
        execution.advance()
    done = subprocess.run(
        [sys.executable, "-c", RESUME_SCRIPT, backend_id, spec, noise],
        input=execution.save(),
        capture_output=True,
        check=True,
        timeout=120,
    )
    resumed = json.loads(done.stdout)
    whole = backend.run(build(spec), _options(noise, seed=execution.seed))
    assert resumed["seed"] == execution.seed and resumed["counts"] == whole.counts
    np.testing.assert_allclose(resumed["probabilities"], whole.probabilities, rtol=0, atol=1e-12)
