"""The resource sentinel: a background thread that samples RAM, swap, CPU and each worker's RSS (psutil), and
calls back when memory use crosses a level. Each level carries an action the engine carries out."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

import psutil
from pydantic import BaseModel

from proxima_agent.config import SentinelLevel, SentinelSettings

PROFILES: dict[str, tuple[SentinelLevel, ...]] = {
    "conservative": (
        SentinelLevel(percent=60, action="notify"),
        SentinelLevel(percent=75, action="ask"),
        SentinelLevel(percent=85, action="pause"),
        SentinelLevel(percent=95, action="abort"),
    ),
    "balanced": (
        SentinelLevel(percent=70, action="notify"),
        SentinelLevel(percent=85, action="ask"),
        SentinelLevel(percent=95, action="pause"),
        SentinelLevel(percent=99, action="abort"),
    ),
    "aggressive": (
        SentinelLevel(percent=80, action="notify"),
        SentinelLevel(percent=92, action="ask"),
        SentinelLevel(percent=97, action="pause"),
        SentinelLevel(percent=99.5, action="abort"),
    ),
}
HYSTERESIS = 2.0  # percent below a level before it can fire again


class Sample(BaseModel):
    at: float
    ram_percent: float
    ram_used_bytes: int
    ram_available_bytes: int
    swap_percent: float
    cpu_percent: float
    workers: dict[int, int]  # pid -> RSS bytes
    growth_bytes_per_s: float | None = None
    seconds_to_exhaustion: float | None = None


def levels_of(settings: SentinelSettings) -> tuple[SentinelLevel, ...]:
    return tuple(sorted(settings.levels or PROFILES[settings.profile], key=lambda level: level.percent))


class Sentinel:
    """Samples every `interval_s`; `on_level(level, sample)` runs in the sentinel's thread when a level is
    crossed upwards (once, until use falls back below it)."""

    def __init__(
        self,
        settings: SentinelSettings,
        worker_pids: Callable[[], list[int]],
        on_level: Callable[[SentinelLevel, Sample], None],
    ) -> None:
        self.levels = levels_of(settings)
        self.interval = settings.interval_s
        self.worker_pids = worker_pids
        self.on_level = on_level
        self.latest: Sample | None = None
        self._fired: set[float] = set()
        self._history: deque[tuple[float, int]] = deque(maxlen=40)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="proxima-sentinel", daemon=True)

    def start(self) -> None:
        psutil.cpu_percent(None)  # the first call only sets the reference point
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def sample(self) -> Sample:
        memory = psutil.virtual_memory()
        workers = {}
        for pid in self.worker_pids():
            try:
                workers[pid] = psutil.Process(pid).memory_info().rss
            except psutil.Error:
                continue
        now = time.monotonic()
        self._history.append((now, memory.total - memory.available))
        growth = eta = None
        if len(self._history) >= 4:
            growth = _slope(self._history)
            if growth > 0:
                eta = memory.available / growth
        return Sample(
            at=time.time(),
            ram_percent=100.0 * (memory.total - memory.available) / memory.total,
            ram_used_bytes=memory.total - memory.available,
            ram_available_bytes=memory.available,
            swap_percent=psutil.swap_memory().percent,
            cpu_percent=psutil.cpu_percent(None),
            workers=workers,
            growth_bytes_per_s=growth,
            seconds_to_exhaustion=eta,
        )

    def check(self, sample: Sample) -> list[SentinelLevel]:
        """The levels this sample newly crosses (highest last); re-arms the levels it has fallen below."""
        crossed = []
        for level in self.levels:
            if sample.ram_percent >= level.percent and level.percent not in self._fired:
                self._fired.add(level.percent)
                crossed.append(level)
            elif sample.ram_percent < level.percent - HYSTERESIS:
                self._fired.discard(level.percent)
        return crossed

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.latest = self.sample()
                crossed = self.check(self.latest)
            except psutil.Error:
                continue
            if crossed:  # only the most severe action: pausing a job that is then aborted gains nothing
                self.on_level(crossed[-1], self.latest)


def _slope(points: deque[tuple[float, int]]) -> float:
    """Least-squares slope of bytes over seconds."""
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mean_t) * (y - mean_y) for t, y in points) / var
