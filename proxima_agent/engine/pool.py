"""Where jobs run: a small executor interface and its default, a pool of warm local worker processes.

Another executor (Ray, Dask) can stand in for LocalPool without changing the job model: the engine only needs
handles it can send messages to, receive messages from, and signal.
"""

from __future__ import annotations

import asyncio
import collections
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
        self._close_lock = threading.Lock()

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
        with self._close_lock, contextlib.suppress(OSError):  # an abort's kill and the driver's may race
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

    def must_wait(self) -> bool:
        """True when `acquire` would wait for a running job to finish (the executor is at its limit)."""
        return False

    @abstractmethod
    async def shutdown(self) -> None: ...


class LocalPool(Executor):
    """Worker processes on this machine: `warm` of them are kept alive with their libraries imported; jobs
    beyond that start a worker of their own, up to `limit` at once. Past the limit a job waits, and a worker
    that finishes goes straight to the job waiting longest (no process started or stopped for it)."""

    def __init__(self, warm: int = 1, preload: tuple[str, ...] = (), limit: int | None = None) -> None:
        self.warm = warm
        self.limit = max(1, warm, limit or os.cpu_count() or 1)
        self.preload = BASE_PRELOAD + preload
        self._idle: list[WorkerHandle] = []
        self._busy: dict[int, WorkerHandle] = {}
        self._starting: set[asyncio.Task[WorkerHandle]] = set()
        self._waiting: collections.deque[asyncio.Future[WorkerHandle]] = collections.deque()
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
        """Bring the pool up to `warm` workers, and one for each waiting job (in the background)."""
        waiting = sum(1 for w in self._waiting if not w.done())
        self._spawn_up_to(max(self.warm - len(self._idle) - len(self._busy), waiting))

    def _spawn_up_to(self, wanted: int) -> None:
        """Have `wanted` workers starting, within the limit; each goes to a waiting job, or idles, when ready."""
        room = self.limit - len(self._busy) - len(self._idle) - len(self._starting)
        for _ in range(max(0, min(wanted - len(self._starting), room))):
            task = asyncio.create_task(asyncio.to_thread(self._spawn))
            self._starting.add(task)
            task.add_done_callback(self._started)

    def _started(self, task: asyncio.Task[WorkerHandle]) -> None:
        self._starting.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:  # the job waiting longest hears why no worker came
            while self._waiting:
                waiter = self._waiting.popleft()
                if not waiter.done():
                    waiter.set_exception(exc)
                    break
            return
        handle = task.result()
        if self._closed:
            handle.kill(0)
        elif not self._hand_over(handle):
            self._idle.append(handle)

    def must_wait(self) -> bool:
        return not self._idle and len(self._busy) + len(self._starting) >= self.limit

    def _hand_over(self, handle: WorkerHandle) -> bool:
        """Give a ready worker to the job waiting longest, if one waits (a cancelled wait is skipped)."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                self._busy[handle.pid] = handle
                waiter.set_result(handle)
                return True
        return False

    async def acquire(self) -> WorkerHandle:
        while self._idle:
            handle = self._idle.pop()
            if handle.alive:
                self._busy[handle.pid] = handle
                return handle
        waiter: asyncio.Future[WorkerHandle] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        self._spawn_up_to(sum(1 for w in self._waiting if not w.done()))  # or a running job's worker comes
        return await waiter  # _hand_over has marked it busy

    def release(self, worker: WorkerHandle) -> None:
        self._busy.pop(worker.pid, None)
        if not worker.alive or self._closed:
            worker.kill(0)
            self._replenish()
        elif not self._hand_over(worker):
            if len(self._idle) < max(self.warm, 1):
                self._idle.append(worker)
            else:
                worker.kill(0)

    def discard(self, worker: WorkerHandle, grace_s: float = 0.0) -> None:
        known = self._busy.pop(worker.pid, None) is not None
        worker.kill(grace_s)
        if known:  # a second discard of the same worker (rollback, then its driver) replaces nothing
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
        for waiter in self._waiting:
            waiter.cancel()
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
