"""The house rules that hold for the whole code base: lint and format, fast start-up, documented errors, and the
packaged text folders found both from a wheel and from the source tree."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from proxima_agent.errors import all_error_types
from proxima_agent.paths import RESOURCE_FOLDERS, resource_dir

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("cirq", "qiskit", "qiskit_aer", "pandas", "matplotlib", "scipy", "openpyxl")


def test_ruff_lint_and_format():
    for args in (["check", "."], ["format", "--check", "."]):
        proc = subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cli_start_up_imports_no_heavy_library():
    code = f"import sys, proxima_agent.cli; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""


def test_help_does_not_import_simulators():
    code = (
        "import sys\nfrom proxima_agent.cli import main\nmain(['--help'])\n"
        f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Usage: proxima" in proc.stdout
    assert proc.stdout.strip().endswith("HEAVY=")


def test_mcp_server_start_up_imports_no_simulator_or_plotting_library():
    code = (
        "import sys\nfrom proxima_agent.mcp.server import build_server\nbuild_server()\n"
        f"print(','.join(m for m in {(*HEAVY, 'numpy', 'jinja2')!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""


def test_every_error_code_is_documented():
    text = (ROOT / "docs" / "errors.md").read_text()
    for cls in all_error_types():
        assert f"`{cls.code}`" in text, f"{cls.code} ({cls.__name__}) missing from docs/errors.md"


def test_error_codes_are_unique():
    codes = [cls.code for cls in all_error_types()]
    assert len(codes) == len(set(codes))


def test_resource_folders_from_the_source_tree():
    for name in RESOURCE_FOLDERS:
        assert resource_dir(name) == ROOT / name


@pytest.mark.slow
def test_wheel_packs_the_text_folders_and_finds_them(tmp_path: Path):
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("proxima_agent-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for folder in RESOURCE_FOLDERS:
        assert f"proxima_agent/_data/{folder}/README.md" in names
    assert "proxima_agent/_data/skills/will-it-fit/SKILL.md" in names
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
    )
    code = "from proxima_agent.paths import resource_dir; print(resource_dir('skills'))"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == target / "proxima_agent" / "_data" / "skills"
