"""Proxima's MCP server: it serves the typed tools of `proxima_agent.tools`, the results and library as
resources, and the skills as prompts. It adds no capability of its own; the transport is chosen at the edge
(`proxima_agent.mcp.http` for streamable HTTP, `run_stdio` here).

Each tool is registered from its `ToolSpec`: the input model's JSON Schema is the tool's input schema (with
`additionalProperties: false`), the arguments reach the input model as the client sent them (so that a missing,
misspelt or bad argument comes back as a tool error with a code and a hint, and every tool reads a value
written as a string the same way), the output model is the output schema, and `tools/<name>.md` gives the
description and annotations. How failures reach the client is `proxima_agent.mcp.errors`; nothing but
JSON-RPC reaches stdout (logs go to the log file).

Resources and tools share the server's one `Runtime` (its configuration and workspace), however the server is
built.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.prompts.base import Prompt, PromptArgument
from mcp.server.mcpserver.resolve import AcceptedElicitation, Elicit, ElicitationResult, Resolve
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from mcp_types import CallToolResult, ImageContent, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from proxima_agent import __version__
from proxima_agent.mcp import errors
from proxima_agent.tools.context import Runtime, ToolContext
from proxima_agent.tools.invoke import consent_question, invoke
from proxima_agent.tools.models import ErrorInfo
from proxima_agent.tools.registry import ToolSpec, registry
from proxima_agent.tools.skills import Skill, load_skills

log = logging.getLogger("proxima_agent.mcp")

INSTRUCTIONS = (
    "Proxima simulates quantum circuits on five simulators (cirq-sv, cirq-dm, aer-sv, aer-dm, and lret, a "
    "low-rank density-matrix simulator that reports its truncation error bound). Every number it returns was "
    "computed. Typical flow: describe_circuit, estimate_resources or select_backend, execute (returns the "
    "result, or a job id to follow with wait_job), then compare or interpret. Bit strings put classical bit 0 "
    "rightmost. Long runs can be paused, resumed, checkpointed, rolled back or aborted."
)


WARM_UP_AFTER_S = 1.0


class ForceConsent(BaseModel):
    """The form shown to the user when a run does not fit in memory."""

    force: bool = Field(description="Run it anyway (the machine may swap, or the run may be killed)")


class NoQuestion(BaseModel):
    """The resolver's answer when nothing needs asking, or the client cannot be asked."""

    reason: Literal["not needed", "client cannot elicit"]


class ProximaServer(MCPServer[Runtime]):
    """The SDK's server, knowing the names it serves (for the error mapping) and its runtime."""

    runtime: Runtime
    proxima_prompts: dict[str, list[str]]  # prompt name -> the arguments it takes
    proxima_resources: list[str]  # URIs and URI templates, for the hint of an unknown resource


def build_server(
    config: Any = None, workspace: Path | None = None, *, runtime: Runtime | None = None
) -> ProximaServer:
    """A server with its own runtime (the engine opened in the background after start, closed when the last
    session ends), or with the caller's `runtime`, which the caller then closes. Tools and resources all use
    that one runtime."""
    shared = runtime or Runtime(config, workspace)
    sessions = 0

    @asynccontextmanager
    async def lifespan(_: MCPServer[Runtime]) -> AsyncIterator[Runtime]:
        nonlocal sessions
        sessions += 1
        # The engine (numpy, the database, a warm worker) opens shortly after start: loading it at once would
        # compete for the CPU with the client's first requests; a tool call before then opens it itself.
        warming = asyncio.get_running_loop().call_later(WARM_UP_AFTER_S, shared.warm_up)
        try:
            yield shared
        finally:
            warming.cancel()
            sessions -= 1
            if runtime is None and sessions == 0:
                with anyio.CancelScope(shield=True):  # a cancelled server still stops its workers
                    await shared.close()

    server = ProximaServer(
        "proxima", title="Proxima", version=__version__, instructions=INSTRUCTIONS, lifespan=lifespan,
        log_level="WARNING", tools=[proxima_tool(spec) for spec in registry().values()],
    )  # fmt: skip
    server.runtime = shared
    from proxima_agent.mcp import resources

    server.proxima_resources = resources.register(server, shared)
    prompts = skill_prompts(shared.workspace)
    for prompt in prompts:
        server.add_prompt(prompt)
    server.proxima_prompts = {p.name: [a.name for a in p.arguments or []] for p in prompts}
    server.middleware.append(errors.middleware(server))
    return server


