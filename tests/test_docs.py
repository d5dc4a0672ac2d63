"""The examples in docs/ are real: every JSON block and every --noise example parses as documented."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from proxima_agent.circuits.noise import noise_from_json, parse_noise
from proxima_agent.config import ProximaConfig

DOCS = Path(__file__).resolve().parents[1] / "docs"


def blocks(name: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", (DOCS / name).read_text(), re.DOTALL)


def test_noise_json_example_is_a_valid_model():
    (example,) = blocks("noise.md", "json")
    model = noise_from_json(example)
    assert [r.channel.kind for r in model.rules] == ["depolarizing", "kraus", "readout"]


@pytest.mark.parametrize(
    "line", [l for b in blocks("noise.md", "") for l in b.splitlines() if "--noise" in l]
)
def test_noise_short_syntax_examples_parse(line: str):
    spec = shlex.split(line.split("  #")[0])[1]
    assert not parse_noise(spec).is_empty


def test_configuration_example_is_valid():
    example, agent = blocks("configuration.md", "json")
    config = ProximaConfig.model_validate(json.loads(example))
    assert config.run.shots == 2048
    assert not config.enabled("cirq-sv")
    config = ProximaConfig.model_validate(json.loads(agent))
    assert config.agent.budget.tool_calls == 40 and config.mcp_servers["twin"].args == ["mcp"]
    assert config.permissions.allow == ["execute(backend=lret)"]
