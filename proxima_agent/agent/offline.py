"""The `offline` model: the deterministic planner (agent/planner.py) behind pydantic-ai's FunctionModel, so the
agent loop, the tools, permissions, sessions and every front door are the same with or without an LLM.

Each model request re-reads the conversation: the newest user prompt is planned again (the planner is
deterministic, so the plan is the one already being carried out), the tool returns since that prompt are the
outputs of the steps that ran, and the next step is called with its references resolved, or, when the plan is
done or a step failed, the answer is written from the templates. What earlier turns ran (the last job, circuit
and backend) is the planner's memory, read from the history's tool calls and returns.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel

from proxima_agent.agent.answers import answer
from proxima_agent.agent.planner import Plan, PlannerMemory, is_tool_error, plan, resolve_refs
from proxima_agent.errors import ProximaError

MODEL_NAME = "offline"
_ERROR_TEXT = re.compile(r"(?s)^([A-Z][A-Z0-9_]+): (.*?)(?:\nhint: (.*))?$")


def offline_model(
    known_circuits: list[str] | None = None, backends: list[str] | None = None
) -> FunctionModel:
    """The planner as a pydantic-ai model. KNOWN_CIRCUITS and BACKENDS replace the planner's defaults."""
    base = PlannerMemory()
    if known_circuits:
        base = base.model_copy(update={"known_circuits": list(known_circuits)})
    if backends:
        base = base.model_copy(update={"backends": list(backends)})

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[next_part(messages, base)], model_name=MODEL_NAME)

    async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str | DeltaToolCalls]:
        part = next_part(messages, base)
        if isinstance(part, ToolCallPart):
            yield {0: DeltaToolCall(part.tool_name, part.args_as_json_str(), tool_call_id=part.tool_call_id)}
            return
        for paragraph in re.split(r"(?<=\n\n)", part.content):  # paragraph by paragraph, as a live view shows
            yield paragraph

    return FunctionModel(respond, stream_function=stream, model_name=MODEL_NAME)


def next_part(messages: Sequence[ModelMessage], base: PlannerMemory) -> ToolCallPart | TextPart:
    """The next tool call of the newest request's plan, or its answer."""
    start = _newest_prompt(messages)
    if start is None:
        return TextPart(answer(plan("", base), []))
    index, prompt = start
    decided = plan(prompt, _memory(messages[:index], base))
    outputs = _outputs(messages[index + 1 :])
    if (
        isinstance(decided, Plan)
        and len(outputs) < len(decided.steps)
        and not any(map(is_tool_error, outputs))
    ):
        step = decided.steps[len(outputs)]
        try:
            args = resolve_refs(step.args, outputs)
        except ProximaError as exc:
            outputs.append(_error(exc.code, exc.message, exc.hint))
        else:
            return ToolCallPart(step.tool, args, tool_call_id=f"offline-{index}-{len(outputs)}")
    return TextPart(answer(decided, outputs))


def _newest_prompt(messages: Sequence[ModelMessage]) -> tuple[int, str] | None:
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart):
                    content = part.content
                    text = (
                        content
                        if isinstance(content, str)
                        else " ".join(c for c in content if isinstance(c, str))
                    )
                    return index, text
    return None


def _outputs(messages: Sequence[ModelMessage]) -> list[dict[str, Any]]:
    """One output per tool call made since the prompt, in order: the tool's structured output, or its error."""
    outputs: list[dict[str, Any]] = []
    for message in messages:
        if not isinstance(message, ModelRequest):
            continue
        for part in message.parts:
            if isinstance(part, ToolReturnPart):
                outputs.append(_returned(part))
            elif isinstance(part, RetryPromptPart) and part.tool_name:
                text = (
                    part.content if isinstance(part.content, str) else json.dumps(part.content, default=str)
                )
                outputs.append(_error("INPUT_INVALID", text[:2000], None))
    return outputs


def _returned(part: ToolReturnPart) -> dict[str, Any]:
    content = part.content
    if part.outcome == "success" and isinstance(content, dict):
        return content
    text = content if isinstance(content, str) else json.dumps(content, default=str)
    if part.outcome == "denied":
        return _error("NOT_APPROVED", text, "approve the call, or ask for something smaller")
    match = _ERROR_TEXT.match(text.strip())
    if match:
        return _error(match[1], match[2], match[3])
    if part.outcome == "success":  # a tool (an external one) that answered with text: keep it as it is
        return {"text": text}
    return _error("TOOL_FAILED", text, None)


def _error(code: str, message: str, hint: str | None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "hint": hint}}


def _memory(history: Sequence[ModelMessage], base: PlannerMemory) -> PlannerMemory:
    """The last job, circuit and backend the earlier turns' successful tool calls named."""
    calls: dict[str, ToolCallPart] = {}
    update: dict[str, Any] = {}
    for message in history:
        if isinstance(message, ModelResponse):
            calls.update({p.tool_call_id: p for p in message.parts if isinstance(p, ToolCallPart)})
            continue
        for part in message.parts:
            if not isinstance(part, ToolReturnPart) or part.outcome != "success":
                continue
            content: dict[str, Any] = dict(part.content) if isinstance(part.content, dict) else {}
            call = calls.get(part.tool_call_id)
            args = call.args_as_dict() if call is not None else {}
            if isinstance(content.get("job_id"), str):
                update["last_job_id"] = content["job_id"]
            if isinstance(args.get("circuit"), str) and part.tool_name in ("execute", "compare"):
                update["last_circuit"] = args["circuit"]
            result = content.get("result")
            backend = (result.get("backend") if isinstance(result, dict) else None) or content.get("backend")
            if isinstance(backend, str) and part.tool_name in ("execute", "job_status", "wait_job"):
                update["last_backend"] = backend
    return base.model_copy(update=update) if update else base


__all__ = ["MODEL_NAME", "next_part", "offline_model"]
