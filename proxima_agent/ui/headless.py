"""`proxima agent -p PROMPT`: one turn, no questions, in the output formats terminal agents use.

- `text`: the answer on standard output; each tool call as a line on standard error; a failure as one line
  and its hint on standard error.
- `json`: one record at the end: `type: "result"`, `subtype` (`success` / `error`), `is_error`, `session_id`,
  `model`, `result`, `tool_calls` (each with its arguments and outcome), `usage` (requests, tokens, cost),
  `simulation` (core-seconds, peak memory, job ids), `duration_ms`, `num_turns`, and `error` when one occurred.
- `stream-json`: one JSON event a line: `init`, then `text_delta`, `tool_call`, `tool_result`, `progress`,
  `permission`, and the same `result` record last.

Questions are answered without a person: `--yes` approves tool calls that ask, otherwise they are denied (the
model is told, and so is the user); a remote model needs `--allow-remote` or `agent.allow_remote`.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from typing import Any, Literal

from proxima_agent.agent.session import AgentSession, TurnResult, approve_all, deny_all
from proxima_agent.errors import ProximaError
from proxima_agent.tools.context import Runtime
from proxima_agent.tools.models import ErrorInfo

OutputFormat = Literal["text", "json", "stream-json"]
INTERRUPTED = 130


def emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, default=str) + "\n")
    sys.stdout.flush()


def result_record(session: AgentSession | None, result: TurnResult, model: str) -> dict[str, Any]:
    return {
        "type": "result",
        "subtype": "error" if result.is_error else "success",
        "is_error": result.is_error,
        "session_id": session.id if session else None,
        "model": model,
        "result": result.text,
        "tool_calls": [
            {
                k: v
                for k, v in call.items()
                if k in ("tool", "arguments", "ok", "error", "duration_ms", "job_ids")
            }
            for call in result.tool_calls
        ],
        "usage": result.usage,
        "simulation": result.simulation,
        "duration_ms": result.duration_ms,
        "num_turns": result.usage.get("requests", 0),
        "error": result.error.model_dump(mode="json") if result.error else None,
    }


async def run_prompt(
    runtime: Runtime,
    prompt: str,
    *,
    output_format: OutputFormat = "text",
    model: str | None = None,
    yes: bool = False,
    allow_remote: bool = False,
    max_turns: int | None = None,
    continue_last: bool = False,
    resume: str | None = None,
) -> int:
    """Run one turn and print it in OUTPUT_FORMAT; the exit code (0 success, the error's code otherwise)."""
    started = time.perf_counter()
    approver = approve_all if yes else deny_all
    setattr(approver, "who", "--yes" if yes else "headless default (no --yes)")  # noqa: B010
    session: AgentSession | None = None
    label = model or "offline"
    try:
        session = await AgentSession.open(
            runtime,
            model,
            resume=resume,
            continue_last=continue_last,
            approver=approver,
            allow_remote=allow_remote,
        )
        label = session.choice.spec
        for (
            notice
        ) in session.notices:  # an external MCP server that did not start: the run goes on without it
            sys.stderr.write(f"warning: {notice}\n")
        if max_turns is not None:
            session.request_limit = max_turns
        if output_format == "stream-json":
            emit(
                {"type": "init", "session_id": session.id, "model": session.choice.spec,
                 "locality": session.choice.locality, "cwd": str(runtime.workspace),
                 "tools": sorted(session.proxima_tools.specs), "history_messages": len(session.history),
                 "mcp_servers": [t.server for t in session.external], "notices": session.notices}
            )  # fmt: skip
        result = await _turn(session, prompt, output_format)
    except ProximaError as exc:
        result = TurnResult(text="", model=label, error=ErrorInfo.of(exc))
        result.duration_ms = round((time.perf_counter() - started) * 1000, 1)
    finally:
        if session is not None:
            await session.close()
    if output_format == "text":
        if result.is_error:
            _error_lines(result.error)
        else:
            sys.stdout.write(result.text.rstrip() + "\n")
    else:
        emit(result_record(session, result, label))
    return _exit_code(result)


async def _turn(session: AgentSession, prompt: str, output_format: OutputFormat) -> TurnResult:
    async def events(event: dict[str, Any]) -> None:
        if output_format == "stream-json":
            emit(event)
        elif output_format == "text" and event["type"] == "tool_result":
            outcome = "ok" if event["ok"] else f"error {event['error']['code']}"
            sys.stderr.write(f"· {event['tool']} ({event['duration_ms'] / 1000:.2f} s): {outcome}\n")

    task = asyncio.ensure_future(session.turn(prompt, events))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        error = ErrorInfo.build(
            "INTERRUPTED",
            "interrupted",
            hint=f"proxima agent --resume {session.id} -p ... goes on in this session",
        )
        return TurnResult(text="", model=session.choice.spec, error=error)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def _error_lines(error: ErrorInfo | None) -> None:
    if error is None:
        return
    sys.stderr.write(f"error {error.code}: {error.message}\n")
    if error.hint:
        sys.stderr.write(f"hint: {error.hint}\n")


def _exit_code(result: TurnResult) -> int:
    if result.error is None:
        return 0
    from proxima_agent.errors import all_error_types

    codes = {cls.code: cls.exit_code for cls in all_error_types()} | {"INTERRUPTED": INTERRUPTED}
    return codes.get(result.error.code, 1)
