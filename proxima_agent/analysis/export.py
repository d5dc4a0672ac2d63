"""Writing results to CSV, JSON or XLSX: atomically (a temporary file renamed into place), so a failure never
leaves a half-written file behind."""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from proxima_agent.backends.result import SimulationResult
from proxima_agent.errors import OptionError, OutputError

FORMATS = (".csv", ".json", ".xlsx")


def check_output_path(path: Path) -> None:
    """Fail before a run, not after it: a known format and a writable folder."""
    if path.suffix.lower() not in FORMATS:
        raise OptionError(
            f"cannot write {path.name}: unknown format {path.suffix or '(none)'}",
            hint="use a .csv, .json or .xlsx file name",
        )
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write {path}: folder {folder} does not exist", hint="create it first")
    if not os.access(folder, os.W_OK):
        raise OutputError(
            f"cannot write {path}: folder {folder} is not writable", hint="choose another folder"
        )
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a directory", hint="give a file name")


def outcome_rows(result: SimulationResult) -> list[dict[str, Any]]:
    """One row per observed or possible outcome: counts, frequency, exact probability where known."""
    probs = result.probability_dict()
    keys = sorted(
        set(result.counts) | set(probs), key=lambda k: (-result.counts.get(k, 0), -probs.get(k, 0.0), k)
    )
    return [
        {
            "outcome": k,
            "count": result.counts.get(k, 0),
            "frequency": result.counts.get(k, 0) / result.shots,
            "probability": probs.get(k) if result.probabilities is not None else None,
        }
        for k in keys
    ]


def run_summary(result: SimulationResult, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    data = result.to_json_dict(inline_limit=0)
    summary = {
        k: data[k]
        for k in ("backend", "method", "circuit", "num_qubits", "num_clbits", "shots", "seed", "exact")
    }
    summary |= {f"timing.{k}": v for k, v in data["timing"].items()}
    if data.get("memory"):
        summary |= {f"memory.{k}": v for k, v in data["memory"].items()}
    summary |= {f"version.{k}": v for k, v in data["versions"].items()}
    if result.noise:
        summary["noise"] = json.dumps(result.noise)
    return summary | (extra or {})


def disk_full(exc: OSError) -> bool:
    """ENOSPC, or numpy's short write ("16384 requested and 4088 written"), which carries no errno."""
    return exc.errno in (errno.ENOSPC, errno.EDQUOT) or (exc.errno is None and "requested and" in str(exc))


def _output_error(path: Path, exc: OSError) -> OutputError:
    why = "no space left on the device" if disk_full(exc) else exc.strerror or str(exc)
    if disk_full(exc):
        hint = "free disk space there, or write to another disk"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = "choose a folder you can write to"
    else:
        hint = "choose another file or folder"
    return OutputError(f"cannot write {path}: {why}", hint=hint, path=str(path))


def _atomic_write(path: Path, write: Callable[[Path], None], arrays: Path | None = None) -> None:
    """Write through a temporary file renamed into place; on any OS error nothing is left behind (neither the
    temporary file nor the `arrays` folder written for it) and OutputError says why."""
    tmp: Path | None = None
    made_arrays = arrays is not None and not arrays.exists()
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent or ".")
        os.close(fd)
        tmp = Path(tmp_name)
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        if made_arrays and arrays is not None:
            shutil.rmtree(arrays, ignore_errors=True)
        elif arrays is not None:
            for part in arrays.glob("*.part"):
                part.unlink(missing_ok=True)
        raise _output_error(path, exc) from exc
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def write_result(
    result: SimulationResult, path: Path, *, extra: dict[str, Any] | None = None, inline_limit: int = 4096
) -> Path:
    """Write counts (and probabilities) as CSV or XLSX, or the whole result as JSON; returns the path."""
    check_output_path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":

        def write(tmp: Path) -> None:
            with tmp.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=["outcome", "count", "frequency", "probability"])
                writer.writeheader()
                writer.writerows(outcome_rows(result))

    elif suffix == ".json":
        array_dir = path.with_name(path.stem + "_arrays")

        def write(tmp: Path) -> None:  # the arrays too: a full disk fails here, inside the atomic write
            payload = result.to_json_dict(inline_limit=inline_limit, array_dir=array_dir) | (extra or {})
            tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")

    else:

        def write(tmp: Path) -> None:
            from openpyxl import Workbook

            book = Workbook()
            sheet = book.active
            sheet.title = "counts"
            sheet.append(["outcome", "count", "frequency", "probability"])
            for row in outcome_rows(result):
                sheet.append([row["outcome"], row["count"], row["frequency"], row["probability"]])
            info = book.create_sheet("run")
            info.append(["field", "value"])
            for key, value in run_summary(result, extra).items():
                info.append([key, value if isinstance(value, int | float | str | bool) else str(value)])
            book.save(tmp)

    _atomic_write(path, write, array_dir if suffix == ".json" else None)
    return path
