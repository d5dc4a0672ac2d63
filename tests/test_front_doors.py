"""The agent's front doors as a person meets them: `proxima agent -p` and `proxima sessions` in subprocesses (the
offline planner, and the real OpenAI and Anthropic SDKs against scripted servers on loopback), and `proxima chat`
in a real pseudo-terminal and through a pipe. Each command is a new process, so sessions surviving a restart is
what every multi-command test here checks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pexpect
import pytest

from tests.cli_helpers import PROXIMA, proxima
from tests.llm_servers import AnthropicCompatServer, OpenAICompatServer, Reply, tool_results

ROOT = Path(__file__).resolve().parents[1]
NO_KEYS = {"OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": "", "OPENAI_BASE_URL": "", "ANTHROPIC_BASE_URL": ""}


def agent(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = proxima("agent", *args, cwd=cwd, env=NO_KEYS | (env or {}), timeout=120)
    assert "Traceback" not in result.both, result.both
    return result.code, result.out, result.err


def record(out: str) -> dict:
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    return json.loads(lines[0])


def test_offline_text_answers_with_the_runs_real_counts(tmp_path: Path):
    code, out, err = agent("-p", "run ghz:3 with 100 shots and seed 5 on aer-sv", cwd=tmp_path)
    assert code == 0, err
    assert "aer-sv" in out and "`000`" in out and "`111`" in out
    assert "execute" in err and "ok" in err


def test_offline_json_record_and_its_job_are_real(tmp_path: Path):
    code, out, err = agent("-p", "run bell with 200 shots on aer-sv", "--output-format", "json", cwd=tmp_path)
    assert code == 0, err
    data = record(out)
    assert data["type"] == "result" and data["subtype"] == "success" and data["is_error"] is False
    assert data["model"] == "offline" and data["session_id"] and data["error"] is None
    assert [c["tool"] for c in data["tool_calls"]] == ["execute"] and data["tool_calls"][0]["ok"] is True
    assert data["tool_calls"][0]["arguments"]["shots"] == 200
    (job_id,) = data["simulation"]["job_ids"]
    status = proxima("status", job_id, "--json", cwd=tmp_path)
    assert status.code == 0 and json.loads(status.out)["state"] == "COMPLETED"
    counts = json.loads(status.out)["result"]["counts"]
    assert sum(counts.values()) == 200 and all(str(n) in data["result"] for n in counts.values())


def test_stream_json_is_init_events_then_the_result(tmp_path: Path):
    code, out, err = agent("-p", "list backends", "--output-format", "stream-json", cwd=tmp_path)
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert events[0]["type"] == "init" and "execute" in events[0]["tools"]
    types = [e["type"] for e in events]
    assert "tool_call" in types and "tool_result" in types and "text_delta" in types
    assert types[-1] == "result" and events[-1]["subtype"] == "success"


def test_sessions_continue_list_show_export_replay_and_delete(tmp_path: Path):
    code, out, _ = agent("-p", "run ghz:3 with 100 shots on aer-sv", "--output-format", "json", cwd=tmp_path)
    first = record(out)
    code, out, err = agent("-p", "interpret the last result", "-c", "--output-format", "json", cwd=tmp_path)
    assert code == 0, err
    second = record(out)
    assert second["session_id"] == first["session_id"]
    assert first["simulation"]["job_ids"][0] in second["result"]  # the history came back: "the last" job
    session = first["session_id"]

    listed = json.loads(proxima("sessions", "list", "--json", cwd=tmp_path).out)
    assert [s["id"] for s in listed] == [session] and listed[0]["totals"]["turns"] == 2
    shown = proxima("sessions", "show", session[:15], cwd=tmp_path)
    assert shown.code == 0 and "turns" in shown.out and "offline" in shown.out
    replay = proxima("sessions", "replay", session, cwd=tmp_path)
    assert "run ghz:3 with 100 shots" in replay.out and "interpret the last result" in replay.out

    exported = proxima("sessions", "export", session, "--format", "json", cwd=tmp_path)
    schema = json.loads((ROOT / "docs" / "session-export.schema.json").read_text())
    jsonschema.validate(json.loads(exported.out), schema)
    markdown = proxima("sessions", "export", session, "--format", "md", cwd=tmp_path).out
    assert "run ghz:3 with 100 shots" in markdown
    page = tmp_path / "session.html"
    html = proxima("sessions", "export", session, "--format", "html", "-o", str(page), cwd=tmp_path)
    assert (
        html.code == 0
        and page.read_text().startswith("<!DOCTYPE html")
        and "data:image/png" in page.read_text()
    )

    code, out, _ = agent("-p", "list jobs", "--resume", session[:15], "--output-format", "json", cwd=tmp_path)
    assert record(out)["session_id"] == session
    assert proxima("sessions", "delete", session, cwd=tmp_path).code == 0
    gone = proxima("sessions", "show", session, cwd=tmp_path)
    assert gone.code == 3 and "SESSION_UNKNOWN" in gone.err and "Traceback" not in gone.both


def test_a_request_beyond_the_planner_says_how_to_configure_an_llm(tmp_path: Path):
    code, out, _ = agent("-p", "write me a poem about qubits", cwd=tmp_path)
    assert code == 0 and "cannot" in out and "--model" in out


@pytest.mark.parametrize(
    ("model", "code", "word"),
    [
        ("nosuch:thing", "MODEL_UNKNOWN", "nosuch"),
        ("anthropic:claude-sonnet-4-5", "MODEL_AUTH", "ANTHROPIC_API_KEY"),
    ],
)
def test_model_errors_are_one_coded_record(tmp_path: Path, model: str, code: str, word: str):
    exit_code, out, err = agent("-p", "hello", "--model", model, "--output-format", "json", cwd=tmp_path)
    data = record(out)
    assert exit_code == 8 and data["is_error"] is True and data["error"]["code"] == code
    assert word in data["error"]["message"] + (data["error"]["hint"] or "")
    exit_code, out, err = agent("-p", "hello", "--model", model, cwd=tmp_path)
    assert exit_code == 8 and code in err and "hint:" in err and out == ""


def test_a_deny_rule_in_proxima_json_refuses_the_run(tmp_path: Path):
    (tmp_path / "proxima.json").write_text(json.dumps({"permissions": {"deny": ["execute"]}}))
    _, out, _ = agent("-p", "run bell", "--output-format", "json", cwd=tmp_path)
    data = record(out)
    assert data["simulation"]["job_ids"] == [] and "PERMISSION_DENIED" in data["result"]
    assert json.loads(proxima("jobs", "--json", cwd=tmp_path).out)["jobs"] == []


def test_an_ask_rule_is_denied_headless_and_approved_by_yes(tmp_path: Path):
    (tmp_path / "proxima.json").write_text(json.dumps({"permissions": {"ask": ["execute"]}}))
    _, out, _ = agent("-p", "run bell", "--output-format", "json", cwd=tmp_path)
    assert record(out)["simulation"]["job_ids"] == []
    _, out, _ = agent("-p", "run bell", "--yes", "--output-format", "json", cwd=tmp_path)
    assert len(record(out)["simulation"]["job_ids"]) == 1


def answer_after_tools(*calls: tuple[str, dict]) -> object:
    """A script: the tool calls first, then (once the request carries their results) a text."""

    def reply(body: dict) -> Reply:
        if tool_results(body):
            return Reply.text("done: " + tool_results(body)[-1][:40])
        return Reply.tool_calls(list(calls))

    return reply


def test_openai_chat_completions_through_the_real_sdk(tmp_path: Path):
    with OpenAICompatServer(answer_after_tools(("execute", {"circuit": "bell", "shots": 100}))) as server:
        code, out, err = agent(
            "-p", "run bell", "--model", "openai-chat:test-model", "--output-format", "json",
            cwd=tmp_path, env=server.env(),
        )  # fmt: skip
        assert code == 0, out + err
        data = record(out)
        assert data["model"] == "openai-chat:test-model" and data["result"].startswith("done: ")
        assert [c["tool"] for c in data["tool_calls"]] == ["execute"] and data["tool_calls"][0]["ok"]
        assert data["usage"]["input_tokens"] > 0
        carried = tool_results(server.model_requests[-1].body)[-1]
        assert data["simulation"]["job_ids"][0] in carried  # the model was sent the real result


def test_openai_429_then_parallel_read_only_calls_then_text(tmp_path: Path):
    calls = [("list_backends", {}), ("describe_circuit", {"circuit": "ghz:3"})]
    script = [Reply.error(429, retry_after=0.2), Reply.tool_calls(calls), Reply.text("both read")]
    with OpenAICompatServer(script) as server:
        code, out, err = agent(
            "-p", "what is there", "--model", "openai-chat:test-model", "--output-format", "json",
            cwd=tmp_path, env=server.env(),
        )  # fmt: skip
        assert code == 0, out + err
        data = record(out)
        assert sorted(c["tool"] for c in data["tool_calls"]) == ["describe_circuit", "list_backends"]
        assert data["result"] == "both read" and len(server.model_requests) == 3


def test_a_malformed_tool_call_gets_a_retry_prompt_and_the_turn_goes_on(tmp_path: Path):
    script = [
        Reply.tool_calls([("describe_circuit", '{"circuit": "ghz:3"')]),  # broken JSON
        Reply.tool_calls([("describe_circuit", {"circuit": "ghz:3"})]),
        Reply.text("described"),
    ]
    with OpenAICompatServer(script) as server:
        code, out, err = agent(
            "-p", "describe ghz:3", "--model", "openai-chat:test-model", "--output-format", "json",
            cwd=tmp_path, env=server.env(),
        )  # fmt: skip
        assert code == 0, out + err
        assert record(out)["result"] == "described" and len(server.model_requests) == 3


def test_anthropic_messages_through_the_real_sdk_needs_remote_consent(tmp_path: Path):
    with AnthropicCompatServer(answer_after_tools(("list_backends", {}))) as server:
        env = server.env()
        code, out, err = agent(
            "-p", "list backends", "--model", "anthropic:test-model", "--output-format", "json",
            cwd=tmp_path, env=env,
        )  # fmt: skip
        data = record(out)
        if data["is_error"]:  # a remote provider: headless needs --allow-remote, and nothing was sent
            assert code == 8 and data["error"]["code"] == "MODEL_CONSENT" and not server.model_requests
            code, out, err = agent(
                "-p", "list backends", "--model", "anthropic:test-model", "--allow-remote",
                "--output-format", "json", cwd=tmp_path, env=env,
            )  # fmt: skip
            data = record(out)
        assert code == 0, out + err
        assert [c["tool"] for c in data["tool_calls"]] == ["list_backends"] and data["result"].startswith(
            "done"
        )


# --- proxima chat ----------------------------------------------------------------------------------------------


def spawn_chat(cwd: Path, *args: str) -> pexpect.spawn:
    env = dict(os.environ) | NO_KEYS
    env.pop("COLUMNS", None)
    child = pexpect.spawn(
        PROXIMA[0], [*PROXIMA[1:], "chat", *args], cwd=str(cwd), env=env, dimensions=(40, 120),
        encoding="utf-8", timeout=60,
    )  # fmt: skip
    child.expect("/help")
    return child


def test_chat_in_a_terminal_runs_asks_and_continues(tmp_path: Path):
    (tmp_path / "proxima.json").write_text(json.dumps({"permissions": {"ask": ["execute(backend=lret)"]}}))
    child = spawn_chat(tmp_path)
    assert "offline" in child.before
    child.sendline("run ghz:3 with 100 shots on aer-sv")
    child.expect("COMPLETED")
    child.expect("core-s")
    child.sendline("run ghz:3 on lret")
    child.expect("Allow execute")  # the permission question
    child.sendline("n")
    child.expect("not approve|denied|did not run")
    child.sendline("/cost")
    child.expect("tool calls")
    child.sendline("/nosuch")
    child.expect("unknown command")
    child.sendcontrol("c")  # at the prompt: clears the line, the chat stays
    child.expect("Ctrl\\+D")
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and "Traceback" not in (child.before or "")

    again = spawn_chat(tmp_path, "--continue")
    again.sendline("interpret the last result")
    again.expect("aer-sv")
    again.expect("offline planner")  # the turn's footer: the prompt is back
    again.expect("›")
    again.sendcontrol("d")
    again.expect(pexpect.EOF)
    again.close()
    assert again.exitstatus == 0


def test_chat_through_a_pipe_answers_and_exits(tmp_path: Path):
    import subprocess

    proc = subprocess.run(
        [*PROXIMA, "chat"], input="run bell with 100 shots on aer-sv\n/jobs\n/exit\n", cwd=tmp_path,
        env=dict(os.environ) | NO_KEYS, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "COMPLETED" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
    assert "Logfire" not in proc.stdout + proc.stderr


def test_the_completers_words_are_the_registries():
    from proxima_agent.backends.registry import backend_ids
    from proxima_agent.circuits.library import LIBRARY
    from proxima_agent.ui.chat import BACKEND_WORDS, CIRCUIT_WORDS

    assert set(BACKEND_WORDS) == set(backend_ids())
    assert {w.rstrip(":") for w in CIRCUIT_WORDS} == set(LIBRARY)


@pytest.mark.slow
def test_chat_ctrl_c_during_a_long_job_pauses_it_and_resume_continues(tmp_path: Path):
    child = spawn_chat(tmp_path)
    child.sendline("run ghz:16 with amplitude damping 0.001 and phase damping 0.001 on lret")  # about 10 s
    child.expect(r"EXECUTING: step [1-9]")
    child.sendcontrol("c")
    child.expect("pause it")
    child.sendline("p")
    child.expect("PAUSED")
    child.expect("turn stopped")
    child.sendline("/jobs")
    child.expect("PAUSED")
    child.sendline("/resume")
    child.expect("RESUMING|EXECUTING")
    child.sendline("/exit")  # the owner leaves: its running job is aborted, the session is saved
    child.expect("saved")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    jobs = json.loads(proxima("jobs", "--json", cwd=tmp_path).out)["jobs"]
    assert len(jobs) == 1 and jobs[0]["state"] in ("COMPLETED", "ABORTED")  # resumed: not left paused
