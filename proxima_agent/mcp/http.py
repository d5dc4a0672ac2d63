"""The streamable HTTP transport: the same server on `http://HOST:PORT/mcp`.

Bound to loopback unless told otherwise; any other bind needs a bearer token (`PROXIMA_MCP_TOKEN`, or the
`--token` option, which other users of the machine can read in the process list), because the tools run
simulations on this machine. The Host and Origin headers are checked (the SDK's DNS-rebinding protection): a
browser request is accepted only from the server's own origin (its host names and its port) or an origin the
caller allowed, so a web page, even one served from another port of this machine, cannot drive the server.
A connection that sends nothing, or only part of a request, is closed after REQUEST_TIMEOUT_S; an idle
kept-alive one after KEEP_ALIVE_S.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from proxima_agent.errors import OptionError

MCP_PATH = "/mcp"
REQUEST_TIMEOUT_S = 10.0  # from a connection's first byte (or its opening) to the end of its request
KEEP_ALIVE_S = 5  # an idle connection between requests


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
    """ASGI middleware: every HTTP request must carry `Authorization: Bearer <token>` (the scheme is
    case-insensitive, RFC 7235)."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.expected = token.encode()

    def authorized(self, header: bytes) -> bool:
        scheme, _, credentials = header.strip().partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self.expected)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            if not self.authorized(headers.get(b"authorization", b"")):
                from starlette.responses import JSONResponse

                response = JSONResponse(
                    {"error": "unauthorized", "hint": "send the header Authorization: Bearer <token>"},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="proxima"'},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _origin(origin: str) -> str:
    """An origin as given to --allow-origin, checked: scheme://host[:port], no path."""
    from urllib.parse import urlsplit

    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise OptionError(
            f"{origin!r} is not an origin",
            hint="give it as the browser sends it: scheme://host:port, e.g. http://localhost:5173",
        )
    return f"{parts.scheme}://{parts.netloc}".lower()


def http_app(
    config: Any = None,
    workspace: Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    allow_origins: Sequence[str] = (),
) -> Any:
    """The ASGI app: the MCP server with Host / Origin checks, behind the token when one is set."""
    from mcp.server.transport_security import TransportSecuritySettings

    from proxima_agent.mcp.server import build_server

    if not is_loopback(host) and not token:
        raise OptionError(
            f"serving MCP on {host} (beyond this machine) needs a bearer token",
            hint="set PROXIMA_MCP_TOKEN (or pass --token TOKEN, which the process list shows); clients then "
            "send Authorization: Bearer TOKEN",
        )
    names = _local_names(host)
    origins = [f"{scheme}://{name}:{port}" for name in names for scheme in ("http", "https")]
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{name}:*" for name in names],
        allowed_origins=origins + [_origin(o) for o in allow_origins],
    )
    server = build_server(config, workspace)
    app = server.streamable_http_app(streamable_http_path=MCP_PATH, transport_security=security, host=host)
    return BearerToken(app, token) if token else app


def timed_protocol(request_timeout_s: float = REQUEST_TIMEOUT_S) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with a request timeout: a connection must deliver each request (head and body)
    within REQUEST_TIMEOUT_S of its first byte, or of its opening for the first request; else it is closed.
    uvicorn alone waits forever for a request that never completes (slowloris), and for a connection that
    never sends one. Responses (an event stream that stays open) are not limited."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class TimedH11Protocol(H11Protocol):
        _request_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._request_timer is None and self.conn.their_state is h11.IDLE:
                self._arm()  # the first bytes of the next request on a kept-alive connection
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE and self.conn.their_state is not h11.SEND_BODY:
                self._disarm()  # the request is all here (or the connection is ending)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._request_timer = self.loop.call_later(request_timeout_s, self._request_timed_out)

        def _disarm(self) -> None:
            if self._request_timer is not None:
                self._request_timer.cancel()
                self._request_timer = None

        def _request_timed_out(self) -> None:
            self._request_timer = None
            if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
                self.logger.info(
                    "closing a connection whose request did not arrive in %s s", request_timeout_s
                )
                self.transport.close()

    return TimedH11Protocol


def serve_http(
    config: Any = None,
    workspace: Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    allow_origins: Sequence[str] = (),
    request_timeout_s: float = REQUEST_TIMEOUT_S,
) -> None:
    import uvicorn

    app = http_app(config, workspace, host=host, port=port, token=token, allow_origins=allow_origins)
    uvicorn.run(
        app,
        host=host.strip("[]"),
        port=port,
        log_level="warning",
        lifespan="on",
        http=timed_protocol(request_timeout_s),
        timeout_keep_alive=KEEP_ALIVE_S,
    )
