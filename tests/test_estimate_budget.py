"""An estimate's own cost is bounded (issue 10, item 18).

lret's rank prediction once composed grover:5's 1,024-term five-qubit depolarizing channels with each other and
reached 17 GB in five minutes; every `proxima run` of the circuit stalled on it, whatever backend was named,
because every backend was estimated first. Now the prediction works within a deterministic budget and falls back
to a crude upper bound that says so, and a run on a named backend estimates that backend alone.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from proxima_agent.backends.base import RunOptions
from proxima_agent.backends.lret.branches import Budget, BudgetExceeded, effective_locations
from proxima_agent.backends.lret.estimate import crude_rank, noise_shapes, predict, program_shapes
from proxima_agent.backends.lret.program import compile_program
from proxima_agent.backends.registry import get_backend
from proxima_agent.circuits.ir import make_circuit, op
from proxima_agent.circuits.library import build
from proxima_agent.circuits.noise import parse_noise
from proxima_agent.errors import ResourceError
from proxima_agent.selection.select import check_fits
from tests.cli_helpers import PROXIMA

ADDRESS_SPACE = 4_000_000_000  # the child may map at most this much: the old prediction needed 17 GB


def _run_bounded(args: list[str], env: dict[str, str], timeout: float) -> tuple[int, str, str, float, int]:
    """Run the real `proxima` in a child with its address space capped; return code, out, err, seconds, and the
    child's own peak RSS in bytes (from wait4, not the whole session's children)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    full_env = dict(os.environ) | env
    full_env.pop("COLUMNS", None)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen([*PROXIMA, *args], stdout=out, stderr=err, env=full_env, preexec_fn=limit)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read(), err.read(), seconds, usage.ru_maxrss * 1024


def _probe_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A sitecustomize that records every call of lret's rank prediction, in every Python process of the run."""
    marker = tmp_path / "lret-predictions"
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        textwrap.dedent(
            """
            import importlib.abc, importlib.util, os, sys

            NAME = "proxima_agent.backends.lret.estimate"

            class _Probe(importlib.abc.MetaPathFinder):
                def find_spec(self, name, path, target=None):
                    if name != NAME:
                        return None
                    sys.meta_path.remove(self)
                    spec = importlib.util.find_spec(name)
                    run = spec.loader.exec_module

                    def exec_module(module):
                        run(module)
                        original = module.predict

                        def predict(*args, **kwargs):
                            with open(os.environ["PROXIMA_TEST_PREDICT_MARKER"], "a") as f:
                                f.write("called\\n")
                            return original(*args, **kwargs)

                        module.predict = predict

                    spec.loader.exec_module = exec_module
                    return spec

            sys.meta_path.insert(0, _Probe())
            """
        )
    )
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {"PYTHONPATH": path, "PROXIMA_TEST_PREDICT_MARKER": str(marker)}, marker


# --- through the front door -------------------------------------------------------------------------------------


def test_the_estimate_of_grover5_with_depolarizing_noise_is_prompt_bounded_and_says_it_is_crude(tmp_path):
    code, out, err, seconds, peak = _run_bounded(
        ["estimate", "grover:5", "--noise", "depolarizing:0.01", "--json"],
        {"PROXIMA_DATA_DIR": str(tmp_path)},
        timeout=60,
    )
    assert code == 0, err
    assert seconds < 30  # a few seconds here; was over 5 minutes
    assert peak < 1 << 30  # ~100 MiB here; was 17 GB
    import json

    rows = {r["backend"]: r for r in json.loads(out)["backends"]}
    lret = rows["lret"]
    assert "crude upper bound" in lret["note"] and "budget" in lret["note"]
    assert "rank at most 32" in lret["note"]  # 2^5: an upper bound, labelled as one
    assert lret["memory_bytes"] == get_backend("lret").memory_bytes(5, 32)
    table = subprocess.run(
        [*PROXIMA, "estimate", "grover:5", "--noise", "depolarizing:0.01"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ) | {"PROXIMA_DATA_DIR": str(tmp_path)},
        check=False,
    )
    assert table.returncode == 0 and "crude upper bound" in table.stdout


