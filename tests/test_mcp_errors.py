"""How failures reach an MCP client, through real clients: every tool error validates against the tool's
advertised output schema (in memory, over a real stdio pipe and over real HTTP on loopback), carries its code
and hint in the text and names tools, not CLI commands; the JSON-RPC errors (malformed lines, unknown prompts,
resources and tools) follow the one mapping of docs/mcp.md; arguments written as strings are read the same way
by every tool; oversize input is refused without being echoed; resources use the server's configuration
however the server is built."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from proxima_agent.mcp.errors import ERROR_META_KEY
from proxima_agent.tools.registry import registry
from tests.mcp_helpers import Checked, config, parse_error_text, run, serving

SERVER = [sys.executable, "-m", "proxima_agent", "mcp"]
CLI_ISM = re.compile(
    r"\bproxima (run|status|resume|abort|pause|jobs|rollback|checkpoint|backends|circuits|describe|estimate|gc|"
    r"mcp|chat|agent)\b|(?<![\w-])--[a-z]"
)
TEN_MB = "x" * 10_000_000

# Failing calls that need no job: (tool, arguments, code).
FAILING: list[tuple[str, dict[str, Any], str]] = [
    ("execute", {}, "INPUT_INVALID"),
    ("execute", {"circuit": "bell", "backend": "nosuch"}, "BACKEND_UNKNOWN"),
    ("execute", {"circuit": "bell", "shots": -5}, "INPUT_INVALID"),
    ("execute", {"circuit": "bell", "shots": "many"}, "INPUT_INVALID"),
    ("execute", {"circuit": "bell", "surprise": 1}, "INPUT_INVALID"),
    ("execute", {"circuit": "ghz:40", "backend": "aer-sv"}, "RESOURCES_INSUFFICIENT"),
    ("execute", {"circuit": "bell", "noise": "depolarizing:1.5"}, "NOISE_INVALID"),
    ("execute", {"circuit": "ghz:3", "backend": "aer-sv", "observables": ["ZZZ"]}, "BACKEND_UNSUPPORTED"),
    ("execute", {"circuit": "bell", "observables": ["QQ"]}, "OPTION_INVALID"),
    ("execute", {"circuit": "bell", "backend": "lret", "backend_options": {"nosuch": 1}}, "OPTION_INVALID"),
    ("describe_circuit", {"circuit": "OPENQASM 2.0;\nqreg q[1];\nh q[0]"}, "QASM_SYNTAX"),
    ("describe_circuit", {"circuit": "nosuch:3"}, "CIRCUIT_UNKNOWN"),
    ("describe_circuit", {"circuit": "ghz:0"}, "CIRCUIT_PARAMETERS"),
    ("describe_circuit", {"circuit": "../outside.qasm"}, "FILE_UNREADABLE"),
    ("describe_circuit", {"circuit": "bell", "qasm": "4"}, "INPUT_INVALID"),
    ("estimate_resources", {"circuit": "bell", "noise": ";;;x"}, "NOISE_INVALID"),
    ("select_backend", {"circuit": "bell", "backends": ["nosuch"]}, "BACKEND_UNKNOWN"),
    ("job_status", {"job_id": "no-such-job"}, "JOB_UNKNOWN"),
    ("job_status", {"job_id": "../../etc/passwd"}, "INPUT_INVALID"),
    ("wait_job", {"job_id": "no-such-job"}, "JOB_UNKNOWN"),
    ("pause", {"job_id": "no-such-job", "mode": "melt"}, "INPUT_INVALID"),
    ("resume", {"job_id": "no-such-job"}, "JOB_UNKNOWN"),
    ("rollback", {"job_id": "no-such-job", "number": 0}, "INPUT_INVALID"),
    ("list_jobs", {"states": ["MELTED"]}, "JOB_STATE"),
    ("compare", {"circuit": "ghz:16", "backends": ["aer-dm", "cirq-dm"]}, "INPUT_INVALID"),
    ("compare", {"job_ids": ["a"]}, "INPUT_INVALID"),
    ("interpret", {"file": "missing.csv"}, "FILE_UNREADABLE"),
    ("interpret", {"job_id": "x", "file": "y.csv"}, "INPUT_INVALID"),
]
# ... and on a job that has ended (completed): each control is refused.
ON_ENDED_JOB: list[tuple[str, dict[str, Any], str]] = [
    ("pause", {}, "JOB_STATE"),
    ("resume", {}, "JOB_STATE"),
    ("abort", {}, "JOB_STATE"),
    ("checkpoint", {}, "JOB_STATE"),
    ("rollback", {"number": 1}, "JOB_STATE"),
    ("compare", {"job_ids": None}, "INPUT_INVALID"),  # a job with itself, and one that does not exist
]


def _workspace(tmp_path: Path) -> Path:
    (tmp_path / "outside.qasm").write_text('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\nh q[0];\n')
    workspace = tmp_path / "ws"
    workspace.mkdir()
    return workspace


async def _check_errors(checked: Checked) -> list[str]:
    """Every failing call: an error with its code and a hint, structured content absent (so nothing can
    violate the output schema), the text free of CLI commands and flags. Returns the error texts."""
    texts = []

    async def one(name: str, arguments: dict[str, Any], code: str) -> None:
        result = await checked.call(name, arguments)  # validates like a TypeScript-SDK client
        text = result.content[0].text  # type: ignore[union-attr]
        assert result.is_error, (name, arguments, text)
        assert result.structured_content is None, (name, result.structured_content)
        error = parse_error_text(text)
        assert error["code"] == code, (name, arguments, text)
        assert error["hint"], (name, text)
        assert not CLI_ISM.search(text), f"{name}: a CLI command or flag in an MCP error: {text}"
        texts.append(text)

    for name, arguments, code in FAILING:
        await one(name, arguments, code)
    done = await checked.ok("execute", {"circuit": "bell", "backend": "aer-sv", "shots": 10, "seed": 1})
    for name, extra, code in ON_ENDED_JOB:
        arguments = {"job_id": done["job_id"]} | extra
        if name == "compare":
            arguments = {"job_ids": [done["job_id"], "no-such-job"]}
            code = "JOB_UNKNOWN"
        await one(name, arguments, code)
    return texts


def test_every_error_result_validates_against_the_output_schema_in_memory(tmp_path: Path):
    async def main():
        async with serving(workspace=_workspace(tmp_path)) as checked:
            texts = await _check_errors(checked)
            assert (await checked.ok("describe_circuit", {"circuit": "bell"}))["num_qubits"] == 2
        return texts

    texts = run(main())
    assert len(texts) == len(FAILING) + len(ON_ENDED_JOB)
    refused = next(t for t in texts if t.startswith("RESOURCES_INSUFFICIENT"))
    assert "force=true" in refused  # consent named as the argument, in the tools' language


def test_every_error_result_validates_against_the_output_schema_over_stdio(tmp_path: Path):
    workspace = _workspace(tmp_path)

    async def main():
        params = StdioServerParameters(
            command=SERVER[0], args=SERVER[1:], env=dict(os.environ), cwd=workspace
        )
        async with Client(params) as client:
            await _check_errors(Checked(client))

    run(main())


def test_every_error_result_validates_against_the_output_schema_over_http(tmp_path: Path):
    from tests.test_mcp_http import http_server

    workspace = _workspace(tmp_path)
    with http_server(workspace) as (url, _):

        async def main():
            async with Client(url) as client:
                await _check_errors(Checked(client))

        run(main())


def test_error_text_and_meta_carry_code_hint_and_context():
    async def main():
        async with serving(config(estimate={"memory_margin": 0.9999})) as checked:
            return await checked.client.call_tool("execute", {"circuit": "bell", "backend": "aer-sv"})

    result = run(main())
    meta = result.meta[ERROR_META_KEY]
    assert result.is_error and result.structured_content is None
    assert result.content[0].text == f"{meta['code']}: {meta['message']}\nhint: {meta['hint']}"
    assert meta["code"] == "RESOURCES_INSUFFICIENT"
    assert meta["context"]["needed_bytes"] > meta["context"]["usable_bytes"]


# --- the JSON-RPC errors ---------------------------------------------------------------------------------------


def _request(number: int, method: str, params: dict) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": number, "method": method, "params": params}) + "\n"


INIT = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}


def _raw_session(cwd: Path, lines: list[tuple[str, bool]]) -> tuple[list[dict], str]:
    """Send LINES (text, whether a reply is expected) one at a time, waiting for each reply; returns the
    replies in order and stderr."""
    process = subprocess.Popen(
        SERVER, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdin is not None and process.stdout is not None
    replies = []
    try:
        for text, answered in [(_request(0, "initialize", INIT), True),
                               (json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n", False),
                               *lines]:  # fmt: skip
            process.stdin.write(text)
            process.stdin.flush()
            while answered:
                data = json.loads(process.stdout.readline())
                if "result" in data or "error" in data:  # not a notification
                    replies.append(data)
                    break
        _, errors = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, errors
    return replies[1:], errors


def test_json_rpc_errors_follow_one_mapping_over_stdio(tmp_path: Path):
    replies, errors = _raw_session(
        tmp_path,
        [
            ("{this is not json\n", True),
            ("\n", False),  # a blank line: nothing to answer
            (json.dumps({"jsonrpc": "2.0", "id": 7}) + "\n", True),
            (_request(8, "prompts/get", {"name": "nosuch"}), True),
            (_request(9, "prompts/get", {"name": "will-it-fit", "arguments": {"bogus": "1"}}), True),
            (_request(10, "resources/read", {"uri": "proxima://circuits/nosuch:3"}), True),
            (_request(11, "resources/read", {"uri": "proxima://jobs/no-such-job"}), True),
            (_request(12, "resources/read", {"uri": "proxima://nothing/here"}), True),
            (_request(13, "tools/call", {"name": "nosuch", "arguments": {}}), True),
            (_request(14, "tools/call", {"arguments": {}}), True),
            (_request(15, "no/such/method", {}), True),
            (
                _request(16, "tools/call", {"name": "describe_circuit", "arguments": {"circuit": "bell"}}),
                True,
            ),
        ],
    )
    parse, invalid, prompt, prompt_arg, circuit, job, resource, tool, malformed, method, ok = replies
    assert (
        parse == {"jsonrpc": "2.0", "id": None, "error": parse["error"]} and parse["error"]["code"] == -32700
    )
    assert invalid["id"] == 7 and invalid["error"]["code"] == -32600
    expected = [(prompt, "INPUT_INVALID"), (prompt_arg, "INPUT_INVALID"), (circuit, "CIRCUIT_UNKNOWN"),
                (job, "JOB_UNKNOWN"), (resource, "INPUT_INVALID"), (tool, "INPUT_INVALID"),
                (malformed, "INPUT_INVALID")]  # fmt: skip
    for reply, code in expected:
        error = reply["error"]
        assert error["code"] == -32602, reply  # invalid params: the request named something that is not there
        assert error["data"]["code"] == code and error["data"]["hint"], reply
        assert error["message"] == f"{code}: {error['data']['message']} (hint: {error['data']['hint']})"
        assert not CLI_ISM.search(error["message"]), error["message"]
    assert "compare-backends" in prompt["error"]["data"]["hint"]
    assert "circuit" in prompt_arg["error"]["data"]["hint"]
    assert "proxima://backends" in resource["error"]["data"]["hint"]
    assert "execute" in tool["error"]["data"]["hint"]
    assert method["error"]["code"] == -32601
    assert not ok["result"]["isError"]  # still serving
    assert "Traceback" not in errors


def test_json_rpc_errors_in_memory_for_both_server_builds():
    async def main(shared: bool):
        async with serving(shared=shared) as checked:
            found = []
            for call in (
                lambda: checked.client.get_prompt("nosuch"),
                lambda: checked.client.get_prompt("will-it-fit", {"circuit": TEN_MB}),
                lambda: checked.client.read_resource("proxima://circuits/nosuch:3"),
                lambda: checked.client.read_resource("proxima://results/no-such-job"),
                lambda: checked.client.read_resource("proxima://results/bad id!/counts.csv"),
                lambda: checked.client.call_tool("nosuch", {}),
            ):
                with pytest.raises(MCPError) as caught:
                    await call()
                found.append(caught.value)
            return found

    for shared in (False, True):
        found = run(main(shared))
        assert [e.code for e in found] == [-32602] * 6
        assert [e.data["code"] for e in found] == ["INPUT_INVALID", "INPUT_INVALID", "CIRCUIT_UNKNOWN",
                                                   "JOB_UNKNOWN", "INPUT_INVALID", "INPUT_INVALID"]  # fmt: skip
        assert all(len(e.message) < 3000 for e in found)  # the 10 MB argument is not echoed


# --- arguments: the same reading everywhere, the schema says what is refused -------------------------------------


def test_arguments_written_as_strings_are_read_the_same_way_by_every_tool():
    async def main():
        async with serving() as checked:
            described = await checked.ok("describe_circuit", {"circuit": "bell", "qasm": "3"})
            ran = await checked.ok("execute", {"circuit": "bell", "backend": "aer-sv", "shots": "200",
                                               "seed": "3", "probabilities": "true", "wait_seconds": "20"})  # fmt: skip
            chosen = await checked.ok(
                "select_backend", {"circuit": "ghz:3", "backends": '["cirq-sv", "lret"]'}
            )
            listed = await checked.ok("list_jobs", {"limit": "5", "states": '["COMPLETED"]'})
            status = await checked.ok("wait_job", {"job_id": ran["job_id"], "probabilities": "false"})
            return described, ran, chosen, listed, status

    described, ran, chosen, listed, status = run(main())
    assert described["qasm"].startswith("OPENQASM 3")
    assert ran["result"]["shots"] == 200 and ran["result"]["seed"] == 3 and ran["result"]["probabilities"]
    assert chosen["backend"] in ("cirq-sv", "lret")
    assert [j["job_id"] for j in listed["jobs"]] == [ran["job_id"]] and status["state"] == "COMPLETED"
    # the agent loop's path (the registry) reads them the same way as the MCP server
    spec = registry()["describe_circuit"]
    assert spec.parse({"circuit": "bell", "qasm": "3"}) == spec.parse({"circuit": "bell", "qasm": 3})


def test_input_schemas_refuse_unknown_arguments_and_bound_every_string():
    async def main():
        async with serving() as checked:
            return {t.name: t.input_schema for t in (await checked.client.list_tools()).tools}

    schemas = run(main())

    def strings(schema: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
        if "$ref" in schema:
            return strings(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
        found = [schema] if schema.get("type") == "string" and "enum" not in schema else []
        for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            for sub in schema.get(key, []):
                found += strings(sub, defs)
        for key in ("items", "additionalProperties", "propertyNames"):
            if isinstance(schema.get(key), dict):
                found += strings(schema[key], defs)
        for sub in schema.get("properties", {}).values():
            found += strings(sub, defs)
        return found

    for name, schema in schemas.items():
        assert schema["additionalProperties"] is False, name
        jsonschema.Draft202012Validator.check_schema(schema)
        for prop, sub in schema["properties"].items():
            for string in strings(sub, schema.get("$defs", {})):
                assert "maxLength" in string or "pattern" in string, (name, prop, string)
            if sub.get("type") == "array" or any(s.get("type") == "array" for s in sub.get("anyOf", [])):
                arrays = (
                    [sub]
                    if sub.get("type") == "array"
                    else [s for s in sub["anyOf"] if s.get("type") == "array"]
                )
                assert all("maxItems" in a for a in arrays), (name, prop)


def test_oversize_arguments_are_refused_without_echo_in_the_reply_or_the_log(tmp_path: Path, isolated_home):
    """A 10 MB backend name (and prompt argument, and argument name) over a real stdio pipe: a short error, and
    the log grows by a few lines, not by megabytes."""
    log = isolated_home / "data" / "logs" / "proxima.log"
    replies, errors = _raw_session(
        tmp_path,
        [
            (_request(1, "tools/call", {"name": "execute", "arguments": {"circuit": "bell", "backend": TEN_MB}}),
             True),
            (_request(2, "tools/call", {"name": "select_backend", "arguments": {"circuit": "bell",
                                                                                  "backends": [TEN_MB]}}), True),
            (_request(3, "tools/call", {"name": "execute", "arguments": {"circuit": "bell", TEN_MB: 1}}), True),
            (_request(4, "prompts/get", {"name": "noise-study", "arguments": {"circuit": TEN_MB}}), True),
            (_request(5, "resources/read", {"uri": f"proxima://circuits/{TEN_MB[:1_000_000]}"}), True),
        ],
    )  # fmt: skip
    for reply in replies:
        assert len(json.dumps(reply)) < 5000, json.dumps(reply)[:300]
    assert [r["result"]["_meta"][ERROR_META_KEY]["code"] for r in replies[:3]] == ["INPUT_INVALID"] * 3
    assert [r["error"]["code"] for r in replies[3:]] == [-32602, -32602]
    logged = log.read_text()
    assert "tool execute: INPUT_INVALID" in logged  # the refusals are logged ...
    assert len(logged) < 100_000 and "Traceback" not in errors  # ... without the input


# --- resources use the server's runtime ---------------------------------------------------------------------------

SETTINGS = {"backends": {"aer-sv": {"enabled": False}}, "estimate": {"memory_margin": 0.9}}


def _same_listing(resource: dict[str, Any], tool: dict[str, Any]) -> None:
    rows = {b["id"]: b for b in resource["backends"]}
    assert not rows["aer-sv"]["enabled"]
    for row in tool["backends"]:
        assert rows[row["id"]]["enabled"] == row["enabled"]
        assert rows[row["id"]]["max_qubits_here"] == row["max_qubits_here"]


def test_the_backends_resource_uses_the_servers_configuration_both_ways():
    async def main(shared: bool):
        async with serving(config(**SETTINGS), shared=shared) as checked:
            return await checked.json_resource("proxima://backends"), await checked.ok("list_backends", {})

    for shared in (False, True):
        _same_listing(*run(main(shared)))


def test_the_backends_resource_honours_proxima_json_over_stdio(tmp_path: Path):
    (tmp_path / "proxima.json").write_text(json.dumps(SETTINGS))
    default = config()

    async def main():
        params = StdioServerParameters(command=SERVER[0], args=SERVER[1:], env=dict(os.environ), cwd=tmp_path)
        async with Client(params) as client:
            checked = Checked(client)
            return await checked.json_resource("proxima://backends"), await checked.ok("list_backends", {})

    resource, tool = run(main())
    _same_listing(resource, tool)
    margin = next(b for b in resource["backends"] if b["id"] == "aer-dm")["max_qubits_here"]
    assert default.estimate.memory_margin != 0.9 and margin >= 1
