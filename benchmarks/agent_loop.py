"""The agent loop's own overhead, next to a bare pydantic-ai agent with one tool measured in the same run.

1. Offline: R turns of a read-only request (`list backends`: one tool call, then the templated answer) through
   AgentSession with the offline model, and R turns of a bare pydantic-ai Agent with one trivial tool driven by a
   FunctionModel making the same two model requests. Then R turns of `run bell with 100 shots on aer-sv`, whose
   overhead is the turn's time less the job's own simulation time (the job's timing.total_s). Target: under
   30 ms per turn beyond the simulation.
2. Against the scripted OpenAI-compatible server (tests/llm_servers.py, Chat Completions, streaming, on
   loopback): R turns of one tool call (`list_backends`) then a text answer through AgentSession with
   `openai-chat:`, next to the bare agent with one tool against the same server. Per model request: the turn's
   time over its two requests. Target: Proxima's overhead per request within 15 ms of the bare agent's.

Every turn starts from an empty history (the session's history is reset), so payloads do not grow. The engine
runs in process with a fresh PROXIMA_DATA_DIR.

    python benchmarks/agent_loop.py                 # about 30 s on 2 cores
    python benchmarks/agent_loop.py --repeats 50 --markdown FILE
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["PROXIMA_DATA_DIR"] = tempfile.mkdtemp(prefix="proxima-agent-bench-")
os.environ.pop("PROXIMA_CONFIG", None)

from pydantic_ai import Agent  # noqa: E402
from pydantic_ai.messages import ModelMessage, ModelRequest, ToolReturnPart  # noqa: E402
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel  # noqa: E402

from proxima_agent.agent.session import AgentSession, approve_all  # noqa: E402
from proxima_agent.config import ProximaConfig  # noqa: E402
from proxima_agent.tools.context import Runtime  # noqa: E402
from tests.llm_servers import OpenAICompatServer, Reply, tool_results  # noqa: E402


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def bare_agent(model: Any) -> Agent[None, str]:
    agent: Agent[None, str] = Agent(model)

    @agent.tool_plain
    def list_backends() -> dict[str, Any]:
        """List the backends."""
        return {"backends": [{"id": "aer-sv"}]}

    return agent


def bare_function_model() -> FunctionModel:
    """Two requests a turn, as the offline model makes them: a tool call, then text."""

    async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str | DeltaToolCalls]:
        last = messages[-1]
        if isinstance(last, ModelRequest) and any(isinstance(p, ToolReturnPart) for p in last.parts):
            yield "the backends: aer-sv"
            return
        yield {0: DeltaToolCall("list_backends", "{}", tool_call_id="c1")}

    return FunctionModel(stream_function=stream)


async def bare_turns(agent: Agent[None, str], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats + 2):
        started = time.perf_counter()
        async with agent.run_stream_events("list backends") as stream:
            async for _event in stream:
                pass
        times.append(time.perf_counter() - started)
    return times[2:]  # the first two warm up


async def proxima_turns(
    runtime: Runtime, model: str, prompt: str, repeats: int
) -> tuple[list[float], list[float], list[int]]:
    """(turn times, simulation seconds per turn, model requests per turn)."""
    session = await AgentSession.open(runtime, model, approver=approve_all, allow_remote=True)
    times, simulated, requests = [], [], []
    try:
        for _ in range(repeats + 2):
            session.history = []
            started = time.perf_counter()
            result = await session.turn(prompt)
            elapsed = time.perf_counter() - started
            if result.error is not None:
                raise SystemExit(f"{model}: {result.error.text()}")
            times.append(elapsed)
            simulated.append(await _simulation_s(runtime, result.simulation.get("job_ids") or []))
            requests.append(int(result.usage.get("requests") or 0))
    finally:
        await session.close()
    return times[2:], simulated[2:], requests[2:]


async def _simulation_s(runtime: Runtime, job_ids: list[str]) -> float:
    if not job_ids:
        return 0.0
    engine = await runtime.engine()
    total = 0.0
    for job_id in job_ids:
        job = engine.jobs.get(job_id)
        if job is not None and job.result is not None:
            total += job.result.timing.total_s
    return total


def scripted(body: dict[str, Any]) -> Reply:
    if tool_results(body):
        return Reply.text("the backends are listed above")
    return Reply.tool_calls([("list_backends", {})])


async def main_async(repeats: int) -> list[tuple[str, str, str, str]]:
    runtime = Runtime(ProximaConfig(), workspace=Path(tempfile.mkdtemp(prefix="ws-")))
    rows: list[tuple[str, str, str, str]] = []
    try:
        await runtime.engine()  # the engine's start-up (worker processes) is not the loop's
        bare = statistics.median(await bare_turns(bare_agent(bare_function_model()), repeats))
        times, _, requests = await proxima_turns(runtime, "offline", "list backends", repeats)
        offline = statistics.median(times)
        rows.append(
            ("offline, `list backends` (2 requests)", ms(offline), ms(bare), f"{offline / bare:.1f}x")
        )
        times, simulated, _ = await proxima_turns(
            runtime, "offline", "run bell with 100 shots on aer-sv", repeats
        )
        overhead = statistics.median(t - s for t, s in zip(times, simulated, strict=True))
        rows.append(
            (
                "offline, `run bell ... on aer-sv`, less simulation",
                ms(overhead),
                ms(bare),
                f"{overhead / bare:.1f}x (target < 30 ms: {'met' if overhead < 0.030 else 'missed'})",
            )
        )
        with OpenAICompatServer(scripted) as server:
            os.environ.update(server.env())
            from pydantic_ai.models.openai import OpenAIChatModel
            from pydantic_ai.providers.openai import OpenAIProvider

            provider = OpenAIProvider(base_url=server.base_url, api_key="test")
            bare_http = statistics.median(
                await bare_turns(bare_agent(OpenAIChatModel("test-model", provider=provider)), repeats)
            )
            times, _, requests = await proxima_turns(
                runtime, "openai-chat:test-model", "list backends", repeats
            )
            per_request = statistics.median(times) / max(1, statistics.median(requests))
            bare_per_request = bare_http / 2
            delta = per_request - bare_per_request
            rows.append(
                (
                    "scripted OpenAI server, per model request",
                    ms(per_request),
                    ms(bare_per_request),
                    f"+{ms(delta)} (target < 15 ms: {'met' if delta < 0.015 else 'missed'})",
                )
            )
    finally:
        await runtime.close()
    return rows


def table(rows: list[tuple[str, str, str, str]], repeats: int) -> str:
    head = (
        f"Measured {dt.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; median of {repeats} turns after 2 warm-up turns.\n\n"
        "| case | Proxima | bare pydantic-ai agent, one tool | ratio |\n|---|---|---|---|\n"
    )
    return head + "\n".join(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    rows = asyncio.run(main_async(args.repeats))
    text = table(rows, args.repeats)
    print(json.dumps(rows) if args.json else text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
