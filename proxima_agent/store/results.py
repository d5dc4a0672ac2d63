"""A completed job's result files: `results/<job>/result.json` under the data directory, with its large arrays
as .npy files beside it. Written in one place (the engine, when a job completes) and read in one place (every
tool and resource that shows a stored result). Paths are stored relative to the data directory, and arrays by
file name, so that a data directory that moved still shows its results."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proxima_agent.errors import JobStateError, OutputError, Step

if TYPE_CHECKING:
    from proxima_agent.backends.result import SimulationResult
    from proxima_agent.store.db import JobRecord

RESULT_FILE = "result.json"
ARRAYS = ("probabilities", "statevector", "density_matrix")


def result_folder(job_id: str) -> Path:
    from proxima_agent.paths import data_dir

    return data_dir() / "results" / job_id


def save_result(job_id: str, result: SimulationResult) -> str:
    """Write the result whole or not at all (on failure every file this attempt wrote is removed, partial .part
    files included, and OutputError says why); returns its path relative to the data directory."""
    folder = result_folder(job_id)
    existed = folder.exists()
    before = set(folder.iterdir()) if existed else set()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        data = result.to_json_dict(array_dir=folder)
        for name in ARRAYS:
            info = data.get(name)
            if isinstance(info, dict) and "path" in info:
                info["path"] = Path(info["path"]).name  # beside result.json, wherever the folder goes
        part = folder / f"{RESULT_FILE}.part"
        part.write_text(json.dumps(data, indent=1, default=str))
        part.replace(folder / RESULT_FILE)
    except OSError as exc:
        with contextlib.suppress(OSError):
            if not existed:
                shutil.rmtree(folder, ignore_errors=True)
            else:
                for path in set(folder.iterdir()) - before:
                    path.unlink(missing_ok=True)
        from proxima_agent.analysis.export import disk_full

        why = "no space left on the device" if disk_full(exc) else exc.strerror or exc
        raise OutputError(
            f"the result of job {job_id} could not be saved in {folder}: {why}",
            hint="free space on that disk (or make the folder writable), then {0} saves it",
            steps=[Step("resume", {"job_id": job_id})],
            job=job_id,
            path=str(folder),
        ) from exc
    return f"results/{job_id}/{RESULT_FILE}"


def read_result(record: JobRecord) -> dict[str, Any]:
    """The stored result of a job as result.json holds it, with array paths made absolute for this data
    directory; JobStateError when the job has none (not completed, or its files were removed)."""
    if record.state != "COMPLETED" or not record.result_path:
        removed = record.state == "COMPLETED"
        raise JobStateError(
            f"job {record.id} is {record.state}; "
            + (
                "its result files were removed (proxima gc)"
                if removed
                else "only a completed job has a result"
            ),
            hint="run it again"
            if removed or record.state in ("FAILED", "ABORTED")
            else "wait for it with {0}",
            steps=[]
            if removed or record.state in ("FAILED", "ABORTED")
            else [Step("wait_job", {"job_id": record.id})],
            job=record.id,
            state=record.state,
        )
    folder = result_folder(record.id)
    try:
        data = json.loads((folder / RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise JobStateError(
            f"the result of job {record.id} cannot be read: {getattr(exc, 'strerror', None) or exc}",
            hint="run it again",
            job=record.id,
        ) from exc
    for name in ARRAYS:
        info = data.get(name)
        if isinstance(info, dict) and "path" in info:
            info["path"] = str(folder / Path(info["path"]).name)  # also mends absolute paths of older results
    return data
