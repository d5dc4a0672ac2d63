"""Running the real `proxima` command in a subprocess, as a person would."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PROXIMA = [sys.executable, "-m", "proxima_agent"]


@dataclass
class Completed:
    code: int
    out: str
    err: str

    @property
    def both(self) -> str:
        return self.out + self.err


def proxima(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300
) -> Completed:
    full_env = dict(os.environ) | (env or {})
    full_env.pop("COLUMNS", None)
    proc = subprocess.run(
        [*PROXIMA, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False
    )
    return Completed(proc.returncode, proc.stdout, proc.stderr)
