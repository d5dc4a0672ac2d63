"""Consent is a protocol, not a UI: the engine asks a ConsentProvider and records the request and the answer.

Front doors answer: the terminal prompts (`ui.consent.TerminalConsent`); headless runs deny unless `--yes`; MCP
asks the client by elicitation. The core only defines the protocol and the fixed answers.
"""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, Field


class ConsentOption(BaseModel):
    name: str
    label: str
    dangerous: bool = False


class ConsentRequest(BaseModel):
    title: str
    detail: str = ""
    severity: Literal["info", "warning", "critical"] = "warning"
    options: list[ConsentOption]
    default: str = Field(description="the option taken when nobody answers in time")
    timeout_s: float | None = 60.0


class ConsentAnswer(BaseModel):
    option: str
    answered_by: str = Field(description="who answered: 'terminal', 'flag --force', 'headless default', ...")


class ConsentProvider(Protocol):
    async def ask(self, request: ConsentRequest) -> ConsentAnswer: ...


class FixedConsent:
    """Answers every request the same way: the default (headless runs), or the most permissive (`--yes`)."""

    def __init__(self, approve: bool, who: str | None = None) -> None:
        self.approve = approve
        self.who = who or ("--yes" if approve else "headless default (no --yes)")

    async def ask(self, request: ConsentRequest) -> ConsentAnswer:
        if self.approve:
            dangerous = [o.name for o in request.options if o.dangerous]
            return ConsentAnswer(option=dangerous[0] if dangerous else request.default, answered_by=self.who)
        return ConsentAnswer(option=request.default, answered_by=self.who)
