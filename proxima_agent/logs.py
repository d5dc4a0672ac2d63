"""Logging to a rotating file under the data directory; the console stays clean."""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

_CONFIGURED: Path | None = None


def log_file() -> Path:
    from proxima_agent.paths import data_dir

    return data_dir() / "logs" / "proxima.log"


def setup_logging(level: str = "INFO") -> Path | None:
    """Send the `proxima_agent` logger to logs/proxima.log (1 MB x 5). Returns the file, or None if unwritable."""
    global _CONFIGURED
    # A log file that cannot be written (a full disk) must not print a traceback per record on the terminal.
    logging.raiseExceptions = False
    path = log_file()
    if path == _CONFIGURED:
        return path
    logger = logging.getLogger("proxima_agent")
    logger.setLevel(level.upper())
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(path, maxBytes=1_000_000, backupCount=5, encoding="utf-8")
    except OSError:
        logger.addHandler(logging.NullHandler())
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    _CONFIGURED = path
    return path
