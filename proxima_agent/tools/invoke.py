"""The one path from a front door to a tool: validate, run, and turn any failure into an `ErrorInfo` (a
`ProximaError` as itself, a bug as an internal error whose traceback goes to the log). The MCP server, the
agent loop and the CLI all call tools through `invoke`, so a tool fails the same way on every front door.

Consent is asked the same way too: `consent_question` is the request a tool call would put to the user before it
runs (a run that does not fit in memory), which MCP maps to elicitation and the agent to tool approval.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from proxima_agent.errors import ProximaError
from proxima_agent.tools.context import ToolContext
from proxima_agent.tools.models import ErrorInfo, ToolOutput, clipped
from proxima_agent.tools.registry import ToolSpec

if TYPE_CHECKING:
    from proxima_agent.engine.consent import ConsentRequest

log = logging.getLogger("proxima_agent.tools")
MAX_LOGGED_CHARS = 300


async def invoke(spec: ToolSpec, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutput | ErrorInfo:
    """Run SPEC on ARGUMENTS: its output, or the structured error a caller reports as a tool error."""
    try:
        return await spec.call(arguments, ctx)
    except ProximaError as exc:
        log.info("tool %s: %s %s", spec.name, exc.code, log_line(exc.message))
        return ErrorInfo.of(exc)
    except Exception:  # a bug: logged with its traceback, reported without one
        return internal_error(f"the tool {spec.name}")


async def consent_question(
    spec: ToolSpec, arguments: dict[str, Any], ctx: ToolContext
) -> ConsentRequest | None:
    """The question this call needs answered before it runs, or None. Never raises: a call whose arguments
    are bad, or whose check fails, has nothing to ask, and reports its failure when it runs."""
    if spec.consent_check is None:
        return None
    try:
        return await spec.consent_check(spec.parse(arguments), ctx)
    except ProximaError:
        return None
    except Exception:
        log.exception("consent check of %s failed", spec.name)
        return None


def internal_error(what: str) -> ErrorInfo:
    """A bug met while doing WHAT: logged with its traceback (call it in an `except`), reported without."""
    from proxima_agent.logs import log_file

    log.exception("internal error in %s", what)
    kind = type(sys.exc_info()[1]).__name__ if sys.exc_info()[1] is not None else "unknown"
    return ErrorInfo.build(
        ProximaError.code,
        f"internal error in {what} ({kind})",
        hint=f"details are in {log_file()}; please report it",
    )


def log_line(text: str) -> str:
    """What a log line may quote of a message: the start of it, on one line."""
    return clipped(text.replace("\n", " "), MAX_LOGGED_CHARS)
