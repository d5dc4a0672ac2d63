"""One entry point for "a circuit": a library name, an OpenQASM file, OpenQASM text, or a Qiskit / Cirq object.

Files are read within `limits` (regular files only, never past MAX_CIRCUIT_CHARS). OpenQASM `include` files
resolve inside the allowed folders only: by default the current folder and the circuit file's own folder (the
CLI); a front door with a workspace (MCP) passes `roots=[workspace]`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from proxima_agent.circuits import library, limits
from proxima_agent.circuits.ir import Circuit
from proxima_agent.circuits.qasm import from_qasm, looks_like_qasm
from proxima_agent.errors import CircuitError, UnknownCircuitError, quoted


def load_circuit(source: Any, *, roots: Sequence[Path] | None = None) -> Circuit:
    """Resolve a circuit from what a person or program gives: tried in the order the docstring's title lists.
    ROOTS: the folders OpenQASM includes may come from (default: the current folder, and a file's own)."""
    if isinstance(source, Circuit):
        return source
    if isinstance(source, str):
        return _from_text(source, roots)
    if isinstance(source, Path):
        return load_file(source, roots=roots)
    module = type(source).__module__.split(".")[0]
    if module == "qiskit":
        from proxima_agent.circuits.convert import from_qiskit

        return from_qiskit(source)
    if module == "cirq":
        from proxima_agent.circuits.convert import from_cirq

        return from_cirq(source)
    raise CircuitError(
        f"cannot make a circuit from a {type(source).__name__}",
        hint="give a library name (ghz:5), a .qasm path, OpenQASM text, or a Qiskit / Cirq circuit",
    )


def _from_text(text: str, roots: Sequence[Path] | None) -> Circuit:
    if looks_like_qasm(text):
        base = Path.cwd() if not roots else roots[0]
        return from_qasm(text, base_dir=base, roots=list(roots or [base]))
    stripped = text.strip()
    if library.is_library_name(stripped):
        return library.build(stripped)
    if len(stripped) <= limits.MAX_PATH_CHARS and "\x00" not in stripped:
        path = Path(stripped).expanduser()
        try:
            exists = path.exists()
        except (OSError, ValueError):
            exists = False
        if path.suffix.lower() in (".qasm", ".qasm2", ".qasm3") or exists or "/" in stripped:
            return load_file(path, roots=roots)
    library.parse_name(stripped)  # raises UnknownCircuitError with the list of names
    raise UnknownCircuitError(f"unknown circuit {quoted(text)}")  # pragma: no cover - parse_name raised


def load_file(path: Path, *, roots: Sequence[Path] | None = None) -> Circuit:
    """An OpenQASM file (a regular file of at most MAX_CIRCUIT_CHARS bytes). Its includes are looked up from its
    own folder and must lie inside ROOTS (default: the current folder and the file's folder)."""
    text = limits.read_text(path)
    folder = path.expanduser().resolve().parent
    allowed = list(roots) if roots else [Path.cwd(), folder]
    return from_qasm(text, source=str(path), name=path.stem, base_dir=folder, roots=allowed)
