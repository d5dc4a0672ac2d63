"""Reading a results file back, so that `interpret` and `compare` can work on files as well as on jobs.

Accepted: the CSV, XLSX and JSON files `analysis.export.write_result` writes, and generic files with an outcome
column (`outcome` or `bitstring`) and a `count` and/or `probability` column, or a JSON object of counts. Every
problem is reported with the row and column at fault and what to do about it; nothing is guessed (a bitstring a
spreadsheet turned into a number has lost its leading zeros, and is refused rather than padded).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from proxima_agent.analysis.statistics import OutcomeStatistics, outcome_statistics
from proxima_agent.backends.result import SimulationResult
from proxima_agent.errors import FileReadError

OUTCOME_COLUMNS = ("outcome", "bitstring")
COUNT_COLUMNS = ("count", "counts")
PROBABILITY_COLUMNS = ("probability",)
SUM_TOLERANCE = 1e-3  # probabilities may be written with a 1e-12 cutoff, or rounded by a spreadsheet
HINT_FORMATS = "give a .csv, .xlsx or .json file as Proxima writes a run's result"


class ResultsData(BaseModel):
    """Outcomes of one run, from a file or a job, in one shape: what `interpret` and `compare` read."""

    model_config = ConfigDict(frozen=True)

    source: str = Field(description="the file path, or 'job result' for a result in memory")
    format: Literal["csv", "xlsx", "json", "result"]
    counts: dict[str, int] | None = Field(description="observed counts, zero counts left out")
    probabilities: dict[str, float] | None = Field(description="exact probabilities, when the file has them")
    shots: int | None = Field(description="shots the counts come from (their sum unless the file says)")
    num_bits: int
    exact: bool = Field(description="the probabilities are exact (always true when there are probabilities)")
    backend: str | None = None
    circuit: str | None = None
    method: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict, description="the rest of what the file says")

    @classmethod
    def from_result(cls, result: SimulationResult) -> ResultsData:
        """A job's result in the same shape as a file's, so one code path reads both."""
        probabilities = result.probability_dict() if result.probabilities is not None else None
        return cls(
            source="job result",
            format="result",
            counts={k: v for k, v in result.counts.items() if v > 0},
            probabilities=probabilities,
            shots=result.shots,
            num_bits=result.num_clbits,
            exact=result.exact and probabilities is not None,
            backend=result.backend,
            circuit=result.circuit,
            method=result.method,
            metadata={"seed": result.seed, "timing": result.timing.model_dump(), **result.metadata},
        )

    def distribution(self) -> dict[str, float]:
        """Exact probabilities when present, else frequencies."""
        if self.probabilities:
            return dict(self.probabilities)
        assert self.counts is not None and self.shots
        return {k: v / self.shots for k, v in self.counts.items()}

    def statistics(self) -> OutcomeStatistics:
        """The figures `interpret` reads: exact when the data has exact probabilities, else sampled."""
        return outcome_statistics(self.counts, self.probabilities, self.shots or 0, self.num_bits, self.exact)


def _fail(path: Path, what: str, hint: str, **context: Any) -> FileReadError:
    return FileReadError(f"cannot read {path}: {what}", hint=hint, path=str(path), **context)


def read_results_file(path: Path) -> ResultsData:
    """Read a .csv, .xlsx or .json results file; raises FileReadError saying what is wrong and where."""
    path = Path(path)
    if not path.exists():
        raise _fail(path, "no such file", "check the path (relative paths start from the current folder)")
    if path.is_dir():
        raise _fail(path, "it is a folder", "give the results file inside it")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _from_table(path, "csv", _csv_rows(path), {})
    if suffix == ".xlsx":
        rows, run = _xlsx_rows(path)
        return _from_table(path, "xlsx", rows, run)
    if suffix == ".json":
        return _from_json(path)
    raise _fail(path, f"unknown format {path.suffix or '(no suffix)'}", HINT_FORMATS)


# --- tables (CSV and XLSX) ------------------------------------------------------------------------------------


def _csv_rows(path: Path) -> list[list[Any]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except UnicodeDecodeError:
        raise _fail(path, "it is not UTF-8 text", "save the file as UTF-8 CSV") from None
    except csv.Error as exc:
        raise _fail(path, f"it is not valid CSV ({exc})", "check the quoting") from None
    except OSError as exc:
        raise _fail(path, exc.strerror or str(exc), "check the file's permissions") from None


def _xlsx_rows(path: Path) -> tuple[list[list[Any]], dict[str, Any]]:
    from zipfile import BadZipFile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (BadZipFile, InvalidFileException, KeyError, OSError) as exc:
        raise _fail(
            path, f"it is not an Excel workbook ({type(exc).__name__})", "save it as .xlsx from a spreadsheet"
        ) from None
    try:
        sheet = book["counts"] if "counts" in book.sheetnames else book.worksheets[0]
        rows = [list(r) for r in sheet.iter_rows(values_only=True) if any(c is not None for c in r)]
        run: dict[str, Any] = {}
        if "run" in book.sheetnames:
            for record in book["run"].iter_rows(min_row=2, values_only=True):
                if record and record[0] is not None:
                    run[str(record[0])] = record[1] if len(record) > 1 else None
    finally:
        book.close()
    return rows, run


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    return next((header.index(n) for n in names if n in header), None)


def _number(path: Path, cell: Any, row: int, column: str, *, whole: bool) -> float | None:
    """A cell as a number; None for an empty cell; FileReadError naming the row and column otherwise."""
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return None
    kind = "a whole number" if whole else "a number"
    try:
        value = float(cell.strip() if isinstance(cell, str) else cell)
    except (TypeError, ValueError):
        raise _fail(
            path, f"row {row}, column {column}: {cell!r} is not {kind}", f"write {kind} in each {column} cell"
        ) from None
    if not math.isfinite(value) or value < 0 or (whole and value != int(value)):
        raise _fail(
            path,
            f"row {row}, column {column}: {cell!r} is not {kind} >= 0",
            f"write {kind} >= 0 in each {column} cell",
        )
    return value


def _bitstring(path: Path, cell: Any, where: str) -> str:
    """A cell or key as a bitstring; `where` says where it is ("row 3, column outcome") for the message."""
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        raise _fail(
            path,
            f"{where}: the outcome {cell!r} is a number, not a bitstring",
            "a spreadsheet may have dropped leading zeros: format the outcome column as text",
        )
    text = str(cell).strip() if cell is not None else ""
    if not text or set(text) - {"0", "1"}:
        raise _fail(
            path,
            f"{where}: {text!r} is not a bitstring of 0s and 1s",
            "write each outcome as 0s and 1s, qubit 0 rightmost, without spaces or a 0b prefix",
        )
    return text


def _from_table(
    path: Path, fmt: Literal["csv", "xlsx"], rows: list[list[Any]], run: dict[str, Any]
) -> ResultsData:
    if not rows:
        raise _fail(path, "the file is empty", HINT_FORMATS)
    header = [str(c).strip().lower() if c is not None else "" for c in rows[0]]
    outcome_col = _column(header, OUTCOME_COLUMNS)
    if outcome_col is None:
        raise _fail(
            path,
            f"no outcome column (the first row is {', '.join(h for h in header if h) or 'empty'})",
            "the first row must name the columns: outcome (or bitstring), then count and/or probability",
        )
    count_col = _column(header, COUNT_COLUMNS)
    prob_col = _column(header, PROBABILITY_COLUMNS)
    if count_col is None and prob_col is None:
        raise _fail(
            path, "no count or probability column", "add a count (or probability) column next to the outcomes"
        )
    counts: dict[str, int] = {}
    probabilities: dict[str, float] = {}
    first_row: dict[str, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        cells = [*row, *[None] * (len(header) - len(row))]
        outcome = _bitstring(path, cells[outcome_col], f"row {number}, column {header[outcome_col]}")
        if outcome in first_row:
            raise _fail(
                path,
                f"row {number}: outcome {outcome} already appeared in row {first_row[outcome]}",
                "give each outcome once",
            )
        first_row[outcome] = number
        if count_col is not None:
            count = _number(path, cells[count_col], number, header[count_col], whole=True)
            if count is None and prob_col is None:
                raise _fail(path, f"row {number}: the count is empty", "give a count for every outcome")
            if count:
                counts[outcome] = int(count)
        if prob_col is not None:
            probability = _number(path, cells[prob_col], number, header[prob_col], whole=False)
            if probability is not None and probability > 1 + SUM_TOLERANCE:
                raise _fail(
                    path,
                    f"row {number}, column {header[prob_col]}: {probability:g} is not a probability",
                    "probabilities lie between 0 and 1; put counts in a count column",
                )
            if probability is not None:
                probabilities[outcome] = probability
    if not first_row:
        raise _fail(path, "there are no outcome rows under the header", "add one row per outcome")
    num_bits = _common_length(path, first_row)
    shots = _int_or_none(run.get("shots"))
    return _checked(
        path,
        ResultsData(
            source=str(path),
            format=fmt,
            counts=counts if count_col is not None else None,
            probabilities=probabilities or None,
            shots=shots if shots is not None else (sum(counts.values()) if count_col is not None else None),
            num_bits=num_bits,
            exact=bool(probabilities),
            backend=_str_or_none(run.get("backend")),
            circuit=_str_or_none(run.get("circuit")),
            method=_str_or_none(run.get("method")),
            metadata={k: v for k, v in run.items() if k not in ("backend", "circuit", "method", "shots")},
        ),
        declared_bits=_int_or_none(run.get("num_clbits")),
    )


def _common_length(path: Path, first_row: dict[str, int]) -> int:
    lengths = {len(k) for k in first_row}
    if len(lengths) > 1:
        shortest = min(first_row, key=len)
        longest = max(first_row, key=len)
        raise _fail(
            path,
            f"bitstrings of different lengths: {longest} (row {first_row[longest]}) has {len(longest)} bits, "
            f"{shortest} (row {first_row[shortest]}) has {len(shortest)}",
            "every outcome needs the same number of bits; leading zeros may have been lost in a spreadsheet",
        )
    return lengths.pop()


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None and str(value).strip() else None
    except (TypeError, ValueError):
        return None


def _str_or_none(value: Any) -> str | None:
    return str(value) if value is not None and str(value).strip() else None


def _checked(path: Path, data: ResultsData, declared_bits: int | None) -> ResultsData:
    """Consistency a reader can check: declared width, counts adding up to the shots, probabilities to 1."""
    if declared_bits is not None and declared_bits != data.num_bits:
        raise _fail(
            path,
            f"the file says {declared_bits} classical bits but its outcomes have {data.num_bits}",
            "check that the outcomes belong to this run",
        )
    if data.counts is not None:
        total = sum(data.counts.values())
        if total == 0 and not data.probabilities:
            raise _fail(path, "every count is 0", "give the counts of at least one shot")
        if data.shots is not None and total and total != data.shots:
            raise _fail(
                path, f"the counts add up to {total} but the file says {data.shots} shots", "check the counts"
            )
    if data.probabilities:
        total_p = sum(data.probabilities.values())
        if abs(total_p - 1.0) > SUM_TOLERANCE:
            raise _fail(
                path,
                f"the probabilities add up to {total_p:.6g}, not 1",
                "give probabilities that sum to 1, or counts in a count column",
            )
    return data


# --- JSON ------------------------------------------------------------------------------------------------------


def _from_json(path: Path) -> ResultsData:
    try:
        payload = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise _fail(path, "it is not UTF-8 text", "save the file as UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise _fail(
            path, f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", "fix the JSON syntax"
        ) from None
    if not isinstance(payload, dict):
        raise _fail(path, f"expected a JSON object, found {type(payload).__name__}", HINT_FORMATS)
    if "counts" not in payload and "probabilities" not in payload:
        if payload and all(
            isinstance(k, str)
            and k
            and not set(k) - {"0", "1"}
            and isinstance(v, int)
            and not isinstance(v, bool)
            for k, v in payload.items()
        ):
            payload = {"counts": payload}  # a bare {bitstring: count} mapping, as Qiskit's get_counts()
        else:
            raise _fail(
                path,
                "no 'counts' or 'probabilities' in the JSON object",
                "give {'counts': {'00': 510, '11': 490}} or a .json file as Proxima writes a run's result",
            )
    counts = _json_counts(path, payload.get("counts"))
    declared = payload.get("num_clbits") if isinstance(payload.get("num_clbits"), int) else None
    probabilities = _json_probabilities(path, payload.get("probabilities"), declared)
    keys = {k: 0 for k in counts or {}} | {k: 0 for k in probabilities or {}}
    if not keys:
        raise _fail(path, "the counts and probabilities are empty", "give at least one outcome")
    num_bits = _common_length(path, {k: 0 for k in keys})
    known = (
        "counts",
        "probabilities",
        "shots",
        "backend",
        "circuit",
        "method",
        "statevector",
        "density_matrix",
    )
    metadata = {k: v for k, v in payload.items() if k not in known}
    shots = payload.get("shots")
    if shots is not None and (not isinstance(shots, int) or isinstance(shots, bool) or shots < 0):
        raise _fail(path, f"'shots' is {shots!r}, not a whole number", "write shots as an integer")
    if counts is not None and shots is None:
        shots = sum(counts.values())
    exact = bool(probabilities) and payload.get("exact", True) is not False
    return _checked(
        path,
        ResultsData(
            source=str(path),
            format="json",
            counts=counts,
            probabilities=probabilities,
            shots=shots,
            num_bits=num_bits,
            exact=exact,
            backend=_str_or_none(payload.get("backend")),
            circuit=_str_or_none(payload.get("circuit")),
            method=_str_or_none(payload.get("method")),
            metadata=metadata,
        ),
        declared_bits=declared,
    )


def _json_counts(path: Path, raw: Any) -> dict[str, int] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _fail(path, f"'counts' is a {type(raw).__name__}, not an object", "write {'bitstring': count}")
    counts = {}
    for key, value in raw.items():
        outcome = _bitstring(path, key, f"counts key {key!r}")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or value != int(value):
            raise _fail(
                path, f"counts[{key!r}] is {value!r}, not a whole number >= 0", "write counts as integers"
            )
        if value:
            counts[outcome] = int(value)
    return counts


def _json_probabilities(path: Path, raw: Any, width: int | None) -> dict[str, float] | None:
    """Probabilities as `to_json_dict` writes them: a {bitstring: p} dict, or for large ones an array record
    ({"shape": ..., "path": file.npy} or {"omitted": ...})."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _fail(
            path, f"'probabilities' is a {type(raw).__name__}, not an object", "write {'bitstring': p}"
        )
    if "shape" in raw:
        return _array_probabilities(path, raw, width)
    probabilities = {}
    for key, value in raw.items():
        outcome = _bitstring(path, key, f"probabilities key {key!r}")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 <= value <= 1 + SUM_TOLERANCE
        ):
            raise _fail(path, f"probabilities[{key!r}] is {value!r}, not in [0, 1]", "write probabilities")
        probabilities[outcome] = float(value)
    return probabilities


def _array_probabilities(path: Path, record: dict[str, Any], width: int | None) -> dict[str, float] | None:
    if "values" in record:
        array = np.asarray(record["values"], dtype=float)
    elif "path" in record:
        stored = Path(record["path"])
        candidates = [stored, path.parent / stored.parent.name / stored.name, path.parent / stored.name]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise _fail(
                path,
                f"the probabilities are in {stored}, which is missing",
                "keep the _arrays folder next to the JSON file",
            )
        try:
            array = np.load(found, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise _fail(path, f"cannot load {found}: {exc}", "re-export the result") from None
    else:
        return None  # "omitted": the file chose not to keep them; the counts remain
    array = np.asarray(array, dtype=float).reshape(-1)
    width = width if width is not None else max(1, (array.size - 1).bit_length())
    if array.size != 2**width:
        raise _fail(
            path, f"{array.size} probabilities do not fit {width} classical bits", "re-export the result"
        )
    nz = np.flatnonzero(array > 1e-12)
    return {format(int(i), f"0{width}b"): float(array[i]) for i in nz}
