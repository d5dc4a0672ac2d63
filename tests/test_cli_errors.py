"""Every bad input of the CLI, through a real subprocess: the exit code, the message and hint, no traceback,
and no partial output file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import proxima


def assert_clean_error(result, code: int, *fragments: str) -> None:
    assert result.code == code, result.both
    assert "Traceback" not in result.both
    for fragment in fragments:
        assert fragment in result.err, f"{fragment!r} not in:\n{result.err}"


def test_unknown_backend_lists_the_available_ones():
    result = proxima("run", "bell", "--backend", "qsim-gpu")
    assert_clean_error(result, 4, "BACKEND_UNKNOWN", "qsim-gpu", "aer-sv", "cirq-dm")


def test_a_feature_the_backend_lacks_names_the_backends_that_have_it():
    result = proxima("run", "ghz:3", "--backend", "aer-sv", "--observable", "ZZZ")
    assert_clean_error(result, 4, "BACKEND_UNSUPPORTED", "aer-sv does not compute expectation values", "lret")


def test_an_unreadable_circuit_file_says_so(tmp_path: Path):
    path = tmp_path / "latin1.qasm"
    path.write_bytes("OPENQASM 2.0;\n// caf\xe9\n".encode("latin-1"))
    result = proxima("run", str(path))
    assert_clean_error(result, 3, "FILE_UNREADABLE", str(path))


def test_malformed_qasm_reports_line_and_column(tmp_path: Path):
    path = tmp_path / "broken.qasm"
    path.write_text('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nh q[0]\ncx q[0],q[1];\n')
    result = proxima("run", str(path))
    assert_clean_error(result, 3, "QASM_SYNTAX", f"{path}:5:1", "';'")


def test_malformed_qasm3_reports_line_and_column(tmp_path: Path):
    path = tmp_path / "broken3.qasm"
    path.write_text('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nh q[0];\ncx q[0] q[1];\n')
    result = proxima("describe", str(path))
    assert_clean_error(result, 3, "QASM_SYNTAX", f"{path}:5:")


def test_unknown_library_circuit_lists_names():
    result = proxima("run", "teleport:3")
    assert_clean_error(result, 3, "CIRCUIT_UNKNOWN", "ghz:N", "qaoa:N:P[:SEED]")


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [("ghz:1", "N=1 is out of range"), ("ghz:x", "must be an integer"), ("qaoa:4", "missing P")],
)
def test_bad_library_parameters(spec: str, fragment: str):
    assert_clean_error(proxima("describe", spec), 3, "CIRCUIT_PARAMETERS", fragment)


def test_circuit_too_big_for_the_chosen_backend_says_what_would_fit():
    result = proxima("run", "ghz:24", "--backend", "aer-dm")
    assert_clean_error(result, 5, "RESOURCES_INSUFFICIENT", "24 qubits", "usable", "--backend aer-sv")


def test_circuit_too_big_for_any_backend():
    result = proxima("run", "ghz:40")
    assert_clean_error(result, 5, "RESOURCES_INSUFFICIENT", "40 qubits", "usable now")


@pytest.mark.parametrize("shots", ["0", "-5"])
def test_shots_must_be_positive(shots: str):
    assert_clean_error(proxima("run", "bell", "--shots", shots), 3, "OPTION_INVALID", "--shots")


def test_missing_file_and_directory(tmp_path: Path):
    assert_clean_error(proxima("run", str(tmp_path / "nope.qasm")), 3, "FILE_UNREADABLE", "no such file")
    folder = tmp_path / "dir.qasm"
    folder.mkdir()
    assert_clean_error(proxima("run", str(folder)), 3, "FILE_UNREADABLE", "directory")


@pytest.mark.parametrize("spec", ["depolarizing:1.5", "bit_flip:-0.1", "readout:0.1:2"])
def test_noise_probability_outside_unit_interval(spec: str):
    assert_clean_error(proxima("run", "bell", "--noise", spec), 3, "NOISE_INVALID", "[0, 1]")


def test_unknown_noise_kind_shows_the_syntax():
    assert_clean_error(
        proxima("run", "bell", "--noise", "cosmic_rays:0.1"), 3, "NOISE_INVALID", "depolarizing:P"
    )


def test_noise_on_a_qubit_the_circuit_lacks():
    assert_clean_error(
        proxima("run", "bell", "--noise", "bit_flip:0.1/5"), 3, "NOISE_INVALID", "qubit(s) [5]"
    )


def test_bad_output_format_fails_before_running(tmp_path: Path):
    target = tmp_path / "out.txt"
    assert_clean_error(proxima("run", "bell", "--output", str(target)), 3, "OPTION_INVALID", ".csv")
    assert not target.exists()


def test_output_into_missing_folder_leaves_nothing(tmp_path: Path):
    target = tmp_path / "missing" / "out.csv"
    assert_clean_error(proxima("run", "bell", "--output", str(target)), 6, "OUTPUT_FAILED", "does not exist")
    assert not target.parent.exists()


def test_a_failed_run_writes_no_output(tmp_path: Path):
    target = tmp_path / "out.json"
    assert_clean_error(proxima("run", "ghz:40", "--output", str(target)), 5, "RESOURCES_INSUFFICIENT")
    assert list(tmp_path.iterdir()) == []


def test_json_mode_prints_the_error_as_json():
    result = proxima("run", "bell", "--backend", "nope", "--json")
    assert result.code == 4
    error = json.loads(result.out)["error"]
    assert error["code"] == "BACKEND_UNKNOWN"
    assert "aer-sv" in error["hint"]


def test_usage_error_exit_code():
    result = proxima("run")
    assert result.code == 2
    assert "Missing argument" in result.err
    assert "Traceback" not in result.both


def test_bad_config_file_is_reported_with_its_location(tmp_path: Path):
    (tmp_path / "proxima.json").write_text('{"run": {"shots": 10,}}')
    result = proxima("run", "bell", cwd=tmp_path)
    assert_clean_error(result, 3, "CONFIG_INVALID", "line 1")
