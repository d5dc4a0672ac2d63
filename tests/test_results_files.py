"""read_results_file: what write_result writes comes back unchanged (CSV, JSON, XLSX), generic files are read, and
every kind of bad file is refused with the row or column at fault and a hint."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from proxima_agent.analysis.export import write_result
from proxima_agent.analysis.results_files import ResultsData, read_results_file
from proxima_agent.analysis.statistics import outcome_statistics
from proxima_agent.backends.base import RunOptions
from proxima_agent.backends.registry import get_backend
from proxima_agent.circuits.library import build
from proxima_agent.circuits.noise import parse_noise
from proxima_agent.errors import FileReadError


@pytest.fixture(scope="module")
def exact_result():
    return get_backend("aer-sv").run(build("ghz:3"), RunOptions(shots=1000, seed=1))


@pytest.fixture(scope="module")
def sampled_result():
    options = RunOptions(shots=700, seed=2, noise=parse_noise("depolarizing:0.1"))
    return get_backend("aer-sv").run(build("ghz:3"), options)


# --- round trips ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".json", ".xlsx"])
def test_exact_result_round_trip(tmp_path: Path, exact_result, suffix):
    path = write_result(exact_result, tmp_path / f"out{suffix}", extra={"job": "j-123"})
    data = read_results_file(path)
    assert data.format == suffix[1:] and data.source == str(path)
    assert data.counts == exact_result.counts
    assert data.probabilities == pytest.approx(exact_result.probability_dict())
    assert data.probabilities.keys() == exact_result.probability_dict().keys()
    assert data.shots == 1000 and data.num_bits == 3 and data.exact
    if suffix != ".csv":  # a CSV holds only the outcome table
        assert (data.backend, data.circuit, data.method) == ("aer-sv", "ghz:3", "statevector")
        assert data.metadata["job"] == "j-123"
    assert data.statistics() == outcome_statistics(
        exact_result.counts, exact_result.probability_dict(), 1000, 3, True
    )


@pytest.mark.parametrize("suffix", [".csv", ".json", ".xlsx"])
def test_sampled_result_round_trip(tmp_path: Path, sampled_result, suffix):
    data = read_results_file(write_result(sampled_result, tmp_path / f"noisy{suffix}"))
    assert data.counts == sampled_result.counts and len(data.counts) > 2
    assert data.probabilities is None and not data.exact
    assert data.shots == 700 and data.num_bits == 3
    assert data.statistics().source == "sampled"
    assert data.distribution() == {k: v / 700 for k, v in sampled_result.counts.items()}


def test_from_result_matches_the_file(tmp_path: Path, exact_result):
    from_job = ResultsData.from_result(exact_result)
    from_file = read_results_file(write_result(exact_result, tmp_path / "r.json"))
    assert from_job.format == "result"
    for field in ("counts", "shots", "num_bits", "exact", "backend", "circuit", "method"):
        assert getattr(from_job, field) == getattr(from_file, field), field
    assert from_job.probabilities == pytest.approx(from_file.probabilities)
    assert ResultsData.model_validate_json(from_job.model_dump_json()) == from_job


def test_large_probabilities_in_an_array_file_travel_with_the_json(tmp_path: Path, exact_result):
    path = write_result(exact_result, tmp_path / "big.json", inline_limit=2)  # 8 > 2: goes to a .npy file
    record = json.loads(path.read_text())["probabilities"]
    assert record["path"].endswith("probabilities.npy")
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    shutil.copy(path, moved / "big.json")
    shutil.copytree(tmp_path / "big_arrays", moved / "big_arrays")
    shutil.rmtree(tmp_path / "big_arrays")  # the recorded path is gone; the folder next to the JSON is used
    data = read_results_file(moved / "big.json")
    assert data.probabilities == pytest.approx(exact_result.probability_dict())
    (moved / "big_arrays" / "probabilities.npy").unlink()
    with pytest.raises(FileReadError, match="missing") as info:
        read_results_file(moved / "big.json")
    assert "_arrays" in info.value.hint


# --- generic files --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "counts", "probabilities"),
    [
        ("outcome,count\n00,510\n11,490\n", {"00": 510, "11": 490}, None),
        ("Bitstring , Count\r\n01,3\r\n10,1\r\n", {"01": 3, "10": 1}, None),
        ("outcome,probability\n0,0.25\n1,0.75\n", None, {"0": 0.25, "1": 0.75}),
        ("\ufeffoutcome,count,note\n111,0,x\n000,4,y\n", {"000": 4}, None),
    ],
)
def test_generic_csv(tmp_path: Path, text, counts, probabilities):
    path = tmp_path / "generic.csv"
    path.write_text(text, encoding="utf-8")
    data = read_results_file(path)
    assert data.counts == counts and data.probabilities == probabilities
    assert data.shots == (sum(counts.values()) if counts else None)
    assert data.statistics().support == len(counts or probabilities)


def test_bare_json_counts(tmp_path: Path):
    path = tmp_path / "counts.json"
    path.write_text(json.dumps({"00": 12, "11": 8}))
    data = read_results_file(path)
    assert data.counts == {"00": 12, "11": 8} and data.shots == 20 and data.num_bits == 2


# --- bad files ------------------------------------------------------------------------------------------------


def _xlsx(path: Path, rows: list[list]) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    for row in rows:
        book.active.append(row)
    book.save(path)
    return path


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("r.txt", "outcome,count\n0,1\n", "unknown format .txt"),
        ("r.csv", "", "empty"),
        ("r.csv", "a,b\n1,2\n", "no outcome column"),
        ("r.csv", "outcome,frequency\n0,1\n", "no count or probability column"),
        ("r.csv", "outcome,count\n", "no outcome rows"),
        ("r.csv", "outcome,count\n00,5\n01,abc\n", "row 3, column count: 'abc' is not a whole number"),
        ("r.csv", "outcome,count\n00,-2\n", "row 2, column count"),
        ("r.csv", "outcome,count\n00,2.5\n", "row 2, column count: '2.5'"),
        ("r.csv", "outcome,count\n00,5\n1,5\n", "different lengths: 00 (row 2) has 2 bits, 1 (row 3)"),
        ("r.csv", "outcome,count\n0a,5\n", "row 2, column outcome: '0a' is not a bitstring"),
        ("r.csv", "outcome,count\n01,5\n01,6\n", "row 3: outcome 01 already appeared in row 2"),
        ("r.csv", "outcome,probability\n0,0.5\n1,0.4\n", "add up to 0.9"),
        ("r.csv", "outcome,probability\n0,3\n1,4\n", "row 2, column probability: 3 is not a probability"),
        ("r.csv", "outcome,count\n0,0\n1,0\n", "every count is 0"),
        ("r.xlsx", "this is not a zip file", "not an Excel workbook"),
        ("r.json", '{"counts": {"00": 1,}}', "malformed JSON at line 1"),
        ("r.json", "[1, 2]", "expected a JSON object, found list"),
        ("r.json", '{"shots": 5}', "no 'counts' or 'probabilities'"),
        ("r.json", '{"counts": [1, 2]}', "'counts' is a list"),
        ("r.json", '{"counts": {"00": "many"}}', "counts['00'] is 'many'"),
        ("r.json", '{"counts": {"0 1": 3}}', "counts key '0 1'"),
        ("r.json", '{"counts": {"00": 3}, "num_clbits": 3}', "says 3 classical bits"),
        ("r.json", '{"counts": {"00": 3}, "shots": 4}', "add up to 3 but the file says 4 shots"),
    ],
)
def test_bad_files_are_refused_with_the_place_and_a_hint(tmp_path: Path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(FileReadError) as info:
        read_results_file(path)
    assert message in str(info.value)
    assert str(info.value).startswith(f"cannot read {path}: ")
    assert info.value.hint and info.value.code == "FILE_UNREADABLE"


def test_missing_file_and_folder(tmp_path: Path):
    with pytest.raises(FileReadError, match="no such file"):
        read_results_file(tmp_path / "absent.csv")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(FileReadError, match="it is a folder"):
        read_results_file(tmp_path / "dir.csv")


def test_non_utf8_csv(tmp_path: Path):
    path = tmp_path / "latin.csv"
    path.write_bytes("outcome,count\n00,5\n# é\n".encode("latin-1"))
    with pytest.raises(FileReadError, match="not UTF-8"):
        read_results_file(path)


def test_xlsx_with_numbers_for_outcomes(tmp_path: Path):
    path = _xlsx(tmp_path / "n.xlsx", [["outcome", "count"], ["00", 3], [11, 4]])
    with pytest.raises(FileReadError, match="row 3, column outcome: the outcome 11 is a number") as info:
        read_results_file(path)
    assert "format the outcome column as text" in info.value.hint


def test_generic_xlsx_first_sheet(tmp_path: Path):
    path = _xlsx(
        tmp_path / "g.xlsx", [["bitstring", "count", "probability"], ["10", 7.0, None], ["01", 3, None]]
    )
    data = read_results_file(path)
    assert data.counts == {"10": 7, "01": 3} and data.probabilities is None and data.shots == 10
