"""Consent is a protocol, not a UI: the engine asks a ConsentProvider and records the request and the answer.

Front doors answer: the terminal prompts; headless runs deny unless `--yes`; MCP asks the client (later).
"""

from __future__ import annotations

import asyncio
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


class TerminalConsent:
    """Asks on the terminal (stderr); no answer within the timeout takes the default."""

    async def ask(self, request: ConsentRequest) -> ConsentAnswer:
        from rich.prompt import Prompt

        from proxima_agent.ui.render import make_console

        console = make_console(stderr=True)
        console.print(f"[bold]{request.title}[/bold]")
        if request.detail:
            console.print(request.detail)
        for option in request.options:
            console.print(
                f"  {option.name}: {option.label}" + (" [red](dangerous)[/red]" if option.dangerous else "")
            )
        choices = [o.name for o in request.options]

        def prompt() -> str:
            return Prompt.ask("choose", choices=choices, default=request.default, console=console)

        try:
            answer = await asyncio.wait_for(asyncio.to_thread(prompt), request.timeout_s)
        except (TimeoutError, EOFError):
            return ConsentAnswer(option=request.default, answered_by="terminal (no answer: default)")
        return ConsentAnswer(option=answer, answered_by="terminal")
