"""Scripted LLM API servers on loopback, so tests can drive the real `openai` and `anthropic` SDKs (directly, through
pydantic-ai, or through `proxima agent -p` in a subprocess) without reaching the internet.

    with OpenAICompatServer([Reply.tool_calls([("add", {"a": 2, "b": 3})]), Reply.text("5")]) as server:
        OpenAIProvider(base_url=server.base_url, api_key="test")   # http://127.0.0.1:PORT/v1
        proxima("agent", "-p", "...", env=server.env())            # OPENAI_BASE_URL, OPENAI_API_KEY, NO_PROXY
        server.requests                                            # every request, in order

    with AnthropicCompatServer(script) as server:
        AnthropicProvider(base_url=server.base_url, api_key="test")  # http://127.0.0.1:PORT (the SDK adds /v1/...)

A script is a list of replies, one per model request, served in order; an item may also be a callable
`(request_body) -> Reply`, and the whole script may be one such callable. When a list runs out, the server answers
with the text "script exhausted" and marks the request `exhausted`. `tool_names`, `tool_results` and `user_texts`
read a request body of any of the three APIs, for callables that answer according to what was asked.

`OpenAICompatServer` serves Chat Completions (`POST /v1/chat/completions`), the Responses API (`POST /v1/responses`)
and `GET /v1/models`; `AnthropicCompatServer` serves the Messages API (`POST /v1/messages`, which the SDK's beta
client calls as `/v1/messages?beta=true`), `POST /v1/messages/count_tokens` and `GET /v1/models`. Both stream
(SSE) when the request says `"stream": true`, with text and tool-call arguments split across several events.

Standard library only: a `ThreadingHTTPServer` on 127.0.0.1, port 0, in a daemon thread.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Literal, Self
from urllib.parse import parse_qs, urlsplit

EXHAUSTED_TEXT = "script exhausted"
DEFAULT_INPUT_TOKENS = 10
DEFAULT_OUTPUT_TOKENS = 5


# --------------------------------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class ToolCall:
    """One tool call in a reply. `arguments` is the JSON text put on the wire, which may be deliberately broken."""

    name: str
    arguments: str

    def parsed(self) -> Any:
        """The arguments as JSON, or None when they are not valid JSON."""
        try:
            return json.loads(self.arguments)
        except ValueError:
            return None


def _arguments_text(arguments: Mapping[str, Any] | str) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(dict(arguments))


@dataclass(frozen=True)
class Reply:
    """What the server answers to one model request. Build one with the constructors, not the fields."""

    kind: Literal["text", "tool_calls", "error", "raw"]
    content: str = ""
    """The text of a text reply, or the text said before the calls of a tool_calls reply."""
    calls: tuple[ToolCall, ...] = ()
    status: int = 200
    retry_after: float | None = None
    should_retry: bool | None = None
    """For an error: sends `x-should-retry: true/false`, which both SDKs obey over their own status rules."""
    message: str | None = None
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    input_tokens: int = DEFAULT_INPUT_TOKENS
    output_tokens: int = DEFAULT_OUTPUT_TOKENS
    delay_s: float = 0.0
    """Sleep this long before answering (time to the first byte), e.g. so benchmarks can subtract it."""
    chunk_delay_s: float = 0.0
    """When streaming, sleep this long between events."""

    @classmethod
    def text(
        cls,
        content: str,
        *,
        input_tokens: int = DEFAULT_INPUT_TOKENS,
        output_tokens: int = DEFAULT_OUTPUT_TOKENS,
        delay_s: float = 0.0,
        chunk_delay_s: float = 0.0,
    ) -> Reply:
        """A final answer in plain text."""
        return cls(
            "text",
            content=content,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            delay_s=delay_s,
            chunk_delay_s=chunk_delay_s,
        )

    @classmethod
    def tool_calls(
        cls,
        calls: Iterable[tuple[str, Mapping[str, Any] | str]],
        *,
        text: str = "",
        input_tokens: int = DEFAULT_INPUT_TOKENS,
        output_tokens: int = DEFAULT_OUTPUT_TOKENS,
        delay_s: float = 0.0,
        chunk_delay_s: float = 0.0,
    ) -> Reply:
        """One or more tool calls (several are parallel calls), each `(name, arguments)`; each gets a fresh id.
        Arguments given as a string go on the wire as they are; `text` is said before the calls."""
        made = tuple(ToolCall(name, _arguments_text(arguments)) for name, arguments in calls)
        if not made:
            raise ValueError("Reply.tool_calls needs at least one call")
        return cls(
            "tool_calls",
            content=text,
            calls=made,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            delay_s=delay_s,
            chunk_delay_s=chunk_delay_s,
        )

    @classmethod
    def malformed_tool_call(
        cls,
        name: str,
        arguments: str | Mapping[str, Any] = '{"not json',
        *,
        input_tokens: int = DEFAULT_INPUT_TOKENS,
        output_tokens: int = DEFAULT_OUTPUT_TOKENS,
        delay_s: float = 0.0,
    ) -> Reply:
        """A call the client must reject: arguments that are not JSON (a string), or JSON that does not match the
        tool's schema (a mapping). A non-streaming Anthropic reply carries arguments as an object, so there a
        string that is not JSON goes out as a string `input`, which the real API never sends."""
        return cls.tool_calls(
            [(name, arguments)], input_tokens=input_tokens, output_tokens=output_tokens, delay_s=delay_s
        )

    @classmethod
    def error(
        cls,
        status: int = 429,
        *,
        retry_after: float | None = None,
        message: str | None = None,
        should_retry: bool | None = None,
        delay_s: float = 0.0,
    ) -> Reply:
        """An HTTP error with the API's own JSON error body, and `retry-after` (seconds) when given.
        Both SDKs retry 408, 409, 429 and 5xx by themselves (twice by default), honouring `retry-after`."""
        if status < 400:
            raise ValueError(f"an error reply needs a status of 400 or more, not {status}")
        return cls(
            "error",
            status=status,
            retry_after=retry_after,
            message=message,
            should_retry=should_retry,
            delay_s=delay_s,
        )

    @classmethod
    def raw(
        cls,
        body: bytes | str | Mapping[str, Any],
        *,
        status: int = 200,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
        delay_s: float = 0.0,
    ) -> Reply:
        """Exactly this body and status, whatever was asked (for replies no real server sends)."""
        if isinstance(body, Mapping):
            data = json.dumps(dict(body)).encode()
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = body
        return cls(
            "raw",
            status=status,
            body=data,
            content_type=content_type,
            headers=tuple((headers or {}).items()),
            delay_s=delay_s,
        )

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


# Module-level spellings of the constructors: `llm_servers.text("hi")`, `llm_servers.error(503)`.
text = Reply.text
tool_calls = Reply.tool_calls
malformed_tool_call = Reply.malformed_tool_call
error = Reply.error
raw = Reply.raw

ScriptItem = Reply | Callable[[dict[str, Any]], Reply]
Script = Sequence[ScriptItem] | Callable[[dict[str, Any]], Reply]


# --------------------------------------------------------------------------------------------------- reading bodies


def _as_text(content: Any) -> str:
    """The text of a message content or tool output in any of the APIs: a string, or a list of text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            _as_text(part.get("text", part.get("content"))) if isinstance(part, dict) else str(part)
            for part in content
        )
    return json.dumps(content)


