"""The house rules that hold for the whole code base: lint and format, fast start-up, documented errors, and the
packaged text folders found both from a wheel and from the source tree."""

from __future__ import annotations

import ast
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


@pytest.mark.slow
def test_mypy_type_check_is_clean():
    proc = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cli_start_up_imports_no_heavy_library_and_no_llm_sdk():
    unwanted = (*HEAVY, "anthropic", "openai", "pydantic_ai", "prompt_toolkit", "jinja2")
    code = f"import sys, proxima_agent.cli; print(','.join(m for m in {unwanted!r} if m in sys.modules))"
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


CORE = ("circuits", "backends", "engine", "selection", "analysis", "store")
CORE_MODULES = ("errors", "config", "paths", "logs", "seeds", "testing")
FRONT_DOORS = ("cli", "ui", "mcp", "agent", "instructions", "lsp")
LLM_SDKS = ("anthropic", "openai", "pydantic_ai", "groq")


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or lazily inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def _layer_violations(files: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in files:
        for module in _imports(path):
            parts = module.split(".")
            inner = parts[1] if parts[0] == "proxima_agent" and len(parts) > 1 else None
            if inner in forbidden or parts[0] in LLM_SDKS:
                bad.append(f"{path.name} imports {module}")
    return bad


def test_the_core_imports_no_front_door_and_no_llm_sdk():
    package = ROOT / "proxima_agent"
    files = [f for layer in CORE for f in (package / layer).rglob("*.py")]
    files += [package / f"{name}.py" for name in CORE_MODULES]
    assert len(files) > 40
    assert _layer_violations(files, (*FRONT_DOORS, "tools")) == []


def test_the_tools_import_no_front_door_and_no_llm_sdk():
    files = list((ROOT / "proxima_agent" / "tools").rglob("*.py"))
    assert _layer_violations(files, FRONT_DOORS) == []


def test_the_planner_and_its_answers_import_no_llm_sdk():
    """The offline planner must work where no LLM SDK is wanted; only its pydantic-ai wrapper imports one."""
    package = ROOT / "proxima_agent" / "agent"
    assert _layer_violations([package / "planner.py", package / "answers.py"], FRONT_DOORS[:3]) == []
    assert sorted(_layer_violations([package / "offline.py"], ())) == [
        "offline.py imports pydantic_ai.messages",
        "offline.py imports pydantic_ai.models.function",
    ]


def test_the_layer_check_sees_lazy_imports(tmp_path: Path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f():\n    from proxima_agent.ui.render import make_console\n    import openai.types\n"
    )
    assert sorted(_layer_violations([sample], FRONT_DOORS)) == [
        "sample.py imports openai.types",
        "sample.py imports proxima_agent.ui.render",
    ]


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