def runtime_of(ctx: Context[Runtime, Any]) -> Runtime:
    return ctx.request_context.lifespan_context


# --- tools --------------------------------------------------------------------------------------------------


class RawArguments(ArgModelBase):
    """The SDK's argument model for every tool: it takes the arguments as the client sent them, unchanged, so
    that the tool's own input model alone validates and coerces them (the same way on every front door)."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.__pydantic_extra__ or {})}


def proxima_tool(spec: ToolSpec) -> Tool:
    """The SDK tool for SPEC: described by `tools/<name>.md`, its input schema the input model's, its output
    schema the output model's, its arguments handed over raw (RawArguments)."""
    doc = spec.doc
    tool = Tool.from_function(
        tool_function(spec),
        name=spec.name,
        title=doc.title,
        description=doc.description,
        annotations=ToolAnnotations(
            title=doc.title,
            read_only_hint=doc.annotations.read_only,
            destructive_hint=doc.annotations.destructive,
            idempotent_hint=doc.annotations.idempotent,
            open_world_hint=doc.annotations.open_world,
        ),
    )
    tool.fn_metadata.arg_model = RawArguments
    tool.parameters = spec.input_schema()
    return tool


def tool_function(spec: ToolSpec) -> Any:
    """An async function of the raw `arguments` (plus the MCP context, and the consent resolver for tools that
    may need it)."""
    params = [
        inspect.Parameter("arguments", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Any),
        inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context),
    ]
    if spec.consent_check is not None:
        answer = Annotated[ElicitationResult[ForceConsent], Resolve(_consent_resolver(spec))]
        params.append(inspect.Parameter("consent_answer", inspect.Parameter.KEYWORD_ONLY, annotation=answer))

    async def call(
        *, arguments: dict[str, Any] | None = None, ctx: Context[Runtime, Any], consent_answer: Any = None
    ) -> CallToolResult:
        return await run_tool(spec, arguments or {}, ctx, consent_answer)

    returns = Annotated[CallToolResult, spec.output_model]
    call.__signature__ = inspect.Signature(params, return_annotation=returns)  # type: ignore[attr-defined]
    call.__annotations__ = {p.name: p.annotation for p in params} | {"return": returns}
    call.__name__ = spec.name
    return call


def _consent_resolver(spec: ToolSpec) -> Any:
    """Before the tool runs: if the call would need the user's consent (a run that does not fit), ask the
    user by elicitation where the client supports it. The SDK carries the question in either protocol era."""

    async def resolve(arguments: Any, ctx: Context[Runtime, Any]) -> Elicit[ForceConsent] | NoQuestion:
        capabilities = ctx.client_capabilities
        if capabilities is None or capabilities.elicitation is None:  # nobody to ask: the engine refuses
            return NoQuestion(reason="client cannot elicit")
        question = await consent_question(spec, arguments or {}, ToolContext(runtime_of(ctx)))
        if question is None:
            return NoQuestion(reason="not needed")
        return Elicit(f"{question.title}. {question.detail} Run it anyway?", ForceConsent)

    returns = Elicit[ForceConsent] | NoQuestion
    resolve.__annotations__ = {"arguments": Any, "ctx": Context, "return": returns}
    resolve.__qualname__ = f"consent_for_{spec.name}"
    return resolve


