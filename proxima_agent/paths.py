"""Where Proxima keeps its data, and where the packaged text folders (tools/, prompts/, skills/) are found."""

from __future__ import annotations

import os
from pathlib import Path

from proxima_agent.errors import ConfigError

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
