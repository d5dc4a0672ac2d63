"""`proxima mcp install`: where each client's file is, what goes in it, and that an existing file is merged,
backed up and written atomically, or refused whole when it cannot be parsed.

The file-changing cases run the real click command in a subprocess (the `mcp` group of cli/mcp.py attaches
the same command); the error cases go through cli.main() so the message, hint and exit code are the ones a person
sees."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

import proxima_agent
from proxima_agent.errors import ConfigError, OutputError
from proxima_agent.mcp import install as install_module
from proxima_agent.mcp.install import (
    CLIENTS,
    config_path,
    default_command,
    install,
    install_command,
    server_entry,
    strip_jsonc,
)
from tests.cli_helpers import Completed

ROOT = Path(__file__).resolve().parents[1]
MCP_DIR = ROOT / ".mcp"
ENTRY = "from proxima_agent.mcp.install import install_command; install_command()"
# The command inside the real CLI's error handling (main() prints code, message and hint; exits by family).
VIA_MAIN = (
    "import sys\n"
    "from proxima_agent.cli import cli, main\n"
    "from proxima_agent.mcp.install import install_command\n"
    "cli.add_command(install_command)\n"
    "sys.exit(main(['install', *sys.argv[1:]]))\n"
)
OTHERS = {
    "filesystem": {
        "command": "npx",
        "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Desktop"],
        "env": {"LOG_LEVEL": "info"},
    },
    "weather": {"command": "/opt/weather/bin/weather-mcp", "args": [], "env": {"UNITS": "°C", "N": "3"}},
}


def _run(code: str, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Completed:
    full_env = dict(os.environ) | (env or {})
    full_env.pop("COLUMNS", None)
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Completed(proc.returncode, proc.stdout, proc.stderr)


def run_install(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Completed:
    return _run(ENTRY, *args, env=env, cwd=cwd)


def run_via_main(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Completed:
    return _run(VIA_MAIN, *args, env=env, cwd=cwd)


def linux_env(tmp_path: Path) -> dict[str, str]:
    return {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}


def files_in(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def expected_proxima(client: str, workspace: Path | None = None) -> dict:
    (section,) = server_entry(client).keys()
    return server_entry(client, workspace=workspace)[section]["proxima"]


# --- where the files are -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "env", "expected"),
    [
        ("darwin", {}, "home/Library/Application Support/Claude/claude_desktop_config.json"),
        ("win32", {"APPDATA": "{tmp}/Roaming"}, "Roaming/Claude/claude_desktop_config.json"),
        ("win32", {}, "home/AppData/Roaming/Claude/claude_desktop_config.json"),
        ("linux", {"XDG_CONFIG_HOME": "{tmp}/xdg"}, "xdg/Claude/claude_desktop_config.json"),
        ("linux", {}, "home/.config/Claude/claude_desktop_config.json"),
        ("linux", {"XDG_CONFIG_HOME": "relative/dir"}, "home/.config/Claude/claude_desktop_config.json"),
        ("freebsd14", {}, "home/.config/Claude/claude_desktop_config.json"),
    ],
)
def test_claude_desktop_path_per_platform(tmp_path: Path, platform: str, env: dict, expected: str):
    env = {k: v.format(tmp=tmp_path) for k, v in env.items()}
    path = config_path("claude-desktop", platform=platform, home=tmp_path / "home", env=env)
    assert path == tmp_path / expected


def test_claude_desktop_home_comes_from_the_given_environment(tmp_path: Path):
    assert config_path("claude-desktop", platform="darwin", env={"HOME": str(tmp_path)}) == (
        tmp_path / "Library" / "Application Support" / "Claude" / "claude_desktop_config.json"
    )
    assert config_path("claude-desktop", platform="win32", env={"USERPROFILE": str(tmp_path)}) == (
        tmp_path / "AppData" / "Roaming" / "Claude" / "claude_desktop_config.json"
    )


@pytest.mark.parametrize("platform", ["darwin", "win32", "linux"])
def test_project_files_are_in_the_project_folder_on_every_platform(tmp_path: Path, platform: str):
    home = tmp_path / "home"
    assert config_path("claude-code", platform=platform, home=home, cwd=tmp_path) == tmp_path / ".mcp.json"
    assert (
        config_path("vscode", platform=platform, home=home, cwd=tmp_path) == tmp_path / ".vscode" / "mcp.json"
    )


def test_project_files_default_to_the_current_folder(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert config_path("claude-code") == tmp_path / ".mcp.json"
    assert config_path("vscode") == tmp_path / ".vscode" / "mcp.json"


# --- what goes in them ---------------------------------------------------------------------------------------


def test_default_command_is_the_script_next_to_this_python():
    command = default_command()
    script = Path(sys.executable).parent / "proxima"
    assert script.is_file(), "the test environment installs the console script"
    assert command == [str(script), "mcp"]
    assert Path(command[0]).is_absolute()


def test_default_command_falls_back_to_the_interpreter(tmp_path: Path):
    python = tmp_path / "bin" / "python3"
    python.parent.mkdir()
    python.write_text("")
    assert default_command(str(python), platform="linux") == [str(python), "-m", "proxima_agent", "mcp"]
    (python.parent / "proxima").write_text("")
    assert default_command(str(python), platform="linux") == [str(python.parent / "proxima"), "mcp"]


def test_default_command_on_windows_finds_proxima_exe_in_scripts(tmp_path: Path):
    python = tmp_path / "Python311" / "python.exe"
    (python.parent / "Scripts").mkdir(parents=True)
    (python.parent / "Scripts" / "proxima.exe").write_text("")
    assert default_command(str(python), platform="win32") == [
        str(python.parent / "Scripts" / "proxima.exe"),
        "mcp",
    ]


def test_server_entry_per_client_format():
    command = ["/abs/bin/proxima", "mcp"]
    assert server_entry("claude-desktop", command=command) == {
        "mcpServers": {"proxima": {"command": "/abs/bin/proxima", "args": ["mcp"]}}
    }
    assert server_entry("claude-code", command=command) == {
        "mcpServers": {"proxima": {"type": "stdio", "command": "/abs/bin/proxima", "args": ["mcp"]}}
    }
    assert server_entry("vscode", command=command) == {
        "servers": {"proxima": {"type": "stdio", "command": "/abs/bin/proxima", "args": ["mcp"]}}
    }
    assert server_entry("vscode")["servers"]["proxima"]["command"] == default_command()[0]


# --- the real command: create, merge, replace, unchanged, dry run -------------------------------------------


def test_creates_claude_desktop_config_on_linux(tmp_path: Path):
    result = run_install("--client", "claude-desktop", env=linux_env(tmp_path), cwd=tmp_path)
    assert result.code == 0, result.both
    path = tmp_path / "xdg" / "Claude" / "claude_desktop_config.json"
    data = json.loads(path.read_text())
    pinned = ["mcp", "--workspace", str(tmp_path.resolve())]  # the current folder, by absolute path
    assert data == {"mcpServers": {"proxima": {"command": default_command()[0], "args": pinned}}}
    assert f"created {path}" in result.out
    assert "backup" not in result.out
    assert files_in(path.parent) == {"claude_desktop_config.json"}  # no backup, no temporary file left


def test_merges_into_an_existing_file_keeping_everything_else(tmp_path: Path):
    path = tmp_path / "xdg" / "Claude" / "claude_desktop_config.json"
    path.parent.mkdir(parents=True)
    original = {
        "globalShortcut": "Ctrl+Space",
        "mcpServers": OTHERS,
        "preferences": {"theme": "dark", "nested": [1, 2.5, None, True, {"k": "ü"}]},
    }
    path.write_text(json.dumps(original, indent=4))
    before = path.read_bytes()

    result = run_install("--client", "claude-desktop", env=linux_env(tmp_path), cwd=tmp_path)
    assert result.code == 0, result.both
    data = json.loads(path.read_text())
    assert {k: v for k, v in data.items() if k != "mcpServers"} == {
        k: v for k, v in original.items() if k != "mcpServers"
    }
    assert list(data) == list(original)  # top-level order kept
    assert {k: v for k, v in data["mcpServers"].items() if k != "proxima"} == OTHERS
    assert data["mcpServers"]["proxima"] == expected_proxima("claude-desktop", tmp_path)
    backup = path.with_name("claude_desktop_config.json.bak")
    assert backup.read_bytes() == before
    assert f"updated {path}" in result.out and f"backup: {backup}" in result.out
    assert "replaced" not in result.out


def test_replaces_an_older_proxima_entry_with_a_numbered_backup(tmp_path: Path):
    path = tmp_path / ".mcp.json"
    old = {"mcpServers": {"proxima": {"command": "/old/venv/bin/proxima", "args": ["mcp"]}, **OTHERS}}
    path.write_text(json.dumps(old))
    path.with_name(".mcp.json.bak").write_text("an earlier backup")  # must not be overwritten
    before = path.read_bytes()

    result = run_install("--client", "claude-code", cwd=tmp_path)
    assert result.code == 0, result.both
    data = json.loads(path.read_text())
    assert data["mcpServers"]["proxima"] == expected_proxima("claude-code", tmp_path)
    assert list(data["mcpServers"]) == ["proxima", "filesystem", "weather"]  # replaced in place
    assert {k: data["mcpServers"][k] for k in OTHERS} == OTHERS
    assert path.with_name(".mcp.json.bak").read_text() == "an earlier backup"
    assert path.with_name(".mcp.json.bak.1").read_bytes() == before
    assert "replaced the older proxima entry" in result.out
    assert f"backup: {path.with_name('.mcp.json.bak.1')}" in result.out


def test_a_second_identical_run_is_unchanged_and_writes_no_backup(tmp_path: Path):
    path = tmp_path / ".vscode" / "mcp.json"
    first = run_install("--client", "vscode", cwd=tmp_path)
    assert first.code == 0, first.both
    before = path.read_bytes()
    stamp = path.stat().st_mtime_ns

    second = run_install("--client", "vscode", cwd=tmp_path)
    assert second.code == 0, second.both
    assert f"unchanged {path}" in second.out
    assert path.read_bytes() == before and path.stat().st_mtime_ns == stamp
    assert files_in(path.parent) == {"mcp.json"}


def test_dry_run_prints_the_json_and_writes_nothing(tmp_path: Path):
    env = linux_env(tmp_path)
    result = run_install("--client", "claude-desktop", "--dry-run", env=env, cwd=tmp_path)
    assert result.code == 0, result.both
    assert json.loads(result.out) == server_entry("claude-desktop", workspace=tmp_path)
    assert "dry run: would create" in result.err
    assert not (tmp_path / "xdg").exists()

    path = tmp_path / "xdg" / "Claude" / "claude_desktop_config.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"mcpServers": OTHERS}))
    before = path.read_bytes()
    result = run_install("--client", "claude-desktop", "--dry-run", env=env, cwd=tmp_path)
    assert result.code == 0, result.both
    assert json.loads(result.out)["mcpServers"] == {
        **OTHERS,
        "proxima": expected_proxima("claude-desktop", tmp_path),
    }
    assert "would update" in result.err and "would back up" in result.err
    assert path.read_bytes() == before
    assert files_in(path.parent) == {"claude_desktop_config.json"}


def test_json_output_is_one_document(tmp_path: Path):
    path = tmp_path / "custom" / "servers.json"
    result = run_install("--client", "claude-code", "--path", str(path), "--json")
    assert result.code == 0, result.both
    report = json.loads(result.out)
    assert report["client"] == "claude-code"
    assert report["path"] == str(path)
    assert report["action"] == "created" and report["backup"] is None and report["dry_run"] is False
    assert json.loads(report["content"]) == json.loads(path.read_text())


# --- refusals and failures -----------------------------------------------------------------------------------


def test_invalid_json_is_refused_with_line_and_column_and_left_untouched(tmp_path: Path):
    path = tmp_path / ".mcp.json"
    path.write_text('{\n  "mcpServers": {\n    "a": {"command": "x",}\n  }\n}\n')
    before = path.read_bytes()
    result = run_via_main("--client", "claude-code", "--path", str(path))
    assert result.code == 3, result.both
    assert "Traceback" not in result.both
    assert "CONFIG_INVALID" in result.err
    assert "line 3, column 26" in result.err
    assert "move it aside" in result.err
    assert path.read_bytes() == before
    assert files_in(tmp_path) == {".mcp.json"}

    as_json = run_via_main("--client", "claude-code", "--path", str(path), "--json")
    error = json.loads(as_json.out)["error"]
    assert error["code"] == "CONFIG_INVALID"
    assert (error["context"]["line"], error["context"]["column"]) == (3, 26)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("[1, 2]", "holds a JSON list"), ('{"mcpServers": ["proxima"]}', '"mcpServers" in')],
)
def test_a_file_of_the_wrong_shape_is_refused(tmp_path: Path, text: str, fragment: str):
    path = tmp_path / "claude_desktop_config.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=fragment):
        install("claude-desktop", path=path)
    assert path.read_text() == text
    assert files_in(tmp_path) == {"claude_desktop_config.json"}


def test_vscode_jsonc_with_comments_is_merged(tmp_path: Path):
    path = tmp_path / ".vscode" / "mcp.json"
    path.parent.mkdir()
    path.write_text(
        "// servers for this workspace\n"
        "{\n"
        '  "inputs": [{"id": "key", "type": "promptString", "description": "a // not a comment",},],\n'
        "  /* the docs server */\n"
        '  "servers": {\n'
        '    "docs": {"type": "http", "url": "https://example.com//mcp/*x*/"}, // trailing\n'
        "  },\n"
        "}\n"
    )
    result = run_install("--client", "vscode", cwd=tmp_path)
    assert result.code == 0, result.both
    data = json.loads(path.read_text())
    assert data["inputs"] == [{"id": "key", "type": "promptString", "description": "a // not a comment"}]
    assert data["servers"]["docs"] == {"type": "http", "url": "https://example.com//mcp/*x*/"}
    assert data["servers"]["proxima"] == expected_proxima("vscode", tmp_path)
    assert "comments" in result.out  # the note says they were not kept
    assert path.with_name("mcp.json.bak").read_text().startswith("// servers for this workspace")


def test_strip_jsonc_keeps_strings_and_positions():
    text = '{"a": "x // y /* z */", // c\n "b": [1, 2,], /* multi\nline */ "c": "\\"//\\"",\n}'
    stripped = strip_jsonc(text)
    assert len(stripped) == len(text) and stripped.count("\n") == text.count("\n")
    assert json.loads(stripped) == {"a": "x // y /* z */", "b": [1, 2], "c": '"//"'}
    assert strip_jsonc('{"a": 1 /* open') == '{"a": 1 /* open'  # left for the parser to report


def test_comments_are_not_accepted_for_claude_desktop(tmp_path: Path):
    path = tmp_path / "claude_desktop_config.json"
    path.write_text('{\n  // a comment\n  "mcpServers": {}\n}\n')
    with pytest.raises(ConfigError, match="line 2, column 3"):
        install("claude-desktop", path=path)


def test_broken_jsonc_reports_the_original_position(tmp_path: Path):
    path = tmp_path / "mcp.json"
    path.write_text('{\n  // fine\n  "servers": {"a" 1}\n}\n')
    with pytest.raises(ConfigError, match="line 3, column 19") as info:
        install("vscode", path=path)
    assert info.value.context["line"] == 3


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores folder permissions")
def test_an_unwritable_folder_is_an_output_error(tmp_path: Path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        result = run_via_main("--client", "vscode", "--path", str(folder / "mcp.json"))
        assert result.code == 6, result.both
        assert "OUTPUT_FAILED" in result.err and "writable" in result.err
        assert "Traceback" not in result.both
        assert files_in(folder) == set()
    finally:
        folder.chmod(0o700)


def test_a_permission_error_is_an_output_error_with_a_hint(tmp_path: Path, monkeypatch):
    """The same refusal as above, for runs as root (which folder permissions do not stop)."""

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(install_module.os, "open", denied)
    with pytest.raises(OutputError, match="Permission denied") as info:
        install("vscode", path=tmp_path / "mcp.json")
    assert info.value.exit_code == 6 and "--path" in (info.value.hint or "")
    assert files_in(tmp_path) == set()


def test_a_folder_that_cannot_be_created_is_an_output_error(tmp_path: Path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(OutputError) as info:
        install("vscode", path=blocker / ".vscode" / "mcp.json")
    assert info.value.hint and "writable" in info.value.hint
    result = run_via_main("--client", "vscode", "--path", str(blocker / ".vscode" / "mcp.json"))
    assert result.code == 6 and "OUTPUT_FAILED" in result.err, result.both


def test_a_failed_write_leaves_the_old_file_whole(tmp_path: Path, monkeypatch):
    path = tmp_path / ".mcp.json"
    path.write_text(json.dumps({"mcpServers": OTHERS}))
    before = path.read_bytes()

    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(install_module.os, "replace", fail)
    with pytest.raises(OutputError, match="No space left"):
        install("claude-code", path=path)
    assert path.read_bytes() == before
    assert files_in(tmp_path) == {".mcp.json", ".mcp.json.bak"}  # the backup, and no temporary file


def test_permissions_and_symlinks_are_kept(tmp_path: Path):
    real = tmp_path / "dotfiles" / "claude_desktop_config.json"
    real.parent.mkdir()
    real.write_text(json.dumps({"mcpServers": OTHERS}))
    real.chmod(0o600)
    link = tmp_path / "claude_desktop_config.json"
    link.symlink_to(real)
    report = install("claude-desktop", path=link)
    assert link.is_symlink() and report.path == real
    assert real.stat().st_mode & 0o777 == 0o600
    assert json.loads(link.read_text())["mcpServers"]["proxima"] == expected_proxima("claude-desktop")


def test_an_empty_file_is_filled(tmp_path: Path):
    path = tmp_path / ".mcp.json"
    path.write_text("\n")
    report = install("claude-code", path=path)
    assert report.action == "updated" and report.backup == path.with_name(".mcp.json.bak")
    assert json.loads(path.read_text()) == server_entry("claude-code")


def test_library_reports_match_what_was_written(tmp_path: Path):
    path = tmp_path / "mcp.json"
    command = ["/abs/bin/proxima", "mcp"]
    dry = install("vscode", path=path, command=command, dry_run=True)
    assert (dry.action, dry.dry_run, dry.backup) == ("created", True, None) and not path.exists()
    done = install("vscode", path=path, command=command)
    assert done.content == path.read_text() == dry.content
    again = install("vscode", path=path, command=command)
    assert (again.action, again.backup) == ("unchanged", None)
    moved = install("vscode", path=path, command=["/new/bin/proxima", "mcp"])
    assert (moved.action, moved.replaced) == ("updated", True)


# --- the click command's surface ----------------------------------------------------------------------------


def test_click_options():
    runner = CliRunner()
    help_text = runner.invoke(install_command, ["--help"]).output
    for option in ("--client", "--dry-run", "--path", "--workspace", "--json", *CLIENTS):
        assert option in help_text
    missing = runner.invoke(install_command, [])
    assert missing.exit_code == 2 and "--client" in missing.output
    wrong = runner.invoke(install_command, ["--client", "cursor"])
    assert wrong.exit_code == 2 and "claude-desktop" in wrong.output


def test_click_command_in_process(tmp_path: Path):
    path = tmp_path / "mcp.json"
    result = CliRunner().invoke(install_command, ["--client", "vscode", "--path", str(path)])
    assert result.exit_code == 0, result.output
    assert f"created {path}" in result.output and "MCP: List Servers" in result.output


# --- the ready-made files and the docs ----------------------------------------------------------------------


def test_every_file_in_dot_mcp_is_valid_json():
    files = sorted(MCP_DIR.glob("*.json"))
    assert {p.name for p in files} == {
        "claude_desktop_config.json",
        "claude_code.mcp.json",
        "vscode.mcp.json",
        "server.json",
    }
    for path in files:
        json.loads(path.read_text())


@pytest.mark.parametrize(
    ("name", "client"),
    [
        ("claude_desktop_config.json", "claude-desktop"),
        ("claude_code.mcp.json", "claude-code"),
        ("vscode.mcp.json", "vscode"),
    ],
)
def test_ready_made_configs_are_the_installer_entry_with_the_plain_command(name: str, client: str):
    assert json.loads((MCP_DIR / name).read_text()) == server_entry(client, command=["proxima", "mcp"])


def test_server_json_matches_the_package():
    manifest = json.loads((MCP_DIR / "server.json").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert manifest["$schema"].startswith("https://static.modelcontextprotocol.io/schemas/")
    assert re.fullmatch(r"[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+", manifest["name"])
    assert manifest["name"].startswith("io.github.")
    assert 1 <= len(manifest["description"]) <= 100  # the registry's limit
    assert manifest["version"] == proxima_agent.__version__
    (package,) = manifest["packages"]
    assert package["registryType"] == "pypi"
    assert package["identifier"] == project["name"]
    assert package["version"] == proxima_agent.__version__
    assert package["transport"] == {"type": "stdio"}
    assert [a["value"] for a in package["packageArguments"]] == ["mcp"]


def test_docs_json_blocks_are_the_ready_made_files():
    text = (ROOT / "docs" / "mcp-clients.md").read_text()
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", text, re.DOTALL)]
    for name in ("claude_desktop_config.json", "claude_code.mcp.json", "vscode.mcp.json"):
        assert json.loads((MCP_DIR / name).read_text()) in blocks, name
    assert "proxima mcp install --client claude-desktop" in text
    assert "claude mcp list" in text and "MCP: List Servers" in text


def test_a_relative_path_is_reported_absolute(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    report = install("vscode", path=Path("conf") / "mcp.json")
    assert report.path == tmp_path / "conf" / "mcp.json" and report.path.is_file()


# --- the pinned workspace ---------------------------------------------------------------------------------------


def test_the_workspace_is_pinned_by_absolute_path_and_must_exist(tmp_path: Path):
    (tmp_path / "project" / "circuits").mkdir(parents=True)
    path = tmp_path / "mcp.json"
    given = run_install("--client", "vscode", "--path", str(path), "--workspace", "circuits",
                        cwd=tmp_path / "project")  # fmt: skip
    assert given.code == 0, given.both
    args = json.loads(path.read_text())["servers"]["proxima"]["args"]
    assert args == ["mcp", "--workspace", str((tmp_path / "project" / "circuits").resolve())]
    assert f"--workspace {(tmp_path / 'project' / 'circuits').resolve()}" in given.out

    before = path.read_bytes()
    missing = run_via_main("--client", "vscode", "--path", str(path), "--workspace", str(tmp_path / "nope"))
    assert missing.code == 3 and "OPTION_INVALID" in missing.err and "not a folder" in missing.err
    assert "Traceback" not in missing.both and path.read_bytes() == before
    assert (
        install("vscode", path=tmp_path / "plain.json").content
        == json.dumps(server_entry("vscode"), indent=2) + "\n"
    )  # the library pins nothing unless asked


def test_the_installed_server_keeps_its_workspace_wherever_the_client_starts_it(tmp_path: Path):
    """The entry as written, started as a client starts it, from another folder (Claude Desktop uses `/`):
    relative paths resolve in the pinned workspace, and a path outside it is refused."""
    from mcp import Client, StdioServerParameters

    from tests.mcp_helpers import Checked, run

    workspace, elsewhere = tmp_path / "ws", tmp_path / "elsewhere"
    workspace.mkdir()
    elsewhere.mkdir()
    qasm = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[3];\nh q[0];\n'
    (workspace / "three.qasm").write_text(qasm)
    (elsewhere / "three.qasm").write_text(qasm.replace("q[3]", "q[5]"))
    (tmp_path / "outside.qasm").write_text(qasm)
    path = tmp_path / ".mcp.json"
    done = run_install("--client", "claude-code", "--path", str(path), "--workspace", str(workspace))
    assert done.code == 0, done.both
    entry = json.loads(path.read_text())["mcpServers"]["proxima"]

    async def main():
        params = StdioServerParameters(command=entry["command"], args=entry["args"], cwd=elsewhere,
                                       env=dict(os.environ))  # fmt: skip
        async with Client(params) as client:
            checked = Checked(client)
            described = await checked.ok("describe_circuit", {"circuit": "three.qasm"})
            refused = await checked.error("describe_circuit", {"circuit": "../outside.qasm"})
            return described, refused

    described, refused = run(main())
    assert described["num_qubits"] == 3  # the workspace's file, not the one in the folder it started in
    assert refused["code"] == "FILE_UNREADABLE" and str(workspace.resolve()) in refused["message"]
