"""Skills in the Agent Skills format: `<name>/SKILL.md` with YAML front matter (`name`, `description`, string
`metadata`) and a Markdown body. Found in the built-in `skills/`, the user's config folder
(`<config>/skills/`) and the workspace's `.proxima/skills/`; a later folder's skill replaces an earlier one of
the same name. Front doors show names and descriptions up front and load a body when it is invoked: MCP as a
prompt, the agent as an instruction or a slash command."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from pydantic import BaseModel, Field

from proxima_agent.tools.registry import split_front_matter

log = logging.getLogger("proxima_agent.tools")
NAME = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")  # the Agent Skills rule: lowercase, digits, hyphens
MAX_SKILL_CHARS = 100_000


class SkillArgument(BaseModel):
    name: str
    description: str


class Skill(BaseModel):
    name: str = Field(max_length=64)
    description: str = Field(max_length=1024)
    arguments: list[SkillArgument] = []  # from `metadata.arguments`: "name: what it is; ..."
    body: str
    source: str  # "built-in", "user" or "workspace"
    path: str

    def render(self, values: dict[str, object] | None = None) -> str:
        """The body, followed by the values given for its arguments."""
        given = [f"- {k}: {v}" for k, v in (values or {}).items() if v not in (None, "")]
        return self.body + ("\n\nThe request:\n" + "\n".join(given) if given else "")


def skill_folders(workspace: Path | None = None) -> list[tuple[str, Path]]:
    from proxima_agent.paths import config_dir, resource_dir

    folders = [("built-in", resource_dir("skills")), ("user", config_dir() / "skills")]
    if workspace is not None:
        folders.append(("workspace", workspace / ".proxima" / "skills"))
    return folders


def load_skills(workspace: Path | None = None) -> list[Skill]:
    """Every skill found, by name. A user or workspace skill that cannot be read is logged and left out (it
    must not stop a front door from starting); a built-in one that cannot be read is a bug, and raises."""
    found: dict[str, Skill] = {}
    for source, folder in skill_folders(workspace):
        for path in sorted(folder.glob("*/SKILL.md")) if folder.is_dir() else []:
            try:
                skill = read_skill(path, source)
            except (OSError, ValueError) as exc:
                if source == "built-in":
                    raise
                log.warning("skill %s left out: %s", path, str(exc)[:300])
                continue
            found[skill.name] = skill
    return sorted(found.values(), key=lambda s: s.name)


def read_skill(path: Path, source: str) -> Skill:
    if path.stat().st_size > MAX_SKILL_CHARS:
        raise ValueError(f"{path}: over {MAX_SKILL_CHARS} bytes")
    front, body = split_front_matter(path.read_text(encoding="utf-8"), str(path))
    name, description = front.get("name"), front.get("description")
    if not isinstance(name, str) or not NAME.fullmatch(name) or len(name) > 64:
        raise ValueError(
            f"{path}: `name` must be lowercase letters, digits and hyphens, at most 64 characters"
        )
    if not isinstance(description, str) or not description.strip():
        raise ValueError(f"{path}: `description` is missing")
    described = str((front.get("metadata") or {}).get("arguments", ""))
    arguments = [
        SkillArgument(name=part.split(":", 1)[0].strip(), description=part.split(":", 1)[1].strip())
        for part in described.split(";")
        if ":" in part
    ]
    return Skill(
        name=name,
        description=description[:1024],
        arguments=arguments,
        body=body,
        source=source,
        path=str(path),
    )
