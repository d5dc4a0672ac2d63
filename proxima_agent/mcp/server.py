"""Proxima's MCP server: it serves the typed tools of `proxima_agent.tools`, the results and library as
resources, and the skills as prompts. It adds no capability of its own; the transport is chosen at the edge
(`proxima_agent.mcp.http` for streamable HTTP, `run_stdio` here).

Each tool is registered from its `ToolSpec`: the input model's fields become the tool's arguments (their JSON
Schema advertised as it is, their validation done by the model, so that a bad argument comes back as a tool
error with a code and a hint), the output model is the output schema, and `tools/<name>.md` gives the
description and annotations. Errors are results (`isError`), never tracebacks; nothing but JSON-RPC reaches
stdout (logs go to the log file and stderr).
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
from mcp_types import CallToolResult, ImageContent, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, WithJsonSchema

from proxima_agent import __version__
from proxima_agent.errors import InputError, ProximaError
from proxima_agent.tools.context import Runtime, ToolContext
from proxima_agent.tools.models import ErrorInfo
from proxima_agent.tools.registry import ToolSpec, registry

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


def build_server(
    config: Any = None, workspace: Path | None = None, *, runtime: Runtime | None = None
) -> MCPServer[Runtime]:
    """A server with its own runtime (the engine opened in the background, closed with the server), or with
    the caller's `runtime`, which the caller then closes."""

    @asynccontextmanager
    async def lifespan(_: MCPServer[Runtime]) -> AsyncIterator[Runtime]:
        own = runtime or Runtime(config, workspace)
        # The engine (numpy, the database, a warm worker) opens shortly after start: loading it at once would
        # compete for the CPU with the client's first requests; a tool call before then opens it itself.
        warming = asyncio.get_running_loop().call_later(WARM_UP_AFTER_S, own.warm_up)
        try:
            yield own
        finally:
            warming.cancel()
            if runtime is None:
                with anyio.CancelScope(shield=True):  # a cancelled server still stops its workers
                    await own.close()

    server: MCPServer[Runtime] = MCPServer(
        "proxima", title="Proxima", version=__version__, instructions=INSTRUCTIONS, lifespan=lifespan,
        log_level="WARNING",
    )  # fmt: skip
    for spec in registry().values():
        doc = spec.doc
        server.add_tool(
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
    from proxima_agent.mcp import resources

    resources.register(server, config)
    for prompt in skill_prompts():
        server.add_prompt(prompt)
    return server


def runtime_of(ctx: Context[Runtime, Any]) -> Runtime:
    return ctx.request_context.lifespan_context


# --- tools --------------------------------------------------------------------------------------------------


def tool_function(spec: ToolSpec) -> Any:
    """An async function whose signature is the input model's fields (plus the MCP context, and the consent
    resolver for tools that may need it), so that the SDK advertises exactly the model's JSON Schema."""
    schema = spec.input_model.model_json_schema()
    params = []
    for name, field in spec.input_model.model_fields.items():
        default = inspect.Parameter.empty
        if not field.is_required():
            default = field.get_default(call_default_factory=True)
        # Any: the SDK passes the value through; the input model validates it, so errors carry a code and hint
        annotation = Annotated[Any, WithJsonSchema(schema["properties"][name])]
        params.append(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        )
    arg_params = list(params)
    params.append(inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context))
    if spec.consent_check is not None:
        answer = Annotated[ElicitationResult[ForceConsent], Resolve(_consent_resolver(spec, arg_params))]
        params.append(inspect.Parameter("consent_answer", inspect.Parameter.KEYWORD_ONLY, annotation=answer))

    async def call(
        ctx: Context[Runtime, Any], consent_answer: Any = None, **arguments: Any
    ) -> CallToolResult:
        return await run_tool(spec, arguments, ctx, consent_answer)

    returns = Annotated[CallToolResult, spec.output_model]
    call.__signature__ = inspect.Signature(params, return_annotation=returns)  # type: ignore[attr-defined]
    call.__annotations__ = {p.name: p.annotation for p in params} | {"return": returns}
    call.__name__ = spec.name
    return call


