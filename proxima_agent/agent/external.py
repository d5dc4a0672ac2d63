"""External MCP servers (`mcpServers` in `proxima.json`, the shape Claude Desktop and Claude Code use), attached
to the agent as pydantic-ai `MCPToolset`s, their tools named `NAME_TOOL`. Each is started before the first turn:
one that fails to start is one line for the user, and the session goes on without it.

Their calls pass the same permission rules as Proxima's own tools, named `mcp__NAME__TOOL`; with no rule
matching, an external tool asks first (Proxima cannot know what it does).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic_ai import RunContext
from pydantic_ai.exceptions import ApprovalRequired, ToolFailed
from pydantic_ai.toolsets import PrefixedToolset
from pydantic_ai.toolsets.abstract import ToolsetTool

if TYPE_CHECKING:
    from proxima_agent.agent.toolset import AgentDeps
    from proxima_agent.config import McpServerSettings


@dataclass
class ExternalToolset(PrefixedToolset[Any]):
    """One server's tools, prefixed with its name and checked against the permission rules."""

    @property
    def server(self) -> str:
        return self.prefix

    @property
    def label(self) -> str:
        return f"MCP server {self.server}"

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[AgentDeps], tool: ToolsetTool[Any]
    ) -> Any:
        original = name.removeprefix(f"{self.server}_")
        rule_name = f"mcp__{self.server}__{original}"
        verdict = ctx.deps.permissions.check(rule_name, tool_args, read_only=False)
        if verdict.decision == "deny":
            raise ToolFailed(f"PERMISSION_DENIED: {rule_name} is not allowed here ({verdict.reason})")
        if verdict.rule is None and verdict.reason == "default" and not ctx.tool_call_approved:
            raise ApprovalRequired(
                metadata={"tool": rule_name, "reasons": [f"a tool of the MCP server {self.server}"]}
            )
        if verdict.decision == "ask" and not ctx.tool_call_approved:
            raise ApprovalRequired(metadata={"tool": rule_name, "reasons": [verdict.reason]})
        return await super().call_tool(name, tool_args, ctx, tool)


def toolset_for(name: str, server: McpServerSettings) -> Any:
    from pydantic_ai.mcp import MCPToolset, StdioTransport

    if server.type == "stdio":
        assert server.command is not None
        client: Any = StdioTransport(
            command=server.command, args=list(server.args), env=dict(server.env) or None
        )
        inner = MCPToolset(client, id=name, init_timeout=server.timeout_s)
    else:
        inner = MCPToolset(
            server.url, id=name, headers=dict(server.headers) or None, init_timeout=server.timeout_s
        )
    return ExternalToolset(inner, prefix=name)


async def start_servers(servers: dict[str, McpServerSettings]) -> tuple[list[Any], list[str]]:
    """The toolsets of the servers that started, and a line for each that did not."""
    started, failures = [], []
    for name, server in servers.items():
        toolset = toolset_for(name, server)
        try:
            await asyncio.wait_for(toolset.__aenter__(), server.timeout_s + 5)
            tools = await asyncio.wait_for(toolset.wrapped.list_tools(), server.timeout_s)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            failures.append(f"MCP server {name} did not start: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        toolset.tool_names = [t.name for t in tools]
        started.append(toolset)
    return started, failures


async def stop_servers(toolsets: list[Any]) -> None:
    for toolset in toolsets:
        with contextlib.suppress(Exception):
            await toolset.__aexit__(None, None, None)
