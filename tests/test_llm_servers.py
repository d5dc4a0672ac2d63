"""The scripted LLM servers of tests/llm_servers.py speak the real wire formats: the real `openai` and `anthropic`
SDKs, and pydantic-ai's models on top of them, get what they expect, streaming and not, all on loopback."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from anthropic.types.beta import BetaMessage, BetaRawMessageStreamEvent
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter
from pydantic_ai import Agent
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.models import Model, override_allow_model_requests
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.providers.anthropic import AnthropicProvider
from pydantic_ai.providers.openai import OpenAIProvider

from tests.llm_servers import (
    EXHAUSTED_TEXT,
    AnthropicCompatServer,
    OpenAICompatServer,
    Reply,
    ScriptedServer,
    tool_names,
    tool_results,
    user_texts,
)

KINDS = ("chat", "responses", "anthropic")
MODES = ("run", "stream")
USER: Any = [{"role": "user", "content": "add 2 and 3"}]
ADD_PARAMETERS = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}
ADD_CHAT_TOOL: Any = {
    "type": "function",
    "function": {"name": "add", "description": "Add two integers.", "parameters": ADD_PARAMETERS},
}
ADD_RESPONSES_TOOL: Any = {"type": "function", "name": "add", "parameters": ADD_PARAMETERS, "strict": False}
ADD_ANTHROPIC_TOOL: Any = {"name": "add", "input_schema": ADD_PARAMETERS}


@pytest.fixture(autouse=True)
def model_requests_allowed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """pydantic-ai refuses real model requests when ALLOW_MODEL_REQUESTS is False; these go to loopback only.
    A proxy set in the environment must not see them either."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with override_allow_model_requests(True):
        yield


# --------------------------------------------------------------------------------------------------- raw HTTP


