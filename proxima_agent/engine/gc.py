"""Cleaning the data directory (`proxima gc`): checkpoint files of ended jobs beyond the retention
(`engine.checkpoint_retention`), and with `older_than_days` everything a long-ended job left (checkpoints and
result files), plus folders no job record knows. Job records themselves stay in the database.

Never touched: a job that has not ended (running, paused, interrupted: rollback needs every checkpoint), and the
checkpoints of a job that can still be continued (its worker died, or its result could not be saved), unless it
ended more than `older_than_days` ago.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from proxima_agent.engine.checkpoints import checkpoint_dir, prune_checkpoints
from proxima_agent.engine.engine import recover_orphans
from proxima_agent.engine.states import FINAL, JobState, continuable
from proxima_agent.store.db import JobRecord, Store

Retention = Literal["none", "last", "all"]


class Removed(BaseModel):
    job_id: str
    kind: Literal["checkpoints", "result", "unknown job"]
    path: str
    files: int
    bytes: int


class GcReport(BaseModel):
    dry_run: bool
    retention: Retention
    older_than_days: float | None
    removed: list[Removed] = Field(default_factory=list)

    @property
    def bytes_freed(self) -> int:
        return sum(r.bytes for r in self.removed)

    def summary(self) -> str:
        files = sum(r.files for r in self.removed)
        jobs = len({r.job_id for r in self.removed})
        verb = "would free" if self.dry_run else "freed"
        if not files:
            return "nothing to remove"
        return f"{files} files of {jobs} jobs: {verb} {_size(self.bytes_freed)}"


def _size(count: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024  # type: ignore[assignment]
    return str(count)


def _folder_files(folder: Path, dry_run: bool) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    if not dry_run:
        shutil.rmtree(folder, ignore_errors=True)
    return len(files), size


async def collect_garbage(
    store: Store, retention: Retention, *, older_than_days: float | None = None, dry_run: bool = False
) -> GcReport:
    from proxima_agent.paths import data_dir

    report = GcReport(dry_run=dry_run, retention=retention, older_than_days=older_than_days)
    await recover_orphans(store)  # a job whose owner died is INTERRUPTED, never collected
    cutoff = None if older_than_days is None else time.time() - older_than_days * 86400
    records = {r.id: r for r in await store.list_jobs(limit=None)}
    for record in records.values():
        if JobState(record.state) not in FINAL:
            continue
        old = cutoff is not None and record.updated < cutoff
        await _collect_job(store, record, retention, old, dry_run, report)
    # Folders of jobs the database does not know (a database deleted or replaced): nothing can use them.
    for parent in (data_dir() / "checkpoints", data_dir() / "results"):
        if not parent.is_dir():
            continue
        for folder in sorted(parent.iterdir()):
            if folder.is_dir() and folder.name not in records:
                files, size = await asyncio.to_thread(_folder_files, folder, dry_run)
                report.removed.append(
                    Removed(job_id=folder.name, kind="unknown job", path=str(folder), files=files, bytes=size)
                )
    return report


async def _collect_job(
    store: Store, record: JobRecord, retention: Retention, old: bool, dry_run: bool, report: GcReport
) -> None:
    from proxima_agent.paths import data_dir

    checkpoints = await store.checkpoints(record.id)
    folder = checkpoint_dir(record.id)
    keep: set[int] = set()
    if not old:
        if retention == "all" or continuable(record.state, record.error):
            keep = {c.number for c in checkpoints}
        elif retention == "last" and checkpoints:
            keep = {max(c.number for c in checkpoints)}
    if folder.is_dir():
        removed = await asyncio.to_thread(prune_checkpoints, record.id, keep, dry_run=dry_run)
        if removed:
            report.removed.append(
                Removed(
                    job_id=record.id,
                    kind="checkpoints",
                    path=str(folder),
                    files=len(removed),
                    bytes=sum(size for _, size in removed),
                )
            )
    drop = [c.number for c in checkpoints if c.number not in keep]
    if drop and not dry_run:
        await store.delete_checkpoints(record.id, drop)
    results = data_dir() / "results" / record.id
    if old and results.is_dir():
        files, size = await asyncio.to_thread(_folder_files, results, dry_run)
        report.removed.append(
            Removed(job_id=record.id, kind="result", path=str(results), files=files, bytes=size)
        )
        if record.result_path and not dry_run:
            await store.update_job(record.id, result_path=None)