def test_a_run_on_a_named_backend_never_calls_lrets_prediction(tmp_path):
    env, marker = _probe_env(tmp_path)
    env["PROXIMA_DATA_DIR"] = str(tmp_path / "data")
    # the probe works: an estimate calls lret's prediction
    code, _, err, _, _ = _run_bounded(["estimate", "bell", "--noise", "depolarizing:0.01"], env, timeout=60)
    assert code == 0, err
    assert marker.read_text().count("called") == 1
    marker.unlink()
    # grover:4 with depolarizing noise: the old prediction alone took 48 s here; aer-dm runs it in about a second
    code, out, err, seconds, _ = _run_bounded(
        [
            "run",
            "grover:4",
            "--noise",
            "depolarizing:0.01",
            "--backend",
            "aer-dm",
            "--shots",
            "100",
            "--seed",
            "1",
        ],
        env,
        timeout=120,
    )
    assert code == 0, err
    assert "aer-dm" in out
    assert not marker.exists(), "the run on aer-dm estimated lret"
    assert seconds < 60


# --- the fallback is an upper bound -----------------------------------------------------------------------------


def _mid_circuit() -> object:
    return make_circuit(
        3,
        [
            op("h", 0),
            op("cx", 0, 1),
            op("measure", 0, clbits=(0,)),
            op("h", 0),
            op("cx", 1, 2),
            op("reset", 1),
        ],
        num_clbits=3,
        name="mid",
    )


SMALL = [
    ("bell", "depolarizing:0.05"),
    ("ghz:4", "depolarizing:0.01"),
    ("ghz:5", "amplitude_damping:0.01;phase_damping:0.01"),
    ("qft:4", "phase_damping:0.01@cp"),
    ("grover:3", "depolarizing:0.01"),
    ("random:4:4", "depolarizing:0.001/0"),
    ("random:5:3", "bit_flip:0.01"),
]


@pytest.mark.parametrize(("name", "noise"), SMALL)
def test_the_crude_fallback_bounds_the_prediction_and_the_exact_rank(name, noise):
    circuit = build(name).with_measurements()
    model = parse_noise(noise)
    exact = predict(circuit, model, 1e-4)
    assert not exact.crude
    crude = predict(circuit, model, 1e-4, budget=Budget(work_units=0))
    assert crude.crude and "over the budget of 0" in crude.why
    assert crude.rank >= exact.rank
    assert crude.rank <= 2**circuit.num_qubits
    # and above the rank of the exact state itself (threshold 0: nothing truncated but rounding)
    options = RunOptions(noise=model, shots=10, seed=1, backend_options={"threshold": 0.0})
    meta = get_backend("lret").run(build(name), options).metadata["lret"]
    assert meta["final_rank"] <= meta["peak_rank"] <= crude.rank


def test_the_crude_fallback_bounds_mid_circuit_measurement_and_reset():
    circuit = _mid_circuit()
    model = parse_noise("depolarizing:0.02")
    crude = predict(circuit, model, 1e-4, budget=Budget(work_units=0))
    assert crude.crude and "mid-circuit" in crude.how
    options = RunOptions(noise=model, shots=10, seed=1, backend_options={"threshold": 0.0})
    meta = get_backend("lret").run(circuit, options).metadata["lret"]
    assert meta["final_rank"] <= crude.rank
    # the shapes read without compiling agree with the compiled program's (gates aside, which are fused there)
    shapes, _ = noise_shapes(circuit, model)
    compiled = program_shapes(compile_program(circuit, model))
    assert [s for s in shapes if s[0] != "gate"] == [s for s in compiled if s[0] != "gate"]
    assert crude_rank(shapes, 3) == crude_rank(compiled, 3)


