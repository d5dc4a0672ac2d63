"""The live view of a running job (rich, about 10 Hz) and its keys: p pause, r resume, s suspend, c checkpoint,
a abort (asks first). Ctrl+C asks whether to abort, suspend or go on. Every figure comes from the engine or
from psutil on the worker; nothing is estimated here."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import sys
import threading
from collections.abc import Iterator

import psutil
from rich.console import Console, Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from proxima_agent.engine.engine import Engine, Job
from proxima_agent.errors import ProximaError
from proxima_agent.selection.estimate import format_bytes

KEYS = "p pause · r resume · s suspend · c checkpoint · a abort · Ctrl+C"


class WorkerStats:
    """RSS and CPU of a job's worker process, sampled on each redraw."""

    def __init__(self) -> None:
        self._process: psutil.Process | None = None

    def sample(self, pid: int | None) -> tuple[int, float] | None:
        if pid is None:
            return None
        try:
            if self._process is None or self._process.pid != pid:
                self._process = psutil.Process(pid)
                self._process.cpu_percent(None)
            with self._process.oneshot():
                return self._process.memory_info().rss, self._process.cpu_percent(None)
        except psutil.Error:
            return None


def render(job: Job, stats: WorkerStats, question: str | None) -> Group:
    record = job.record
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("job", f"{record.id}  {record.circuit} on {record.backend or '(choosing)'}")
    state_style = {"PAUSED": "yellow", "FAILED": "red", "ABORTED": "red", "COMPLETED": "green"}
    grid.add_row("state", Text(str(job.state), style=state_style.get(str(job.state), "cyan")))
    stage = job.timer.stage or "-"
    grid.add_row(
        "time", f"{job.timer.elapsed():7.2f} s total · {stage} {job.timer.elapsed(job.timer.stage):.2f} s"
    )
    worker = stats.sample(job.worker.pid if job.worker else None)
    if worker is not None:
        rss, cpu = worker
        grid.add_row("worker", f"pid {job.worker.pid} · {format_bytes(rss)} · CPU {cpu:.0f} %")  # type: ignore[union-attr]
    if job.checkpoints:
        last = job.checkpoints[-1]
        grid.add_row("checkpoint", f"#{last.number} at step {last.position} ({format_bytes(last.bytes)})")
    parts: list[RenderableType] = [grid]
    total = record.steps_total
    if total:
        bar = Table.grid(padding=(0, 1))
        bar.add_row(
            ProgressBar(total=total, completed=record.steps_done, width=40),
            f"{record.steps_done}/{total} steps",
        )
        parts.append(bar)
    for notice in job.notices[-2:]:
        parts.append(Text(notice, style="yellow"))
    parts.append(Text(question, style="bold magenta") if question else Text(KEYS, style="dim"))
    return Group(*parts)


@contextlib.contextmanager
def key_reader(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str]) -> Iterator[bool]:
    """Single keys from the terminal (cbreak mode, restored on exit); yields False when stdin is no terminal."""
    if not sys.stdin.isatty():
        yield False
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                char = os.read(fd, 1).decode(errors="ignore")
                if char:
                    loop.call_soon_threadsafe(queue.put_nowait, char.lower())

    tty.setcbreak(fd)
    thread = threading.Thread(target=read, name="proxima-keys", daemon=True)
    thread.start()
    try:
        yield True
    finally:
        stop.set()
        thread.join(1)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


async def watch(engine: Engine, job: Job, console: Console) -> None:
    """Show the job until it ends (or is suspended after Ctrl+C), acting on keys and Ctrl+C."""
    from rich.live import Live

    loop = asyncio.get_running_loop()
    keys: asyncio.Queue[str] = asyncio.Queue()
    interrupted = asyncio.Event()
    loop.add_signal_handler(signal.SIGINT, interrupted.set)
    stats = WorkerStats()
    view = _View()
    try:
        with (
            key_reader(loop, keys) as interactive,
            Live(render(job, stats, None), console=console, refresh_per_second=10) as live,
        ):
            while not job.ended.is_set() and not (view.leave and job.record.paused_by == "suspend"):
                if interrupted.is_set():
                    interrupted.clear()
                    if not interactive:
                        await engine.abort(job.id, reason="Ctrl+C")
                        break
                    view.ask("Ctrl+C: [a]bort · [s]uspend and leave (proxima resume continues it) · [c]ontinue",
                             "interrupt")  # fmt: skip
                try:
                    key = await asyncio.wait_for(keys.get(), 0.1)
                except TimeoutError:
                    key = None
                if key is not None:
                    try:
                        await view.on_key(engine, job, key)
                    except ProximaError as exc:
                        job.notices.append(f"{exc.code}: {exc.message}")
                live.update(render(job, stats, view.question))
            live.update(render(job, stats, None))
    finally:
        loop.remove_signal_handler(signal.SIGINT)


class _View:
    """The question the live view is asking, if any, and what a key means meanwhile."""

    def __init__(self) -> None:
        self.question: str | None = None
        self.pending: str | None = None
        self.leave = False  # suspended after Ctrl+C: stop watching

    def ask(self, question: str, about: str) -> None:
        self.question, self.pending = question, about

    async def on_key(self, engine: Engine, job: Job, key: str) -> None:
        pending, self.question, self.pending = self.pending, None, None
        if pending == "abort":
            if key == "y":
                await engine.abort(job.id, reason="aborted from the terminal")
        elif pending == "interrupt":
            if key == "a":
                await engine.abort(job.id, reason="Ctrl+C, then abort")
            elif key == "s":
                await engine.pause(job.id, "suspend")
                self.leave = True
        elif key == "p":
            await engine.pause(job.id, "freeze")
        elif key == "s":
            await engine.pause(job.id, "suspend")
        elif key == "r":
            await engine.resume(job.id)
        elif key == "c":
            asyncio.get_running_loop().create_task(_checkpoint(engine, job))
        elif key == "a":
            self.ask("abort this job? [y] yes · any other key: no", "abort")


async def _checkpoint(engine: Engine, job: Job) -> None:
    try:
        record = await engine.checkpoint(job.id)
        job.notices.append(f"checkpoint {record.number} written at step {record.position}")
    except ProximaError as exc:
        job.notices.append(f"{exc.code}: {exc.message}")
