"""`proxima mcp` as Claude Desktop runs it: a real subprocess spoken to over stdio. Concurrent requests on one
connection (a wait while another request pauses and resumes), an abort, a cancelled wait, and a raw pipe that
checks that stdout carries protocol messages and nothing else."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from mcp import Client, StdioServerParameters

from tests.mcp_helpers import Checked, run, until_state

LONG = {"circuit": "ghz:15", "backend": "lret", "noise": "amplitude_damping:0.001;phase_damping:0.001"}
SERVER = [sys.executable, "-m", "proxima_agent", "mcp"]


def _params(cwd: Path) -> StdioServerParameters:
    return StdioServerParameters(command=SERVER[0], args=SERVER[1:], env=dict(os.environ), cwd=cwd)


def _workers() -> set[int]:
    found = set()
    for process in psutil.process_iter(["cmdline"]):
        if "proxima_agent.engine.worker" in " ".join(process.info["cmdline"] or []):
            found.add(process.pid)
    return found


@pytest.mark.slow
def test_a_session_over_stdio_runs_pauses_resumes_aborts_and_cancels(tmp_path: Path):
    before = _workers()

    async def main():
        async with Client(_params(tmp_path), mode="legacy") as client:  # the handshake era, as Claude Desktop
            checked = Checked(client)
            assert len((await client.list_tools()).tools) == 15
            noisy = await checked.ok(
                "execute", {"circuit": "ghz:4", "backend": "aer-dm", "noise": "depolarizing:0.01", "seed": 1}
            )
            assert noisy["state"] == "COMPLETED" and noisy["result"]["exact"]

            job = (await checked.ok("execute", LONG | {"seed": 8, "wait_seconds": 0}))["job_id"]
            waiting = asyncio.ensure_future(checked.ok("wait_job", {"job_id": job, "wait_seconds": 50}))
            await until_progress(checked, job)
            paused = await checked.ok("pause", {"job_id": job})  # while the wait above is in flight
            assert paused["state"] == "PAUSED" and not waiting.done()
            await asyncio.sleep(0.5)
            assert (await checked.ok("job_status", {"job_id": job}))["state"] == "PAUSED"
            await checked.ok("resume", {"job_id": job})
            finished = await waiting
            assert finished["state"] == "COMPLETED" and finished["result"]["distinct_outcomes"] >= 2

            victim = (await checked.ok("execute", LONG | {"seed": 9, "wait_seconds": 0}))["job_id"]
            await until_progress(checked, victim)
            assert (await checked.ok("abort", {"job_id": victim}))["state"] == "ABORTED"

            call = asyncio.ensure_future(client.call_tool("execute", LONG | {"seed": 10, "wait_seconds": 50}))
            running = await started(checked, exclude={job, victim})
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            await asyncio.sleep(0.5)
            view = await checked.ok("job_status", {"job_id": running})
            assert view["state"] in ("EXECUTING", "COMPLETED")  # the cancelled wait left the job running
            assert (await checked.ok("describe_circuit", {"circuit": "bell"}))[
                "num_qubits"
            ] == 2  # still serving
            await until_state(checked, running, {"COMPLETED"}, timeout=60)

    run(main())
    # the server exited with the session, and took its workers with it
    for _ in range(100):
        if not _workers() - before:
            break
        import time

        time.sleep(0.1)
    assert not _workers() - before


async def until_progress(checked: Checked, job: str, steps: int = 3) -> None:
    for _ in range(1000):
        if (await checked.ok("job_status", {"job_id": job}))["progress"]["done"] >= steps:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {job} made no progress")


async def started(checked: Checked, exclude: set[str]) -> str:
    for _ in range(1000):
        jobs = (await checked.ok("list_jobs", {"states": ["EXECUTING"]}))["jobs"]
        fresh = [j["job_id"] for j in jobs if j["job_id"] not in exclude and j["progress"]["done"] >= 1]
        if fresh:
            return fresh[0]
        await asyncio.sleep(0.02)
    raise AssertionError("the execute call started no job")


def _request(number: int, method: str, params: dict) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": number, "method": method, "params": params}) + "\n"


def test_stdout_carries_only_protocol_messages(tmp_path: Path):
    messages = [
        _request(1, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                   "clientInfo": {"name": "raw-test", "version": "0"}}),
        json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n",
        _request(2, "tools/list", {}),
        _request(3, "tools/call", {"name": "execute", "arguments": {"circuit": "bell", "backend": "aer-sv", "seed": 1}}),
        _request(4, "tools/call", {"name": "execute", "arguments": {"circuit": "OPENQASM 2.0; qreg q[1]; h q[0]"}}),
        _request(5, "tools/call", {"name": "no_such_tool", "arguments": {}}),
        _request(6, "resources/read", {"uri": "proxima://circuits/bell"}),
    ]  # fmt: skip
    process = subprocess.Popen(
        SERVER, cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    replies: dict[int, dict] = {}
    lines: list[str] = []
    assert process.stdin is not None and process.stdout is not None
    for message in messages:
        process.stdin.write(message)
        process.stdin.flush()
        if '"id"' not in message:
            continue
        number = json.loads(message)["id"]
        while number not in replies:  # answers may be preceded by notifications
            line = process.stdout.readline()
            assert line, f"the server closed stdout before answering request {number}"
            lines.append(line)
            data = json.loads(line)  # every line is one JSON-RPC message, or this fails
            assert data["jsonrpc"] == "2.0"
            if "id" in data and ("result" in data or "error" in data):
                replies[data["id"]] = data
    rest, errors = process.communicate(timeout=30)  # closes stdin: the client has gone, the server ends
    assert process.returncode == 0, errors
    assert rest == "", f"stdout carried more than protocol messages: {rest!r}"
    assert "Traceback" not in errors
    assert len(replies[2]["result"]["tools"]) == 15
    ran = replies[3]["result"]
    assert not ran["isError"] and set(ran["structuredContent"]["result"]["counts"]) <= {"00", "11"}
    broken = replies[4]["result"]
    assert broken["isError"] and "structuredContent" not in broken
    assert broken["content"][0]["text"].startswith("QASM_SYNTAX: ")
    assert broken["_meta"]["proxima/error"]["code"] == "QASM_SYNTAX"
    assert replies[5]["error"]["code"] == -32602  # an unknown tool: refused, still serving
    assert replies[5]["error"]["data"]["code"] == "INPUT_INVALID"
    assert replies[6]["result"]["contents"][0]["text"].startswith("OPENQASM 2.0")


def test_sigterm_stops_the_server_its_job_and_its_workers(tmp_path: Path):
    from tests.cli_helpers import proxima

    process = subprocess.Popen(
        SERVER, cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdin is not None and process.stdout is not None
    init = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}
    process.stdin.write(_request(1, "initialize", init))
    process.stdin.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n")
    process.stdin.write(
        _request(2, "tools/call", {"name": "execute", "arguments": LONG | {"wait_seconds": 0}})
    )
    process.stdin.flush()
    lines = [json.loads(process.stdout.readline()) for _ in range(2)]
    job = lines[1]["result"]["structuredContent"]["job_id"]
    workers = [c.pid for c in psutil.Process(process.pid).children(recursive=True)]
    assert workers
    process.send_signal(signal.SIGTERM)
    assert process.wait(15) == 0
    assert not [
        p for p in workers if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
    ]
    status = json.loads(proxima("status", job, "--json", cwd=tmp_path).out)
    assert status["state"] == "ABORTED" and "closed" in status["transitions"][-2]["reason"]


@pytest.mark.parametrize(
    "options",
    [
        ["--token", "s3cret"],
        ["--host", "0.0.0.0"],
        ["--port", "9000"],
        ["--allow-origin", "http://localhost:1"],
    ],
)
def test_http_options_on_stdio_are_refused_not_ignored(tmp_path: Path, options: list[str]):
    from tests.cli_helpers import proxima

    refused = proxima("mcp", *options, cwd=tmp_path, timeout=60)
    assert refused.code == 3 and refused.out == ""
    assert "OPTION_INVALID" in refused.err and options[0] in refused.err and "--transport http" in refused.err
    assert "Traceback" not in refused.err


def test_a_token_in_the_environment_does_not_stop_a_stdio_server(tmp_path: Path):
    process = subprocess.Popen(
        SERVER, cwd=tmp_path, env=dict(os.environ) | {"PROXIMA_MCP_TOKEN": "s3cret"},
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    init = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}
    out, errors = process.communicate(_request(1, "initialize", init), timeout=60)
    assert process.returncode == 0, errors
    assert json.loads(out.splitlines()[0])["result"]["serverInfo"]["name"] == "proxima"