def tool_names(body: Mapping[str, Any]) -> list[str]:
    """The names of the function tools a request offers (Chat Completions, Responses or Messages)."""
    names = []
    for tool in body.get("tools") or []:
        if isinstance(tool.get("function"), dict):  # Chat Completions
            names.append(tool["function"]["name"])
        elif "name" in tool:  # Responses, Messages
            names.append(tool["name"])
    return names


def tool_results(body: Mapping[str, Any]) -> list[str]:
    """The texts of the tool results (and tool retry prompts) in a request, oldest first."""
    found: list[str] = []
    for message in body.get("messages") or []:
        if message.get("role") == "tool":  # Chat Completions
            found.append(_as_text(message.get("content")))
        elif isinstance(message.get("content"), list):  # Messages: tool_result blocks in a user turn
            found.extend(
                _as_text(block.get("content"))
                for block in message["content"]
                if isinstance(block, dict) and block.get("type") == "tool_result"
            )
    body_input = body.get("input")
    if isinstance(body_input, list):  # Responses
        found.extend(
            _as_text(item.get("output"))
            for item in body_input
            if isinstance(item, dict) and item.get("type") == "function_call_output"
        )
    return found


def user_texts(body: Mapping[str, Any]) -> list[str]:
    """The texts of the user turns in a request (not tool results), oldest first."""
    found: list[str] = []
    turns = body.get("messages") or (body["input"] if isinstance(body.get("input"), list) else [])
    if isinstance(body.get("input"), str):
        found.append(body["input"])
    for turn in turns:
        if not isinstance(turn, dict) or turn.get("role") != "user":
            continue
        content = turn.get("content")
        if isinstance(content, list):
            content = [
                part
                for part in content
                if isinstance(part, dict) and part.get("type") in ("text", "input_text")
            ]
            if not content:
                continue
        found.append(_as_text(content))
    return found


