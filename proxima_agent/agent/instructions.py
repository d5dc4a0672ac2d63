"""The agent's instructions, rendered from `prompts/system.md.j2`: the backends available here with their
limits (from the `list_backends` tool, so the numbers are this machine's), the skills, the workspace's
`AGENTS.md` when there is one, and what the session has done so far."""

from __future__ import annotations

from typing import Any

from proxima_agent.tools.context import Runtime, ToolContext
from proxima_agent.tools.invoke import invoke
from proxima_agent.tools.models import ErrorInfo
from proxima_agent.tools.registry import registry
from proxima_agent.tools.skills import load_skills

MAX_AGENTS_MD_CHARS = 20_000


async def render_instructions(runtime: Runtime, memory: list[str] | None = None) -> str:
    from proxima_agent.selection.estimate import format_bytes

    listed = await invoke(registry()["list_backends"], {}, ToolContext(runtime))
    backends: list[Any] = [] if isinstance(listed, ErrorInfo) else listed.model_dump()["backends"]
    usable = (
        "unknown"
        if isinstance(listed, ErrorInfo)
        else format_bytes(listed.model_dump()["usable_memory_bytes"])
    )
    return template("system.md.j2").render(
        backends=backends,
        usable_memory=usable,
        skills=load_skills(runtime.workspace),
        agents_md=agents_md(runtime),
        memory=memory or [],
    )


def agents_md(runtime: Runtime) -> str | None:
    """The workspace's AGENTS.md (cut at MAX_AGENTS_MD_CHARS), or None."""
    path = runtime.workspace / "AGENTS.md"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return text[:MAX_AGENTS_MD_CHARS].strip() or None


def template(name: str) -> Any:
    import jinja2

    from proxima_agent.paths import resource_dir

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(resource_dir("prompts")),
        autoescape=False,  # Markdown for a model, not HTML
        trim_blocks=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template(name)
