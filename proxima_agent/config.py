"""Configuration: `proxima.json`, validated by pydantic; `${VAR}` expands from the environment.

Search order: the file named by $PROXIMA_CONFIG, then ./proxima.json, then $XDG_CONFIG_HOME/proxima/proxima.json
(the platform's user config directory). No file means the defaults.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from proxima_agent.errors import ConfigError

CONFIG_NAME = "proxima.json"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BackendSettings(_Model):
    enabled: bool = Field(
        True, description="Offer this backend; a disabled backend is listed but never selected."
    )


class RunSettings(_Model):
    shots: int = Field(1024, gt=0, description="Shots when a run does not say.")
    backend: str | None = Field(
        None, description="Backend id used when a run does not name one (None: select)."
    )


class EstimateSettings(_Model):
    memory_margin: float = Field(
        0.2, ge=0, lt=1, description="Fraction of available memory kept free when judging whether a run fits."
    )


class OutputSettings(_Model):
    inline_limit: int = Field(
        4096,
        ge=0,
        description="Arrays with more entries than this are written to files, never inlined in JSON.",
    )


class SentinelLevel(_Model):
    percent: float = Field(
        gt=0, le=100, description="RAM in use (percent of total) at which the action fires."
    )
    action: Literal["notify", "ask", "pause", "abort"] = Field(
        description="notify: say so; ask: ask for consent to go on; pause: suspend (or freeze) the job using "
        "the most memory; abort: abort it."
    )


class SentinelSettings(_Model):
    profile: Literal["conservative", "balanced", "aggressive"] = Field(
        "balanced",
        description="Levels: conservative 60/75/85/95 %, balanced 70/85/95/99 %, aggressive 80/92/97/99.5 % "
        "(notify / ask / pause / abort).",
    )
    levels: list[SentinelLevel] | None = Field(None, description="Explicit levels; override the profile.")
    interval_s: float = Field(0.5, gt=0, description="Seconds between samples.")


class EngineSettings(_Model):
    warm_workers: int = Field(1, ge=0, description="Idle worker processes kept ready (libraries imported).")
    max_workers: int | None = Field(
        None, ge=1, description="Jobs running at once; more wait for a free worker (None: one per CPU core)."
    )
    checkpoint_every_s: float | None = Field(
        60.0, gt=0, description="Automatic checkpoint after this many seconds of execution (None: never)."
    )
    checkpoint_every_steps: int | None = Field(
        None, gt=0, description="Automatic checkpoint after this many steps (None: by time only)."
    )
    abort_grace_s: float = Field(
        1.5, ge=0, description="Seconds between SIGTERM and SIGKILL when a job is aborted."
    )
    checkpoint_retention: Literal["none", "last", "all"] = Field(
        "none",
        description="Checkpoints kept once a job has ended: none (deleted when it ends), last (the last one), "
        "all. A running, paused or interrupted job keeps all of them (rollback needs them), and so does a job "
        "whose worker died or whose result could not be saved (it can be continued); `proxima gc` applies "
        "this to jobs that ended before.",
    )
    keep_ended_jobs: int = Field(
        16,
        ge=0,
        description="Ended jobs a long-lived process (the MCP server) keeps in memory with their results; older "
        "ones are read from the job database and the result files.",
    )
    sentinel: SentinelSettings = SentinelSettings()


class BudgetSettings(_Model):
    requests: int = Field(20, gt=0, description="Model requests one turn may make.")
    tool_calls: int = Field(40, gt=0, description="Tool calls one turn may make.")
    tokens: int | None = Field(None, gt=0, description="Tokens (input and output) one turn may use.")
    cost_usd: float | None = Field(None, gt=0, description="Model cost one turn may reach, in US dollars.")
    simulation_core_s: float | None = Field(
        None,
        gt=0,
        description="CPU core-seconds of simulation the jobs of one turn may take (estimated before each).",
    )
    simulation_memory_mb: float | None = Field(
        None, gt=0, description="Peak memory (MB) one simulation of a turn may take (estimated before each)."
    )


class AgentSettings(_Model):
    model: str | None = Field(
        None,
        description="Model as provider:name (anthropic:claude-sonnet-4-5, openai:gpt-5.2, openai-chat:..., "
        "ollama:qwen3:8b, lmstudio:..., llamacpp:..., vllm:..., groq:..., openrouter:...), or offline "
        "(the default: a deterministic planner, no LLM).",
    )
    base_url: str | None = Field(None, description="Base URL of an OpenAI-compatible server for the model.")
    api_key: str | None = Field(
        None, description="API key, best given as ${VAR}; else the SDK's own variable is used. Never printed."
    )
    allow_remote: bool = Field(
        False, description="Send conversations to remote providers without asking (headless runs need this)."
    )
    ask_over_s: float = Field(
        60.0,
        ge=0,
        description="A tool that starts simulations asks first when its estimated time is over this.",
    )
    ask_over_memory_mb: float = Field(
        4096.0, ge=0, description="... or when its estimated memory is over this many MB."
    )
    budget: BudgetSettings = BudgetSettings()


class PermissionSettings(_Model):
    allow: list[str] = Field(
        default_factory=list, description='Rules run freely: "execute", "execute(backend=lret)".'
    )
    ask: list[str] = Field(default_factory=list, description="Rules that ask first.")
    deny: list[str] = Field(default_factory=list, description='Rules refused: "mcp__NAME__TOOL", "abort".')


class McpServerSettings(_Model):
    """An external MCP server, in the shape Claude Desktop and Claude Code use."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["stdio", "http", "sse"] = "stdio"
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(10.0, gt=0, description="Seconds to wait for the server to start.")

    @model_validator(mode="after")
    def _complete(self) -> McpServerSettings:
        if self.type == "stdio" and not self.command:
            raise ValueError("a stdio server needs a command")
        if self.type != "stdio" and not self.url:
            raise ValueError(f"an {self.type} server needs a url")
        return self