# --------------------------------------------------------------------------------------------------- recording


@dataclass
class RecordedRequest:
    """One request the server received, and what it answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    """Lower-cased names."""
    body: Any
    """The parsed JSON body, or None (no body, or not JSON: see `raw_body`)."""
    raw_body: bytes
    received_at: float
    """`time.monotonic()` when the request was read."""
    reply: Reply | None = None
    """The script reply served, or None for requests that consume no script (`/v1/models`, unknown paths)."""
    exhausted: bool = False
    """The script had run out, so the server answered "script exhausted"."""

    @property
    def stream(self) -> bool:
        return isinstance(self.body, dict) and self.body.get("stream") is True


@dataclass
class _Answer:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    events: Iterable[bytes] | None = None
    """When set, an SSE stream, sent with chunked transfer encoding."""
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0


def _json_answer(status: int, obj: Any, headers: Iterable[tuple[str, str]] = ()) -> _Answer:
    return _Answer(status, [("Content-Type", "application/json"), *headers], json.dumps(obj).encode())


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


# --------------------------------------------------------------------------------------------------- the server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def do_GET(self) -> None:
        self.server.scripted._serve(self)

    def do_POST(self) -> None:
        self.server.scripted._serve(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                data += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return data
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send(self, answer: _Answer) -> None:
        if answer.delay_s:
            time.sleep(answer.delay_s)
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        if answer.events is None:
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
            self.wfile.flush()
            return
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for index, event in enumerate(answer.events):
            if index and answer.chunk_delay_s:
                time.sleep(answer.chunk_delay_s)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    scripted: ScriptedServer

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End the kept-alive connections, so their handler threads finish instead of waiting for a next request."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class ScriptedServer:
    """A loopback HTTP server answering model requests from a script; use a subclass, as a context manager."""

    prefix: ClassVar[str] = ""
    """The path the SDK's base URL ends in."""
    base_url_variable: ClassVar[str] = ""
    api_key_variable: ClassVar[str] = ""
    request_id_header: ClassVar[str] = "x-request-id"

    def __init__(self, script: Script = (), *, model: str = "test-model", chunk_size: int = 4) -> None:
        """`model` is what GET /v1/models lists; model replies echo the requested model. `chunk_size` is how many
        characters of text or of tool-call arguments each streamed delta carries."""
        self.model = model
        self.chunk_size = chunk_size
        self.requests: list[RecordedRequest] = []
        self._callable: Callable[[dict[str, Any]], Reply] | None = None
        self._items: list[ScriptItem] = []
        if callable(script):
            self._callable = script
        else:
            self._items = list(script)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> Self:
        httpd = _HTTPServer(("127.0.0.1", 0))
        httpd.scripted = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.close_connections()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # addresses

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not started: use it as a context manager")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, with no path."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What to give the SDK (or pydantic-ai provider) as `base_url`."""
        return self.url + self.prefix

    def env(self, api_key: str = "test") -> dict[str, str]:
        """Environment variables pointing `proxima` (a subprocess) at this server, bypassing any proxy."""
        return {
            self.base_url_variable: self.base_url,
            self.api_key_variable: api_key,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }

    # what happened

    @property
    def model_requests(self) -> list[RecordedRequest]:
        """The requests that were answered from the script (or as exhausted)."""
        with self._lock:
            return [r for r in self.requests if r.reply is not None]

    @property
    def bodies(self) -> list[Any]:
        """The JSON bodies of `model_requests`."""
        return [r.body for r in self.model_requests]

    @property
    def remaining(self) -> int:
        """Replies left in a list script (0 for a callable script)."""
        with self._lock:
            return len(self._items)

    @property
    def exhausted(self) -> bool:
        """Whether some request found the script already used up."""
        with self._lock:
            return any(r.exhausted for r in self.requests)

    @property
    def total_delay_s(self) -> float:
        """The sum of the `delay_s` of the replies served, for benchmarks to subtract."""
        return sum(r.reply.delay_s for r in self.model_requests if r.reply is not None)

    # serving

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}"

    def _next_reply(self, body: dict[str, Any]) -> tuple[Reply, bool]:
        if self._callable is not None:
            return self._callable(body), False
        if not self._items:
            return Reply.text(EXHAUSTED_TEXT), True
        item = self._items.pop(0)
        return (item if isinstance(item, Reply) else item(body)), False

    def _serve(self, handler: _Handler) -> None:
        parts = urlsplit(handler.path)
        raw_body = handler.read_body()
        try:
            body = json.loads(raw_body) if raw_body else None
        except ValueError:
            body = None
        record = RecordedRequest(
            method=handler.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={name.lower(): value for name, value in handler.headers.items()},
            body=body,
            raw_body=raw_body,
            received_at=time.monotonic(),
        )
        key = (handler.command, parts.path)
        request_body = body if isinstance(body, dict) else {}
        with self._lock:
            self.requests.append(record)
            if (render := self._model_routes().get(key)) is not None:
                try:
                    reply, record.exhausted = self._next_reply(request_body)
                except Exception as exc:  # a broken callable script: tell the client, keep serving
                    reply = Reply.error(
                        500, message=f"script raised {type(exc).__name__}: {exc}", should_retry=False
                    )
                record.reply = reply
                answer = self._answer(reply, render, request_body)
            elif (other := self._other_routes().get(key)) is not None:
                answer = other(request_body)
            else:
                answer = self._error_answer(404, f"no route for {handler.command} {parts.path}")
        try:
            handler.send(answer)
        except (BrokenPipeError, ConnectionResetError):  # the client went away mid-answer
            handler.close_connection = True

    def _answer(
        self, reply: Reply, render: Callable[[Reply, dict[str, Any]], _Answer], body: dict[str, Any]
    ) -> _Answer:
        if reply.kind == "raw":
            answer = _Answer(reply.status, [("Content-Type", reply.content_type), *reply.headers], reply.body)
        elif reply.kind == "error":
            answer = self._error_answer(reply.status, reply.message, reply)
        else:
            answer = render(reply, body)
        answer.delay_s = reply.delay_s
        answer.chunk_delay_s = reply.chunk_delay_s
        return answer

    def _error_answer(self, status: int, message: str | None, reply: Reply | None = None) -> _Answer:
        headers = [(self.request_id_header, self.new_id("req"))]
        if reply is not None and reply.retry_after is not None:
            seconds = reply.retry_after
            headers.append(
                ("retry-after", str(int(seconds)) if float(seconds).is_integer() else str(seconds))
            )
        if reply is not None and reply.should_retry is not None:
            headers.append(("x-should-retry", "true" if reply.should_retry else "false"))
        return _json_answer(status, self._error_body(status, message), headers)

    # for subclasses

    def _model_routes(self) -> dict[tuple[str, str], Callable[[Reply, dict[str, Any]], _Answer]]:
        """(method, path) -> render(reply, body), for the requests answered from the script."""
        raise NotImplementedError

    def _other_routes(self) -> dict[tuple[str, str], Callable[[dict[str, Any]], _Answer]]:
        """(method, path) -> answer(body), for the requests that consume no script reply."""
        return {}

    def _error_body(self, status: int, message: str | None) -> dict[str, Any]:
        raise NotImplementedError


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


# --------------------------------------------------------------------------------------------------- OpenAI


_OPENAI_ERRORS = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Forbidden."),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it.",
    ),
    408: ("server_error", None, "Request timed out."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


class OpenAICompatServer(ScriptedServer):
    """OpenAI's Chat Completions and Responses APIs; `base_url` is `http://127.0.0.1:PORT/v1`."""

    prefix = "/v1"
    base_url_variable = "OPENAI_BASE_URL"
    api_key_variable = "OPENAI_API_KEY"

    def _model_routes(self) -> dict[tuple[str, str], Callable[[Reply, dict[str, Any]], _Answer]]:
        return {("POST", "/v1/chat/completions"): self._chat, ("POST", "/v1/responses"): self._responses}

    def _other_routes(self) -> dict[tuple[str, str], Callable[[dict[str, Any]], _Answer]]:
        return {("GET", "/v1/models"): self._models}

    def _error_body(self, status: int, message: str | None) -> dict[str, Any]:
        kind, code, default = _OPENAI_ERRORS.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None, f"HTTP {status}")
        )
        return {"error": {"message": message or default, "type": kind, "param": None, "code": code}}

    def _models(self, _body: dict[str, Any]) -> _Answer:
        return _json_answer(
            200,
            {
                "object": "list",
                "data": [
                    {
                        "id": self.model,
                        "object": "model",
                        "created": 1_700_000_000,
                        "owned_by": "proxima-tests",
                    }
                ],
            },
        )

    # Chat Completions

    @staticmethod
    def _chat_usage(reply: Reply) -> dict[str, Any]:
        return {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": reply.total_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def _chat(self, reply: Reply, body: dict[str, Any]) -> _Answer:
        completion_id = self.new_id("chatcmpl")
        model = str(body.get("model") or self.model)
        created = int(time.time())
        calls = [(self.new_id("call"), call) for call in reply.calls]
        finish_reason = "tool_calls" if calls else "stop"
        if body.get("stream") is not True:
            message: dict[str, Any] = {
                "role": "assistant",
                "content": reply.content if (reply.content or not calls) else None,
                "refusal": None,
                "annotations": [],
            }
            if calls:
                message["tool_calls"] = [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": call.arguments},
                    }
                    for call_id, call in calls
                ]
            completion = {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
                ],
                "usage": self._chat_usage(reply),
                "service_tier": "default",
                "system_fingerprint": "fp_proxima_tests",
            }
            return _json_answer(200, completion, [("x-request-id", self.new_id("req"))])

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        usage_field = {"usage": None} if include_usage else {}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            return _sse(
                {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "service_tier": "default",
                    "system_fingerprint": "fp_proxima_tests",
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
                    **usage_field,
                }
            )

        def events() -> Iterator[bytes]:
            yield chunk({"role": "assistant", "content": "", "refusal": None})
            if reply.content:
                for piece in _pieces(reply.content, self.chunk_size):
                    yield chunk({"content": piece})
            for index, (call_id, call) in enumerate(calls):
                yield chunk(
                    {
                        "tool_calls": [
                            {
                                "index": index,
                                "id": call_id,
                                "type": "function",
                                "function": {"name": call.name, "arguments": ""},
                            }
                        ]
                    }
                )
                for piece in _pieces(call.arguments, self.chunk_size):
                    yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            yield chunk({}, finish_reason)
            if include_usage:
                yield _sse(
                    {
                        "id": completion_id,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                        "service_tier": "default",
                        "system_fingerprint": "fp_proxima_tests",
                        "choices": [],
                        "usage": self._chat_usage(reply),
                    }
                )
            yield b"data: [DONE]\n\n"

        return _Answer(200, [("x-request-id", self.new_id("req"))], events=events())

    # Responses

    def _response_object(
        self,
        response_id: str,
        body: dict[str, Any],
        created: int,
        status: str,
        output: list[Any],
        reply: Reply | None,
    ) -> dict[str, Any]:
        usage = None
        if reply is not None:
            usage = {
                "input_tokens": reply.input_tokens,
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": reply.output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": reply.total_tokens,
            }
        return {
            "id": response_id,
            "object": "response",
            "created_at": created,
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": None,
            "model": str(body.get("model") or self.model),
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": {"effort": None, "summary": None},
            "service_tier": "default",
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": [tool for tool in body.get("tools") or [] if isinstance(tool, dict)],
            "top_p": body.get("top_p", 1.0),
            "truncation": "disabled",
            "usage": usage,
            "user": None,
            "metadata": {},
            "completed_at": int(time.time()) if status == "completed" else None,
        }

    def _responses(self, reply: Reply, body: dict[str, Any]) -> _Answer:
        response_id = self.new_id("resp")
        created = int(time.time())
        message_id = self.new_id("msg") if (reply.content or not reply.calls) else None
        calls = [(self.new_id("fc"), self.new_id("call"), call) for call in reply.calls]

        def message_item(status: str, text_so_far: str | None) -> dict[str, Any]:
            content = (
                []
                if text_so_far is None
                else [{"type": "output_text", "text": text_so_far, "annotations": [], "logprobs": []}]
            )
            return {
                "id": message_id,
                "type": "message",
                "status": status,
                "role": "assistant",
                "content": content,
            }

        def call_item(
            item_id: str, call_id: str, call: ToolCall, status: str, arguments: str
        ) -> dict[str, Any]:
            return {
                "id": item_id,
                "type": "function_call",
                "status": status,
                "call_id": call_id,
                "name": call.name,
                "arguments": arguments,
            }

        output: list[dict[str, Any]] = []
        if message_id is not None:
            output.append(message_item("completed", reply.content))
        output.extend(
            call_item(item_id, call_id, call, "completed", call.arguments) for item_id, call_id, call in calls
        )
        final = self._response_object(response_id, body, created, "completed", output, reply)
        if body.get("stream") is not True:
            return _json_answer(200, final, [("x-request-id", self.new_id("req"))])

        sequence = itertools.count()

        def event(kind: str, **fields: Any) -> bytes:
            return _sse({"type": kind, "sequence_number": next(sequence), **fields}, event=kind)

        def events() -> Iterator[bytes]:
            pending = self._response_object(response_id, body, created, "in_progress", [], None)
            yield event("response.created", response=pending)
            yield event("response.in_progress", response=pending)
            index = 0
            if message_id is not None:
                yield event(
                    "response.output_item.added", output_index=index, item=message_item("in_progress", None)
                )
                empty_part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
                yield event(
                    "response.content_part.added",
                    item_id=message_id,
                    output_index=index,
                    content_index=0,
                    part=empty_part,
                )
                if reply.content:
                    for piece in _pieces(reply.content, self.chunk_size):
                        yield event(
                            "response.output_text.delta",
                            item_id=message_id,
                            output_index=index,
                            content_index=0,
                            delta=piece,
                            logprobs=[],
                        )
                yield event(
                    "response.output_text.done",
                    item_id=message_id,
                    output_index=index,
                    content_index=0,
                    text=reply.content,
                    logprobs=[],
                )
                full_part = {"type": "output_text", "text": reply.content, "annotations": [], "logprobs": []}
                yield event(
                    "response.content_part.done",
                    item_id=message_id,
                    output_index=index,
                    content_index=0,
                    part=full_part,
                )
                yield event(
                    "response.output_item.done",
                    output_index=index,
                    item=message_item("completed", reply.content),
                )
                index += 1
            for item_id, call_id, call in calls:
                yield event(
                    "response.output_item.added",
                    output_index=index,
                    item=call_item(item_id, call_id, call, "in_progress", ""),
                )
                for piece in _pieces(call.arguments, self.chunk_size):
                    yield event(
                        "response.function_call_arguments.delta",
                        item_id=item_id,
                        output_index=index,
                        delta=piece,
                    )
                yield event(
                    "response.function_call_arguments.done",
                    item_id=item_id,
                    output_index=index,
                    name=call.name,
                    arguments=call.arguments,
                )
                yield event(
                    "response.output_item.done",
                    output_index=index,
                    item=call_item(item_id, call_id, call, "completed", call.arguments),
                )
                index += 1
            yield event("response.completed", response=final)

        return _Answer(200, [("x-request-id", self.new_id("req"))], events=events())


