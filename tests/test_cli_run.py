"""The CLI's working paths, through a real subprocess: run, describe, estimate, backends, output files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.cli_helpers import proxima


def run_json(*args: str, cwd: Path | None = None) -> dict:
    result = proxima("run", *args, "--json", cwd=cwd)
    assert result.code == 0, result.both
    return json.loads(result.out)


def test_run_without_a_backend_says_which_and_why():
    result = proxima("run", "bell", "--shots", "1000", "--seed", "3")
    assert result.code == 0, result.both
    assert "chosen because" in result.out
    assert "noiseless" in result.out
    assert "runner-up" in result.out


def test_run_json_is_complete_and_reproducible():
    first = run_json("ghz:4", "--backend", "aer-sv", "--shots", "500", "--seed", "7")
    second = run_json("ghz:4", "--backend", "aer-sv", "--shots", "500", "--seed", "7")
    assert first["counts"] == second["counts"]
    assert sum(first["counts"].values()) == 500
    assert set(first["counts"]) <= {"0000", "1111"}
    assert first["probabilities"] == {"0000": pytest.approx(0.5), "1111": pytest.approx(0.5)}
    assert first["seed"] == 7
    assert first["versions"]["qiskit-aer"]
    assert first["timing"]["total_s"] >= first["timing"]["simulation_s"] > 0


def test_noisy_run_on_a_density_matrix():
    data = run_json("ghz:3", "--backend", "cirq-dm", "--noise", "depolarizing:0.05", "--seed", "1")
    assert data["method"] == "density_matrix"
    assert data["exact"] is True
    assert data["noise"]["rules"][0]["channel"] == {"kind": "depolarizing", "p": 0.05}
    assert 0.0 < data["probabilities"]["001"] < 0.1


def test_selection_is_in_the_json():
    data = run_json("ghz:3", "--noise", "amplitude_damping:0.01")
    assert data["selection"]["backend"] == data["backend"]
    assert data["method"] in ("density_matrix", "low_rank")


def test_state_output_inline_and_in_files(tmp_path: Path):
    data = run_json("bell", "--backend", "aer-sv", "--state")
    assert data["statevector"]["shape"] == [4]
    assert data["statevector"]["real"][0] == pytest.approx(2**-0.5)
    big = run_json("ghz:13", "--backend", "cirq-sv", "--state", "--shots", "10")
    assert "real" not in big["statevector"]
    assert Path(big["statevector"]["path"]).is_file()


@pytest.mark.parametrize("suffix", [".csv", ".json", ".xlsx"])
def test_output_files(tmp_path: Path, suffix: str):
    target = tmp_path / f"results{suffix}"
    result = proxima(
        "run", "qft:3", "--backend", "aer-dm", "--noise", "amplitude_damping:0.002", "--shots", "256",
        "--output", str(target),
    )  # fmt: skip
    assert result.code == 0, result.both
    assert target.is_file()
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary file left behind
    if suffix == ".csv":
        rows = list(csv.DictReader(target.open()))
        assert sum(int(r["count"]) for r in rows) == 256
        assert sum(float(r["probability"]) for r in rows) == pytest.approx(1.0)
    elif suffix == ".json":
        data = json.loads(target.read_text())
        assert sum(data["counts"].values()) == 256
        assert data["backend"] == "aer-dm"
    else:
        from openpyxl import load_workbook

        book = load_workbook(target)
        rows = list(book["counts"].iter_rows(min_row=2, values_only=True))
        assert sum(r[1] for r in rows) == 256
        run_info = dict(book["run"].iter_rows(min_row=2, values_only=True))
        assert run_info["backend"] == "aer-dm"


def test_describe_json():
    result = proxima("describe", "random:10:20:7", "--json")
    assert result.code == 0, result.both
    data = json.loads(result.out)
    assert data["num_qubits"] == 10
    assert data["two_qubit_gates"] == 100
    assert data["clifford"] is False


def test_describe_qasm_round_trips(tmp_path: Path):
    result = proxima("describe", "grover:3", "--qasm", "3")
    assert result.code == 0
    path = tmp_path / "g.qasm"
    path.write_text(result.out)
    again = json.loads(proxima("describe", str(path), "--json").out)
    original = json.loads(proxima("describe", "grover:3", "--json").out)
    assert again["gate_counts"] == original["gate_counts"]


def tool_output(name: str, arguments: dict) -> dict:
    """The typed tool's own structured output (what MCP clients and the agent get) for the same arguments."""
    import asyncio

    from proxima_agent.config import load_config
    from proxima_agent.tools import Runtime, ToolContext, call_tool

    async def go() -> dict:
        runtime = Runtime(load_config())
        try:
            return (await call_tool(name, arguments, ToolContext(runtime))).model_dump(mode="json")
        finally:
            await runtime.close()

    return asyncio.run(go())


def test_describe_json_is_the_describe_circuit_tools_output():
    result = proxima("describe", "random:10:20:7", "--json")
    assert result.code == 0, result.both
    assert json.loads(result.out) == tool_output("describe_circuit", {"circuit": "random:10:20:7"})


def test_estimate_json_is_the_estimate_resources_tools_output():
    result = proxima("estimate", "ghz:6", "--noise", "depolarizing:0.01", "--shots", "100", "--json")
    assert result.code == 0, result.both
    shown = json.loads(result.out)
    tool = tool_output("estimate_resources", {"circuit": "ghz:6", "noise": "depolarizing:0.01", "shots": 100})
    assert list(shown) == list(tool)
    measured = ("total_memory_bytes", "available_memory_bytes", "usable_memory_bytes")  # free memory moves
    assert {k: v for k, v in shown.items() if k not in measured} == {
        k: v for k, v in tool.items() if k not in measured
    }


def test_estimate_json_marks_density_matrix_infeasible_at_20_qubits():
    result = proxima("estimate", "qft:20", "--noise", "depolarizing:0.01", "--json")
    assert result.code == 0, result.both
    rows = {r["backend"]: r for r in json.loads(result.out)["backends"]}
    assert rows["aer-dm"]["memory_bytes"] >= 16 * 4**20
    assert rows["aer-dm"]["feasible"] is False
    assert "needs" in rows["aer-dm"]["reason"]
    assert rows["aer-sv"]["feasible"] is True
    assert rows["aer-sv"]["method"] == "trajectories"


def test_backends_json_with_self_test():
    result = proxima("backends", "--check", "--json")
    assert result.code == 0, result.both
    rows = {r["id"]: r for r in json.loads(result.out)["backends"]}
    assert set(rows) == {"cirq-sv", "cirq-dm", "aer-sv", "aer-dm", "lret"}
    for row in rows.values():
        assert row["available"] is True
        assert row["self_test"]["healthy"] is True
        assert row["max_qubits_here"] >= (10 if row["capabilities"]["method"] == "density_matrix" else 20)


def test_disabled_backend_is_never_selected(tmp_path: Path):
    config = {
        "backends": {"aer-sv": {"enabled": False}, "aer-dm": {"enabled": False}, "lret": {"enabled": False}}
    }
    (tmp_path / "proxima.json").write_text(json.dumps(config))
    assert run_json("bell", cwd=tmp_path)["backend"] == "cirq-sv"
    assert run_json("bell", "--noise", "bit_flip:0.1", cwd=tmp_path)["backend"] == "cirq-dm"


def test_config_default_backend_and_shots(tmp_path: Path):
    (tmp_path / "proxima.json").write_text(json.dumps({"run": {"backend": "cirq-dm", "shots": 77}}))
    data = run_json("bell", cwd=tmp_path)
    assert data["backend"] == "cirq-dm"
    assert data["shots"] == 77
