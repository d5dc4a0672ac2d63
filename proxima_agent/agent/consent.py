"""Consent before a conversation leaves the machine. Before a session's first request to a remote provider the
user sees the provider, the model, that the conversation is sent to it, and the estimated tokens and cost, and
answers once (this turn), session, always (for this provider, remembered) or never (remembered too). Local
servers and the offline planner need none. Headless runs need `--allow-remote` or `agent.allow_remote`, or an
"always" given before. Every decision is recorded in the session.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from proxima_agent.agent.models import ModelChoice
from proxima_agent.errors import RemoteConsentError

Answer = Literal["once", "session", "always", "never"]
CHARS_PER_TOKEN = 4  # the usual rough ratio for English and JSON; said to be an estimate wherever shown


@dataclass(frozen=True)
class RemoteQuestion:
    provider: str
    model: str
    estimated_tokens: int
    estimated_cost_usd: float | None  # None: genai-prices does not know this model

    def text(self) -> str:
        cost = (
            f"about ${self.estimated_cost_usd:.4f}" if self.estimated_cost_usd is not None else "cost unknown"
        )
        return (
            f"{self.model} is a remote model: this conversation (your prompts, the tools' results) is sent to "
            f"{self.provider}. Estimated for this request: about {self.estimated_tokens:,} input tokens, {cost}."
        )


Asker = Callable[[RemoteQuestion], Awaitable[Answer]]


def decisions_file() -> Path:
    from proxima_agent.paths import data_dir

    return data_dir() / "remote-consent.json"


def remembered(provider: str) -> Answer | None:
    try:
        value = json.loads(decisions_file().read_text(encoding="utf-8")).get(provider)
    except (OSError, ValueError, AttributeError):
        return None
    return value if value in ("always", "never") else None


def remember(provider: str, answer: Answer) -> None:
    path = decisions_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data = data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        data = {}
    data[provider] = answer
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(partial, path)  # never a half-written file


def estimate(choice: ModelChoice, text_chars: int) -> RemoteQuestion:
    tokens = max(1, text_chars // CHARS_PER_TOKEN)
    cost: float | None
    try:
        import genai_prices

        price = genai_prices.calc_price(
            genai_prices.Usage(input_tokens=tokens), choice.name, provider_id=choice.provider
        )
        cost = float(price.total_price)
    except Exception:  # an unknown model or provider: the cost is unknown, not zero
        cost = None
    return RemoteQuestion(choice.provider, choice.name, tokens, cost)


class RemoteConsent:
    """Asks (or refuses) once per session, as the answers allow; `decisions` is what to record."""

    def __init__(self, choice: ModelChoice, *, allowed: bool, asker: Asker | None) -> None:
        self.choice = choice
        self.allowed = allowed  # --allow-remote or agent.allow_remote
        self.asker = asker  # None: headless, nobody to ask
        self.session_answer: Answer | None = None

    async def check(self, text_chars: int) -> dict[str, str] | None:
        """Before a request: None when nothing needed asking now, else the decision to record. Raises
        RemoteConsentError when the conversation may not go to the provider."""
        if self.choice.locality != "remote" or self.session_answer == "session":
            return None
        provider = self.choice.provider
        if self.allowed:
            self.session_answer = "session"
            return {
                "provider": provider,
                "model": self.choice.name,
                "answer": "session",
                "answered_by": "--allow-remote or agent.allow_remote",
            }
        stored = remembered(provider)
        if stored == "always":
            self.session_answer = "session"
            return {
                "provider": provider,
                "model": self.choice.name,
                "answer": "always",
                "answered_by": "remembered",
            }
        refuse = RemoteConsentError(
            f"{self.choice.label}: sending the conversation to {provider} was not allowed",
            hint="give --allow-remote (or agent.allow_remote: true in proxima.json), or use --model offline",
            provider=provider,
        )
        if stored == "never" or self.asker is None:
            raise refuse
        answer = await self.asker(estimate(self.choice, text_chars))
        if answer in ("always", "never"):
            remember(provider, answer)
        if answer == "never":
            raise refuse
        if answer == "session" or answer == "always":
            self.session_answer = "session"
        return {"provider": provider, "model": self.choice.name, "answer": answer, "answered_by": "the user"}
