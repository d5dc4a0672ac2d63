"""OpenQASM 2 and 3 in (Qiskit's parsers) and out (Qiskit's exporters), with syntax errors that say where."""

from __future__ import annotations

import re
from typing import Any

from proxima_agent.circuits.ir import Circuit
from proxima_agent.errors import QasmSyntaxError

_VERSION = re.compile(r"^\s*OPENQASM\s+(\d+)(?:\.\d+)?\s*;", re.MULTILINE)
_QASM2_LOCATION = re.compile(r"^<input>:(\d+),(\d+):\s*(.*)$", re.DOTALL)
_QASM3_LOCATION = re.compile(r"^L?(\d+)[:,]C?(\d+):\s*(.*)$", re.DOTALL)


def qasm_version(text: str) -> int | None:
    match = _VERSION.search(_strip_comments(text))
    return int(match.group(1)) if match else None


def _strip_comments(text: str) -> str:
    return re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.DOTALL)


def looks_like_qasm(text: str) -> bool:
    return qasm_version(text) is not None


def _syntax_error(
    message: str, line: int | None, column: int | None, source: str, version: int
) -> QasmSyntaxError:
    where = f"{source}:{line}:{column}: " if line is not None else f"{source}: "
    return QasmSyntaxError(
        f"{where}OpenQASM {version} syntax error: {message}",
        hint="fix the OpenQASM at that line and column",
        line=line,
        column=column,
        source=source,
    )


def _qasm3_error(exc: Exception, source: str) -> QasmSyntaxError:
    """Line, column and expectation from openqasm3's error, or from the ANTLR exception it wraps."""
    text = str(exc).strip().strip("'\"")
    if match := _QASM3_LOCATION.match(text):
        return _syntax_error(match.group(3), int(match.group(1)), int(match.group(2)) + 1, source, 3)
    cause: Any = exc.__cause__
    recognition = cause.args[0] if cause is not None and cause.args else cause
    token = getattr(recognition, "offendingToken", None)
    if token is not None:
        message = f"unexpected {token.text!r}"
        recognizer = getattr(recognition, "recognizer", None)
        try:
            expected = recognition.getExpectedTokens().toString(
                recognizer.literalNames, recognizer.symbolicNames
            )
            message += f", expected {expected}"
        except Exception:  # the expectation is a nicety; the location is what matters
            pass
        return _syntax_error(message, token.line, token.column + 1, source, 3)
    return _syntax_error(text or type(exc).__name__, None, None, source, 3)


def from_qasm(text: str, *, source: str = "<qasm>", name: str | None = None) -> Circuit:
    """Parse OpenQASM 2 or 3 (by its header) into the IR."""
    from proxima_agent.circuits.convert import from_qiskit

    version = qasm_version(text)
    if version not in (2, 3):
        raise QasmSyntaxError(
            f"{source}: no 'OPENQASM 2.0;' or 'OPENQASM 3.0;' header"
            + (f" (found version {version})" if version else ""),
            hint="start the program with OPENQASM 2.0; or OPENQASM 3.0;",
            source=source,
        )
    if version == 2:
        import qiskit.qasm2

        try:
            qc = qiskit.qasm2.loads(text, custom_instructions=qiskit.qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
        except qiskit.qasm2.QASM2ParseError as exc:
            message = getattr(exc, "message", str(exc))
            if match := _QASM2_LOCATION.match(message):
                raise _syntax_error(
                    match.group(3), int(match.group(1)), int(match.group(2)) + 1, source, 2
                ) from exc
            raise _syntax_error(message, None, None, source, 2) from exc
    else:
        import qiskit.qasm3

        try:
            qc = qiskit.qasm3.loads(text)
        except Exception as exc:  # openqasm3 and qiskit-qasm3-import raise several unrelated types
            raise _qasm3_error(exc, source) from exc
    return from_qiskit(qc, name=name)


def to_qasm(circuit: Circuit, version: int = 2) -> str:
    """OpenQASM text for the circuit (through Qiskit's exporters)."""
    from proxima_agent.circuits.convert import to_qiskit

    qc = to_qiskit(circuit)
    if version == 2:
        import qiskit.qasm2

        return qiskit.qasm2.dumps(qc)
    if version == 3:
        import qiskit.qasm3

        return qiskit.qasm3.dumps(qc)
    raise ValueError(f"OpenQASM version must be 2 or 3, not {version}")
