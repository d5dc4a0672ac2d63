"""Checkpoint files: a backend's saved state plus a JSON manifest with its SHA-256.

Layout: <data>/checkpoints/<job id>/<number>.state and <number>.json. Both are written to a `.part` file,
flushed to disk and renamed, state first, so a checkpoint either exists whole or not at all. Reading checks the
size and checksum before anything is loaded. The manifest names its state file relative to itself, so a data
directory that was moved still resumes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

from proxima_agent.errors import CheckpointError, CheckpointWriteError, Step

FORMAT = 1


def checkpoint_dir(job_id: str) -> Path:
    from proxima_agent.paths import data_dir

    return data_dir() / "checkpoints" / job_id


def _write_atomic(path: Path, data: bytes) -> None:
    part = path.with_name(path.name + ".part")
    try:
        with part.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        part.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
        raise


def write_checkpoint(
    folder: Path, *, job_id: str, number: int, position: int, total: int, backend: str, state: bytes,
    simulation_seconds: float, reason: str,
) -> dict[str, Any]:  # fmt: skip
    """Write checkpoint `number` of a job; returns its manifest. Raises CheckpointWriteError, leaving nothing."""
    manifest = {
        "format": FORMAT,
        "job_id": job_id,
        "number": number,
        "position": position,
        "total": total,
        "backend": backend,
        "created": time.time(),
        "bytes": len(state),
        "sha256": hashlib.sha256(state).hexdigest(),
        "simulation_seconds": simulation_seconds,
        "reason": reason,
        "path": f"{number:04d}.state",  # next to the manifest
    }
    state_path = folder / f"{number:04d}.state"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomic(state_path, state)
        _write_atomic(folder / f"{number:04d}.json", json.dumps(manifest, indent=1).encode())
    except OSError as exc:
        with contextlib.suppress(OSError):  # the folder itself may be what is broken
            state_path.unlink(missing_ok=True)
        raise CheckpointWriteError(
            f"cannot write checkpoint {number} of job {job_id} ({len(state) / 2**20:.1f} MiB): "
            f"{exc.strerror or exc}",
            hint="free disk space or point PROXIMA_DATA_DIR at a writable disk; earlier checkpoints are kept",
            job=job_id,
            path=str(folder),
        ) from exc
    return manifest


def read_checkpoint(manifest_path: Path, job_id: str) -> tuple[dict[str, Any], bytes]:
    """Manifest and state of a checkpoint of `job_id`, verified; raises CheckpointError otherwise."""

    def refuse(why: str) -> CheckpointError:
        return CheckpointError(
            f"checkpoint {manifest_path.name} of job {job_id} cannot be used: {why}",
            hint="roll back to an earlier checkpoint ({0} lists them) or start the job again",
            steps=[Step("job_status", {"job_id": job_id})],
            job=job_id,
            path=str(manifest_path),
        )

    try:
        manifest = json.loads(manifest_path.read_text())
        named = Path(manifest["path"])
        # Absolute in checkpoints written before paths were relative: the file next to the manifest if moved.
        state_path = named if named.is_absolute() and named.exists() else manifest_path.parent / named.name
        expected_size, expected_sum = int(manifest["bytes"]), manifest["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise refuse(f"its manifest is missing or unreadable ({exc})") from exc
    if manifest.get("job_id") != job_id:
        raise refuse(f"it belongs to job {manifest.get('job_id')}")
    if manifest.get("format") != FORMAT:
        raise refuse(f"format {manifest.get('format')} is not {FORMAT}")
    try:
        state = state_path.read_bytes()
    except OSError as exc:
        raise refuse(f"its state file is missing ({exc.strerror})") from exc
    if len(state) != expected_size:
        raise refuse(f"its state file is truncated ({len(state)} of {expected_size} bytes)")
    if hashlib.sha256(state).hexdigest() != expected_sum:
        raise refuse("its checksum does not match (the file is corrupt)")
    return manifest, state


def manifest_path(job_id: str, number: int) -> Path:
    return checkpoint_dir(job_id) / f"{number:04d}.json"


def relative_state_path(job_id: str, number: int) -> str:
    """The state file of a checkpoint, relative to the data directory (as the database stores it)."""
    return f"checkpoints/{job_id}/{number:04d}.state"


def prune_checkpoints(
    job_id: str, keep: Collection[int] = (), *, dry_run: bool = False
) -> list[tuple[Path, int]]:
    """Delete the files of a job's checkpoints other than `keep` (partial writes included), and its folder once
    empty; the files removed (or that would be, with `dry_run`) and their sizes."""
    folder = checkpoint_dir(job_id)
    removed: list[tuple[Path, int]] = []
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return removed
    for path in entries:
        stem = path.name.split(".", 1)[0]
        if stem.isdigit() and int(stem) in keep:
            continue
        try:
            size = path.stat().st_size
            if not dry_run:
                path.unlink()
        except OSError:
            continue
        removed.append((path, size))
    if not dry_run:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty
    return removed
