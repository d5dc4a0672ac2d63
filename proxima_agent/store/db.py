"""The job database: one SQLite file under the data directory, WAL mode so that other terminals read and
send control requests while a job runs. Every query lives here.

Every failure is a StoreError whose hint fits its cause (a corrupt file, an unwritable file or folder, a full
disk, a lock held too long, the file deleted under a running process), and a connection is closed on every path,
so that no command hangs on aiosqlite's thread after an error."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Literal

import aiosqlite
from pydantic import BaseModel

from proxima_agent.errors import JobNotFoundError, Step, StoreError, quoted
from proxima_agent.store.migrations import MIGRATIONS

DB_NAME = "proxima.db"


class JobRecord(BaseModel):
    id: str
    created: float
    updated: float
    state: str
    circuit: str
    backend: str | None
    spec: dict[str, Any]
    owner_pid: int | None = None
    owner_started: float | None = None
    worker_pid: int | None = None
    steps_done: int = 0
    steps_total: int | None = None
    stages: dict[str, Any] = {}
    paused_by: str | None = None
    result_path: str | None = None
    error: dict[str, Any] | None = None


class TransitionRecord(BaseModel):
    at: float
    old: str | None
    new: str
    reason: str


class CheckpointRecord(BaseModel):
    job_id: str
    number: int
    position: int
    total: int
    created: float
    path: str  # the state file, relative to the data directory (absolute in databases before migration 2)
    bytes: int
    sha256: str
    reason: str

    @property
    def file(self) -> Path:
        """The state file, wherever the data directory is now."""
        from proxima_agent.paths import data_dir

        path = Path(self.path)
        return path if path.is_absolute() else data_dir(create=False) / path


class ControlRequest(BaseModel):
    id: int
    job_id: str
    at: float
    action: str
    args: dict[str, Any]
    handled: float | None
    response: dict[str, Any] | None


_JSON_FIELDS = {"spec", "stages", "error", "args", "response", "request", "answer"}


def _row(cursor: sqlite3.Cursor | aiosqlite.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    out = {}
    for (name, *_), value in zip(cursor.description, row, strict=True):
        out[name] = json.loads(value) if name in _JSON_FIELDS and value is not None else value
    return out


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str)


Cause = Literal["corrupt", "unwritable", "disk_full", "locked", "deleted", "other"]


def failure_cause(exc: BaseException) -> Cause:
    """What went wrong with the database file, from SQLite's error code (or the OS error)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc).lower()
    if (
        name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT"))
        or "not a database" in text
        or "malformed" in text
    ):
        return "corrupt"
    if name.startswith("SQLITE_FULL") or "database or disk is full" in text:
        return "disk_full"
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in text:
        return "locked"
    if (
        name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH"))
        or "readonly" in text
        or "unable to open" in text
        or (isinstance(exc, OSError) and exc.errno in (1, 13, 30))  # EPERM, EACCES, EROFS
    ):
        return "unwritable"
    if isinstance(exc, OSError) and exc.errno == 28:  # ENOSPC
        return "disk_full"
    return "other"


_HINTS: dict[str, str] = {
    "corrupt": "the file is damaged or is not a Proxima database: move it aside (Proxima then starts a new one; "
    "results and checkpoints under the data directory stay), or set PROXIMA_DATA_DIR to another folder",
    "unwritable": "the file or its folder is not writable (permissions, an immutable file, a read-only disk): "
    "make it writable, or set PROXIMA_DATA_DIR to a writable folder",
    "disk_full": "the disk holding it is full: free space, or set PROXIMA_DATA_DIR to a folder on another disk",
    "locked": "another process has held it locked for over 10 s: let that process finish, then try again",
    "deleted": "it was deleted or replaced while this process used it, so what this process would record now "
    "would be lost: restart this process, which creates a new database (the deleted job records are gone)",
    "other": "check the file and its folder, or set PROXIMA_DATA_DIR to another folder",
}


def store_error(what: str, path: Path, exc: BaseException | None, cause: Cause | None = None) -> StoreError:
    cause = cause or (failure_cause(exc) if exc is not None else "other")
    detail = f": {exc}" if exc is not None else ""
    return StoreError(f"{what} {path}{detail}", hint=_HINTS[cause], path=str(path), cause=cause)


