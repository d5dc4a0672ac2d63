"""OpenQASM 2 and 3 in (Qiskit's parsers) and out (Qiskit's exporters), with syntax errors that say where."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from proxima_agent.circuits import limits
from proxima_agent.circuits.ir import Circuit
from proxima_agent.errors import CircuitTooLargeError, QasmSyntaxError


def clipped(message: str, limit: int = 300) -> str:
    """A parser's message, which may quote the input (a long identifier), cut to LIMIT characters."""
    return message if len(message) <= limit else f"{message[: limit - 1]}… ({len(message)} characters)"


_VERSION = re.compile(r"^[ \t]*OPENQASM[ \t\n]+(\d+)(?:\.\d+)?[ \t]*;", re.MULTILINE)  # linear: no \s* at ^
_QASM2_LOCATION = re.compile(r"^<input>:(\d+),(\d+):\s*(.*)$", re.DOTALL)
_QASM3_LOCATION = re.compile(r"^L?(\d+)[:,]C?(\d+):\s*(.*)$", re.DOTALL)


def qasm_version(text: str) -> int | None:
    match = _VERSION.search(_strip_comments(text))
    return int(match.group(1)) if match else None


def _strip_comments(text: str) -> str:
    from proxima_agent.circuits.qasm_scan import strip_comments

    return strip_comments(text)


def looks_like_qasm(text: str) -> bool:
    return qasm_version(text) is not None


def _syntax_error(
    message: str, line: int | None, column: int | None, source: str, version: int
) -> QasmSyntaxError:
    where = f"{source}:{line}:{column}: " if line is not None else f"{source}: "
    return QasmSyntaxError(
        f"{where}OpenQASM {version} syntax error: {clipped(message)}",
        hint="fix the OpenQASM at that line and column",
        line=line,
        column=column,
        source=source,
    )


def _qasm3_error(exc: Exception, expanded: Any) -> QasmSyntaxError:
    """Line, column and expectation from openqasm3's error, or from the ANTLR exception it wraps."""
    text = str(exc).strip().strip("'\"")
    source = expanded.locate(1)[0]
    if match := _QASM3_LOCATION.match(text):
        where, line = expanded.locate(int(match.group(1)))
        return _syntax_error(match.group(3), line, int(match.group(2)) + 1, where, 3)
    cause: Any = exc.__cause__
    recognition = cause.args[0] if cause is not None and cause.args else cause
    token = getattr(recognition, "offendingToken", None)
    if token is not None:
        message = f"unexpected {token.text!r}"
        recognizer: Any = getattr(recognition, "recognizer", None)
        try:
            expected = recognition.getExpectedTokens().toString(
                recognizer.literalNames, recognizer.symbolicNames
            )
            message += f", expected {expected}"
        except Exception:  # the expectation is a nicety; the location is what matters
            pass
        where, line = expanded.locate(token.line)
        return _syntax_error(message, line, token.column + 1, where, 3)
    return _syntax_error(text or type(exc).__name__, None, None, source, 3)


def from_qasm(
    text: str,
    *,
    source: str = "<qasm>",
    name: str | None = None,
    base_dir: Path | None = None,
    roots: Sequence[Path] | None = None,
) -> Circuit:
    """Parse OpenQASM 2 or 3 (by its header) into the IR, within `limits`.

    `include` files other than the standard one are looked up from BASE_DIR (the program's own folder; default:
    the current folder) and must lie inside ROOTS (default: BASE_DIR); Qiskit's parsers never read a file
    themselves. The program is bounded (qubits, clbits, expanded operations, nesting) before it is expanded."""
    from proxima_agent.circuits import qasm_scan
    from proxima_agent.circuits.convert import from_qiskit

    if len(text) > limits.MAX_CIRCUIT_CHARS:
        raise limits.too_large(
            source,
            "characters of OpenQASM",
            len(text),
            limits.MAX_CIRCUIT_CHARS,
            "MAX_CIRCUIT_CHARS",
        )
    version = qasm_version(text)
    if version not in (2, 3):
        raise QasmSyntaxError(
            f"{source}: no 'OPENQASM 2.0;' or 'OPENQASM 3.0;' header"
            + (f" (found version {version})" if version else ""),
            hint="start the program with OPENQASM 2.0; or OPENQASM 3.0;",
            source=source,
        )
    base = (base_dir or Path.cwd()).resolve()
    max_chars = limits.MAX_CIRCUIT_CHARS if version == 2 else limits.MAX_QASM3_CHARS
    expanded = qasm_scan.expand_includes(
        text, source=source, version=version, base_dir=base, roots=list(roots or [base]), max_chars=max_chars
    )
    try:
        qc = _parse2(expanded) if version == 2 else _parse3(expanded)
        return from_qiskit(qc, name=name)
    except RecursionError:  # a long chain the parser recurses on (1+1+...+1), not caught by the bracket count
        raise CircuitTooLargeError(
            f"{source}: nested too deeply for the parser: an expression, block or definition chain longer than "
            f"it can follow (MAX_NESTING allows {limits.MAX_NESTING} brackets in one another)",
            hint=f"split long expressions and nested blocks; {limits.LIMITS_HINT}",
            limit="MAX_NESTING",
            maximum=limits.MAX_NESTING,
        ) from None


def _parse2(expanded: Any) -> Any:
    import qiskit.qasm2

    from proxima_agent.circuits import qasm_scan

    qasm_scan.scan_qasm2(expanded)
    try:
        # no include path: qelib1.inc is built in, every other include has been inlined from a vetted file
        return qiskit.qasm2.loads(
            expanded.text, include_path=(), custom_instructions=qiskit.qasm2.LEGACY_CUSTOM_INSTRUCTIONS
        )
    except qiskit.qasm2.QASM2ParseError as exc:
        message = getattr(exc, "message", str(exc))
        if match := _QASM2_LOCATION.match(message):
            where, line = expanded.locate(int(match.group(1)))
            raise _syntax_error(match.group(3), line, int(match.group(2)) + 1, where, 2) from None
        raise _syntax_error(message, None, None, expanded.locate(1)[0], 2) from None


def _parse3(expanded: Any) -> Any:
    from proxima_agent.circuits import qasm_scan

    source = expanded.locate(1)[0]
    if len(expanded.text) > limits.MAX_QASM3_CHARS:
        raise limits.too_large(
            source, "characters of OpenQASM 3", len(expanded.text), limits.MAX_QASM3_CHARS,
            "MAX_QASM3_CHARS",
        )  # fmt: skip
    qasm_scan.check_nesting(qasm_scan.strip_comments(expanded.text), expanded)  # before the parser recurses
    import openqasm3
    from qiskit_qasm3_import import convert

    try:
        program = openqasm3.parse(expanded.text)
    except RecursionError:
        raise
    except Exception as exc:  # openqasm3 raises several unrelated types
        raise _qasm3_error(exc, expanded) from None
    qasm_scan.scan_qasm3(program, expanded)
    try:
        return convert(program)
    except RecursionError:
        raise
    except Exception as exc:  # qiskit-qasm3-import raises several unrelated types
        raise _qasm3_error(exc, expanded) from None


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