class ProximaConfig(_Model):
    """Everything `proxima.json` may hold."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="Proxima configuration")

    schema_: str | None = Field(
        None, alias="$schema", description="Optional JSON Schema reference for editors."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    run: RunSettings = RunSettings()
    estimate: EstimateSettings = EstimateSettings()
    output: OutputSettings = OutputSettings()
    engine: EngineSettings = EngineSettings()
    backends: dict[str, BackendSettings] = Field(
        default_factory=dict, description="Per-backend settings by id."
    )
    agent: AgentSettings = AgentSettings()
    permissions: PermissionSettings = PermissionSettings()
    mcp_servers: dict[str, McpServerSettings] = Field(
        default_factory=dict, alias="mcpServers", description="External MCP servers the agent attaches."
    )

    @field_validator("backends")
    @classmethod
    def _known_backends(cls, value: dict[str, BackendSettings]) -> dict[str, BackendSettings]:
        from proxima_agent.backends.registry import backend_ids

        unknown = sorted(set(value) - set(backend_ids()))
        if unknown:
            raise ValueError(f"unknown backend id(s) {unknown}; known: {', '.join(backend_ids())}")
        return value

    def enabled(self, backend_id: str) -> bool:
        return self.backends.get(backend_id, BackendSettings()).enabled


def expand_vars(value: Any, *, where: str = "") -> Any:
    """Replace `${VAR}` in every string with the environment's value; an unset variable is an error."""
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ConfigError(
                    f"configuration {where or 'value'} uses ${{{name}}}, which is not set",
                    hint=f"export {name}=... or remove it from proxima.json",
                    variable=name,
                )
            return os.environ[name]

        return _VAR.sub(sub, value)
    if isinstance(value, dict):
        return {k: expand_vars(v, where=f"{where}.{k}" if where else k) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_vars(v, where=f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def config_search_path() -> list[Path]:
    from proxima_agent.paths import config_dir

    paths = []
    if os.environ.get("PROXIMA_CONFIG"):
        paths.append(Path(os.environ["PROXIMA_CONFIG"]).expanduser())
    paths += [Path.cwd() / CONFIG_NAME, config_dir() / CONFIG_NAME]
    return paths


def find_config() -> Path | None:
    for path in config_search_path():
        if path.is_file():
            return path
    return None


def load_config(path: Path | None = None) -> ProximaConfig:
    """Load and validate the configuration (the first file on the search path, or `path`)."""
    path = path or find_config()
    if path is None:
        return ProximaConfig()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", hint="check the file's permissions") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            hint="fix the JSON syntax (no trailing commas, double quotes only)",
            path=str(path),
            line=exc.lineno,
            column=exc.colno,
        ) from exc
    try:
        return ProximaConfig.model_validate(expand_vars(raw))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(
            f"{path}: {where}: {first['msg']}",
            hint="see docs/proxima.schema.json for the allowed settings",
            path=str(path),
        ) from exc


def config_json_schema() -> dict[str, Any]:
    return ProximaConfig.model_json_schema(by_alias=True)


if __name__ == "__main__":  # python -m proxima_agent.config > docs/proxima.schema.json
    print(json.dumps(config_json_schema(), indent=2))
