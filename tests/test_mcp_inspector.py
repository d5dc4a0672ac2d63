"""The official MCP Inspector (its CLI mode, through npx) against `proxima mcp`: a client nobody here wrote, built
on the TypeScript SDK, which checks structured content against the output schema even in an error result.
Proxima's code and hint must reach its output. Skipped, with the reason, where npx is missing or the package
cannot be fetched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PACKAGE = "@modelcontextprotocol/inspector"
SERVER = [sys.executable, "-m", "proxima_agent", "mcp"]
FETCH_FAILED = (
    "ENOTFOUND",
    "EAI_AGAIN",
    "ETIMEDOUT",
    "ECONNREFUSED",
    "E404",
    "ERR_SOCKET",
    "network",
    "EACCES",
)


def inspector(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npx is not installed (Node.js), so the MCP Inspector cannot run")
    try:
        proc = subprocess.run(
            [npx, "-y", PACKAGE, "--cli", *SERVER, *args],
            cwd=cwd, env=dict(os.environ), capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.skip(f"npx did not fetch and run {PACKAGE} within 600 s")
    if proc.returncode != 0 and "npm" in proc.stderr and any(s in proc.stderr for s in FETCH_FAILED):
        pytest.skip(f"{PACKAGE} cannot be fetched: {proc.stderr.strip().splitlines()[-1]}")
    return proc


def test_the_inspector_lists_the_tools_and_shows_proximas_errors(tmp_path: Path):
    listed = inspector(tmp_path, "--method", "tools/list")
    assert listed.returncode == 0, listed.stderr
    tools = {t["name"]: t for t in json.loads(listed.stdout)["tools"]}
    assert len(tools) == 15 and tools["execute"]["inputSchema"]["additionalProperties"] is False

    failed = inspector(tmp_path, "--method", "tools/call", "--tool-name", "execute",
                       "--tool-arg", "circuit=bell", "--tool-arg", "backend=nosuch")  # fmt: skip
    both = failed.stdout + failed.stderr
    assert "Structured content does not match" not in both, both
    result = json.loads(failed.stdout)
    assert result["isError"] is True and "structuredContent" not in result
    text = result["content"][0]["text"]
    assert (
        text.startswith("BACKEND_UNKNOWN: unknown backend 'nosuch'") and "\nhint: available backends" in text
    )

    missing = inspector(tmp_path, "--method", "tools/call", "--tool-name", "execute")
    text = json.loads(missing.stdout)["content"][0]["text"]
    assert (
        text.startswith("INPUT_INVALID: execute: missing required argument(s) circuit") and "hint: " in text
    )

    # every argument arrives as a string from a CLI client: read the same way by every tool
    described = inspector(tmp_path, "--method", "tools/call", "--tool-name", "describe_circuit",
                          "--tool-arg", "circuit=ghz:3", "--tool-arg", "qasm=3")  # fmt: skip
    result = json.loads(described.stdout)
    assert not result.get("isError") and result["structuredContent"]["qasm"].startswith("OPENQASM 3")
