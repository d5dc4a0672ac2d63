"""Where jobs run: a small executor interface and its default, a pool of warm local worker processes.

Another executor (Ray, Dask) can stand in for LocalPool without changing the job model: the engine only needs
handles it can send messages to, receive messages from, and signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from abc import ABC, abstractmethod
from multiprocessing.connection import Connection
from typing import Any

from proxima_agent.errors import WorkerDiedError

BASE_PRELOAD = ("numpy", "scipy.linalg", "proxima_agent.backends.registry")


class WorkerHandle:
    """One worker process (`python -m proxima_agent.engine.worker`) and the owner's end of its socket."""

    def __init__(self, process: subprocess.Popen[bytes], conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.pid = process.pid
        self._send_lock = threading.Lock()

    def send(self, message: tuple[Any, ...]) -> None:
        with self._send_lock:
            self.conn.send(message)

    def signal(self, sig: int) -> bool:
        """Send a signal; False if the process is already gone."""
        if self.process.poll() is not None:
            return False
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            return False
        return True

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def join(self, timeout: float | None) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout)

    def describe_exit(self) -> str:
        code = self.process.poll()
        if code is None:
            return "still running"
        if code < 0:
            name = signal.Signals(-code).name
            why = " (out of memory, or killed by another process)" if name == "SIGKILL" else ""
            return f"killed by {name}{why}"
        return f"exited with code {code}"

    def kill(self, grace_s: float) -> None:
        """SIGTERM, then SIGKILL after `grace_s`; a frozen worker is continued so that it can die."""
        if self.alive:
            self.signal(signal.SIGTERM)
            self.signal(signal.SIGCONT)
            self.join(grace_s)
        if self.alive:
            self.signal(signal.SIGKILL)
            self.join(5)
        self.conn.close()


class Executor(ABC):
    @abstractmethod
    async def acquire(self) -> WorkerHandle:
        """A ready worker, dedicated to the caller until released or discarded."""

    @abstractmethod
    def release(self, worker: WorkerHandle) -> None:
        """Give back a worker that finished its job cleanly."""

    @abstractmethod
    def discard(self, worker: WorkerHandle, grace_s: float = 0.0) -> None:
        """Stop a worker for good (abort, suspend, death); the pool replaces it."""

    @abstractmethod
    def pids(self) -> list[int]: ...

    @abstractmethod
    async def shutdown(self) -> None: ...


class LocalPool(Executor):
    """Worker processes on this machine: `warm` of them are kept alive with their libraries imported; jobs
    beyond that start a worker of their own."""

    def __init__(self, warm: int = 1, preload: tuple[str, ...] = ()) -> None:
        self.warm = warm
        self.preload = BASE_PRELOAD + preload
        self._idle: list[WorkerHandle] = []
        self._busy: dict[int, WorkerHandle] = {}
        self._starting: set[asyncio.Task[WorkerHandle]] = set()
        self._closed = False

    def _spawn(self) -> WorkerHandle:
        """Start a fresh interpreter (nothing inherited: no threads, locks or the caller's main module) and wait
        until it has imported its libraries."""
        from proxima_agent.paths import data_dir

        ours, theirs = socket.socketpair()
        logs = data_dir() / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with theirs, (logs / "workers.log").open("ab") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "proxima_agent.engine.worker", str(theirs.fileno()), *self.preload],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # stdout may be an MCP stdio channel: nothing else may write there
                stderr=stderr,
                start_new_session=True,  # the terminal's Ctrl+C goes to the owner, which decides
            )
        handle = WorkerHandle(process, Connection(ours.detach()))
        try:
            message = handle.conn.recv()  # ("ready", pid): the libraries are imported
        except EOFError:
            raise WorkerDiedError(
                f"a worker process could not start: {handle.describe_exit()}",
                hint="see logs/workers.log under the data directory",
            ) from None
        assert message[0] == "ready", message
        return handle

    async def start(self) -> None:
        """Bring the pool up to `warm` workers (in the background)."""
        missing = self.warm - len(self._idle) - len(self._busy) - len(self._starting)
        for _ in range(max(0, missing)):
            task = asyncio.create_task(asyncio.to_thread(self._spawn))
            self._starting.add(task)
            task.add_done_callback(self._started)

    def _started(self, task: asyncio.Task[WorkerHandle]) -> None:
        self._starting.discard(task)
        if task.cancelled() or task.exception() is not None:
            return
        handle = task.result()
        if self._closed:
            handle.kill(0)
        else:
            self._idle.append(handle)

    async def acquire(self) -> WorkerHandle:
        while self._idle:
            handle = self._idle.pop()
            if handle.alive:
                break
        else:
            if self._starting:  # a worker is already on its way: take it rather than start another
                await asyncio.wait(set(self._starting), return_when=asyncio.FIRST_COMPLETED)
                return await self.acquire()
            handle = await asyncio.to_thread(self._spawn)
        self._busy[handle.pid] = handle
        return handle

    def release(self, worker: WorkerHandle) -> None:
        self._busy.pop(worker.pid, None)
        if worker.alive and not self._closed and len(self._idle) < max(self.warm, 1):
            self._idle.append(worker)
        else:
            worker.kill(0)
            self._replenish()

    def discard(self, worker: WorkerHandle, grace_s: float = 0.0) -> None:
        self._busy.pop(worker.pid, None)
        worker.kill(grace_s)
        self._replenish()

    def _replenish(self) -> None:
        """Keep `warm` workers alive: one that died, was aborted or suspended is replaced in the background.
        (Not on every acquire: a replacement spawned while a job runs would compete with it for the CPU.)"""
        if not self._closed:
            with contextlib.suppress(RuntimeError):  # no running loop: the pool is being torn down
                asyncio.get_running_loop().create_task(self.start())

    def pids(self) -> list[int]:
        return [h.pid for h in (*self._idle, *self._busy.values())]

    async def shutdown(self) -> None:
        self._closed = True
        for task in list(self._starting):
            with contextlib.suppress(Exception):
                await task
        for handle in (*self._idle, *self._busy.values()):
            with contextlib.suppress(OSError):
                handle.send(("exit",))
            await asyncio.to_thread(handle.join, 2.0)
            await asyncio.to_thread(handle.kill, 0.5)
        self._idle.clear()
        self._busy.clear()
