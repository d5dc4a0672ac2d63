"""Where Proxima keeps its data, and where the packaged text folders (tools/, prompts/, skills/) are found."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from proxima_agent.errors import ConfigError, OutputError

RESOURCE_FOLDERS = ("tools", "prompts", "skills")


def data_dir(create: bool = True) -> Path:
    """The data directory: $PROXIMA_DATA_DIR if set, else the platform's user data directory."""
    override = os.environ.get("PROXIMA_DATA_DIR")
    if override:
        path = Path(override).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_data_dir("proxima", appauthor=False))
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the data directory {path}: {exc.strerror}",
                hint="set PROXIMA_DATA_DIR to a writable folder",
                path=str(path),
            ) from exc
    return path


def config_dir() -> Path:
    """The user configuration directory ($XDG_CONFIG_HOME/proxima on Linux)."""
    import platformdirs

    return Path(platformdirs.user_config_dir("proxima", appauthor=False))


def resource_dir(name: str) -> Path:
    """A packaged text folder: inside the wheel (proxima_agent/_data/NAME) or the source tree (editable install)."""
    if name not in RESOURCE_FOLDERS:
        raise ValueError(f"unknown resource folder {name!r}; expected one of {RESOURCE_FOLDERS}")
    package = Path(__file__).resolve().parent
    for candidate in (package / "_data" / name, package.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"resource folder {name!r} is missing from this installation (looked in {package})"
    )


def write_text_atomically(path: Path, text: str, mode: int | None = None, *, hint: str | None = None) -> None:
    """Write TEXT to PATH through a temporary file in the same folder, so PATH is either old or new, never
    half-written. An OSError becomes an OutputError naming the path, with HINT."""

    def unwritable(where: Path, exc: OSError, what: str) -> OutputError:
        return OutputError(
            f"cannot {what} {where}: {exc.strerror or exc}",
            hint=hint or "check that the folder exists and is writable, or write elsewhere",
            path=str(where),
        )

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise unwritable(path.parent, exc, "create the folder") from exc
    tmp: Path | None = None
    try:
        # os.open rather than mkstemp: a new file gets the usual permissions (0o666 less the umask), not 0o600.
        candidate = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        tmp = candidate
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise unwritable(path, exc, "write") from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
