"""Stage timers: wall time per stage of a job, with paused time excluded."""

from __future__ import annotations

import time
from typing import Any

STAGES = ("VALIDATION", "ESTIMATION", "EXECUTION", "POST_PROCESSING")


class StageTimer:
    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self.spent: dict[str, float] = {}
        self.stage: str | None = None
        self._since: float | None = None  # when the current stage last (re)started; None while paused

    def begin(self, stage: str) -> None:
        self._stop()
        self.stage = stage
        self.spent.setdefault(stage, 0.0)
        self._since = self._clock()

    def pause(self) -> None:
        self._stop()

    def resume(self) -> None:
        if self.stage is not None and self._since is None:
            self._since = self._clock()

    def end(self) -> None:
        self._stop()
        self.stage = None

    @property
    def paused(self) -> bool:
        return self.stage is not None and self._since is None

    def _stop(self) -> None:
        if self.stage is not None and self._since is not None:
            self.spent[self.stage] += self._clock() - self._since
            self._since = None

    def elapsed(self, stage: str | None = None) -> float:
        """Seconds in `stage` (or all stages), paused time excluded, the running stage counted up to now."""
        running = self._clock() - self._since if self._since is not None else 0.0
        if stage is None:
            return sum(self.spent.values()) + running
        return self.spent.get(stage, 0.0) + (running if stage == self.stage else 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stages": {s: round(self.elapsed(s), 6) for s in self.spent},
            "total": round(self.elapsed(), 6),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StageTimer:
        timer = cls()
        timer.spent = {k: float(v) for k, v in data.get("stages", {}).items()}
        return timer
