"""The worker process: imports the simulator libraries once, then runs jobs sent over its pipe, one at a time,
step by step, writing checkpoints between steps and answering control messages.

Messages to the owner: ("ready", pid), ("started", info), ("progress", done, total), ("checkpoint", manifest),
("checkpoint_failed", error, info), ("suspended", manifest), ("result", SimulationResult), ("error", error).

A failing automatic checkpoint (a full disk) is not tried again at every step: each attempt serializes the whole
state (tens of MiB), so the worker backs off, doubling the wait after each failure up to RETRY_MAX_S.
Messages from the owner: ("run", task), ("checkpoint", reason), ("suspend",), ("exit",).
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from proxima_agent.errors import ProximaError

log = logging.getLogger("proxima_agent.worker")
PROGRESS_INTERVAL_S = 0.1
RETRY_FIRST_S = 5.0  # after a failed automatic checkpoint (or engine.checkpoint_every_s, if longer)
RETRY_MAX_S = 600.0


class Task(BaseModel):
    """One job for a worker: the circuit and options as JSON, and where to checkpoint."""

    job_id: str
    backend: str
    circuit: str  # Circuit JSON
    options: str  # RunOptions JSON
    checkpoint_dir: str
    next_checkpoint: int = 1
    restore: str | None = None  # manifest path of the checkpoint to continue from
    every_s: float | None = None
    every_steps: int | None = None


def error_dict(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, ProximaError):
        return exc.to_dict()
    return {
        "code": "SIMULATION_FAILED",
        "message": f"the simulation failed: {type(exc).__name__}: {exc}",
        "hint": "details are in the log file (logs/proxima.log under the data directory)",
        "context": {},
    }


def worker_main(conn: Connection, preload: tuple[str, ...]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the owner decides what Ctrl+C means, not the worker
    from proxima_agent.logs import setup_logging

    setup_logging()
    for module in preload:
        try:
            importlib.import_module(module)
        except ImportError:
            log.info("worker %d: %s is not installed", os.getpid(), module)
    try:
        conn.send(("ready", os.getpid()))
        while True:
            message = conn.recv()
            if message[0] == "exit":
                return
            if message[0] == "run" and not _run(conn, Task.model_validate(message[1])):
                return  # suspended: exit so that the memory is freed
    except (EOFError, BrokenPipeError, ConnectionResetError):
        return  # the owner is gone


def _run(conn: Connection, task: Task) -> bool:
    """Run one task; False if the job was suspended (the worker then exits)."""
    from proxima_agent.backends.base import RunOptions
    from proxima_agent.backends.registry import get_backend
    from proxima_agent.circuits.ir import Circuit
    from proxima_agent.engine.checkpoints import read_checkpoint, write_checkpoint

    last_sent = 0.0

    def forward(progress: Any) -> None:  # one-shot backends report through their own callback
        nonlocal last_sent
        now = time.monotonic()
        if progress.total and now - last_sent >= PROGRESS_INTERVAL_S:
            conn.send(("progress", progress.done, progress.total))
            last_sent = now

    try:
        backend = get_backend(task.backend)
        importlib.import_module(backend.module)  # a cold worker's import is not the run's time (cirq: ~4 s)
        circuit = Circuit.model_validate_json(task.circuit)
        options = RunOptions.model_validate_json(task.options)
        execution = backend.start(circuit, options, forward)
        if task.restore is not None:
            restored, state = read_checkpoint(Path(task.restore), task.job_id)
            execution.restore(state)
            execution.simulation_seconds = restored["simulation_seconds"]
        conn.send(("started", {"total": execution.total_steps, "position": execution.position,
                               "steppable": execution.steppable, "pid": os.getpid()}))  # fmt: skip
        number = task.next_checkpoint
        last_checkpoint = (time.monotonic(), execution.position)
        failures, retry_at = 0, 0.0  # automatic checkpoints failed in a row; no automatic attempt before

        def checkpoint(reason: str) -> dict[str, Any] | None:
            nonlocal number, last_checkpoint, failures, retry_at
            try:
                manifest = write_checkpoint(
                    Path(task.checkpoint_dir), job_id=task.job_id, number=number, position=execution.position,
                    total=execution.total_steps, backend=task.backend, state=execution.save(),
                    simulation_seconds=execution.simulation_seconds, reason=reason,
                )  # fmt: skip
            except ProximaError as exc:
                failures += 1
                wait = min(max(RETRY_FIRST_S, task.every_s or 0.0) * 2 ** (failures - 1), RETRY_MAX_S)
                retry_at = time.monotonic() + wait
                last_checkpoint = (
                    time.monotonic(),
                    execution.position,
                )  # the regular interval starts over too
                info = {"reason": reason, "attempt": failures, "retry_in_s": wait}
                conn.send(("checkpoint_failed", exc.to_dict(), info))
                return None
            number += 1
            failures, retry_at = 0, 0.0
            last_checkpoint = (time.monotonic(), execution.position)
            return manifest

        while not execution.done:
            while conn.poll():
                message = conn.recv()
                if message[0] == "checkpoint":
                    manifest = checkpoint(message[1]) if execution.steppable else None
                    if manifest:
                        conn.send(("checkpoint", manifest))
                elif message[0] == "suspend":
                    manifest = checkpoint("suspend")
                    if manifest:
                        conn.send(("suspended", manifest))
                        return False
            execution.advance()
            now = time.monotonic()
            if now - last_sent >= PROGRESS_INTERVAL_S or execution.done:
                conn.send(("progress", execution.position, execution.total_steps))
                last_sent = now
            if execution.steppable and not execution.done and now >= retry_at:
                since, at = last_checkpoint
                if (task.every_s is not None and now - since >= task.every_s) or (
                    task.every_steps is not None and execution.position - at >= task.every_steps
                ):
                    manifest = checkpoint("automatic")
                    if manifest:
                        conn.send(("checkpoint", manifest))
        conn.send(("result", execution.finish()))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        raise
    except Exception as exc:
        log.exception("job %s failed in worker %d", task.job_id, os.getpid())
        conn.send(("error", error_dict(exc)))
    return True


if __name__ == "__main__":  # python -m proxima_agent.engine.worker FD [MODULE ...]
    import sys

    worker_main(Connection(int(sys.argv[1])), tuple(sys.argv[2:]))
