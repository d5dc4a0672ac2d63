"""Driving Proxima's MCP server with the SDK's own client (in memory, over stdio, over HTTP), checking every
tool result, errors included, against the output schema the server advertises."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import jsonschema
from mcp import Client
from mcp_types import CallToolResult

from proxima_agent.config import ProximaConfig
from proxima_agent.mcp.errors import ERROR_META_KEY
from proxima_agent.mcp.server import build_server
from proxima_agent.tools.context import Runtime


def run(coro: Any) -> Any:  # each test drives its own loop: no plugin needed
    return asyncio.run(coro)


def config(**settings: Any) -> ProximaConfig:
    engine = {"warm_workers": 1, "checkpoint_every_s": None, "abort_grace_s": 1.0} | settings.pop(
        "engine", {}
    )
    return ProximaConfig.model_validate({"engine": engine, **settings})


def parse_error_text(text: str) -> dict[str, Any]:
    """A tool error's text, `CODE: message` then `hint: ...`, as its fields."""
    head, _, hint = text.partition("\nhint: ")
    code, sep, message = head.partition(": ")
    assert sep and re.fullmatch(r"[A-Z][A-Z_]+", code), f"not 'CODE: message': {text!r}"
    return {"code": code, "message": message, "hint": hint or None}


class Checked:
    """A client whose tool results are validated as a TypeScript-SDK client (the Inspector, Claude Desktop)
    validates them: any structured content against the tool's advertised output schema, errors included; an
    error carries its code, message and hint in the text (and the same in `_meta`), never a traceback."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.schemas: dict[str, dict[str, Any]] = {}

    async def schema(self, name: str) -> dict[str, Any]:
        if not self.schemas:
            for tool in (await self.client.list_tools()).tools:
                assert tool.output_schema is not None, f"{tool.name} has no output schema"
                self.schemas[tool.name] = tool.output_schema
        return self.schemas[name]

    async def call(self, name: str, arguments: dict[str, Any], **kwargs: Any) -> CallToolResult:
        result = await self.client.call_tool(name, arguments, **kwargs)
        text = result.content[0].text  # type: ignore[union-attr]
        assert "Traceback" not in text, text
        if result.structured_content is not None or not result.is_error:
            jsonschema.validate(result.structured_content, await self.schema(name))
        if result.is_error:
            error = parse_error_text(text)
            meta = (result.meta or {})[ERROR_META_KEY]
            assert {k: meta[k] for k in ("code", "message", "hint")} == error, (meta, text)
        return result

    async def ok(self, name: str, arguments: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        result = await self.call(name, arguments, **kwargs)
        assert not result.is_error, result.content[0].text  # type: ignore[union-attr]
        return result.structured_content  # type: ignore[return-value]

    async def error(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The failing call's error: code, message and hint from the text, context from `_meta`."""
        result = await self.call(name, arguments)
        assert result.is_error, f"{name} {arguments} should have failed: {result.content[0].text}"  # type: ignore[union-attr]
        error = parse_error_text(result.content[0].text)  # type: ignore[union-attr]
        return error | {"context": (result.meta or {})[ERROR_META_KEY]["context"]}

    async def text_resource(self, uri: str) -> str:
        return (await self.client.read_resource(uri)).contents[0].text  # type: ignore[union-attr]

    async def json_resource(self, uri: str) -> Any:
        return json.loads(await self.text_resource(uri))

    async def blob_resource(self, uri: str) -> bytes:
        return base64.b64decode((await self.client.read_resource(uri)).contents[0].blob)  # type: ignore[union-attr]


@asynccontextmanager
async def serving(
    cfg: ProximaConfig | None = None, workspace: Path | None = None, *, shared: bool = False, **client: Any
) -> AsyncIterator[Checked]:
    """A client of a server built with its own runtime, or (SHARED) with a runtime the caller owns, as
    `run_stdio` builds it."""
    if not shared:
        async with Client(build_server(cfg or config(), workspace), **client) as connected:
            yield Checked(connected)
        return
    runtime = Runtime(cfg or config(), workspace)
    try:
        async with Client(build_server(runtime=runtime), **client) as connected:
            yield Checked(connected)
    finally:
        await runtime.close()


async def until_state(
    checked: Checked, job_id: str, states: set[str], timeout: float = 60.0
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        view = await checked.ok("job_status", {"job_id": job_id})
        if view["state"] in states:
            return view
        if loop.time() > deadline:
            raise AssertionError(f"job {job_id} is {view['state']}, not in {states}, after {timeout} s")
        await asyncio.sleep(0.05)
