"""`proxima chat`: a prompt (prompt_toolkit: history across sessions, completion of slash commands, backend ids
and circuit names; Alt+Enter for a new line) and rich output: the answer as Markdown while it streams, each
tool call as one compact line, job progress while a simulation runs, and a footer per turn with tokens, cost
and the simulation's own cost.

Ctrl+C at the prompt clears the line; during a turn it offers to pause or abort the running job, or to detach
from it (it keeps running; `/jobs` shows it), instead of killing the chat. Ctrl+D or `/exit` leaves. The session
is stored after every turn, so nothing said is lost: `proxima chat --continue` brings it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

from proxima_agent.agent.consent import Answer, RemoteQuestion
from proxima_agent.agent.session import AgentSession, Approval, TurnResult
from proxima_agent.tools.context import Runtime, ToolContext

SLASH = {
    "/help": "this list",
    "/model": "show the model, or switch: /model provider:name | offline",
    "/backends": "the simulators here and their limits",
    "/jobs": "recent jobs",
    "/pause": "pause a job (default: the last one)",
    "/resume": "resume a job",
    "/abort": "abort a job",
    "/cost": "tokens, cost and simulation time of this session",
    "/tools": "the tools the model can call, and where each comes from",
    "/skills": "the skills; run one with /NAME [what to do]",
    "/sessions": "recent sessions",
    "/export": "export this session: /export md|json|html [PATH]",
    "/clear": "start a new session (same model)",
    "/exit": "leave (the session is saved)",
}

# The circuit library's names, for completion (importing the library itself would load numpy before the prompt).
# Checked against both by tests/test_chat.py.
BACKEND_WORDS = ["cirq-sv", "cirq-dm", "aer-sv", "aer-dm", "lret"]
CIRCUIT_WORDS = ["bell", "ghz:", "qft:", "random:", "grover:", "w:", "qaoa:"]


class Chat:
    def __init__(self, runtime: Runtime, console: Console, interactive: bool) -> None:
        self.runtime = runtime
        self.console = console
        self.interactive = interactive
        self.session: AgentSession | None = None
        self.last_job: str | None = None
        self.prompt: Any = None
        self.turn_task: asyncio.Task[TurnResult] | None = None
        self.answer: list[str] = []

    # --- input --------------------------------------------------------------------------------------------

    def _prompt_session(self) -> Any:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.completion import WordCompleter
        from prompt_toolkit.history import FileHistory
        from prompt_toolkit.key_binding import KeyBindings

        from proxima_agent.paths import data_dir

        bindings = KeyBindings()

        @bindings.add("escape", "enter")
        def _newline(event: Any) -> None:
            event.current_buffer.insert_text("\n")

        words = list(SLASH) + [f"/{s.name}" for s in self._skills()] + self._names()
        return PromptSession(
            history=FileHistory(str(data_dir() / "chat_history")),
            completer=WordCompleter(words, sentence=True),
            key_bindings=bindings,
        )

    def _names(self) -> list[str]:
        return [*BACKEND_WORDS, *CIRCUIT_WORDS]

    def _skills(self) -> list[Any]:
        from proxima_agent.tools.skills import load_skills

        return load_skills(self.runtime.workspace)

    async def read(self, message: str = "› ") -> str | None:
        """A line from the user; None at end of input (Ctrl+D)."""
        if not self.interactive:
            line = await asyncio.to_thread(sys.stdin.readline)
            return line.rstrip("\n") if line else None
        if self.prompt is None:
            self.prompt = self._prompt_session()
        try:
            return str(await self.prompt.prompt_async(message))
        except EOFError:
            return None

    async def ask(self, question: str, choices: dict[str, str]) -> str:
        """One of CHOICES' keys; Ctrl+C or end of input answers the first "no"-like choice (the last)."""
        options = " / ".join(f"[{k}] {v}" for k, v in choices.items())
        self.console.print(f"[bold]{escape(question)}[/]\n  {escape(options)}")
        while True:
            try:
                line = await self.read("answer: ")
            except KeyboardInterrupt:
                line = None
            if line is None:
                return list(choices)[-1]
            key = line.strip().lower()[:1]
            if key in choices:
                return key
            self.console.print(f"  answer one of {', '.join(choices)}")

    # --- the front door's answers to the agent ---------------------------------------------------------------

    async def approve(self, approvals: list[Approval]) -> dict[str, str]:
        answers = {}
        for a in approvals:
            shown = ", ".join(f"{k}={_short(v)}" for k, v in a.arguments.items())
            why = "; ".join(a.reasons)
            key = await self.ask(
                f"Allow {a.tool}({shown})? {why}",
                {"y": "yes", "a": f"always {a.tool} this session", "n": "no"},
            )
            answers[a.tool_call_id] = {"y": "yes", "a": "always", "n": "no"}[key]
        return answers

    async def remote(self, question: RemoteQuestion) -> Answer:
        key = await self.ask(
            question.text() + " Allow it?",
            {"o": "once", "s": "this session", "a": f"always for {question.provider}", "n": "never"},
        )
        return {"o": "once", "s": "session", "a": "always", "n": "never"}[key]  # type: ignore[return-value]

    # --- output ---------------------------------------------------------------------------------------------

    async def on_event(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "text_delta":
            self.answer.append(event["text"])
            self.console.print(event["text"], end="", markup=False, highlight=False, soft_wrap=True)
        elif kind == "tool_call":
            self._end_text()
            self.console.print(f"[dim]⏺ {escape(event['tool'])}({escape(_arguments(event['arguments']))})[/]")
        elif kind == "tool_result":
            self.last_job = (event.get("job_ids") or [self.last_job])[-1]
            seconds = event["duration_ms"] / 1000
            if event["ok"]:
                summary = (event.get("summary") or "").splitlines()[0][:120]
                self.console.print(f"[dim]  ⎿ ok · {seconds:.2f} s · {escape(summary)}[/]")
            else:
                error = event["error"]
                self.console.print(
                    f"  ⎿ [red]{error['code']}[/] · {seconds:.2f} s · {escape(error['message'][:160])}"
                )
        elif kind == "progress":
            total = f"/{event['total']:g}" if event.get("total") else ""
            self.console.print(f"[dim]  … {event['done']:g}{total} {escape(event.get('message') or '')}[/]")

    def _end_text(self) -> None:
        if self.answer:
            self.console.print()
            self.answer = []

    # --- the loop -------------------------------------------------------------------------------------------

    async def run(
        self, model: str | None, continue_last: bool, resume: str | None, allow_remote: bool
    ) -> int:
        self.session = await AgentSession.open(
            self.runtime, model, resume=resume, continue_last=continue_last, approver=self.approve,
            asker=self.remote, allow_remote=allow_remote,
        )  # fmt: skip
        try:
            self._banner()
            while True:
                try:
                    line = await self.read()
                except KeyboardInterrupt:
                    self.console.print("[dim](Ctrl+C: line cleared; /exit or Ctrl+D to leave)[/]")
                    continue
                if line is None:
                    break
                line = line.strip()
                if not line:
                    continue
                if line.startswith("/"):
                    if await self.command(line) == "exit":
                        break
                    continue
                await self.turn(line)
        finally:
            self.console.print(
                f"[dim]session {self.session.id} saved · proxima chat --resume {self.session.id}[/]"
            )
            await self.session.close()
        return 0

    def _banner(self) -> None:
        assert self.session is not None
        choice = self.session.choice
        self.console.print(
            f"[bold]Proxima chat[/] · model: {escape(choice.label)} · session {self.session.id}"
        )
        if choice.locality == "offline":
            self.console.print(
                "[dim]The offline planner turns plain requests into tool calls (run, compare, which backend, will "
                "it fit, pause / resume / abort, interpret). For open questions configure an LLM: --model "
                "provider:name or agent.model in proxima.json.[/]"
            )
        if self.session.history:
            self.console.print(f"[dim]continuing: {len(self.session.history)} messages[/]")
            self._replay_tail()
        self.console.print("[dim]/help for commands[/]")

    def _replay_tail(self) -> None:
        from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, UserPromptPart

        assert self.session is not None
        for message in self.session.history[-6:]:
            for part in message.parts:
                if isinstance(message, ModelRequest) and isinstance(part, UserPromptPart):
                    self.console.print(f"[bold]› {escape(str(part.content))}[/]")
                elif isinstance(message, ModelResponse) and isinstance(part, TextPart):
                    self.console.print(escape(part.content[:2000]))

    async def turn(self, prompt: str) -> None:
        assert self.session is not None
        self.turn_task = asyncio.ensure_future(self.session.turn(prompt, self.on_event))
        loop = asyncio.get_running_loop()
        interrupting: list[asyncio.Future[None]] = []

        def on_sigint() -> None:  # one question at a time, however often Ctrl+C is pressed
            if not interrupting or interrupting[-1].done():
                interrupting.append(asyncio.ensure_future(self.interrupt()))

        loop.add_signal_handler(signal.SIGINT, on_sigint)
        try:
            result = await self.turn_task
        except asyncio.CancelledError:
            self._end_text()
            self.console.print("[yellow]turn stopped[/] (the session keeps what came before)")
            return
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            self.turn_task = None
            # the turn ended while its Ctrl+C question was open: close the question, the prompt comes back
            for pending in interrupting:
                if not pending.done():
                    pending.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pending
        self._end_text()
        if result.error is not None:
            self.console.print(f"[red]{result.error.code}[/]: {escape(result.error.message)}")
            if result.error.hint:
                self.console.print(f"[dim]hint: {escape(result.error.hint)}[/]")
        self.console.print(f"[dim]{escape(result.footer(self.session.choice.label))}[/]")

    async def interrupt(self) -> None:
        """Ctrl+C during a turn: pause, abort or detach from the running job, or stop the turn."""
        task = self.turn_task
        if task is None or task.done():
            return
        running = await self._running_jobs()
        if not running:
            task.cancel()
            return
        job = running[-1]
        self.last_job = job  # what /resume and /abort act on, though the turn never saw the tool's result
        key = await self.ask(
            f"Job {job} is running.",
            {"p": "pause it", "a": "abort it", "d": "detach (it keeps running)", "c": "continue waiting"},
        )
        if key == "c":
            return
        if key in ("p", "a"):
            output = await self.tool("pause" if key == "p" else "abort", {"job_id": job})
            self.console.print(f"[dim]{escape(output)}[/]")
        task.cancel()

    async def _running_jobs(self) -> list[str]:
        engine = self.runtime._engine  # only a started engine can have jobs running in this chat
        if engine is None:
            return []
        from proxima_agent.engine.states import FINAL

        return [j.id for j in list(engine.jobs.values()) if j.state not in FINAL]

    async def tool(self, name: str, arguments: dict[str, Any]) -> str:
        from proxima_agent.tools.invoke import invoke
        from proxima_agent.tools.registry import registry

        return (
            await invoke(registry()[name], arguments, ToolContext(self.runtime))
        ).text()  # output or error

    async def command(self, line: str) -> str | None:
        assert self.session is not None
        name, _, rest = line.partition(" ")
        rest = rest.strip()
        skills = {f"/{s.name}": s for s in self._skills()}
        if name == "/exit" or name == "/quit":
            return "exit"
        if name == "/help":
            for command, text in SLASH.items():
                self.console.print(f"  {command:<10} {text}")
        elif name == "/model":
            if rest:
                await self._switch_model(rest)
            else:
                self.console.print(f"model: {escape(self.session.choice.label)}")
        elif name == "/backends":
            self.console.print(escape(await self.tool("list_backends", {})))
        elif name == "/jobs":
            self.console.print(escape(await self.tool("list_jobs", {"limit": 10})))
        elif name in ("/pause", "/resume", "/abort"):
            job = rest or self.last_job
            if job is None:
                self.console.print("no job yet: give its id (/jobs lists them)")
            else:
                self.console.print(escape(await self.tool(name[1:], {"job_id": job})))
        elif name == "/cost":
            totals = await self.session.store.totals(self.session.id)
            self.console.print(escape(_totals_line(totals)))
        elif name == "/tools":
            for tool in sorted(self.session.proxima_tools.specs):
                self.console.print(f"  {tool:<20} proxima")
            for toolset in self.session.external:
                self.console.print(
                    f"  {getattr(toolset, 'label', 'external'):<20} {getattr(toolset, 'id', '')}"
                )
        elif name == "/skills":
            for skill in skills.values():
                self.console.print(
                    f"  /{skill.name:<18} {escape(skill.description)} [dim]({skill.source})[/]"
                )
        elif name in skills:
            await self.turn(skills[name].render({"request": rest} if rest else None))
        elif name == "/sessions":
            for record in await self.session.store.list(limit=10):
                title = record.title or "(no prompt yet)"
                self.console.print(f"  {record.id}  {escape(record.model):<28} {escape(title[:60])}")
        elif name == "/export":
            await self._export(rest)
        elif name == "/clear":
            model = self.session.choice.spec
            await self.session.close()
            self.session = await AgentSession.open(
                self.runtime, model, approver=self.approve, asker=self.remote,
                allow_remote=self.session.remote.allowed,
            )  # fmt: skip
            self.console.print(f"new session {self.session.id}")
        else:
            self.console.print(f"unknown command {escape(name[:40])}: /help lists them")
        return None

    async def _switch_model(self, spec: str) -> None:
        from proxima_agent.agent.consent import RemoteConsent
        from proxima_agent.agent.models import parse_model
        from proxima_agent.errors import ProximaError

        assert self.session is not None
        try:
            choice = parse_model(spec, self.runtime.config.agent)
        except ProximaError as exc:
            self.console.print(
                f"[red]{exc.code}[/]: {escape(exc.message)}\n[dim]hint: {escape(exc.hint or '')}[/]"
            )
            return
        self.session.choice = choice
        self.session.remote = RemoteConsent(choice, allowed=self.session.remote.allowed, asker=self.remote)
        self.session._agent = None
        self.console.print(f"model: {escape(choice.label)}")

    async def _export(self, rest: str) -> None:

        from proxima_agent.agent.export import export_session

        assert self.session is not None
        fmt, _, where = rest.partition(" ")
        fmt = fmt or "md"
        if fmt not in ("md", "json", "html"):
            self.console.print("formats: md, json, html")
            return
        store = self.session.store
        text = export_session(
            await store.get(self.session.id), await store.load_messages(self.session.id),
            await store.events(self.session.id), fmt,  # type: ignore[arg-type]
        )  # fmt: skip
        path = self.runtime.resolve_path(where.strip() or f"session-{self.session.id}.{fmt}")
        partial = path.with_name(path.name + ".partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
        self.console.print(f"exported to {path}")


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _arguments(arguments: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in arguments.items())


def _totals_line(totals: Any) -> str:
    from proxima_agent.agent.export import totals_lines

    return " · ".join(f"{name} {value}" for name, value in totals_lines(totals))


async def run_chat(
    runtime: Runtime, model: str | None, *, continue_last: bool, resume: str | None, allow_remote: bool
) -> int:
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    chat = Chat(runtime, Console(highlight=False), interactive)
    with contextlib.suppress(asyncio.CancelledError):
        return await chat.run(model, continue_last, resume, allow_remote)
    return 130
