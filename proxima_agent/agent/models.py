"""Which model a session talks to: `provider:name` strings as pydantic-ai spells them, presets for local
OpenAI-compatible servers, and `offline`, the deterministic planner. Parsing imports no SDK; `build_model`
imports the one it needs.

Where a conversation goes decides what the user is asked: `offline` never leaves the process, a server on this
machine is `local` (no consent), anything else is `remote` (consent first, see agent/consent.py).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from proxima_agent.errors import ModelAuthError, ModelUnknownError, quoted

if TYPE_CHECKING:
    from pydantic_ai.models import Model

    from proxima_agent.config import AgentSettings

Locality = Literal["offline", "local", "remote"]
OFFLINE = "offline"

# Local OpenAI-compatible servers: their usual port, the API key they accept (any), spoken as Chat Completions.
LOCAL_PRESETS: dict[str, str] = {
    "ollama": "http://127.0.0.1:11434/v1",
    "lmstudio": "http://127.0.0.1:1234/v1",
    "llamacpp": "http://127.0.0.1:8080/v1",
    "vllm": "http://127.0.0.1:8000/v1",
}
# Providers that need nothing but their SDK's environment variable (what a user sets for that SDK anyway).
KEY_VARIABLES: dict[str, str] = {
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "OPENAI_API_KEY",
    "openai-chat": "OPENAI_API_KEY",
    "openai-responses": "OPENAI_API_KEY",
    "groq": "GROQ_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "google": "GOOGLE_API_KEY",
}
BASE_URL_VARIABLES = {
    "anthropic": "ANTHROPIC_BASE_URL",
    "openai": "OPENAI_BASE_URL",
    "openai-chat": "OPENAI_BASE_URL",
}
EXAMPLES = "offline, anthropic:claude-sonnet-4-5, openai:gpt-5.2, openai-chat:gpt-4.1, ollama:qwen3:8b, lmstudio:NAME"


@dataclass(frozen=True)
class ModelChoice:
    """A model as configured: what it is, where it runs, how it is shown."""

    spec: str
    provider: str
    name: str
    base_url: str | None

    @property
    def locality(self) -> Locality:
        if self.provider == OFFLINE:
            return "offline"
        return "local" if self.base_url is not None and is_loopback(self.base_url) else "remote"

    @property
    def label(self) -> str:
        """How the model is named wherever one is shown: `claude-sonnet-4-5 (remote, anthropic)`."""
        if self.provider == OFFLINE:
            return "offline planner (no LLM)"
        return f"{self.name} ({self.locality}, {self.provider})"


def parse_model(spec: str | None, settings: AgentSettings | None = None) -> ModelChoice:
    """The model SPEC names (else `agent.model`, else offline), checked without importing any SDK."""
    text = (spec or (settings.model if settings else None) or OFFLINE).strip()
    if text == OFFLINE:
        return ModelChoice(OFFLINE, OFFLINE, OFFLINE, None)
    provider, sep, name = text.partition(":")
    if not sep or not name or not provider:
        raise ModelUnknownError(
            f"model {quoted(text, 80)} is not provider:name",
            hint=f"give --model provider:name, e.g. {EXAMPLES}",
            model=quoted(text, 80),
        )
    if provider not in LOCAL_PRESETS and provider not in KEY_VARIABLES and not _pydantic_ai_knows(provider):
        raise ModelUnknownError(
            f"unknown model provider {quoted(provider, 40)}",
            hint=f"providers: {', '.join([*KEY_VARIABLES, *LOCAL_PRESETS])}; e.g. {EXAMPLES}",
            provider=quoted(provider, 40),
        )
    return ModelChoice(text, provider, name, _base_url(provider, settings))


def _base_url(provider: str, settings: AgentSettings | None) -> str | None:
    if settings is not None and settings.base_url:
        return settings.base_url
    if provider == "ollama" and os.environ.get("OLLAMA_BASE_URL"):
        return os.environ["OLLAMA_BASE_URL"]
    if provider in LOCAL_PRESETS:
        return LOCAL_PRESETS[provider]
    variable = BASE_URL_VARIABLES.get(provider)
    return os.environ.get(variable) if variable else None


def _pydantic_ai_knows(provider: str) -> bool:
    try:
        from pydantic_ai.providers import infer_provider_class

        infer_provider_class(provider)
        return True
    except (ValueError, ImportError):
        return False


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_model(choice: ModelChoice, settings: AgentSettings | None = None, **offline: Any) -> Model:
    """The pydantic-ai model for CHOICE. A missing key is a clear ModelAuthError naming the variable to set;
    the key itself is never shown. `offline` keywords go to the offline model."""
    if choice.provider == OFFLINE:
        from proxima_agent.agent.offline import offline_model

        return offline_model(**offline)
    api_key = settings.api_key if settings is not None else None
    if choice.provider in LOCAL_PRESETS or (choice.base_url and choice.provider in ("openai", "openai-chat")):
        from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
        from pydantic_ai.providers.openai import OpenAIProvider

        key = api_key or os.environ.get("OPENAI_API_KEY") or "local"  # local servers take any key
        if choice.provider == "openai" and not is_loopback(choice.base_url or ""):
            _require_key(choice, api_key)
        provider = OpenAIProvider(base_url=choice.base_url, api_key=key)
        if choice.provider == "openai":
            return OpenAIResponsesModel(choice.name, provider=provider)
        return OpenAIChatModel(choice.name, provider=provider)
    if choice.provider == "anthropic":
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        key = _require_key(choice, api_key)
        return AnthropicModel(choice.name, provider=AnthropicProvider(api_key=key, base_url=choice.base_url))
    _require_key(choice, api_key)
    try:
        from pydantic_ai.models import infer_model

        if api_key:
            from pydantic_ai.providers import infer_provider_class

            provider_class: Any = infer_provider_class(choice.provider)
            return infer_model(choice.spec, provider_factory=lambda _name: provider_class(api_key=api_key))
        return infer_model(choice.spec)
    except ImportError as exc:
        raise ModelUnknownError(
            f"{choice.provider}: its SDK is not installed ({exc.name or 'a module'} is missing)",
            hint=f"pip install 'pydantic-ai-slim[{choice.provider}]', or use --model offline",
            provider=choice.provider,
        ) from None


def _require_key(choice: ModelChoice, api_key: str | None) -> str:
    variable = KEY_VARIABLES.get(choice.provider, f"{choice.provider.upper().replace('-', '_')}_API_KEY")
    key = api_key or os.environ.get(variable)
    if not key:
        raise ModelAuthError(
            f"{choice.provider}: no API key",
            hint=f'export {variable}=... (or agent.api_key: "${{{variable}}}" in proxima.json), '
            "or use --model offline",
            provider=choice.provider,
            variable=variable,
        )
    return key
