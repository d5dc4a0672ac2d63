"""The agent's front doors: `proxima chat` (a conversation in the terminal) and `proxima agent -p` (one prompt,
headless, in the output formats terminal agents use). Both open an AgentSession over the one tool registry; the
model is `--model`, else `agent.model` in proxima.json, else the offline planner."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import click

from proxima_agent.cli.common import read_config

model_option = click.option(
    "--model", "-m", default=None, metavar="PROVIDER:NAME",
    help="offline, anthropic:..., openai:..., openai-chat:..., ollama:..., lmstudio:..., llamacpp:..., vllm:..., "
    "groq:..., openrouter:... (default: agent.model, else offline).",
)  # fmt: skip
continue_option = click.option(
    "--continue", "-c", "continue_last", is_flag=True, help="Continue this folder's latest session."
)
resume_option = click.option(
    "--resume", "-r", "resume", default=None, metavar="SESSION", help="Continue the session with this id."
)
remote_option = click.option(
    "--allow-remote", is_flag=True, help="Let the conversation go to a remote model without asking."
)


def _with_runtime(work: Any) -> int:
    from proxima_agent.tools.context import Runtime

    async def main() -> int:
        runtime = Runtime(read_config())
        try:
            return int(await work(runtime))
        finally:
            await runtime.close()

    return asyncio.run(main())


@click.command()
@model_option
@continue_option
@resume_option
@remote_option
def chat(model: str | None, continue_last: bool, resume: str | None, allow_remote: bool) -> None:
    """Talk to Proxima: it plans with its tools, asks before big or costly steps, and answers with the numbers
    the tools computed. `/help` lists the commands; Ctrl+C during a run offers pause, abort or detach."""
    from proxima_agent.ui.chat import run_chat

    code = _with_runtime(
        lambda runtime: run_chat(
            runtime, model, continue_last=continue_last, resume=resume, allow_remote=allow_remote
        )
    )
    if code:
        raise click.exceptions.Exit(code)


@click.command()
@click.option(
    "--print", "-p", "prompt", required=True, metavar="PROMPT", help="The request; `-` reads stdin."
)
@model_option
@click.option(
    "--output-format", type=click.Choice(["text", "json", "stream-json"]), default="text", show_default=True,
    help="text: the answer; json: one result record; stream-json: one event a line, then the result record.",
)  # fmt: skip
@click.option(
    "--yes", "-y", is_flag=True, help="Approve the tool calls that would ask (they are denied otherwise)."
)
@remote_option
@click.option(
    "--max-turns", type=click.IntRange(min=1), default=None, help="At most this many model requests."
)
@continue_option
@resume_option
def agent(
    prompt: str,
    model: str | None,
    output_format: str,
    yes: bool,
    allow_remote: bool,
    max_turns: int | None,
    continue_last: bool,
    resume: str | None,
) -> None:
    """Run one request without a person: the answer on stdout, tool calls on stderr (text), or JSON records.
    Exit codes as docs/errors.md says (0 success, 8 a model failure, 130 interrupted)."""
    from proxima_agent.ui.headless import run_prompt

    if prompt == "-":
        prompt = sys.stdin.read()
    code = _with_runtime(
        lambda runtime: run_prompt(
            runtime, prompt, output_format=output_format, model=model, yes=yes,  # type: ignore[arg-type]
            allow_remote=allow_remote, max_turns=max_turns, continue_last=continue_last, resume=resume,
        )
    )  # fmt: skip
    if code:
        raise click.exceptions.Exit(code)


COMMANDS = (chat, agent)
