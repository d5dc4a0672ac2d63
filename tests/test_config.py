"""Configuration: search order, ${VAR} expansion, validation errors with locations, the checked-in schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proxima_agent.config import ProximaConfig, config_json_schema, find_config, load_config
from proxima_agent.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def write(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    cwd = tmp_path / "project"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("PROXIMA_CONFIG", raising=False)
    return {"cwd": cwd / "proxima.json", "user": tmp_path / "xdg" / "proxima" / "proxima.json"}


def test_defaults_without_any_file(places):
    assert find_config() is None
    assert load_config() == ProximaConfig()
    assert load_config().run.shots == 1024


def test_search_order(places, monkeypatch, tmp_path):
    write(places["user"], {"run": {"shots": 3}})
    assert load_config().run.shots == 3
    write(places["cwd"], {"run": {"shots": 2}})
    assert load_config().run.shots == 2  # the project's file comes before the user's
    explicit = write(tmp_path / "elsewhere.json", {"run": {"shots": 1}})
    monkeypatch.setenv("PROXIMA_CONFIG", str(explicit))
    assert load_config().run.shots == 1


def test_variables_expand_from_the_environment(places, monkeypatch):
    monkeypatch.setenv("PROXIMA_TEST_BACKEND", "cirq-dm")
    write(places["cwd"], {"run": {"backend": "${PROXIMA_TEST_BACKEND}"}})
    assert load_config().run.backend == "cirq-dm"


def test_unset_variable_is_an_error_naming_it(places, monkeypatch):
    monkeypatch.delenv("PROXIMA_UNSET_VAR", raising=False)
    write(places["cwd"], {"run": {"backend": "${PROXIMA_UNSET_VAR}"}})
    with pytest.raises(ConfigError, match="PROXIMA_UNSET_VAR") as info:
        load_config()
    assert "export PROXIMA_UNSET_VAR" in info.value.hint


def test_invalid_json_reports_line_and_column(places):
    write(places["cwd"], '{\n  "run": {"shots": 5,}\n}')
    with pytest.raises(ConfigError) as info:
        load_config()
    assert info.value.context["line"] == 2


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"run": {"shots": 0}}, "run.shots"),
        ({"colour": "blue"}, "colour"),
        ({"backends": {"qsim": {"enabled": True}}}, "unknown backend"),
        ({"estimate": {"memory_margin": 1.5}}, "memory_margin"),
    ],
)
def test_invalid_settings_name_the_field(places, data, fragment):
    write(places["cwd"], data)
    with pytest.raises(ConfigError, match=r"proxima\.json") as info:
        load_config()
    assert fragment in info.value.message


def test_checked_in_schema_is_current():
    checked_in = json.loads((ROOT / "docs" / "proxima.schema.json").read_text())
    assert checked_in == config_json_schema(), (
        "regenerate: python -m proxima_agent.config > docs/proxima.schema.json"
    )


def test_config_round_trips_through_json():
    config = ProximaConfig.model_validate({"run": {"shots": 9, "backend": "aer-dm"}, "log_level": "DEBUG"})
    assert ProximaConfig.model_validate_json(config.model_dump_json(by_alias=True)) == config
