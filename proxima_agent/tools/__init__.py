"""The typed tools: one registry (`registry()`) that the agent loop and the MCP server both serve."""

from proxima_agent.tools.context import Runtime, ToolContext
from proxima_agent.tools.registry import ToolSpec, call_tool, get_tool, registry

__all__ = ["Runtime", "ToolContext", "ToolSpec", "call_tool", "get_tool", "registry"]
