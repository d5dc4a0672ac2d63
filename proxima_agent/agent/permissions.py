"""Which tool calls run freely, which ask first, which are refused: `permissions.allow / ask / deny` rule lists
in `proxima.json`, in the shape terminal coding agents use. A rule is a tool name (`execute`), a tool with
argument patterns (`execute(backend=lret)`, `compare(backends=*lret*)`, shell-style `*` and `?`), a tool of an
external MCP server (`mcp__NAME__TOOL`, `mcp__NAME__*`), or `*`. Deny is checked first, then ask, then allow.

With no rule matching: read-only tools run; a tool that starts simulations asks when its estimate is over the
configured time or memory, and always before a forced run; other tools that change a job (pause, abort,
rollback...) run, since the user asked for them by name.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from proxima_agent.errors import ConfigError, quoted

Decision = Literal["allow", "ask", "deny"]
RULE = re.compile(r"(?P<tool>[A-Za-z0-9_*?\-]+)(?:\((?P<args>[^()]*)\))?")
SIMULATING = frozenset({"execute", "compare"})


@dataclass(frozen=True)
class Rule:
    text: str
    tool: str
    args: tuple[tuple[str, str], ...]

    def matches(self, tool: str, arguments: dict[str, Any]) -> bool:
        if not fnmatch.fnmatchcase(tool, self.tool):
            return False
        for name, pattern in self.args:
            value = arguments.get(name)
            shown = value if isinstance(value, str) else json.dumps(value)
            if value is None or not fnmatch.fnmatchcase(shown, pattern):
                return False
        return True


def parse_rule(text: str) -> Rule:
    match = RULE.fullmatch(text.strip())
    if match is None:
        raise ConfigError(
            f"permission rule {quoted(text, 80)} is not TOOL or TOOL(arg=pattern, ...)",
            hint='e.g. "execute", "execute(backend=lret)", "mcp__other__*"',
        )
    args = []
    for part in filter(None, (p.strip() for p in (match["args"] or "").split(","))):
        name, sep, pattern = part.partition("=")
        if not sep or not name.strip():
            raise ConfigError(
                f"permission rule {quoted(text, 80)}: {quoted(part, 40)} is not arg=pattern",
                hint='e.g. "execute(backend=lret)"',
            )
        args.append((name.strip(), pattern.strip()))
    return Rule(text.strip(), match["tool"], tuple(args))


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: str  # the rule that matched, or the default that applied
    rule: str | None = None


class Permissions:
    def __init__(self, allow: list[str], ask: list[str], deny: list[str]) -> None:
        self.rules: dict[Decision, list[Rule]] = {
            "deny": [parse_rule(r) for r in deny],
            "ask": [parse_rule(r) for r in ask],
            "allow": [parse_rule(r) for r in allow],
        }
        self.session_allowed: set[str] = set()  # tools the user answered "always" for, this session

    @classmethod
    def from_config(cls, config: Any) -> Permissions:
        p = config.permissions
        return cls(list(p.allow), list(p.ask), list(p.deny))

    def check(self, tool: str, arguments: dict[str, Any], *, read_only: bool) -> Verdict:
        """The rules' verdict on a call, before any estimate: deny, then ask, then allow, then the default."""
        for decision in ("deny", "ask", "allow"):
            for rule in self.rules[decision]:
                if rule.matches(tool, arguments):
                    if decision == "ask" and tool in self.session_allowed:
                        return Verdict("allow", f"allowed for this session after rule {rule.text}", rule.text)
                    return Verdict(decision, f"rule {rule.text}", rule.text)
        if tool in self.session_allowed:
            return Verdict("allow", "allowed for this session")
        if read_only:
            return Verdict("allow", "read-only tool")
        if tool in SIMULATING and arguments.get("force") in (True, "true", "True"):
            return Verdict("ask", "a forced run (past a memory refusal) always asks")
        return Verdict("allow", "default")

    def allow_for_session(self, tool: str) -> None:
        self.session_allowed.add(tool)