class Store:
    """Async access to the database. Open with `await Store.open()`; close with `await store.close()`."""

    @classmethod
    async def open(cls, path: Path | None = None) -> Store:
        from proxima_agent.paths import data_dir

        path = path or data_dir() / DB_NAME
        connection = aiosqlite.connect(path, timeout=10.0, isolation_level=None)
        try:
            await connection
            connection.row_factory = _row  # type: ignore[assignment]
            await connection.execute("PRAGMA journal_mode=WAL")
            await connection.execute("PRAGMA busy_timeout=10000")
            await connection.execute(
                "PRAGMA synchronous=NORMAL"
            )  # WAL: durable at checkpoints, never corrupt
            await connection.execute("PRAGMA foreign_keys=ON")
            store = cls(connection, path)
            await store._migrate()
        except (sqlite3.Error, OSError, ValueError) as exc:
            # Else aiosqlite's thread keeps the process from exiting, or (when connecting failed) answers
            # after the loop has closed and prints a traceback.
            with contextlib.suppress(Exception):
                await connection.close()
            thread = getattr(connection, "_thread", None)
            if thread is not None and thread.is_alive():
                await asyncio.to_thread(thread.join, 5.0)
            raise store_error("cannot open the job database", path, exc) from exc
        return store

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self.db = connection
        self.path = path
        self._identity = self._file_identity()

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return stat.st_dev, stat.st_ino

    def _check_file(self) -> None:
        """Refuse to go on when the file was deleted or replaced under this process: SQLite would carry on
        writing into the unlinked file (and its -wal), and every record written from then on would be lost."""
        if self._identity is not None and self._file_identity() != self._identity:
            raise store_error("the job database was deleted or replaced:", self.path, None, "deleted")

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.db.close()

    async def _migrate(self) -> None:
        (row,) = await self.db.execute_fetchall("PRAGMA user_version")
        version = row["user_version"]
        if version > len(MIGRATIONS):
            raise StoreError(
                f"the job database {self.path} was made by a newer Proxima (schema {version}, this one knows "
                f"{len(MIGRATIONS)})",
                hint="upgrade Proxima, or set PROXIMA_DATA_DIR to another folder",
                path=str(self.path),
                cause="other",
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            await self.db.executescript(f"BEGIN IMMEDIATE; {script}; PRAGMA user_version={number}; COMMIT;")

    async def _write(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        self._check_file()
        try:
            cursor = await self.db.execute(sql, args)
        except (sqlite3.Error, ValueError) as exc:  # ValueError: aiosqlite's connection is closed
            raise store_error("cannot write the job database", self.path, exc) from exc
        return cursor.lastrowid if cursor.lastrowid else cursor.rowcount

    async def _changed(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        """Run a conditional UPDATE / DELETE; the number of rows it changed."""
        self._check_file()
        try:
            cursor = await self.db.execute(sql, args)
        except (sqlite3.Error, ValueError) as exc:
            raise store_error("cannot write the job database", self.path, exc) from exc
        return cursor.rowcount

    async def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        self._check_file()
        try:
            return list(await self.db.execute_fetchall(sql, args))  # type: ignore[arg-type]  # rows are dicts
        except (sqlite3.Error, ValueError) as exc:
            raise store_error("cannot read the job database", self.path, exc) from exc

    # --- jobs -------------------------------------------------------------------------------------------------

    async def insert_job(self, job: JobRecord) -> None:
        data = job.model_dump()
        names = ", ".join(data)
        marks = ", ".join("?" for _ in data)
        values = tuple(_json(v) if k in _JSON_FIELDS else v for k, v in data.items())
        await self._write(f"INSERT INTO jobs ({names}) VALUES ({marks})", values)

    async def update_job(self, job_id: str, **fields: Any) -> None:
        fields["updated"] = time.time()
        sets = ", ".join(f"{k} = ?" for k in fields)
        values = tuple(_json(v) if k in _JSON_FIELDS else v for k, v in fields.items())
        await self._write(f"UPDATE jobs SET {sets} WHERE id = ?", (*values, job_id))

    async def claim_job(
        self,
        job_id: str,
        states: tuple[str, ...],
        old: tuple[int | None, float | None],
        new: tuple[int, float],
    ) -> bool:
        """Take ownership of a job in one conditional UPDATE: only if it is still in one of `states` and still
        owned by the owner we saw. Of two processes racing for a job, exactly one wins."""
        marks = ", ".join("?" for _ in states)
        changed = await self._changed(
            "UPDATE jobs SET owner_pid = ?, owner_started = ?, updated = ? "
            f"WHERE id = ? AND state IN ({marks}) AND owner_pid IS ? AND owner_started IS ?",
            (*new, time.time(), job_id, *states, *old),
        )
        return changed == 1

    async def move_job(
        self,
        job_id: str,
        old: str,
        new: str,
        owner: tuple[int | None, float | None],
        reason: str,
        **fields: Any,
    ) -> bool:
        """Change the state of a job nobody runs (its owner died) only if it is still `old` under `owner`, and
        record the transition once: two processes noticing the same dead owner do not both record it."""
        fields |= {"state": new, "updated": time.time()}
        sets = ", ".join(f"{k} = ?" for k in fields)
        values = tuple(_json(v) if k in _JSON_FIELDS else v for k, v in fields.items())
        changed = await self._changed(
            f"UPDATE jobs SET {sets} WHERE id = ? AND state = ? AND owner_pid IS ? AND owner_started IS ?",
            (*values, job_id, old, *owner),
        )
        if changed == 1:
            await self.add_transition(job_id, old, new, reason)
        return changed == 1

    async def get_job(self, job_id: str) -> JobRecord:
        rows = await self._read("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            raise JobNotFoundError(
                f"no job {quoted(job_id)}", hint="{0} lists the jobs", steps=[Step("list_jobs")], job=job_id
            )
        return JobRecord(**rows[0])

    async def list_jobs(self, limit: int | None = 50, states: tuple[str, ...] = ()) -> list[JobRecord]:
        where = f"WHERE state IN ({', '.join('?' for _ in states)})" if states else ""
        rows = await self._read(
            f"SELECT * FROM jobs {where} ORDER BY created DESC LIMIT ?",
            (*states, -1 if limit is None else limit),
        )
        return [JobRecord(**row) for row in rows]

    async def live_jobs(self) -> list[JobRecord]:
        """Jobs that have not ended (their owner may have died), however many there are."""
        rows = await self._read(
            "SELECT * FROM jobs WHERE state NOT IN ('COMPLETED', 'FAILED', 'ABORTED', 'INTERRUPTED')"
        )
        return [JobRecord(**row) for row in rows]

    async def add_transition(self, job_id: str, old: str | None, new: str, reason: str) -> None:
        await self._write(
            "INSERT INTO transitions (job_id, at, old, new, reason) VALUES (?, ?, ?, ?, ?)",
            (job_id, time.time(), old, new, reason),
        )

    async def transitions(self, job_id: str) -> list[TransitionRecord]:
        rows = await self._read(
            "SELECT at, old, new, reason FROM transitions WHERE job_id = ? ORDER BY id", (job_id,)
        )
        return [TransitionRecord(**row) for row in rows]

    # --- checkpoints ------------------------------------------------------------------------------------------

    async def add_checkpoint(self, record: CheckpointRecord) -> None:
        data = record.model_dump()
        await self._write(
            f"INSERT INTO checkpoints ({', '.join(data)}) VALUES ({', '.join('?' for _ in data)})",
            tuple(data.values()),
        )

    async def checkpoints(self, job_id: str) -> list[CheckpointRecord]:
        rows = await self._read("SELECT * FROM checkpoints WHERE job_id = ? ORDER BY number", (job_id,))
        return [CheckpointRecord(**row) for row in rows]

    async def delete_checkpoints(self, job_id: str, numbers: list[int] | None = None) -> None:
        """Forget a job's checkpoints (`numbers`, or all): their files have been removed."""
        if numbers is None:
            await self._changed("DELETE FROM checkpoints WHERE job_id = ?", (job_id,))
        elif numbers:
            marks = ", ".join("?" for _ in numbers)
            await self._changed(
                f"DELETE FROM checkpoints WHERE job_id = ? AND number IN ({marks})", (job_id, *numbers)
            )

    # --- consent ----------------------------------------------------------------------------------------------

    async def add_consent(
        self, job_id: str | None, request: dict[str, Any], answer: dict[str, Any], answered_by: str
    ) -> None:
        await self._write(
            "INSERT INTO consent (job_id, at, request, answer, answered_by) VALUES (?, ?, ?, ?, ?)",
            (job_id, time.time(), _json(request), _json(answer), answered_by),
        )

    async def consent_decisions(self, job_id: str) -> list[dict[str, Any]]:
        return await self._read("SELECT * FROM consent WHERE job_id = ? ORDER BY id", (job_id,))

    # --- control requests from other processes -----------------------------------------------------------------

    async def add_control(self, job_id: str, action: str, args: dict[str, Any]) -> int:
        return await self._write(
            "INSERT INTO control (job_id, at, action, args) VALUES (?, ?, ?, ?)",
            (job_id, time.time(), action, _json(args)),
        )

    async def pending_controls(self, job_ids: list[str]) -> list[ControlRequest]:
        if not job_ids:
            return []
        rows = await self._read(
            f"SELECT * FROM control WHERE handled IS NULL AND job_id IN ({', '.join('?' for _ in job_ids)}) "
            "ORDER BY id",
            tuple(job_ids),
        )
        return [ControlRequest(**row) for row in rows]

    async def controls_for_owner(self, owner: tuple[int, float]) -> list[ControlRequest]:
        """Unanswered control requests for every job `owner` runs (including the ended jobs it no longer holds
        in memory, which may still be continued)."""
        rows = await self._read(
            "SELECT c.* FROM control c JOIN jobs j ON j.id = c.job_id "
            "WHERE c.handled IS NULL AND j.owner_pid = ? AND j.owner_started = ? ORDER BY c.id",
            owner,
        )
        return [ControlRequest(**row) for row in rows]

    async def answer_control(self, request_id: int, response: dict[str, Any]) -> None:
        await self._write(
            "UPDATE control SET handled = ?, response = ? WHERE id = ?",
            (time.time(), _json(response), request_id),
        )

    async def get_control(self, request_id: int) -> ControlRequest:
        rows = await self._read("SELECT * FROM control WHERE id = ?", (request_id,))
        return ControlRequest(**rows[0])