def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """POST JSON without any SDK (and without any proxy), for checking the bytes against the SDK's own types."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def sse(data: bytes) -> list[tuple[str | None, str]]:
    """The (event, data) pairs of a server-sent event stream."""
    events = []
    for block in data.decode().split("\n\n"):
        if not block.strip():
            continue
        name = None
        lines = []
        for line in block.splitlines():
            field, _, value = line.partition(": ")
            if field == "event":
                name = value
            elif field == "data":
                lines.append(value)
        events.append((name, "\n".join(lines)))
    return events


# --------------------------------------------------------------------------------------------------- the server itself


def test_the_server_binds_loopback_records_requests_and_stops():
    with OpenAICompatServer([Reply.text("hi")]) as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        status, headers, body = post(server.base_url + "/chat/completions", {"model": "m", "messages": USER})
        assert status == 200 and headers["content-type"] == "application/json"
        assert json.loads(body)["choices"][0]["message"]["content"] == "hi"
        status, _, body = post(server.url + "/nowhere", {"x": 1})
        assert status == 404 and "no route" in json.loads(body)["error"]["message"]
        assert [(r.method, r.path) for r in server.requests] == [
            ("POST", "/v1/chat/completions"),
            ("POST", "/nowhere"),
        ]
        assert server.requests[0].body == {"model": "m", "messages": USER}
        assert [r.reply for r in server.model_requests] == [Reply.text("hi")]
        assert server.remaining == 0 and not server.exhausted
        port = server.port
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.base_url
    with pytest.raises(OSError):
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
            f"http://127.0.0.1:{port}/v1/models", timeout=2
        )


def test_env_points_a_subprocess_at_the_server():
    with OpenAICompatServer() as openai_server, AnthropicCompatServer() as anthropic_server:
        assert openai_server.env() == {
            "OPENAI_BASE_URL": openai_server.base_url,
            "OPENAI_API_KEY": "test",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
        assert anthropic_server.env("k")["ANTHROPIC_BASE_URL"] == f"http://127.0.0.1:{anthropic_server.port}"
        assert anthropic_server.env("k")["ANTHROPIC_API_KEY"] == "k"


def test_an_exhausted_script_answers_script_exhausted_and_says_so():
    with OpenAICompatServer([Reply.text("one")]) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        answers = [
            client.chat.completions.create(model="m", messages=USER).choices[0].message.content
            for _ in range(2)
        ]
        assert answers == ["one", EXHAUSTED_TEXT]
        assert server.exhausted and [r.exhausted for r in server.model_requests] == [False, True]


def test_a_callable_script_sees_each_request_body():
    def script(body: dict[str, Any]) -> Reply:
        return Reply.text(f"{body['model']} offered {tool_names(body)}")

    with OpenAICompatServer(script) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        reply = client.chat.completions.create(model="m1", messages=USER, tools=[ADD_CHAT_TOOL])
        assert reply.choices[0].message.content == "m1 offered ['add']"
        assert not server.exhausted and server.remaining == 0


def test_a_script_that_raises_is_a_500_not_a_hang():
    def script(body: dict[str, Any]) -> Reply:
        raise KeyError("oops")

    with OpenAICompatServer(script) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        with pytest.raises(openai.InternalServerError, match="script raised KeyError"):
            client.chat.completions.create(model="m", messages=USER)
        assert len(server.requests) == 1  # x-should-retry: false, so the SDK does not retry


def test_delay_s_holds_the_reply_back():
    with AnthropicCompatServer([Reply.text("late", delay_s=0.3)]) as server:
        client = anthropic.Anthropic(base_url=server.base_url, api_key="test")
        started = time.monotonic()
        client.messages.create(model="claude-x", max_tokens=100, messages=USER)
        assert time.monotonic() - started >= 0.3
        assert server.total_delay_s == pytest.approx(0.3)


def test_raw_replies_are_sent_as_they_are():
    with OpenAICompatServer([Reply.raw("<html>busy</html>", status=200, content_type="text/html")]) as server:
        status, headers, body = post(server.base_url + "/chat/completions", {"model": "m", "messages": USER})
        assert (status, headers["content-type"], body) == (200, "text/html", b"<html>busy</html>")


# --------------------------------------------------------------------------------------------------- openai SDK


def test_chat_completions_non_streaming():
    with OpenAICompatServer([Reply.text("Hello there.", input_tokens=12, output_tokens=3)]) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        raw = client.chat.completions.with_raw_response.create(model="gpt-x", messages=USER)
        completion = ChatCompletion.model_validate(json.loads(raw.content))  # validated, not just constructed
        assert completion == raw.parse()
        assert completion.choices[0].message.content == "Hello there."
        assert completion.choices[0].finish_reason == "stop"
        assert completion.model == "gpt-x"
        assert completion.usage is not None
        assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (12, 3)
        request = server.requests[0]
        assert request.path == "/v1/chat/completions" and request.headers["authorization"] == "Bearer test"
        assert not request.stream


def test_chat_completions_streaming_splits_text_and_ends_with_usage_then_done():
    with OpenAICompatServer([Reply.text("Hello there, world.")]) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        chunks = list(
            client.chat.completions.create(
                model="gpt-x", messages=USER, stream=True, stream_options={"include_usage": True}
            )
        )
        for chunk in chunks:
            ChatCompletionChunk.model_validate(chunk.to_dict())
        deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
        assert "".join(deltas) == "Hello there, world." and len(deltas) > 2
        assert chunks[0].choices[0].delta.role == "assistant"
        assert chunks[-2].choices[0].finish_reason == "stop"
        assert (
            chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 15
        )

        _, headers, body = post(
            server.base_url + "/chat/completions", {"model": "m", "messages": USER, "stream": True}
        )
        events = sse(body)
        assert headers["content-type"].startswith("text/event-stream")
        assert events[-1] == (None, "[DONE]") and all(name is None for name, _ in events)
        assert all(json.loads(data)["choices"] for _, data in events[:-1])  # no usage chunk when not asked


def test_chat_completions_parallel_tool_calls_streaming_and_not():
    script = [Reply.tool_calls([("add", {"a": 2, "b": 3}), ("add", {"a": 1, "b": 1})])] * 2
    with OpenAICompatServer(script) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        message = client.chat.completions.create(model="m", messages=USER, tools=[ADD_CHAT_TOOL]).choices[0]
        assert message.finish_reason == "tool_calls" and message.message.content is None
        calls = message.message.tool_calls or []
        assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
            ("add", {"a": 2, "b": 3}),
            ("add", {"a": 1, "b": 1}),
        ]
        assert len({c.id for c in calls}) == 2

        with client.chat.completions.stream(model="m", messages=USER, tools=[ADD_CHAT_TOOL]) as stream:
            argument_deltas = [e for e in stream if e.type == "tool_calls.function.arguments.delta"]
            final = stream.get_final_completion()
        assert len(argument_deltas) > 4  # the arguments arrive in pieces
        streamed = final.choices[0].message.tool_calls or []
        assert [json.loads(c.function.arguments) for c in streamed] == [{"a": 2, "b": 3}, {"a": 1, "b": 1}]
        assert final.choices[0].finish_reason == "tool_calls"


def test_responses_non_streaming_text_and_tool_calls():
    script = [
        Reply.text("Hi from responses."),
        Reply.tool_calls([("add", {"a": 2, "b": 3})], text="Let me add."),
    ]
    with OpenAICompatServer(script) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        raw = client.responses.with_raw_response.create(
            model="gpt-5.2", input="hi", tools=[ADD_RESPONSES_TOOL]
        )
        response = Response.model_validate(json.loads(raw.content))
        assert response.output_text == "Hi from responses." and response.status == "completed"
        assert response.usage is not None and response.usage.total_tokens == 15

        response = client.responses.create(model="gpt-5.2", input="hi", tools=[ADD_RESPONSES_TOOL])
        message, call = response.output
        assert message.type == "message" and response.output_text == "Let me add."
        assert (
            call.type == "function_call"
            and call.name == "add"
            and json.loads(call.arguments) == {"a": 2, "b": 3}
        )
        assert call.call_id.startswith("call_") and call.id is not None and call.id.startswith("fc_")
        assert server.requests[0].path == "/v1/responses" and server.requests[0].body["input"] == "hi"


def test_responses_streaming_events_are_the_real_ones():
    script = [
        Reply.text("Streamed responses text."),
        Reply.tool_calls([("add", {"a": 2, "b": 3}), ("add", {"a": 4, "b": 5})]),
    ]
    with OpenAICompatServer(script) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        with client.responses.stream(model="gpt-5.2", input="hi") as stream:
            kinds = [event.type for event in stream]
            final = stream.get_final_response()
        assert final.output_text == "Streamed responses text."
        assert kinds[:4] == [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
        ]
        assert kinds.count("response.output_text.delta") > 2 and kinds[-1] == "response.completed"

        _, _, body = post(
            server.base_url + "/responses",
            {"model": "m", "input": "hi", "stream": True, "tools": [ADD_RESPONSES_TOOL]},
        )
        adapter: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
        events = [(name, adapter.validate_python(json.loads(data))) for name, data in sse(body)]
        assert all(name == event.type for name, event in events)
        assert [event.sequence_number for _, event in events] == list(range(len(events)))
        added = [e.item for _, e in events if e.type == "response.output_item.added"]
        assert [(item.type, item.arguments) for item in added] == [
            ("function_call", ""),
            ("function_call", ""),
        ]
        arguments: dict[str, str] = {}
        for _, event in events:
            if event.type == "response.function_call_arguments.delta":
                arguments[event.item_id] = arguments.get(event.item_id, "") + event.delta
        assert [json.loads(a) for a in arguments.values()] == [{"a": 2, "b": 3}, {"a": 4, "b": 5}]
        completed = events[-1][1]
        assert (
            completed.type == "response.completed"
            and [o.type for o in completed.response.output] == ["function_call"] * 2
        )


def test_openai_models_list():
    with OpenAICompatServer(model="gpt-test") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        assert [m.id for m in client.models.list()] == ["gpt-test"]
        assert server.model_requests == []


def test_openai_sdk_retries_a_429_after_retry_after_by_itself():
    with OpenAICompatServer([Reply.error(429, retry_after=0.2), Reply.text("finally")]) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        assert (
            client.chat.completions.create(model="m", messages=USER).choices[0].message.content == "finally"
        )
        first, second = server.requests
        assert second.received_at - first.received_at >= 0.2
        assert (first.headers["x-stainless-retry-count"], second.headers["x-stainless-retry-count"]) == (
            "0",
            "1",
        )
        assert first.body == second.body


@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [
        (429, openai.RateLimitError, "requests"),
        (500, openai.InternalServerError, "server_error"),
        (503, openai.InternalServerError, "server_error"),
    ],
)
def test_openai_errors_carry_the_api_error_body(status, error_class, error_type):
    with OpenAICompatServer([Reply.error(status, retry_after=7)]) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        with pytest.raises(error_class) as caught:
            client.responses.create(model="m", input="hi")
        assert caught.value.status_code == status
        assert caught.value.type == error_type and caught.value.message
        assert caught.value.response.headers["retry-after"] == "7"
        assert caught.value.request_id is not None


# --------------------------------------------------------------------------------------------------- anthropic SDK


def test_anthropic_messages_non_streaming_text_and_tool_use():
    script = [
        Reply.text("Hello from Claude.", input_tokens=9),
        Reply.tool_calls([("add", {"a": 2, "b": 3})], text="Adding."),
    ]
    with AnthropicCompatServer(script) as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        client = anthropic.Anthropic(base_url=server.base_url, api_key="test")
        raw = client.messages.with_raw_response.create(model="claude-x", max_tokens=100, messages=USER)
        message = Message.model_validate(json.loads(raw.http_response.content))
        assert message.content[0].type == "text" and message.content[0].text == "Hello from Claude."
        assert message.stop_reason == "end_turn" and message.usage.input_tokens == 9

        message = client.messages.create(
            model="claude-x", max_tokens=100, messages=USER, tools=[ADD_ANTHROPIC_TOOL]
        )
        assert message.stop_reason == "tool_use"
        text_block, tool_block = message.content
        assert text_block.type == "text" and text_block.text == "Adding."
        assert (
            tool_block.type == "tool_use"
            and tool_block.name == "add"
            and tool_block.input == {"a": 2, "b": 3}
        )
        assert tool_block.id.startswith("toolu_")

        request = server.requests[0]
        assert request.path == "/v1/messages" and "anthropic-version" in request.headers
        assert request.headers["authorization"] == "Bearer test"  # anthropic 2.x: not x-api-key


def test_anthropic_messages_streaming_text_and_parallel_tool_use():
    script = [
        Reply.text("Streamed Claude text."),
        Reply.tool_calls([("add", {"a": 2, "b": 3}), ("add", {"a": 7, "b": 1})]),
    ]
    with AnthropicCompatServer(script) as server:
        client = anthropic.Anthropic(base_url=server.base_url, api_key="test")
        with client.messages.stream(model="claude-x", max_tokens=100, messages=USER) as stream:
            pieces = list(stream.text_stream)
            final = stream.get_final_message()
        assert "".join(pieces) == "Streamed Claude text." and len(pieces) > 2
        assert final.stop_reason == "end_turn" and final.usage.output_tokens == 5

        with client.messages.stream(
            model="claude-x", max_tokens=100, messages=USER, tools=[ADD_ANTHROPIC_TOOL]
        ) as stream:
            json_deltas = [
                e for e in stream if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
            ]
            final = stream.get_final_message()
        assert len(json_deltas) > 4
        assert [(b.type, getattr(b, "input", None)) for b in final.content] == [
            ("tool_use", {"a": 2, "b": 3}),
            ("tool_use", {"a": 7, "b": 1}),
        ]
        assert final.stop_reason == "tool_use"


def test_anthropic_stream_events_are_the_real_ones():
    with AnthropicCompatServer([Reply.tool_calls([("add", {"a": 2, "b": 3})], text="Adding.")]) as server:
        _, headers, body = post(
            server.base_url + "/v1/messages",
            {"model": "m", "max_tokens": 9, "messages": USER, "stream": True},
        )
        assert headers["content-type"].startswith("text/event-stream")
        events = sse(body)
        assert all(
            name == json.loads(data)["type"] for name, data in events
        )  # the SDK skips events without a name
        names = [name for name, _ in events]
        assert names == [
            "message_start",
            "ping",
            "content_block_start",
            *["content_block_delta"] * 2,
            "content_block_stop",
            "content_block_start",
            *["content_block_delta"]
            * 5,  # "" first, as the API does, then the arguments in 4-character pieces
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
        for adapter in (TypeAdapter(RawMessageStreamEvent), TypeAdapter(BetaRawMessageStreamEvent)):
            for name, data in events:
                if name != "ping":
                    adapter.validate_python(json.loads(data))
        delta = json.loads(events[-2][1])
        assert delta["delta"]["stop_reason"] == "tool_use" and delta["usage"]["output_tokens"] == 5


def test_anthropic_beta_client_and_models_and_count_tokens():
    with AnthropicCompatServer([Reply.text("beta hello")], model="claude-test") as server:
        client = anthropic.Anthropic(base_url=server.base_url, api_key="test")
        raw = client.beta.messages.with_raw_response.create(model="claude-x", max_tokens=100, messages=USER)
        assert (
            BetaMessage.model_validate(json.loads(raw.http_response.content)).content[0].text == "beta hello"
        )
        assert [m.id for m in client.models.list()] == ["claude-test"]
        assert client.messages.count_tokens(model="claude-x", messages=USER).input_tokens > 0
        assert [r.path for r in server.requests] == [
            "/v1/messages",
            "/v1/models",
            "/v1/messages/count_tokens",
        ]
        assert len(server.model_requests) == 1


def test_anthropic_sdk_retries_a_429_after_retry_after_by_itself():
    with AnthropicCompatServer([Reply.error(429, retry_after=0.2), Reply.text("finally")]) as server:
        client = anthropic.Anthropic(base_url=server.base_url, api_key="test")
        message = client.messages.create(model="claude-x", max_tokens=100, messages=USER)
        assert message.content[0].text == "finally"
        first, second = server.requests
        assert second.received_at - first.received_at >= 0.2
        assert second.headers["x-stainless-retry-count"] == "1"


@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (503, anthropic.InternalServerError, "overloaded_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_anthropic_errors_carry_the_api_error_body(status, error_class, error_type):
    with AnthropicCompatServer([Reply.error(status, retry_after=3)]) as server:
        client = anthropic.Anthropic(base_url=server.base_url, api_key="test", max_retries=0)
        with pytest.raises(error_class) as caught:
            client.messages.create(model="claude-x", max_tokens=100, messages=USER)
        assert caught.value.status_code == status
        body: Any = caught.value.body
        assert body["type"] == "error" and body["error"]["type"] == error_type
        assert caught.value.response.headers["retry-after"] == "3"
        assert caught.value.request_id is not None


# --------------------------------------------------------------------------------------------------- pydantic-ai


def server_for(kind: str, script: Any) -> ScriptedServer:
    return AnthropicCompatServer(script) if kind == "anthropic" else OpenAICompatServer(script)


def model_for(kind: str, server: ScriptedServer) -> Model:
    if kind == "chat":
        return OpenAIChatModel("gpt-4.1", provider=OpenAIProvider(base_url=server.base_url, api_key="test"))
    if kind == "responses":
        return OpenAIResponsesModel(
            "gpt-5.2", provider=OpenAIProvider(base_url=server.base_url, api_key="test")
        )
    return AnthropicModel(
        "claude-sonnet-4-5", provider=AnthropicProvider(base_url=server.base_url, api_key="test")
    )


def adding_agent(model: Model, **kwargs: Any) -> tuple[Agent[None, str], list[tuple[int, int]]]:
    calls: list[tuple[int, int]] = []
    agent = Agent(model, **kwargs)

    @agent.tool_plain
    def add(a: int, b: int) -> int:
        """Add two integers."""
        calls.append((a, b))
        return a + b

    return agent, calls


def run_agent(agent: Agent[None, str], mode: str, prompt: str = "add 2 and 3") -> Any:
    async def go() -> Any:
        if mode == "run":
            return await agent.run(prompt)
        async with agent.run_stream_events(prompt) as events:
            seen = [event async for event in events]
        assert any(type(e).__name__ == "PartDeltaEvent" for e in seen)
        return seen[-1].result

    return asyncio.run(go())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_agent_turn_tool_call_result_then_text(kind, mode):
    script = [
        Reply.tool_calls([("add", {"a": 2, "b": 3})], input_tokens=20, output_tokens=4),
        Reply.text("The sum is 5.", input_tokens=30, output_tokens=6),
    ]
    with server_for(kind, script) as server:
        agent, calls = adding_agent(model_for(kind, server))
        result = run_agent(agent, mode)
        assert result.output == "The sum is 5."
        assert calls == [(2, 3)]
        first, second = server.bodies
        assert tool_names(first) == ["add"] and user_texts(first) == ["add 2 and 3"]
        assert tool_results(first) == [] and tool_results(second) == ["5"]
        usage = result.usage
        assert (usage.requests, usage.input_tokens, usage.output_tokens) == (2, 50, 10)
        streamed = [r.stream for r in server.model_requests]
        # The Anthropic model streams even `agent.run`: its default max_tokens makes the SDK refuse a plain request.
        assert streamed == [mode == "stream" or kind == "anthropic"] * 2
        assert not server.exhausted


@pytest.mark.parametrize("kind", KINDS)
def test_agent_run_does_not_stream_when_max_tokens_is_small(kind):
    script = [Reply.tool_calls([("add", {"a": 2, "b": 3})]), Reply.text("5")]
    with server_for(kind, script) as server:
        agent, _ = adding_agent(model_for(kind, server), model_settings={"max_tokens": 1024})
        assert run_agent(agent, "run").output == "5"
        assert [r.stream for r in server.model_requests] == [False, False]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_agent_parallel_tool_calls(kind, mode):
    script = [
        Reply.tool_calls([("add", {"a": 2, "b": 3}), ("add", {"a": 10, "b": 20})]),
        Reply.text("5 and 30"),
    ]
    with server_for(kind, script) as server:
        agent, calls = adding_agent(model_for(kind, server))
        assert run_agent(agent, mode).output == "5 and 30"
        assert sorted(calls) == [(2, 3), (10, 20)]
        assert sorted(tool_results(server.bodies[1])) == ["30", "5"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_agent_429_with_retry_after_is_retried_by_the_sdk(kind, mode):
    script = [
        Reply.error(429, retry_after=0.1),
        Reply.tool_calls([("add", {"a": 2, "b": 3})]),
        Reply.text("5"),
    ]
    with server_for(kind, script) as server:
        agent, calls = adding_agent(model_for(kind, server))
        assert run_agent(agent, mode).output == "5"
        refused, retried, _ = server.model_requests
        assert refused.body == retried.body and retried.received_at - refused.received_at >= 0.1
        assert retried.headers["x-stainless-retry-count"] == "1"
        assert calls == [(2, 3)]


@pytest.mark.parametrize("kind", KINDS)
def test_agent_sees_a_model_http_error_once_the_sdk_retries_are_spent(kind):
    with server_for(kind, [Reply.error(503, retry_after=0.01)] * 3) as server:
        agent, calls = adding_agent(model_for(kind, server))
        with pytest.raises(ModelHTTPError) as caught:
            run_agent(agent, "run")
        assert caught.value.status_code == 503
        assert len(server.model_requests) == 3 and server.remaining == 0  # the first try and two SDK retries
        assert calls == []


@pytest.mark.parametrize(
    ("arguments", "error_type"), [('{"a": 2, "b', "json_invalid"), ({"a": "two", "b": 3}, "int_parsing")]
)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_agent_malformed_tool_call_gets_a_retry_prompt_then_a_good_call_works(
    kind, mode, arguments, error_type
):
    script = [
        Reply.malformed_tool_call("add", arguments),
        Reply.tool_calls([("add", {"a": 2, "b": 3})]),
        Reply.text("The sum is 5."),
    ]
    with server_for(kind, script) as server:
        agent, calls = adding_agent(model_for(kind, server))
        assert run_agent(agent, mode).output == "The sum is 5."
        assert calls == [(2, 3)]
        first_results = tool_results(server.bodies[1])
        assert len(first_results) == 1 and error_type in first_results[0]
        assert tool_results(server.bodies[2])[-1] == "5"


@pytest.mark.parametrize("kind", KINDS)
def test_agent_against_a_callable_script_that_reads_the_offered_tools_and_the_results(kind):
    def script(body: dict[str, Any]) -> Reply:
        if results := tool_results(body):
            return Reply.text(f"The tool said {results[-1]}.")
        return Reply.tool_calls([(tool_names(body)[0], {"a": 20, "b": 22})])

    with server_for(kind, script) as server:
        agent, _ = adding_agent(model_for(kind, server))
        assert run_agent(agent, "stream").output == "The tool said 42."
        assert len(server.model_requests) == 2
