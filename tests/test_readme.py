"""Every command in the README's guide runs, in a fresh folder, and exits 0."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from tests.cli_helpers import proxima

ROOT = Path(__file__).resolve().parents[1]


def guide_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    guide = text.split("## Guide", 1)[1]
    block = re.search(r"```\n(.*?)```", guide, re.DOTALL)
    assert block is not None
    lines = [line.split("  #")[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line.startswith("proxima ")]


def test_readme_commands_match_ci():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "Set up and test" in ci  # CI runs the README's own test command, read from the README


@pytest.mark.slow
@pytest.mark.parametrize("command", guide_commands())
def test_guide_command_runs(command: str, tmp_path: Path):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    args = shlex.split(command)[1:]
    result = proxima(*args, cwd=tmp_path)
    assert result.code == 0, f"{command}\n{result.both}"
    assert "Traceback" not in result.both
    if "--output" in args:
        assert (tmp_path / args[args.index("--output") + 1]).is_file()
