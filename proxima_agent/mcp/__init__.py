"""MCP: the server (stdio and streamable HTTP) and the installer that registers it with clients."""
