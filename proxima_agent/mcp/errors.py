"""How a failure reaches an MCP client: the one mapping (documented in docs/mcp.md, "Errors").

- A tool that fails answers a result with `isError: true`, whose text is `CODE: message` and then
  `hint: ...`, and whose `_meta["proxima/error"]` holds `{code, message, hint, context}`. It carries no
  structured content: the output schema describes a success, and clients built on the TypeScript SDK (the
  Inspector, Claude Desktop) check structured content against it even in an error, replacing the error by
  "Structured content does not match the tool's output schema".
- Everything else is a JSON-RPC error whose message is `CODE: message (hint: ...)` and whose `data` holds the
  same `{code, message, hint, context}`: -32602 (invalid params) when the request names something that does not
  exist or is malformed (an unknown tool, prompt, resource, job or library circuit, a bad prompt argument;
  Proxima's input errors), -32603 (internal error) for any other failure, -32700 for a line on stdio that is not
  JSON, -32600 for JSON that is not a JSON-RPC message, -32601 for an unknown method (the SDK's own).
- A bug is reported without its traceback (which goes to the log file), never as error code 0.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from mcp.shared.exceptions import MCPError
from mcp_types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    CallToolResult,
    ErrorData,
    JSONRPCError,
    TextContent,
)
from pydantic import ValidationError

from proxima_agent.errors import InputError, ProximaError, quoted
from proxima_agent.tools.invoke import internal_error
from proxima_agent.tools.models import MAX_ID_CHARS, ErrorInfo

log = logging.getLogger("proxima_agent.mcp")

ERROR_META_KEY = "proxima/error"  # where a tool error's fields are, for programs (MCP `_meta` key syntax)
MAX_PROMPT_ARGUMENT_CHARS = 10_000


def tool_error(error: ErrorInfo) -> CallToolResult:
    """A tool's failure as its result: the text for people and models, the fields in `_meta`, no structured
    content (none would match the tool's output schema)."""
    return CallToolResult(
        content=[TextContent(type="text", text=error.text())],
        is_error=True,
        _meta={ERROR_META_KEY: error.model_dump(mode="json")},
    )


def protocol_error(exc: ProximaError) -> MCPError:
    """A Proxima error as a JSON-RPC error: -32602 for bad input, -32603 otherwise."""
    info = ErrorInfo.of(exc)
    code = INVALID_PARAMS if isinstance(exc, InputError) else INTERNAL_ERROR
    message = f"{info.code}: {info.message}" + (f" (hint: {info.hint})" if info.hint else "")
    return MCPError(code=code, message=message, data=info.model_dump(mode="json"))


def internal_protocol_error(what: str) -> MCPError:
    info = internal_error(what)
    return MCPError(
        code=INTERNAL_ERROR,
        message=f"{info.code}: {info.message} (hint: {info.hint})",
        data=info.model_dump(mode="json"),
    )


# --- the requests around the tools: prompts, resources, unknown names ------------------------------------------


def known_names(server: Any) -> tuple[set[str], set[str]]:
    """The tools and prompts SERVER serves (the registry's tools; the skills)."""
    from proxima_agent.tools.registry import registry

    return set(registry()), set(getattr(server, "proxima_prompts", {}))


def check_request(server: Any, method: str, params: Mapping[str, Any] | None) -> None:
    """Refuse, before the SDK sees it, a request that names a tool or prompt that does not exist, or gives a
    prompt arguments it does not take or that are too long."""
    params = params or {}
    name = params.get("name")
    if method == "tools/call" and isinstance(name, str):
        tools, _ = known_names(server)
        if name not in tools:
            raise protocol_error(
                InputError(f"unknown tool {quoted(name)}", hint="tools: " + ", ".join(sorted(tools)))
            )
    elif method == "prompts/get" and isinstance(name, str):
        prompts: dict[str, list[str]] = getattr(server, "proxima_prompts", {})
        if name not in prompts:
            raise protocol_error(
                InputError(f"unknown prompt {quoted(name)}", hint="prompts: " + ", ".join(sorted(prompts)))
            )
        arguments = params.get("arguments") or {}
        if not isinstance(arguments, Mapping):
            return  # the SDK refuses malformed params (-32602)
        takes = prompts[name]
        unknown = [quoted(k, MAX_ID_CHARS) for k in arguments if k not in takes]
        if unknown:
            raise protocol_error(
                InputError(
                    f"prompt {name}: unknown argument(s) {', '.join(unknown[:5])}",
                    hint=f"{name} takes: {', '.join(takes)}" if takes else f"{name} takes no arguments",
                )
            )
        for key, value in arguments.items():
            if isinstance(value, str) and len(value) > MAX_PROMPT_ARGUMENT_CHARS:
                raise protocol_error(
                    InputError(
                        f"prompt {name}: argument {key} is {len(value)} characters, over the limit of "
                        f"{MAX_PROMPT_ARGUMENT_CHARS}",
                        hint="name a large circuit by its library name or a .qasm file in the workspace",
                    )
                )


def unknown_resource(uri: str, server: Any) -> MCPError:
    listed = ", ".join(getattr(server, "proxima_resources", ()))
    return protocol_error(
        InputError(f"unknown resource {quoted(uri)}", hint=f"resources: {listed}" if listed else None)
    )


def middleware(server: Any) -> Any:
    """The server middleware that applies the mapping to every request: what reaches the client is always
    Proxima's code, message and hint, with a JSON-RPC code that says whose fault it was."""

    async def proxima_errors(ctx: Any, call_next: Any) -> Any:
        if ctx.request_id is None:  # a notification: nothing to answer
            return await call_next(ctx)
        try:
            check_request(server, ctx.method, ctx.params)
            return await call_next(ctx)
        except MCPError as exc:
            if ctx.method == "resources/read" and exc.code == INVALID_PARAMS and not _ours(exc):
                raise unknown_resource(str((ctx.params or {}).get("uri", "")), server) from None
            raise
        except ValidationError as exc:  # params that are not the method's shape
            raise protocol_error(_malformed(ctx.method, exc)) from None
        except ProximaError as exc:
            raise protocol_error(exc) from None
        except Exception:
            raise internal_protocol_error(quoted(ctx.method, MAX_ID_CHARS)) from None

    return proxima_errors


def _ours(exc: MCPError) -> bool:
    return isinstance(exc.data, dict) and "code" in exc.data


def _malformed(method: str, exc: ValidationError) -> InputError:
    problems = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) if len(str(p)) <= 40 else quoted(p, 40) for p in error["loc"]) or "(params)"
        problems.append(f"{where}: {error['msg']}")
    return InputError(
        f"malformed {quoted(method, MAX_ID_CHARS)} request: " + "; ".join(problems),
        hint="the MCP specification gives each method's parameters",
    )


# --- stdio: lines that are not JSON-RPC messages --------------------------------------------------------------


def unreadable_line_reply(exc: Exception) -> JSONRPCError | None:
    """The reply JSON-RPC requires to a line that is not a message: -32700 (id null) when it is not JSON, -32600
    (with its id, if it has one) when it is JSON but not a JSON-RPC message. None for a blank line."""
    errors: list[dict[str, Any]] = [dict(e) for e in exc.errors()] if isinstance(exc, ValidationError) else []
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid" or not errors:
        text = first.get("input")
        if isinstance(text, str | bytes) and not text.strip():
            return None
        return JSONRPCError(
            jsonrpc="2.0",
            id=None,
            error=ErrorData(code=PARSE_ERROR, message="Parse error: the line is not JSON"),
        )
    given = next((e.get("input") for e in errors if isinstance(e.get("input"), dict)), None)
    request_id = given.get("id") if isinstance(given, dict) else None
    if not isinstance(request_id, str | int) or isinstance(request_id, bool):
        request_id = None
    return JSONRPCError(
        jsonrpc="2.0",
        id=request_id,
        error=ErrorData(code=INVALID_REQUEST, message="Invalid Request: not a JSON-RPC 2.0 message"),
    )