def test_the_crude_bound_counts_kraus_terms_capped_at_the_dimension():
    assert crude_rank([("channel", 4, 2), ("gate", 1, 1), ("channel", 2, 2)], 5) == (
        8,
        "the product of the Kraus terms of 2 channels, capped at 2^5",
    )
    assert crude_rank([("channel", 16, 4)] * 3, 5)[0] == 32
    assert crude_rank([("channel", 4, 2), ("measure", 0, 0), ("channel", 4, 2)], 1)[0] == 4  # 2^1 per record


# --- the budget -------------------------------------------------------------------------------------------------


def test_the_budget_refuses_before_the_work_and_is_deterministic():
    budget = Budget(work_units=100.0, seconds=None)
    with pytest.raises(BudgetExceeded, match="over the budget"):
        budget.charge(1e6, "a big step")
    assert budget.spent == 0  # nothing is spent on a step that was refused
    with pytest.raises(BudgetExceeded, match="matrix entries"):
        Budget().hold(2**30, "composing")
    program = compile_program(build("qaoa:8:2").with_measurements(), parse_noise("phase_damping:0.001@rzz"))
    spent = []
    for _ in range(2):
        b = Budget(seconds=None)
        effective_locations(program, b)
        spent.append(b.spent)
    assert spent[0] == spent[1] > 0


def test_the_wall_time_guard_stops_the_analysis():
    program = compile_program(build("qaoa:8:2").with_measurements(), parse_noise("phase_damping:0.001@rzz"))
    with pytest.raises(BudgetExceeded, match="wall-time guard"):
        effective_locations(program, Budget(seconds=0.0))


@pytest.mark.parametrize(
    ("name", "noise"),
    [("grover:5", "depolarizing:0.01"), ("grover:6", "depolarizing:0.01"), ("grover:7", "depolarizing:0.01"),
     ("grover:4", "depolarizing:0.01"), ("qft:20", "depolarizing:0.01"), ("random:16:40", "depolarizing:0.01"),
     ("grover:12", "phase_damping:0.001"), ("grover:20", "readout:0.01")],
)  # fmt: skip
def test_adversarial_estimates_are_prompt(name, noise):
    """Each took minutes, or gigabytes, or both (grover:14 and up allocated an mcx's full 4^n matrix)."""
    start = time.perf_counter()
    estimate = get_backend("lret").estimate(build(name), RunOptions(noise=parse_noise(noise)))
    assert time.perf_counter() - start < 10
    assert estimate.memory_bytes >= estimate.min_memory_bytes


def test_lret_on_grover5_with_depolarizing_noise_is_an_honest_upper_bound():
    circuit = build("grover:5")
    options = RunOptions(noise=parse_noise("depolarizing:0.01"), shots=10, seed=1)
    estimate = get_backend("lret").estimate(circuit, options)
    assert "crude upper bound: rank at most 32" in estimate.note
    meta = get_backend("lret").run(circuit, options).metadata["lret"]
    assert meta["final_rank"] <= 32


# --- a named backend is estimated alone ---------------------------------------------------------------------------


def test_check_fits_estimates_only_the_named_backend(monkeypatch):
    from proxima_agent.backends.lret.backend import LretBackend

    def refuse(self, circuit, options):
        raise AssertionError("lret was estimated for a run on another backend")

    monkeypatch.setattr(LretBackend, "estimate", refuse)
    options = RunOptions(noise=parse_noise("depolarizing:0.01"))
    row = check_fits(get_backend("aer-dm"), build("grover:5"), options)
    assert row.backend == "aer-dm" and row.feasible


def test_a_refused_named_backend_still_names_an_alternative():
    with pytest.raises(ResourceError) as info:
        check_fits(get_backend("aer-dm"), build("ghz:20"), RunOptions(noise=parse_noise("depolarizing:0.01")))
    assert info.value.steps and info.value.steps[0].args["backend"] != "aer-dm"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-v"]))
