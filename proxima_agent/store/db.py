"""The job database: one SQLite file under the data directory, WAL mode so that other terminals read and
send control requests while a job runs. Every query lives here."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

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
    path: str
    bytes: int
    sha256: str
    reason: str


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


class Store:
    """Async access to the database. Open with `await Store.open()`; close with `await store.close()`."""

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self.db = connection
        self.path = path

    @classmethod
    async def open(cls, path: Path | None = None) -> Store:
        from proxima_agent.paths import data_dir

        path = path or data_dir() / DB_NAME
        try:
            connection = await aiosqlite.connect(path, timeout=10.0, isolation_level=None)
            connection.row_factory = _row
            await connection.execute("PRAGMA journal_mode=WAL")
            await connection.execute("PRAGMA busy_timeout=10000")
            await connection.execute(
                "PRAGMA synchronous=NORMAL"
            )  # WAL: durable at checkpoints, never corrupt
            await connection.execute("PRAGMA foreign_keys=ON")
            store = cls(connection, path)
            await store._migrate()
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot open the job database {path}: {exc}",
                hint="check that the data directory is writable, or set PROXIMA_DATA_DIR",
                path=str(path),
            ) from exc
        return store

    async def close(self) -> None:
        await self.db.close()

    async def _migrate(self) -> None:
        (row,) = await self.db.execute_fetchall("PRAGMA user_version")
        version = row["user_version"]
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            await self.db.executescript(f"BEGIN IMMEDIATE; {script}; PRAGMA user_version={number}; COMMIT;")

    async def _write(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        try:
            cursor = await self.db.execute(sql, args)
        except sqlite3.Error as exc:
            raise StoreError(f"job database write failed: {exc}", hint=f"check {self.path}") from exc
        return cursor.lastrowid if cursor.lastrowid is not None else cursor.rowcount

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
        self, job_id: str, old: tuple[int | None, float | None], new: tuple[int, float]
    ) -> bool:
        """Take ownership of a job only if its owner is still the one we saw (no two processes win)."""
        cursor = await self.db.execute(
            "UPDATE jobs SET owner_pid = ?, owner_started = ?, updated = ? "
            "WHERE id = ? AND owner_pid IS ? AND owner_started IS ?",
            (*new, time.time(), job_id, *old),
        )
        return cursor.rowcount == 1

    async def get_job(self, job_id: str) -> JobRecord:
        rows = await self.db.execute_fetchall("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            raise JobNotFoundError(
                f"no job {quoted(job_id)}", hint="{0} lists the jobs", steps=[Step("list_jobs")], job=job_id
            )
        return JobRecord(**rows[0])

    async def list_jobs(self, limit: int = 50, states: tuple[str, ...] = ()) -> list[JobRecord]:
        where = f"WHERE state IN ({', '.join('?' for _ in states)})" if states else ""
        rows = await self.db.execute_fetchall(
            f"SELECT * FROM jobs {where} ORDER BY created DESC LIMIT ?", (*states, limit)
        )
        return [JobRecord(**row) for row in rows]

    async def add_transition(self, job_id: str, old: str | None, new: str, reason: str) -> None:
        await self._write(
            "INSERT INTO transitions (job_id, at, old, new, reason) VALUES (?, ?, ?, ?, ?)",
            (job_id, time.time(), old, new, reason),
        )

    async def transitions(self, job_id: str) -> list[TransitionRecord]:
        rows = await self.db.execute_fetchall(
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
        rows = await self.db.execute_fetchall(
            "SELECT * FROM checkpoints WHERE job_id = ? ORDER BY number", (job_id,)
        )
        return [CheckpointRecord(**row) for row in rows]

    async def delete_checkpoints(self, job_id: str) -> None:
        await self._write("DELETE FROM checkpoints WHERE job_id = ?", (job_id,))

    # --- consent ----------------------------------------------------------------------------------------------

    async def add_consent(
        self, job_id: str | None, request: dict[str, Any], answer: dict[str, Any], answered_by: str
    ) -> None:
        await self._write(
            "INSERT INTO consent (job_id, at, request, answer, answered_by) VALUES (?, ?, ?, ?, ?)",
            (job_id, time.time(), _json(request), _json(answer), answered_by),
        )

    async def consent_decisions(self, job_id: str) -> list[dict[str, Any]]:
        return list(
            await self.db.execute_fetchall("SELECT * FROM consent WHERE job_id = ? ORDER BY id", (job_id,))
        )

    # --- control requests from other processes -----------------------------------------------------------------

    async def add_control(self, job_id: str, action: str, args: dict[str, Any]) -> int:
        return await self._write(
            "INSERT INTO control (job_id, at, action, args) VALUES (?, ?, ?, ?)",
            (job_id, time.time(), action, _json(args)),
        )

    async def pending_controls(self, job_ids: list[str]) -> list[ControlRequest]:
        if not job_ids:
            return []
        rows = await self.db.execute_fetchall(
            f"SELECT * FROM control WHERE handled IS NULL AND job_id IN ({', '.join('?' for _ in job_ids)}) "
            "ORDER BY id",
            tuple(job_ids),
        )
        return [ControlRequest(**row) for row in rows]

    async def answer_control(self, request_id: int, response: dict[str, Any]) -> None:
        await self._write(
            "UPDATE control SET handled = ?, response = ? WHERE id = ?",
            (time.time(), _json(response), request_id),
        )

    async def get_control(self, request_id: int) -> ControlRequest:
        rows = await self.db.execute_fetchall("SELECT * FROM control WHERE id = ?", (request_id,))
        return ControlRequest(**rows[0])
