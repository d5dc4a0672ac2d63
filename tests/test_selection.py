"""Estimates and backend selection: the numbers come from the memory model, and the rules pick as documented."""

from __future__ import annotations

import pytest

from proxima_agent.backends.base import RunOptions
from proxima_agent.backends.registry import get_backend
from proxima_agent.circuits.library import build
from proxima_agent.circuits.noise import parse_noise
from proxima_agent.errors import ResourceError
from proxima_agent.selection.estimate import estimate, format_bytes, max_qubits
from proxima_agent.selection.select import check_fits, select_backend


def test_memory_follows_first_principles():
    est = estimate(build("ghz:10"))
    rows = {r.backend: r for r in est.backends}
    for backend_id, row in rows.items():
        backend = get_backend(backend_id)
        state = 16 * (4**10 if backend.capabilities.method == "density_matrix" else 2**10)
        assert row.memory_bytes == int(backend.overhead_bytes + backend.state_copies * state)


def test_density_matrix_squares_the_memory():
    rows = {r.backend: r for r in estimate(build("ghz:14")).backends}
    assert (
        rows["aer-dm"].memory_bytes - get_backend("aer-dm").overhead_bytes
        > 2**14 * (rows["aer-sv"].memory_bytes - get_backend("aer-sv").overhead_bytes) / 2
    )


def test_noiseless_circuit_gets_a_statevector():
    choice = select_backend(build("ghz:5"))
    assert choice.backend in ("aer-sv", "cirq-sv")
    assert choice.rule == "2"
    assert "noiseless" in choice.explanation
    assert format_bytes(choice.estimate.machine.usable_bytes) in choice.explanation


def test_noisy_small_circuit_gets_an_exact_density_matrix():
    choice = select_backend(build("ghz:5"), RunOptions(noise=parse_noise("depolarizing:0.01")))
    assert choice.backend in ("aer-dm", "cirq-dm", "lret")
    assert choice.runner_up is not None
    assert "density matrix" in choice.explanation


def test_noisy_large_circuit_falls_back_to_trajectories():
    choice = select_backend(build("ghz:20"), RunOptions(noise=parse_noise("depolarizing:0.01")))
    assert choice.backend in ("aer-sv", "cirq-sv")
    assert "trajectories" in choice.explanation
    assert "not feasible" in choice.explanation  # the density matrices are named as ruled out, with numbers


def test_readout_only_noise_still_counts_as_exact_on_a_statevector():
    choice = select_backend(build("ghz:5"), RunOptions(noise=parse_noise("readout:0.01")))
    assert choice.backend in ("aer-sv", "cirq-sv")


def test_named_backend_that_does_not_fit_is_refused_with_numbers():
    with pytest.raises(ResourceError) as info:
        check_fits(get_backend("cirq-dm"), build("ghz:22"), RunOptions())
    assert info.value.context["needed_bytes"] > info.value.context["usable_bytes"]
    from proxima_agent.cli import cli_step

    alternative = info.value.steps[0].args["backend"]
    assert f"--backend {alternative}" in info.value.hint_for(cli_step)  # the CLI names the flag


def test_max_qubits_is_consistent_with_the_memory_model():
    backend = get_backend("aer-sv")
    usable = 8 * 2**30
    n = max_qubits(backend, usable)
    assert backend.memory_bytes(n) <= usable < backend.memory_bytes(n + 1)


def test_time_estimates_grow_with_size():
    small = {r.backend: r.seconds for r in estimate(build("random:8:5")).backends}
    large = {r.backend: r.seconds for r in estimate(build("random:12:20")).backends}
    for backend_id in small:
        assert large[backend_id] > small[backend_id] > 0
