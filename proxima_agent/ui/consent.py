"""The terminal's answer to the engine's consent questions: a prompt on stderr."""

from __future__ import annotations

import asyncio

from proxima_agent.engine.consent import ConsentAnswer, ConsentRequest


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
