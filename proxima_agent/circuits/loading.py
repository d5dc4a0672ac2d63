"""One entry point for "a circuit": a library name, an OpenQASM file, OpenQASM text, or a Qiskit / Cirq object."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from proxima_agent.circuits import library
from proxima_agent.circuits.ir import Circuit
from proxima_agent.circuits.qasm import from_qasm, looks_like_qasm
from proxima_agent.errors import CircuitError, FileReadError, UnknownCircuitError


def load_circuit(source: Any) -> Circuit:
    """Resolve a circuit from what a person or program gives: tried in the order the docstring's title lists."""
    if isinstance(source, Circuit):
        return source
    if isinstance(source, str):
        return _from_text(source)
    if isinstance(source, Path):
        return load_file(source)
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


def _from_text(text: str) -> Circuit:
    if looks_like_qasm(text):
        return from_qasm(text)
    stripped = text.strip()
    if library.is_library_name(stripped):
        return library.build(stripped)
    path = Path(stripped).expanduser()
    if path.suffix.lower() in (".qasm", ".qasm2", ".qasm3") or path.exists() or "/" in stripped:
        return load_file(path)
    library.parse_name(stripped)  # raises UnknownCircuitError with the list of names
    raise UnknownCircuitError(f"unknown circuit {text!r}")  # pragma: no cover - parse_name raised


def load_file(path: Path) -> Circuit:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileReadError(
            f"no such file: {path}",
            hint="check the path, or use a library circuit such as ghz:5",
            path=str(path),
        ) from None
    except IsADirectoryError:
        raise FileReadError(f"{path} is a directory, not a circuit file", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise FileReadError(
            f"cannot read {path}: {reason}", hint="check its permissions and encoding"
        ) from None
    return from_qasm(text, source=str(path), name=path.stem)
