"""Bounds on what a caller may hand Proxima, in one place (docs/circuits.md, "Limits").

Every bound is checked before the work it protects: OpenQASM is pre-scanned (`qasm_scan`) before Qiskit expands
registers and gate definitions, a library circuit counts its operations before building them, and a file is
stat'ed (a FIFO or device is never opened for a blocking read) and size-checked before it is read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from proxima_agent.errors import CircuitTooLargeError, FileReadError, ProximaError

MAX_CIRCUIT_CHARS = 1_000_000  # OpenQASM text, a circuit file, a noise file (tools/models.py uses the same)
# OpenQASM 3 once includes are inlined: its parser (ANTLR, pure Python) reads about 50 kB/s
MAX_QASM3_CHARS = 100_000
MAX_QUBITS = 4096  # qubits a circuit declares (all registers together)
MAX_CLBITS = 4096  # classical bits likewise
# operations once gate definitions and register broadcasts are expanded (parsing costs 12-20 us each)
MAX_OPERATIONS = 100_000
MAX_GATE_DEFINITIONS = 2000  # `gate` statements (Qiskit's OpenQASM 2 parser is quadratic in them)
MAX_GATE_DEPTH = 64  # gate definitions calling gate definitions
MAX_NESTING = 64  # brackets and blocks inside one another: ( [ {
MAX_INCLUDES = 64  # include files in one program (each counted every time it is included)
MAX_INCLUDE_DEPTH = 8  # include files including include files
MAX_POW_QUBITS = 4  # OpenQASM 3 `pow(k) @ g` builds g's matrix (4^n entries): only for gates on few qubits
MAX_PATH_CHARS = 4096  # a file path (PATH_MAX on Linux)
MAX_SHOTS = 10_000_000  # shots of one run, on every front door

LIMITS_HINT = "Proxima's limits are listed in docs/circuits.md (Limits)"


def too_large(where: str, what: str, value: int | str, maximum: int, limit: str) -> CircuitTooLargeError:
    """The error for VALUE of WHAT over MAXIMUM; `limit` names the constant (`context["limit"]`)."""
    shown = f"{value:,}" if isinstance(value, int) else value
    return CircuitTooLargeError(
        f"{where}: {what}: {shown}, over the limit of {maximum:,} ({limit})",
        hint=f"make the circuit smaller; {LIMITS_HINT}",
        limit=limit,
        value=value if isinstance(value, int) else None,
        maximum=maximum,
    )


def shown(text: object, limit: int = 200) -> str:
    """TEXT (a path, a name) as an error shows it: whole if short, else cut with its length."""
    value = str(text)
    return value if len(value) <= limit else f"{value[: limit - 1]}… ({len(value)} characters)"


def read_text(
    path: Path,
    *,
    limit: int = MAX_CIRCUIT_CHARS,
    what: str = "circuit file",
    too_big: type[ProximaError] = CircuitTooLargeError,
) -> str:
    """The UTF-8 text of a regular file of at most LIMIT bytes. The file is stat'ed before it is opened (a FIFO,
    socket or device is refused without a read that could block), opened without blocking and checked again
    (in case it changed in between), and never read past LIMIT + 1 bytes (files such as /proc ones report size
    0). Errors are FileReadError, or `too_big` for a file over LIMIT."""
    name = shown(path)
    if len(str(path)) > MAX_PATH_CHARS:
        raise FileReadError(
            f"{name} is not a file path: {len(str(path))} characters, over {MAX_PATH_CHARS}",
            hint="give a shorter path, or the text itself",
        )
    try:
        _check_kind(os.stat(path).st_mode, path, what)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        try:
            info = os.fstat(fd)
            _check_kind(info.st_mode, path, what)
            if info.st_size > limit:
                raise _over(too_big, name, what, info.st_size, limit)
            os.set_blocking(fd, True)
            with os.fdopen(fd, "rb", closefd=True) as handle:
                fd = -1
                data = handle.read(limit + 1)
        finally:
            if fd >= 0:
                os.close(fd)
    except FileNotFoundError:
        raise FileReadError(
            f"no such file: {name}",
            hint="check the path, or use a library circuit such as ghz:5",
            path=name,
        ) from None
    except ProximaError:
        raise
    except OSError as exc:
        raise FileReadError(
            f"cannot read {name}: {exc.strerror or type(exc).__name__}",
            hint="check its permissions",
            path=name,
        ) from None
    if len(data) > limit:
        raise _over(too_big, name, what, len(data), limit, at_least=True)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileReadError(
            f"cannot read {name}: not UTF-8 text (byte {exc.start})",
            hint="save it as UTF-8",
            path=name,
        ) from None


def _check_kind(mode: int, path: Path, what: str) -> None:
    if stat.S_ISREG(mode):
        return
    name = shown(path)
    if stat.S_ISDIR(mode):
        raise FileReadError(f"{name} is a directory, not a {what}", hint="give the file inside it", path=name)
    kind = (
        "a FIFO"
        if stat.S_ISFIFO(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "not a regular file"
    )
    raise FileReadError(
        f"{name} is {kind}, not a {what}: Proxima reads only regular files",
        hint="save the content to a regular file and give that",
        path=name,
    )


def _over(
    cls: type[ProximaError], name: str, what: str, size: int, limit: int, *, at_least: bool = False
) -> ProximaError:
    more = "more than " if at_least else ""
    return cls(
        f"{name}: the {what} is {more}{size:,} bytes, over the limit of {limit:,}",
        hint=f"give a smaller file; {LIMITS_HINT}",
        limit="MAX_CIRCUIT_CHARS",
        value=size,
        maximum=limit,
    )
