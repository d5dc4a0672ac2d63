"""What a tool call runs with: the long-lived `Runtime` (configuration, workspace, the engine) and, per call,
a progress reporter and the consent provider of the front door that made the call."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from proxima_agent.errors import FileReadError

if TYPE_CHECKING:
    from proxima_agent.config import ProximaConfig
    from proxima_agent.engine.consent import ConsentProvider
    from proxima_agent.engine.engine import Engine

log = logging.getLogger("proxima_agent.tools")
ProgressReporter = Callable[[float, float | None, str], Awaitable[None]]


async def no_progress(done: float, total: float | None, message: str) -> None:
    return None


class Runtime:
    """Lives as long as the front door (an MCP server, a chat): the configuration, the workspace that file
    paths must stay inside, and the engine, opened on first use (so that start-up spawns nothing)."""

    def __init__(self, config: ProximaConfig | None = None, workspace: Path | None = None) -> None:
        from proxima_agent.config import ProximaConfig

        self.config = config or ProximaConfig()
        self.workspace = (workspace or Path.cwd()).resolve()
        self._engine: Engine | None = None
        self._opening: asyncio.Task[Engine] | None = None

    async def engine(self) -> Engine:
        if self._engine is not None:
            return self._engine
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open())
        # shield: one caller giving up (a cancelled tool call) must not cancel the opening others wait for
        return await asyncio.shield(self._opening)

    async def _open(self) -> Engine:
        import importlib

        # imported in a thread (numpy, the backends' models): the loop keeps answering while it loads
        module = await asyncio.to_thread(importlib.import_module, "proxima_agent.engine.engine")
        self._engine = await module.Engine.open(self.config)
        return self._engine

    def warm_up(self) -> None:
        """Open the engine in the background, so that the first run finds a warm worker."""
        if self._opening is None and self._engine is None:
            self._opening = asyncio.ensure_future(self._open())

    async def close(self) -> None:
        """Close the engine; the runtime can be used again (the next call opens a new engine)."""
        if self._opening is not None and self._engine is None:
            with contextlib.suppress(Exception):
                await self._opening
        self._opening = None
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await engine.close()

    def enabled_backends(self) -> list[str]:
        from proxima_agent.backends.registry import backend_ids

        return [b for b in backend_ids() if self.config.enabled(b)]

    def resolve_path(self, text: str) -> Path:
        """A file path given by a caller, which must stay inside the workspace (no `..` or links out of it)."""
        raw = Path(text).expanduser()
        path = (raw if raw.is_absolute() else self.workspace / raw).resolve()
        if not path.is_relative_to(self.workspace):
            raise FileReadError(
                f"{text} is outside the workspace {self.workspace}",
                hint="give a path inside the workspace (relative paths start there), or pass the text itself",
                path=text,
            )
        return path


@dataclass
class ToolContext:
    """One tool call: the runtime plus what only this call has."""

    runtime: Runtime
    progress: ProgressReporter = no_progress
    consent: ConsentProvider | None = None  # None: the engine's own (headless: refuse)

    async def report(self, done: float, total: float | None, message: str) -> None:
        try:
            await self.progress(done, total, message)
        except Exception:  # a client that went away must not fail the work it asked for
            log.debug("progress report failed", exc_info=True)
