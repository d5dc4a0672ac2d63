"""What is checked in OpenQASM before Qiskit sees it: includes, sizes, expansion and nesting.

Qiskit's parsers expand registers and gate definitions eagerly and read `include` files from the process's
folder. So Proxima first
- inlines the includes itself (`expand_includes`): only the standard `qelib1.inc` / `stdgates.inc`, which
  the parsers know built in, or files inside the allowed folders; Qiskit is then given no include path at all;
- measures the program without expanding anything (`scan_qasm2` on the text, `scan_qasm3` on the OpenQASM 3
  syntax tree, which is not expanded): qubits, classical bits, operations once definitions and broadcasts are
  expanded (counted per gate definition, memoized), gate-definition depth, bracket nesting,
and refuses what is over a limit in `limits` with CIRCUIT_TOO_LARGE naming the limit and the value.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxima_agent.circuits import limits
from proxima_agent.errors import CircuitError, FileReadError, quoted

STANDARD_INCLUDES = {2: "qelib1.inc", 3: "stdgates.inc"}

# Standard gates that become several IR operations (measured through `from_qiskit`); every other one is one.
_STANDARD_COST = {"cu3": 6, "csx": 7, "cu": 7, "rccx": 9, "rc3x": 18, "c3sqrtx": 27}

_COMMENT_OR_STRING = re.compile(r'"[^"\n]*"|//[^\n]*|/\*.*?(?:\*/|\Z)', re.DOTALL)
_INCLUDE = re.compile(r'(?<![\w.])include\s*"([^"\n]*)"\s*;')
_BRACKETS = re.compile(r"[()\[\]{}]")


def _blank(match: re.Match[str]) -> str:
    text = match.group(0)
    if text.startswith('"'):
        return text
    return "\n".join(" " * len(part) for part in text.split("\n"))


def strip_comments(text: str) -> str:
    """TEXT with its comments blanked (newlines kept, so every position stays where it was); strings kept.
    Linear in the text: an unterminated `/*` comments out the rest, as it does for the parsers."""
    return _COMMENT_OR_STRING.sub(_blank, text)


def line_and_column(text: str, position: int) -> tuple[int, int]:
    """1-based line and column of POSITION in TEXT."""
    line = text.count("\n", 0, position) + 1
    return line, position - (text.rfind("\n", 0, position) + 1) + 1


# --- includes ---------------------------------------------------------------------------------------------------


@dataclass
class Expanded:
    """A program with its includes inlined, and where each of its lines came from."""

    text: str
    runs: list[tuple[int, str, int]] = field(
        default_factory=list
    )  # (first line here, source, its line there)

    def locate(self, line: int) -> tuple[str, int]:
        """The source and line in it of line LINE of the inlined text."""
        index = bisect.bisect_right([run[0] for run in self.runs], line) - 1
        if index < 0:
            return self.runs[0][1] if self.runs else "<qasm>", line
        start, source, first = self.runs[index]
        return source, first + line - start

    def where(self, position: int) -> str:
        """`source:line:column` of a character position in the inlined text."""
        line, column = line_and_column(self.text, position)
        source, there = self.locate(line)
        return f"{source}:{there}:{column}"


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.runs: list[tuple[int, str, int]] = []
        self.line = 1
        self.size = 0
        self.files = 0
        self.standard = False  # the standard include was met (in the program or an included file)

    def add(self, text: str, source: str | None = None, first: int = 0) -> None:
        """Append TEXT; with a source, TEXT starts a new run at line FIRST of that source."""
        if source is not None:
            self.runs.append((self.line, source, first))
        self.parts.append(text)
        self.line += text.count("\n")
        self.size += len(text)


def expand_includes(
    text: str, *, source: str, version: int, base_dir: Path, roots: list[Path], max_chars: int
) -> Expanded:
    """TEXT with every `include` of a file other than the standard one replaced by that file's text (which
    begins on a line of its own; what followed the include on its line stays in its column).

    A relative name is looked up in BASE_DIR (the including file's folder) first, then in each of ROOTS; the file
    must resolve (links followed) inside one of ROOTS. A file outside is refused with one message whether it
    exists or not, and without being opened."""
    builder = _Builder()
    roots = [root.resolve() for root in roots]
    _expand(text, source, version, base_dir, roots, builder, (), max_chars)
    return Expanded("".join(builder.parts), builder.runs)


def _expand(
    text: str,
    source: str,
    version: int,
    base_dir: Path,
    roots: list[Path],
    builder: _Builder,
    chain: tuple[Path, ...],
    max_chars: int,
) -> None:
    stripped = strip_comments(text)
    position, line = 0, 1
    builder.add("", source, 1)
    for match in _INCLUDE.finditer(stripped):
        name = match.group(1)
        if name == STANDARD_INCLUDES[version]:
            if builder.standard:  # the parsers refuse a second one ("'u3' is already defined"): drop it
                builder.add(text[position : match.start()] + _blank(match))
                position = match.end()
            builder.standard = True
            continue
        here = Expanded(text, [(1, source, 1)]).where(match.start())
        if len(chain) >= limits.MAX_INCLUDE_DEPTH:
            raise limits.too_large(
                here, "include depth", len(chain) + 1, limits.MAX_INCLUDE_DEPTH, "MAX_INCLUDE_DEPTH"
            )
        builder.files += 1
        if builder.files > limits.MAX_INCLUDES:
            raise limits.too_large(here, "include files", builder.files, limits.MAX_INCLUDES, "MAX_INCLUDES")
        path = _resolve(name, base_dir, roots)
        if path is None:
            raise _refused(here, name, version, roots)
        if path in chain:
            raise CircuitError(
                f"{here}: {quoted(name)} includes itself", hint="remove the circular include", source=source
            )
        included = limits.read_text(
            path, limit=max(0, max_chars - builder.size), what="OpenQASM include file"
        )
        builder.add(text[position : match.start()] + "\n")
        _expand(included, str(path), version, path.parent, roots, builder, (*chain, path), max_chars)
        line = text.count("\n", 0, match.end()) + 1
        column = match.end() - (text.rfind("\n", 0, match.end()) + 1)
        builder.add("\n")
        builder.add(" " * column, source, line)
        position = match.end()
        if builder.size > max_chars:
            raise limits.too_large(
                here,
                "characters (includes inlined)",
                builder.size,
                max_chars,
                _size_limit(max_chars),
            )
    builder.add(text[position:])
    if builder.size > max_chars:
        raise limits.too_large(
            source,
            "characters (includes inlined)",
            builder.size,
            max_chars,
            _size_limit(max_chars),
        )


def _size_limit(max_chars: int) -> str:
    return "MAX_QASM3_CHARS" if max_chars == limits.MAX_QASM3_CHARS else "MAX_CIRCUIT_CHARS"


def _resolve(name: str, base_dir: Path, roots: list[Path]) -> Path | None:
    """The regular file NAME is, looked up from BASE_DIR then each root, if it resolves inside a root. Nothing
    outside the roots is stat'ed or opened (`resolve` reads the links on the way, nothing else)."""
    if not name or len(name) > limits.MAX_PATH_CHARS or "\x00" in name:
        return None
    raw = Path(name)
    candidates = [raw] if raw.is_absolute() else [base_dir / raw, *(root / raw for root in roots)]
    for candidate in candidates:
        try:
            resolved = candidate.resolve()
        except (OSError, RuntimeError, ValueError):
            continue
        if not any(resolved.is_relative_to(root) for root in roots):
            continue
        try:
            if resolved.is_file():
                return resolved
        except (OSError, ValueError):
            continue
    return None


def _refused(where: str, name: str, version: int, roots: list[Path]) -> FileReadError:
    folders = ", ".join(limits.shown(root) for root in roots)
    return FileReadError(
        f"{where}: include {quoted(name)}: not a file Proxima may read; includes resolve only to "
        f"{STANDARD_INCLUDES[version]} or to files inside {folders}",
        hint="put the file in one of those folders and include it by a path relative to the including file "
        "or to that folder",
        path=limits.shown(name, 100),
    )


# --- bounds common to both versions -----------------------------------------------------------------------------


def check_nesting(stripped: str, expanded: Expanded) -> None:
    """Brackets and blocks inside one another at most MAX_NESTING deep (the parsers and the conversion recurse)."""
    depth = 0
    for match in _BRACKETS.finditer(stripped):
        if match.group(0) in "([{":
            depth += 1
            if depth > limits.MAX_NESTING:
                raise limits.too_large(
                    expanded.where(match.start()), "nesting depth", depth, limits.MAX_NESTING, "MAX_NESTING"
                )
        else:
            depth = max(0, depth - 1)


class Tally:
    """Qubits, clbits and operations so far, each refused the moment it passes its limit. `where` is called only
    then (finding a line and column costs a pass over the text)."""

    def __init__(self) -> None:
        self.qubits = 0
        self.clbits = 0
        self.operations = 0

    def add_qubits(self, count: int, where: Callable[[], str]) -> None:
        self.qubits += count
        if self.qubits > limits.MAX_QUBITS:
            raise limits.too_large(where(), "qubits", self.qubits, limits.MAX_QUBITS, "MAX_QUBITS")

    def add_clbits(self, count: int, where: Callable[[], str]) -> None:
        self.clbits += count
        if self.clbits > limits.MAX_CLBITS:
            raise limits.too_large(where(), "classical bits", self.clbits, limits.MAX_CLBITS, "MAX_CLBITS")

    def add_operations(self, count: int, where: Callable[[], str]) -> None:
        self.operations += count
        if self.operations > limits.MAX_OPERATIONS:
            shown = f"at least {self.operations:,}" if self.operations <= 10**15 else "more than 10^15"
            raise limits.too_large(
                where(), "operations (gate definitions and broadcasts expanded)", shown, limits.MAX_OPERATIONS,
                "MAX_OPERATIONS",
            )  # fmt: skip


def _capped(count: int) -> int:
    """Costs beyond the limit only need to be known to be beyond it: keep the numbers small."""
    return min(count, limits.MAX_OPERATIONS + 1)


def _size(digits: str) -> int:
    """A register size as written: numbers too long to matter are simply over every limit."""
    return int(digits) if len(digits) <= 12 else 10**13


# --- OpenQASM 2 -------------------------------------------------------------------------------------------------

# One pass over pieces that each end at `;`, `{` or `}` (every pattern below is anchored and applied to one
# piece, so the scan stays linear in the text, whatever the text).
_PIECE = re.compile(r"[^;{}]*[;{}]|[^;{}]+$")
_GATE_HEAD = re.compile(r"\s*gate\s+([A-Za-z_]\w*)")
_OPAQUE = re.compile(r"\s*opaque\s+([A-Za-z_]\w*)")
_REGISTER = re.compile(r"(qreg|creg)\s+([A-Za-z_]\w*)\s*\[\s*(\d+)\s*\]")
_CALL = re.compile(r"\s*([A-Za-z_]\w*)\s*(\()?")
_IF = re.compile(r"\s*if\s*\(")
_ARG = re.compile(r"([A-Za-z_]\w*)(?:\s*(\[[^\]]*\]))?")


def scan_qasm2(expanded: Expanded) -> Tally:
    """Bound an OpenQASM 2 program (includes inlined) without expanding it; raise CIRCUIT_TOO_LARGE if over.
    The tally is an upper bound on what Qiskit and the conversion will build."""
    text = strip_comments(expanded.text)
    check_nesting(text, expanded)
    tally = Tally()
    costs: dict[str, tuple[int, int]] = {}  # gate -> (operations it expands to, definition depth)
    registers: dict[str, int] = {}
    gate: tuple[str, int] | None = None  # the definition being read: its name and where it starts
    cost = depth = definitions = 0

    for match in _PIECE.finditer(text):
        piece, end, start = match.group(0), match.group(0)[-1], match.start()
        body = piece[:-1] if end in ";{}" else piece
        if gate is not None:  # inside a gate body: sum what its statements expand to
            callee = _callee(body)
            if callee is not None:
                callee_cost, callee_depth = costs.get(callee, (_STANDARD_COST.get(callee, 1), 0))
                cost, depth = _capped(cost + callee_cost), max(depth, callee_depth)
            if end == "}":
                name, at = gate
                if depth + 1 > limits.MAX_GATE_DEPTH:
                    raise limits.too_large(
                        expanded.where(at), f"gate definition depth of {quoted(name)}", depth + 1,
                        limits.MAX_GATE_DEPTH, "MAX_GATE_DEPTH",
                    )  # fmt: skip
                costs[name] = (cost, depth + 1)
                gate = None
            continue
        if end == "{":
            if head := _GATE_HEAD.match(body):
                gate, cost, depth = (head.group(1), start + len(body) - len(body.lstrip())), 0, 0
                definitions += 1
                if definitions > limits.MAX_GATE_DEFINITIONS:
                    raise limits.too_large(
                        expanded.where(gate[1]), "gate definitions", definitions, limits.MAX_GATE_DEFINITIONS,
                        "MAX_GATE_DEFINITIONS",
                    )  # fmt: skip
            continue
        if end == "}" or not body.strip():
            continue
        statement = body.strip()
        offset = start + len(body) - len(body.lstrip())
        if opaque := _OPAQUE.match(statement):
            costs[opaque.group(1)] = (1, 0)
            continue
        if register := _REGISTER.fullmatch(statement):
            kind, name, size = register.group(1), register.group(2), _size(register.group(3))
            registers[name] = size
            where = _at(expanded, offset + register.start(3))
            tally.add_qubits(size, where) if kind == "qreg" else tally.add_clbits(size, where)
            continue
        if _IF.match(statement):  # if (c == n) op: the operation after the condition
            close = statement.find(")")
            statement = statement[close + 1 :] if close >= 0 else ""
        callee, args = _call(statement)
        if callee is None or callee in ("OPENQASM", "include"):
            continue
        if callee in ("measure", "reset", "barrier"):
            each = 1
        else:
            each = costs.get(callee, (_STANDARD_COST.get(callee, 1), 0))[0]
        width = 1 if callee == "barrier" else _broadcast(args, registers)
        tally.add_operations(each * width, _at(expanded, offset))
    return tally


def _at(expanded: Expanded, position: int) -> Callable[[], str]:
    return lambda: expanded.where(position)


def _callee(statement: str) -> str | None:
    match = _CALL.match(statement)
    return match.group(1) if match else None


def _call(statement: str) -> tuple[str | None, str]:
    """The name a statement calls and the text of its quantum arguments (after any parameter list)."""
    match = _CALL.match(statement)
    if not match:
        return None, ""
    rest = statement[match.end() :]
    if match.group(2):  # skip the parameters, which may hold parentheses
        depth, index = 1, 0
        while depth and index < len(rest):
            found = _PARENS.search(rest, index)
            if found is None:
                break
            depth += 1 if found.group(0) == "(" else -1
            index = found.end()
        rest = rest[index:] if depth == 0 else ""
    return match.group(1), rest


_PARENS = re.compile(r"[()]")


def _broadcast(args: str, registers: dict[str, int]) -> int:
    """How many operations a statement on ARGS becomes: a whole register as an argument repeats it per qubit."""
    width = 1
    for arg in args.replace("->", ",").split(","):
        match = _ARG.fullmatch(arg.strip())
        if match and match.group(2) is None:
            width = max(width, registers.get(match.group(1), 1))
    return width


# --- OpenQASM 3 -------------------------------------------------------------------------------------------------


def scan_qasm3(program: Any, expanded: Expanded) -> Tally:
    """Bound an OpenQASM 3 program from its syntax tree (`openqasm3.parse`, which expands nothing)."""
    check_nesting(strip_comments(expanded.text), expanded)
    scan = _Scan3(expanded)
    scan.statements(program.statements)
    return scan.tally


class _Scan3:
    def __init__(self, expanded: Expanded) -> None:
        from openqasm3 import ast

        self.ast = ast
        self.expanded = expanded
        self.tally = Tally()
        self.registers: dict[str, int] = {}
        self.gates: dict[str, tuple[int, int]] = {}  # gate -> (operations it expands to, definition depth)

    def where(self, node: Any) -> str:
        span = getattr(node, "span", None)
        if span is None:
            return self.expanded.runs[0][1] if self.expanded.runs else "<qasm>"
        source, line = self.expanded.locate(span.start_line)
        return f"{source}:{line}:{span.start_column + 1}"

    def at(self, node: Any) -> Callable[[], str]:
        return lambda: self.where(node)

    def integer(self, node: Any, what: str, depth: int = 0) -> int:
        """A constant integer expression (literals, unary -, + - *), as the importer allows; else refused."""
        ast = self.ast
        value: int | None = None
        if depth > 32:
            value = None
        elif isinstance(node, ast.IntegerLiteral):
            value = node.value
        elif isinstance(node, ast.UnaryExpression) and node.op.name == "-":
            value = -self.integer(node.expression, what, depth + 1)
        elif isinstance(node, ast.BinaryExpression) and node.op.name in ("+", "-", "*"):
            lhs = self.integer(node.lhs, what, depth + 1)
            rhs = self.integer(node.rhs, what, depth + 1)
            value = lhs + rhs if node.op.name == "+" else lhs - rhs if node.op.name == "-" else lhs * rhs
        if value is None:
            raise CircuitError(
                f"{self.where(node)}: {what} must be an integer constant (a literal, or literals with + - *)",
                hint="write the number itself",
            )
        return max(-(10**15), min(10**15, value))  # big enough to be over any limit, small enough to compute

    def statements(self, statements: list[Any], depth: int = 0) -> None:
        for statement in statements:
            self.statement(statement, depth)

    def statement(self, node: Any, depth: int) -> None:
        ast = self.ast
        if isinstance(node, ast.QubitDeclaration):
            size = 1 if node.size is None else self.integer(node.size, "a register size")
            self.registers[node.qubit.name] = size
            self.tally.add_qubits(max(size, 0), self.at(node))
        elif isinstance(node, ast.ClassicalDeclaration | ast.IODeclaration):
            if isinstance(node.type, ast.BitType):
                size = 1 if node.type.size is None else self.integer(node.type.size, "a register size")
                self.registers[node.identifier.name] = size
                self.tally.add_clbits(max(size, 0), self.at(node))
            init = getattr(node, "init_expression", None)
            if isinstance(init, ast.QuantumMeasurement):
                self.tally.add_operations(self.width([init.qubit]), self.at(node))
        elif isinstance(node, ast.AliasStatement):
            self.registers[node.target.name] = max(
                self.tally.qubits, self.tally.clbits
            )  # at most all of them
        elif isinstance(node, ast.QuantumGateDefinition):
            self.define(node)
        elif isinstance(node, ast.QuantumGate | ast.QuantumPhase):
            self.tally.add_operations(self.call(node) * self.width(node.qubits), self.at(node))
        elif isinstance(node, ast.QuantumMeasurementStatement):
            self.tally.add_operations(self.width([node.measure.qubit]), self.at(node))
        elif isinstance(node, ast.QuantumReset):
            self.tally.add_operations(self.width([node.qubits]), self.at(node))
        elif isinstance(node, ast.QuantumBarrier):
            self.tally.add_operations(1, self.at(node))
        elif isinstance(node, ast.DelayInstruction):
            self.tally.add_operations(max(1, len(node.qubits)) * self.width(node.qubits), self.at(node))
        else:  # blocks (if, loops, box, ...): their statements once each, as the importer builds them
            for name in ("if_block", "else_block", "block", "body", "statements"):
                inner = getattr(node, name, None)
                if isinstance(inner, list):
                    self.statements(inner, depth + 1)

    def width(self, operands: list[Any]) -> int:
        """Operations a statement on OPERANDS becomes: a register, a range or a set repeats it per element."""
        ast = self.ast
        width = 1
        for operand in operands:
            if isinstance(operand, ast.Identifier):
                width = max(width, self.registers.get(operand.name, 1))
            elif isinstance(operand, ast.IndexedIdentifier):
                for index in operand.indices:
                    elements = index if isinstance(index, list) else [index]
                    if isinstance(index, ast.DiscreteSet) or any(
                        isinstance(e, ast.RangeDefinition) for e in elements
                    ):
                        width = max(width, self.registers.get(operand.name.name, self.tally.qubits))
        return width

    def call(self, node: Any) -> int:
        """Operations one application of a gate (with its modifiers) expands to."""
        ast = self.ast
        if isinstance(node, ast.QuantumPhase):
            cost = 1
        else:
            cost = self.gates.get(node.name.name, (_STANDARD_COST.get(node.name.name, 1), 0))[0]
        controls = 0
        for modifier in node.modifiers:
            if modifier.modifier in (ast.GateModifierName.ctrl, ast.GateModifierName.negctrl):
                count = 1 if modifier.argument is None else self.integer(modifier.argument, "a control count")
                controls += max(count, 0)
        arity = max(len(node.qubits) - controls, 0)
        for modifier in reversed(node.modifiers):  # innermost first, as the importer applies them
            if modifier.modifier is ast.GateModifierName.pow:
                if arity > limits.MAX_POW_QUBITS:
                    raise limits.too_large(
                        self.where(node), "qubits of a gate under pow(...) @", arity, limits.MAX_POW_QUBITS,
                        "MAX_POW_QUBITS",
                    )  # fmt: skip
                cost = _capped(max(cost, 4 * 4**arity))  # a matrix, synthesised back into gates
            elif modifier.modifier in (ast.GateModifierName.ctrl, ast.GateModifierName.negctrl):
                count = 1 if modifier.argument is None else self.integer(modifier.argument, "a control count")
                arity += max(count, 0)
                cost = _capped(cost * (4 + 2 * arity * arity))  # controlled decompositions grow as n^2
        return cost

    def define(self, node: Any) -> None:
        if len(self.gates) >= limits.MAX_GATE_DEFINITIONS:
            raise limits.too_large(
                self.where(node), "gate definitions", len(self.gates) + 1, limits.MAX_GATE_DEFINITIONS,
                "MAX_GATE_DEFINITIONS",
            )  # fmt: skip
        cost, depth = 0, 0
        for statement in node.body:
            if isinstance(statement, self.ast.QuantumGate | self.ast.QuantumPhase):
                cost = _capped(cost + self.call(statement))
                if isinstance(statement, self.ast.QuantumGate):
                    depth = max(depth, self.gates.get(statement.name.name, (0, 0))[1])
            else:
                cost = _capped(cost + 1)
        depth += 1
        if depth > limits.MAX_GATE_DEPTH:
            raise limits.too_large(
                self.where(node), f"gate definition depth of {quoted(node.name.name)}", depth,
                limits.MAX_GATE_DEPTH, "MAX_GATE_DEPTH",
            )  # fmt: skip
        self.gates[node.name.name] = (cost, depth)