def _consent_resolver(spec: ToolSpec, arg_params: list[inspect.Parameter]) -> Any:
    """Before the tool runs: if the call would need the user's consent (a run that does not fit), ask the
    user by elicitation where the client supports it. The SDK carries the question in either protocol era."""

    async def resolve(ctx: Context[Runtime, Any], **arguments: Any) -> Elicit[ForceConsent] | NoQuestion:
        assert spec.consent_check is not None
        try:
            args = spec.parse(arguments)
        except ProximaError:
            return NoQuestion(reason="not needed")  # the call itself reports bad arguments
        capabilities = ctx.client_capabilities
        if capabilities is None or capabilities.elicitation is None:  # nobody to ask: the engine refuses
            return NoQuestion(reason="client cannot elicit")
        question = await spec.consent_check(args, ToolContext(runtime_of(ctx)))
        if question is None:
            return NoQuestion(reason="not needed")
        return Elicit(f"{question.title}. {question.detail} Run it anyway?", ForceConsent)

    params = [*arg_params, inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)]
    returns = Elicit[ForceConsent] | NoQuestion
    resolve.__signature__ = inspect.Signature(params, return_annotation=returns)  # type: ignore[attr-defined]
    resolve.__annotations__ = {p.name: p.annotation for p in params} | {"return": returns}
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
    try:
        _refuse_unknown(spec, ctx)
        output = await spec.call(arguments, tool_ctx)
    except ProximaError as exc:
        log.info("tool %s: %s %s", spec.name, exc.code, exc.message)
        return error_result(ErrorInfo.of(exc))
    except Exception as exc:  # a bug: logged with its traceback, reported without one
        log.exception("tool %s failed", spec.name)
        from proxima_agent.logs import log_file

        return error_result(
            ErrorInfo(
                code=ProximaError.code,
                message=f"internal error in {spec.name}: {type(exc).__name__}: {exc}",
                hint=f"details are in {log_file()}; please report it",
            )
        )
    content: list[Any] = [TextContent(type="text", text=output.text())]
    for mime, data in output.images():
        import base64

        content.append(ImageContent(type="image", data=base64.b64encode(data).decode(), mime_type=mime))
    return CallToolResult(content=content, structured_content=output.model_dump(mode="json"))


def _refuse_unknown(spec: ToolSpec, ctx: Context[Runtime, Any]) -> None:
    """The SDK drops arguments a tool does not declare; a misspelt one must not be ignored silently."""
    params = ctx.request_context.params or {}
    given = params.get("arguments") or {}
    unknown = sorted(set(given) - set(spec.input_model.model_fields))
    if unknown:
        raise InputError(
            f"{spec.name}: unknown argument(s) {', '.join(unknown)}",
            hint=f"{spec.name} takes: {', '.join(spec.input_model.model_fields)}",
            tool=spec.name,
        )


def error_result(error: ErrorInfo) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=error.text())],
        structured_content={"error": error.model_dump(mode="json")},
        is_error=True,
    )


# --- prompts: the skills ------------------------------------------------------------------------------------


class Skill(BaseModel):
    name: str
    description: str
    arguments: list[PromptArgument]
    body: str


def load_skills() -> list[Skill]:
    """`skills/<name>/SKILL.md` (Agent Skills format: front matter `name`, `description`, and string-valued
    `metadata`); the prompt's optional arguments come from `metadata.arguments`: `name: what it is; ...`."""
    from proxima_agent.paths import resource_dir
    from proxima_agent.tools.registry import split_front_matter

    skills = []
    for path in sorted(resource_dir("skills").glob("*/SKILL.md")):
        front, body = split_front_matter(path.read_text(encoding="utf-8"), str(path))
        described = dict(
            (part.split(":", 1)[0].strip(), part.split(":", 1)[1].strip())
            for part in str((front.get("metadata") or {}).get("arguments", "")).split(";")
            if ":" in part
        )
        arguments = [
            PromptArgument(name=name, description=text, required=False) for name, text in described.items()
        ]
        skills.append(
            Skill(name=front["name"], description=front["description"], arguments=arguments, body=body)
        )
    return skills


def skill_prompts() -> list[Prompt]:
    prompts = []
    for skill in load_skills():

        def render(_skill: Skill = skill, **values: Any) -> str:
            given = [f"- {k}: {v}" for k, v in values.items() if v not in (None, "")]
            return _skill.body + ("\n\nThe request:\n" + "\n".join(given) if given else "")

        prompts.append(
            Prompt(name=skill.name, description=skill.description, arguments=skill.arguments, fn=render)
        )
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
                await server.run_stdio_async()
            finally:
                with anyio.CancelScope(shield=True):
                    await runtime.close()
            group.cancel_scope.cancel()

    anyio.run(serve)