# --------------------------------------------------------------------------------------------------- Anthropic


_ANTHROPIC_ERRORS = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "This request would exceed the rate limit for your organization."),
    500: ("api_error", "Internal server error"),
    503: ("overloaded_error", "Overloaded"),
    529: ("overloaded_error", "Overloaded"),
}


class AnthropicCompatServer(ScriptedServer):
    """Anthropic's Messages API; `base_url` is `http://127.0.0.1:PORT` (the SDK adds `/v1/messages` itself)."""

    prefix = ""
    base_url_variable = "ANTHROPIC_BASE_URL"
    api_key_variable = "ANTHROPIC_API_KEY"
    request_id_header = "request-id"

    def _model_routes(self) -> dict[tuple[str, str], Callable[[Reply, dict[str, Any]], _Answer]]:
        return {("POST", "/v1/messages"): self._messages}

    def _other_routes(self) -> dict[tuple[str, str], Callable[[dict[str, Any]], _Answer]]:
        return {
            ("POST", "/v1/messages/count_tokens"): self._count_tokens,
            ("GET", "/v1/models"): self._models,
        }

    def _error_body(self, status: int, message: str | None) -> dict[str, Any]:
        kind, default = _ANTHROPIC_ERRORS.get(
            status, ("api_error" if status >= 500 else "invalid_request_error", f"HTTP {status}")
        )
        return {
            "type": "error",
            "error": {"type": kind, "message": message or default},
            "request_id": self.new_id("req"),
        }

    def _models(self, _body: dict[str, Any]) -> _Answer:
        entry = {
            "type": "model",
            "id": self.model,
            "display_name": self.model,
            "created_at": "2025-01-01T00:00:00Z",
        }
        return _json_answer(
            200, {"data": [entry], "has_more": False, "first_id": self.model, "last_id": self.model}
        )

    def _count_tokens(self, body: dict[str, Any]) -> _Answer:
        return _json_answer(200, {"input_tokens": max(1, len(json.dumps(body.get("messages", []))) // 4)})

    def _messages(self, reply: Reply, body: dict[str, Any]) -> _Answer:
        message_id = self.new_id("msg")
        model = str(body.get("model") or self.model)
        calls = [(self.new_id("toolu"), call) for call in reply.calls]
        stop_reason = "tool_use" if calls else "end_turn"
        say_text = bool(reply.content) or not calls
        headers = [("request-id", self.new_id("req"))]

        def usage(output_tokens: int) -> dict[str, Any]:
            return {
                "input_tokens": reply.input_tokens,
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "service_tier": "standard",
            }

        def message(content: list[Any], stop: str | None, output_tokens: int) -> dict[str, Any]:
            return {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": usage(output_tokens),
            }

        if body.get("stream") is not True:
            content: list[dict[str, Any]] = [{"type": "text", "text": reply.content}] if say_text else []
            for call_id, call in calls:
                parsed = call.parsed()
                content.append(
                    {
                        "type": "tool_use",
                        "id": call_id,
                        "name": call.name,
                        "input": call.arguments if parsed is None else parsed,
                    }
                )
            return _json_answer(200, message(content, stop_reason, reply.output_tokens), headers)

        def events() -> Iterator[bytes]:
            yield _sse({"type": "message_start", "message": message([], None, 1)}, "message_start")
            yield _sse({"type": "ping"}, "ping")
            index = 0
            if say_text:
                yield _sse(
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    },
                    "content_block_start",
                )
                if reply.content:
                    for piece in _pieces(reply.content, self.chunk_size):
                        delta = {"type": "text_delta", "text": piece}
                        yield _sse(
                            {"type": "content_block_delta", "index": index, "delta": delta},
                            "content_block_delta",
                        )
                yield _sse({"type": "content_block_stop", "index": index}, "content_block_stop")
                index += 1
            for call_id, call in calls:
                block = {"type": "tool_use", "id": call_id, "name": call.name, "input": {}}
                yield _sse(
                    {"type": "content_block_start", "index": index, "content_block": block},
                    "content_block_start",
                )
                for piece in ["", *_pieces(call.arguments, self.chunk_size)]:
                    delta = {"type": "input_json_delta", "partial_json": piece}
                    yield _sse(
                        {"type": "content_block_delta", "index": index, "delta": delta}, "content_block_delta"
                    )
                yield _sse({"type": "content_block_stop", "index": index}, "content_block_stop")
                index += 1
            delta_usage = {"output_tokens": reply.output_tokens}
            yield _sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": delta_usage,
                },
                "message_delta",
            )
            yield _sse({"type": "message_stop"}, "message_stop")

        return _Answer(200, headers, events=events())


__all__ = [
    "EXHAUSTED_TEXT",
    "AnthropicCompatServer",
    "OpenAICompatServer",
    "RecordedRequest",
    "Reply",
    "ScriptedServer",
    "ToolCall",
    "error",
    "malformed_tool_call",
    "raw",
    "text",
    "tool_calls",
    "tool_names",
    "tool_results",
    "user_texts",
]
