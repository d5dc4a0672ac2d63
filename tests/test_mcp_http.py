"""`proxima mcp --transport http` as a real server on loopback: two client sessions driving the same job, the
bearer token, the Host / Origin checks against DNS rebinding and other local pages, the refusal to serve beyond
loopback without a token, connections that never finish their request, and a clean exit on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import psutil
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.cli_helpers import proxima
from tests.mcp_helpers import Checked, run

LONG = {"circuit": "ghz:15", "backend": "lret", "noise": "amplitude_damping:0.001;phase_damping:0.001"}
INIT = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
}  # fmt: skip
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def http_server(tmp_path: Path, *extra: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "proxima_agent", "mcp", "--transport", "http", "--port", str(port), *extra],
        cwd=tmp_path, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"the server did not start: {process.communicate()}") from None
            time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/mcp", process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _authorized(url: str, token: str) -> object:
    client = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30, read=300)
    )
    return streamable_http_client(url, http_client=client)


@pytest.mark.slow
def test_two_http_sessions_drive_one_job_and_sigterm_ends_cleanly(tmp_path: Path):
    with http_server(tmp_path) as (url, process):

        async def main():
            async with Client(url) as first, Client(url) as second:
                one, two = Checked(first), Checked(second)
                assert len((await first.list_tools()).tools) == 15
                ran = await one.ok("execute", {"circuit": "bell", "backend": "aer-sv", "seed": 4})
                assert set(ran["result"]["counts"]) == {"00", "11"}
                job = (await one.ok("execute", LONG | {"seed": 1, "wait_seconds": 0}))["job_id"]
                waiting = asyncio.ensure_future(one.ok("wait_job", {"job_id": job, "wait_seconds": 50}))
                await asyncio.sleep(0.5)
                assert (await two.ok("pause", {"job_id": job}))["state"] == "PAUSED"  # from the other session
                assert (await two.ok("resume", {"job_id": job}))["state"] == "EXECUTING"
                assert (await waiting)["state"] == "COMPLETED"
                victim = (await two.ok("execute", LONG | {"seed": 2, "wait_seconds": 0}))["job_id"]
                await asyncio.sleep(0.3)
                assert (await one.ok("abort", {"job_id": victim}))["state"] == "ABORTED"

        run(main())
        server = psutil.Process(process.pid)
        workers = [p.pid for p in server.children(recursive=True)]
        assert workers  # the warm worker
        process.send_signal(signal.SIGTERM)
        process.wait(15)
        _, errors = process.communicate()
        assert "Traceback" not in errors, errors
        time.sleep(0.5)
        alive = [
            pid for pid in workers if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
        ]
        assert not alive, f"workers left behind: {alive}"


def test_the_token_is_required_when_set_and_foreign_origins_are_refused(tmp_path: Path):
    with http_server(tmp_path, "--token", "s3cret") as (url, _):
        bare = httpx2.post(url, json=INIT, headers=ACCEPT)
        wrong = httpx2.post(url, json=INIT, headers=ACCEPT | {"Authorization": "Bearer guess"})
        good = {"Authorization": "Bearer s3cret"}
        foreign = httpx2.post(url, json=INIT, headers=ACCEPT | good | {"Origin": "http://evil.example"})
        rebound = httpx2.post(url, json=INIT, headers=ACCEPT | good | {"Host": "evil.example"})
        other_port = httpx2.post(url, json=INIT, headers=ACCEPT | good | {"Origin": "http://localhost:1234"})
        lower = httpx2.post(url, json=INIT, headers=ACCEPT | {"Authorization": "bearer s3cret"})
        spaced = httpx2.post(url, json=INIT, headers=ACCEPT | {"Authorization": "BEARER   s3cret"})
        basic = httpx2.post(url, json=INIT, headers=ACCEPT | {"Authorization": "Basic s3cret"})

        async def main():
            async with Client(_authorized(url, "s3cret")) as client:
                return await Checked(client).ok("describe_circuit", {"circuit": "ghz:3"})

        described = run(main())
    assert bare.status_code == wrong.status_code == 401
    assert "Bearer" in bare.headers["www-authenticate"] and "Authorization" in bare.json()["hint"]
    assert foreign.status_code == 403 and rebound.status_code in (400, 421)
    assert other_port.status_code == 403  # a page served from another port of this machine
    assert lower.status_code == spaced.status_code == 200  # the scheme is case-insensitive (RFC 7235)
    assert basic.status_code == 401
    assert described["num_qubits"] == 3


def test_serving_beyond_loopback_needs_a_token():
    refused = proxima(
        "mcp", "--transport", "http", "--host", "0.0.0.0", "--port", str(_free_port()), timeout=60
    )
    assert refused.code == 3
    assert (
        "needs a bearer token" in refused.err and "--token" in refused.err and "Traceback" not in refused.err
    )


def test_only_the_servers_own_origin_is_accepted_unless_allowed(tmp_path: Path):
    with http_server(tmp_path, "--allow-origin", "http://localhost:5173") as (url, _):
        port = url.rsplit(":", 1)[1].split("/")[0]

        def status(origin: str) -> int:
            return httpx2.post(url, json=INIT, headers=ACCEPT | {"Origin": origin}).status_code

        own = [status(f"http://127.0.0.1:{port}"), status(f"http://localhost:{port}")]
        others = [status(f"http://localhost:{int(port) + 1}"), status("http://127.0.0.1:8000"),
                  status("http://localhost"), status("null")]  # fmt: skip
        allowed = status("http://localhost:5173")
        without = httpx2.post(url, json=INIT, headers=ACCEPT).status_code  # not a browser: no Origin
    assert own == [200, 200] and allowed == 200 and without == 200
    assert others == [403, 403, 403, 403]


def test_connections_that_never_finish_a_request_are_closed(tmp_path: Path):
    """Slowloris and its cousins: a connection that sends nothing, half a header, a header a line at a time,
    or half a body is closed within the request timeout; an idle kept-alive one within the keep-alive
    timeout; the server keeps serving."""
    import threading

    from proxima_agent.mcp.http import KEEP_ALIVE_S, REQUEST_TIMEOUT_S

    with http_server(tmp_path) as (url, _):
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        head = f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        body = json.dumps(INIT)
        whole = (f"{head}Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n{body}")  # fmt: skip
        closed: dict[str, float] = {}

        def watch(name: str, chunks: list[str], pause: float = 0.0) -> None:
            start = time.monotonic()
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.settimeout(REQUEST_TIMEOUT_S + 10)
                try:
                    for chunk in chunks:
                        sock.sendall(chunk.encode())
                        time.sleep(pause)
                    while sock.recv(65536):  # a response (the kept-alive case), then the close
                        pass
                except (ConnectionResetError, BrokenPipeError):
                    pass
                except TimeoutError:
                    return  # never closed: missing from `closed`
            closed[name] = time.monotonic() - start

        cases = {
            "silent": ([], 0.0),
            "half header": ([head], 0.0),
            "trickled header": ([head] + [f"X-Slow-{i}: 1\r\n" for i in range(30)], 1.0),
            "half body": ([whole[: -len(body) // 2]], 0.0),
            "kept alive": ([whole], 0.0),
        }
        threads = [threading.Thread(target=watch, args=(name, *case)) for name, case in cases.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        still = httpx2.post(url, json=INIT, headers=ACCEPT).status_code
    assert set(closed) == set(cases), f"left open: {set(cases) - set(closed)}"
    for name in ("silent", "half header", "trickled header", "half body"):
        assert REQUEST_TIMEOUT_S - 1 < closed[name] < REQUEST_TIMEOUT_S + 3, (name, closed[name])
    assert closed["kept alive"] < KEEP_ALIVE_S + 3
    assert still == 200
