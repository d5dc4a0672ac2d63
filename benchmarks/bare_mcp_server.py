"""A bare MCP SDK server with one trivial tool: the baseline that `benchmarks/mcp.py` starts next to `proxima mcp`.

python benchmarks/bare_mcp_server.py        # serves stdio
"""

import sys
from pathlib import Path

# this folder holds benchmarks/mcp.py, which must not shadow the SDK's package `mcp`
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from mcp.server.mcpserver import MCPServer  # noqa: E402

server = MCPServer("bare")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


if __name__ == "__main__":
    server.run("stdio")