def _consent_provider(answer: Any) -> Any:
    """The engine's consent provider for this call, from what the resolver obtained."""
    from proxima_agent.engine.consent import FixedConsent

    if answer is None:
        return None
    if isinstance(answer, AcceptedElicitation):
        data = answer.data
        if isinstance(data, ForceConsent):
            return FixedConsent(approve=data.force, who=f"MCP client (elicitation: force={data.force})")
        if isinstance(data, NoQuestion) and data.reason == "client cannot elicit":
            return FixedConsent(approve=False, who="MCP client without elicitation, and no force=true")
        return FixedConsent(approve=False, who="MCP call without force=true")
    return FixedConsent(approve=False, who=f"MCP client (elicitation {answer.action})")


async def run_tool(
    spec: ToolSpec, arguments: dict[str, Any], ctx: Context[Runtime, Any], consent_answer: Any = None
) -> CallToolResult:
    async def progress(done: float, total: float | None, message: str) -> None:
        await ctx.report_progress(done, total, message)

    tool_ctx = ToolContext(runtime_of(ctx), progress=progress, consent=_consent_provider(consent_answer))
    output = await invoke(spec, arguments, tool_ctx)
    if isinstance(output, ErrorInfo):
        return errors.tool_error(output)
    content: list[Any] = [TextContent(type="text", text=output.text())]
    for mime, data in output.images():
        import base64

        content.append(ImageContent(type="image", data=base64.b64encode(data).decode(), mime_type=mime))
    return CallToolResult(content=content, structured_content=output.model_dump(mode="json"))


# --- prompts: the skills ------------------------------------------------------------------------------------


def skill_prompts(workspace: Path | None = None) -> list[Prompt]:
    """Each skill as a prompt: its arguments optional, its body followed by the values given."""
    prompts = []
    for skill in load_skills(workspace):

        def render(_skill: Skill = skill, **values: Any) -> str:
            return _skill.render(values)

        arguments = [
            PromptArgument(name=a.name, description=a.description, required=False) for a in skill.arguments
        ]
        prompts.append(Prompt(name=skill.name, description=skill.description, arguments=arguments, fn=render))
    return prompts


def run_stdio(config: Any = None, workspace: Path | None = None) -> None:
    """Serve one client over stdin / stdout until it closes them, or SIGTERM / SIGINT arrives. The SDK reads
    stdin in a thread that no cancellation interrupts, so a signal stops the engine (aborting running jobs, no
    worker left behind) and then ends the process."""
    runtime = Runtime(config, workspace)
    server = build_server(runtime=runtime)

    async def serve() -> None:
        async with anyio.create_task_group() as group:

            async def stop_on_signal() -> None:
                with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                    async for signum in signals:
                        log.info("MCP server: %s, stopping", signal.Signals(signum).name)
                        with anyio.CancelScope(shield=True):
                            await runtime.close()
                        os._exit(0)

            group.start_soon(stop_on_signal)
            try:
                await serve_stdio(server)
            finally:
                with anyio.CancelScope(shield=True):
                    await runtime.close()
            group.cancel_scope.cancel()

    anyio.run(serve)


async def serve_stdio(server: MCPServer[Any]) -> None:
    """The SDK's stdio transport, answering a line that is not a JSON-RPC message as JSON-RPC says (-32700 or
    -32600; the SDK alone would drop it, leaving the client waiting)."""
    from mcp.server.stdio import stdio_server
    from mcp.shared.message import SessionMessage

    lowlevel = server._lowlevel_server  # what MCPServer.run_stdio_async drives, with these streams
    async with stdio_server() as (read_stream, write_stream):
        send, receive = anyio.create_memory_object_stream[SessionMessage | Exception](0)

        async def sort_lines() -> None:
            async with send:
                async for item in read_stream:
                    if isinstance(item, Exception):
                        reply = errors.unreadable_line_reply(item)
                        if reply is not None:
                            log.info("stdio: %s", reply.error.message)
                            await write_stream.send(SessionMessage(reply))
                        continue
                    await send.send(item)

        async with anyio.create_task_group() as group:
            group.start_soon(sort_lines)
            await lowlevel.run(receive, write_stream, lowlevel.create_initialization_options())
            group.cancel_scope.cancel()
