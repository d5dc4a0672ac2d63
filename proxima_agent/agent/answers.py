"""The offline model's answers: Markdown written by Jinja2 templates (prompts/offline/<intent>.j2, one per kind of
request) from the tools' structured outputs. The templates arrange and format figures the tools computed; they
compute none, so every number in an answer is one a tool returned.

`answer(plan_or_decline, outputs)` takes one output per step that ran, in order: the dict the tool's output model
dumps (`model_dump(mode="json")`), or `{"error": {"code": ..., "message": ..., "hint": ...}}` for a step that
failed. jinja2 is imported on first use.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from proxima_agent.paths import resource_dir

if TYPE_CHECKING:
    import jinja2

    from proxima_agent.agent.planner import Decline, Plan

TEMPLATES = "offline"  # the folder under prompts/


def pct(value: float | None, digits: int = 1) -> str:
    """0.4938 -> '49.4 %'."""
    return "n/a" if value is None else f"{100 * value:.{digits}f} %"


def fixed(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def sig(value: float | None, digits: int = 3) -> str:
    """Significant digits, for figures spanning orders of magnitude (distances, bounds)."""
    return "n/a" if value is None else f"{value:.{digits}g}"


def seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 1e-3:
        return f"{1e3 * value:.1f} ms"
    return f"{1e6 * value:.0f} µs"


def size(value: int | None) -> str:
    if value is None:
        return "not measured"
    for unit, scale in (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value} B"


def ratio(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.1f}x" if value < 100 else f"{value:,.0f}x"


def cell(value: Any) -> str:
    """A value fit for one Markdown table cell: one line, pipes escaped, long text cut."""
    text = " ".join(str(value).split()).replace("|", "\\|")
    return text if len(text) <= 120 else text[:119] + "…"


FILTERS = {
    "pct": pct,
    "fixed": fixed,
    "sig": sig,
    "seconds": seconds,
    "size": size,
    "ratio": ratio,
    "cell": cell,
}


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("prompts") / TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        keep_trailing_newline=False,
    )
    environment.filters.update(FILTERS)
    return environment


def render(template: str, **values: Any) -> str:
    """Render prompts/offline/<template>.j2: a missing value is an error, never a gap in the text."""
    text = _environment().get_template(f"{template}.j2").render(**values)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def answer(result: Plan | Decline, outputs: Sequence[Mapping[str, Any]]) -> str:
    """The final Markdown answer: the request's template filled with the tools' outputs; a failed step is reported
    with its code, message and hint, after what the steps before it returned."""
    if result.kind == "decline":
        return render("decline", decline=result)
    if result.direct_answer is not None:
        return result.direct_answer
    steps = list(zip(result.steps, outputs, strict=False))
    from proxima_agent.agent.planner import is_tool_error

    failed = next((i for i, (_, out) in enumerate(steps) if is_tool_error(out)), None)
    if failed is not None or len(outputs) < len(result.steps):
        index = failed if failed is not None else len(outputs)
        error = steps[index][1]["error"] if failed is not None else None
        return render(
            "error", plan=result, done=steps[:index], step=result.steps[index], error=error,
            skipped=result.steps[index + 1 :],
        )  # fmt: skip
    import jinja2

    try:
        return render(result.intent, plan=result, steps=steps, outputs=list(outputs))
    except (jinja2.TemplateError, KeyError, TypeError, AttributeError, ValueError):
        # an output of an unexpected shape (another version of a tool): show it as it is, invent nothing
        dumped = [(step, json.dumps(out, indent=1, default=str)[:4000]) for step, out in steps]
        return render("generic", plan=result, dumped=dumped)


__all__ = ["FILTERS", "answer", "render"]
