"""The streamable HTTP transport: the same server on `http://HOST:PORT/mcp`.

Bound to loopback unless told otherwise; any other bind needs a bearer token (`--token` or
`PROXIMA_MCP_TOKEN`), because the tools run simulations on this machine. The Host and Origin headers are
checked (the SDK's DNS-rebinding protection), so a web page cannot reach the server through the browser.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
from pathlib import Path
from typing import Any

from proxima_agent.errors import OptionError

MCP_PATH = "/mcp"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _local_names(host: str) -> list[str]:
    """The names a client may use in the Host header to reach a server bound to `host`."""
    names = {"127.0.0.1", "localhost", "[::1]"}
    if host in ("0.0.0.0", "::"):  # every interface: this machine's name and addresses
        import psutil

        names.add(socket.gethostname())
        for addresses in psutil.net_if_addrs().values():
            for address in addresses:
                if address.family in (socket.AF_INET, socket.AF_INET6):
                    ip = address.address.split("%")[0]
                    names.add(f"[{ip}]" if ":" in ip else ip)
    else:
        names.add(f"[{host}]" if ":" in host else host)
    return sorted(names)


class BearerToken:
    """ASGI middleware: every HTTP request must carry `Authorization: Bearer <token>`."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                from starlette.responses import JSONResponse

                response = JSONResponse(
                    {"error": "unauthorized", "hint": "send the header Authorization: Bearer <token>"},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="proxima"'},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def http_app(
    config: Any = None, workspace: Path | None = None, *, host: str = "127.0.0.1", token: str | None = None
) -> Any:
    """The ASGI app: the MCP server with Host / Origin checks, behind the token when one is set."""
    from mcp.server.transport_security import TransportSecuritySettings

    from proxima_agent.mcp.server import build_server

    if not is_loopback(host) and not token:
        raise OptionError(
            f"serving MCP on {host} (beyond this machine) needs a bearer token",
            hint="pass --token TOKEN or set PROXIMA_MCP_TOKEN; clients then send Authorization: Bearer TOKEN",
        )
    names = _local_names(host)
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{name}:*" for name in names],
        allowed_origins=[f"{scheme}://{name}:*" for name in names for scheme in ("http", "https")],
    )
    server = build_server(config, workspace)
    app = server.streamable_http_app(streamable_http_path=MCP_PATH, transport_security=security, host=host)
    return BearerToken(app, token) if token else app


def serve_http(
    config: Any = None,
    workspace: Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
) -> None:
    import uvicorn

    app = http_app(config, workspace, host=host, token=token)
    uvicorn.run(app, host=host.strip("[]"), port=port, log_level="warning", lifespan="on")
