"""Register Proxima's MCP server with a client: Claude Desktop, Claude Code or VS Code.

GUI clients (Claude Desktop above all) start servers without the shell's PATH or virtual environment, so the
entry written here names the absolute path of this installation's `proxima` script; and in a folder of their
choosing (Claude Desktop: `/`), so it pins the workspace (`--workspace ABSOLUTE_PATH`): the folder that file
paths must stay inside is the one chosen at install time, not wherever the client starts the server. The client's file is
merged, never rewritten blindly: every other key and server is kept, the old file is copied to a backup
first, the new one is written atomically, and a file that cannot be parsed is left alone with an error that
says where it is broken.

Only click, pydantic and the standard library are imported, so `proxima mcp install` starts fast.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

import click
from pydantic import BaseModel, ConfigDict

from proxima_agent.errors import ConfigError, FileReadError, OptionError, OutputError
from proxima_agent.paths import write_text_atomically

Client = Literal["claude-desktop", "claude-code", "vscode"]
CLIENTS: tuple[str, ...] = get_args(Client)
SERVER_NAME = "proxima"

CLIENT_TITLES: dict[str, str] = {
    "claude-desktop": "Claude Desktop",
    "claude-code": "Claude Code",
    "vscode": "VS Code",
}

# Where each client keeps its servers, and under which key. Sources (checked when this was written):
# - Claude Desktop: claude_desktop_config.json, top-level "mcpServers" of {"command", "args", "env"}, in
#   ~/Library/Application Support/Claude/ on macOS and %APPDATA%\Claude\ on Windows (MCP quickstart for users,
#   https://modelcontextprotocol.io/quickstart/user, as quoted by
#   https://raw.githubusercontent.com/confluentinc/mcp-confluent/master/docs/configuring-claude-desktop.md and
#   https://mcpbundles.com/blog/claude-desktop-mcp). Linux has no official build; the community builds
#   (https://github.com/aaddrick/claude-desktop-debian, docs/CONFIGURATION.md) read
#   ~/.config/Claude/claude_desktop_config.json, and installers resolve ~/.config through $XDG_CONFIG_HOME
#   (e.g. @sigyl-dev/cli src/lib/claude-config.ts on unpkg).
# - Claude Code: the project scope is .mcp.json in the project root, top-level "mcpServers"; stdio entries as
#   `claude mcp add` writes them are {"type": "stdio", "command", "args", "env"} ("type" defaults to stdio)
#   (https://code.claude.com/docs/en/mcp, via https://www.developersdigest.tech/mcp-servers/clients/claude-code
#   and https://www.mcpbundles.com/guides/claude-code).
# - VS Code: the workspace file is .vscode/mcp.json with a top-level "servers" object (and optional "inputs");
#   a stdio server needs "type": "stdio" and "command", "args" is optional
#   (https://code.visualstudio.com/docs/copilot/reference/mcp-configuration).
CLAUDE_DESKTOP_FILE = "claude_desktop_config.json"
SECTIONS: dict[str, str] = {"claude-desktop": "mcpServers", "claude-code": "mcpServers", "vscode": "servers"}


class InstallReport(BaseModel):
    """What `install` did (or, with dry_run, would do) to one client's configuration file."""

    model_config = ConfigDict(frozen=True)

    client: Client
    path: Path
    action: Literal["created", "updated", "unchanged"]  # created: the file is new; updated: it was changed
    replaced: bool = False  # an older "proxima" entry was replaced (action is then "updated")
    backup: Path | None = None  # copy of the old file (with dry_run: where it would go)
    content: str  # the file's JSON text after the install
    dry_run: bool = False
    notes: tuple[str, ...] = ()


def _is_windows(platform: str) -> bool:
    return platform == "win32" or platform == "cygwin"


def _home(platform: str, env: Mapping[str, str]) -> Path:
    for name in ("USERPROFILE", "HOME") if _is_windows(platform) else ("HOME",):
        if env.get(name):
            return Path(env[name])
    return Path.home()


def config_path(
    client: Client,
    *,
    platform: str = sys.platform,
    home: Path | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Path:
    """The file where CLIENT reads its MCP servers on PLATFORM (see the sources above SECTIONS).

    Claude Desktop's file is per user; Claude Code's `.mcp.json` and VS Code's `.vscode/mcp.json` belong to the
    project in CWD (the current folder unless given)."""
    env = os.environ if env is None else env
    if client == "claude-code":
        return (Path.cwd() if cwd is None else cwd) / ".mcp.json"
    if client == "vscode":
        return (Path.cwd() if cwd is None else cwd) / ".vscode" / "mcp.json"
    if client != "claude-desktop":
        raise OptionError(f"unknown MCP client {client!r}", hint=f"choose one of {', '.join(CLIENTS)}")
    home = _home(platform, env) if home is None else home
    if platform == "darwin":
        return home / "Library" / "Application Support" / "Claude" / CLAUDE_DESKTOP_FILE
    if _is_windows(platform):
        appdata = env.get("APPDATA")
        base = Path(appdata) if appdata else home / "AppData" / "Roaming"
        return base / "Claude" / CLAUDE_DESKTOP_FILE
    # Linux and other Unixes: $XDG_CONFIG_HOME, which the XDG spec says to ignore unless it is absolute.
    xdg = env.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".config"
    return base / "Claude" / CLAUDE_DESKTOP_FILE


def default_command(executable: str | None = None, *, platform: str = sys.platform) -> list[str]:
    """The command that starts this installation's server over stdio, with absolute paths.

    The `proxima` script next to the interpreter (in `Scripts\\` for a system-wide Windows Python), else the
    interpreter itself with `-m proxima_agent`. The interpreter path is made absolute but not resolved: a
    virtual environment's python is a symlink, and resolving it would leave the environment."""
    exe = Path(os.path.abspath(executable or sys.executable))
    name = "proxima.exe" if _is_windows(platform) else "proxima"
    folders = [exe.parent, exe.parent / "Scripts"] if _is_windows(platform) else [exe.parent]
    for folder in folders:
        if (folder / name).is_file():
            return [str(folder / name), "mcp"]
    return [str(exe), "-m", "proxima_agent", "mcp"]


def server_entry(
    client: Client, *, command: list[str] | None = None, workspace: Path | None = None
) -> dict[str, Any]:
    """The fragment to merge into CLIENT's file: its servers key holding the one "proxima" entry. With a
    WORKSPACE, the command ends with `--workspace ABSOLUTE_PATH`."""
    if client not in SECTIONS:
        raise OptionError(f"unknown MCP client {client!r}", hint=f"choose one of {', '.join(CLIENTS)}")
    command = default_command() if command is None else list(command)
    if not command or not command[0]:
        raise OptionError("the server command is empty", hint="give the program to run, then its arguments")
    if workspace is not None:
        command += ["--workspace", str(pinned_workspace(workspace))]
    entry: dict[str, Any] = {"command": command[0], "args": command[1:]}
    if client != "claude-desktop":
        entry = {"type": "stdio", **entry}
    return {SECTIONS[client]: {SERVER_NAME: entry}}


def pinned_workspace(workspace: Path) -> Path:
    """WORKSPACE as the entry names it: absolute, links resolved; it must be an existing folder."""
    path = Path(workspace).expanduser().resolve()
    if not path.is_dir():
        raise OptionError(
            f"the workspace {path} is not a folder",
            hint="give an existing folder with --workspace (the default is the current one)",
            path=str(path),
        )
    return path


def strip_jsonc(text: str) -> str:
    """TEXT with `//` and `/* */` comments and trailing commas blanked out, outside strings only.

    Comments become spaces (newlines are kept), so the line and column of any remaining error still point
    into the original text. An unterminated string or comment is left as it is for the JSON parser to report."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = _string_end(text, i)
            out.append(text[i:j])
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:  # unterminated: keep it, so the parser reports where it starts
                out.append(text[i:])
                break
            out.append("".join(c if c == "\n" else " " for c in text[i : j + 2]))
            i = j + 2
        else:
            out.append(ch)
            i += 1
    blanked = "".join(out)
    # Second pass, comments gone: a comma whose next non-blank character closes an object or array.
    chars = list(blanked)
    i = 0
    while i < n:
        ch = blanked[i]
        if ch == '"':
            i = _string_end(blanked, i)
            continue
        if ch == ",":
            j = i + 1
            while j < n and blanked[j] in " \t\r\n":
                j += 1
            if j < n and blanked[j] in "}]":
                chars[i] = " "
        i += 1
    return "".join(chars)


def _string_end(text: str, start: int) -> int:
    """Index just past the JSON string that opens at START (or the end of its line if it never closes)."""
    j, n = start + 1, len(text)
    while j < n:
        c = text[j]
        if c == "\\":
            j += 2
        elif c == '"':
            return j + 1
        elif c == "\n":
            return j
        else:
            j += 1
    return n


def _read_config(path: Path, client: Client) -> tuple[dict[str, Any], list[str]]:
    """The parsed object in PATH, and notes for the report. Refuses anything it would not dare rewrite."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FileReadError(
            f"cannot read {path}: {exc.strerror or exc}",
            hint="check the file's permissions, or pass --path to write another file",
            path=str(path),
        ) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {exc.start})",
            hint="fix the file or move it aside, then run the command again; it was not changed",
            path=str(path),
        ) from exc
    notes: list[str] = []
    if not text.strip():
        return {}, ["the file was empty"]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as first:
        error = first
        data = None
        if client == "vscode":  # VS Code reads mcp.json as JSON with comments
            try:
                data = json.loads(strip_jsonc(text))
                notes.append("comments and trailing commas in the old file were not kept (see the backup)")
            except json.JSONDecodeError as second:
                error = second
        if data is None:
            raise ConfigError(
                f"{path} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}",
                hint="fix the file or move it aside, then run the command again; it was not changed",
                path=str(path),
                line=error.lineno,
                column=error.colno,
            ) from error
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} holds a JSON {type(data).__name__}, not an object",
            hint="fix the file or move it aside, then run the command again; it was not changed",
            path=str(path),
        )
    section = SECTIONS[client]
    if section in data and not isinstance(data[section], dict):
        raise ConfigError(
            f'"{section}" in {path} is a JSON {type(data[section]).__name__}, not an object',
            hint="fix the file or move it aside, then run the command again; it was not changed",
            path=str(path),
        )
    return data, notes


def _backup_path(path: Path) -> Path:
    candidate = path.with_name(path.name + ".bak")
    number = 1
    while candidate.exists() or candidate.is_symlink():
        candidate = path.with_name(f"{path.name}.bak.{number}")
        number += 1
    return candidate


UNWRITABLE_HINT = (
    "check that the folder is writable (or pass --path to write elsewhere, or --dry-run to print it)"
)


def _unwritable(path: Path, exc: OSError, what: str) -> OutputError:
    return OutputError(
        f"cannot {what} {path}: {exc.strerror or exc}",
        hint=UNWRITABLE_HINT,
        path=str(path),
    )


def _write_atomically(path: Path, text: str, mode: int | None) -> None:
    write_text_atomically(path, text, mode, hint=UNWRITABLE_HINT)


def install(
    client: Client,
    *,
    dry_run: bool = False,
    path: Path | None = None,
    command: list[str] | None = None,
    workspace: Path | None = None,
) -> InstallReport:
    """Add (or replace) the "proxima" server in CLIENT's configuration file, keeping everything else.

    PATH overrides the client's usual file; COMMAND overrides the absolute `proxima mcp` of this installation;
    WORKSPACE, when given, is pinned in the entry (`--workspace ABSOLUTE_PATH`). With DRY_RUN nothing is
    written: the report holds the text that would be."""
    fragment = server_entry(client, command=command, workspace=workspace)
    section = SECTIONS[client]
    entry = fragment[section][SERVER_NAME]
    target = (Path(path).expanduser() if path is not None else config_path(client)).absolute()
    if target.is_symlink():  # keep a dotfile manager's link: write where it points
        target = target.resolve()
    if target.is_dir():
        raise OptionError(f"{target} is a folder, not a configuration file", hint="pass the file's path")

    notes: list[str] = []
    mode: int | None = None
    if target.exists():
        data, notes = _read_config(target, client)
        mode = target.stat().st_mode & 0o7777
        servers = data.get(section, {})
        replaced = SERVER_NAME in servers
        if replaced and servers[SERVER_NAME] == entry:
            return InstallReport(
                client=client,
                path=target,
                action="unchanged",
                content=target.read_text(encoding="utf-8-sig"),
                dry_run=dry_run,
                notes=("the proxima entry is already there",),
            )
        merged = dict(data)
        merged[section] = {**servers, SERVER_NAME: entry}  # an existing key keeps its place
        action: Literal["created", "updated"] = "updated"
        backup: Path | None = _backup_path(target)
    else:
        merged, replaced, action, backup = fragment, False, "created", None
    content = json.dumps(merged, indent=2, ensure_ascii=False) + "\n"

    if not dry_run:
        if backup is not None:
            try:
                shutil.copy2(target, backup)
            except OSError as exc:
                raise _unwritable(backup, exc, "back up the old file to") from exc
        _write_atomically(target, content, mode)
    return InstallReport(
        client=client,
        path=target,
        action=action,
        replaced=replaced,
        backup=backup,
        content=content,
        dry_run=dry_run,
        notes=tuple(notes),
    )


NEXT_STEPS: dict[str, str] = {
    "claude-desktop": "quit Claude Desktop completely and start it again; Proxima's tools then appear in a new chat",
    "claude-code": "run `claude mcp list` in this folder (Claude Code asks once to approve a project server)",
    "vscode": "run `MCP: List Servers` from the Command Palette and start proxima",
}


@click.command("install")
@click.option(
    "--client",
    type=click.Choice(CLIENTS),
    required=True,
    help="Which client to register with: claude-desktop (per user), claude-code (.mcp.json here), "
    "vscode (.vscode/mcp.json here).",
)
@click.option("--dry-run", is_flag=True, help="Print the JSON that would be written; change nothing.")
@click.option(
    "--path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write this configuration file instead of the client's usual one.",
)
@click.option(
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default="the current folder",
    help="The folder the server's file paths must stay inside, pinned in the entry as an absolute path.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document for machines.")
def install_command(client: Client, dry_run: bool, path: Path | None, workspace: Path, as_json: bool) -> None:
    """Register Proxima's MCP server (`proxima mcp --workspace FOLDER`, by absolute paths) with an MCP client.

    The client's file is merged: other servers and settings are kept, an older proxima entry is replaced,
    the old file is backed up to NAME.bak first. A file that is not valid JSON is never overwritten.
    """
    report = install(client, dry_run=dry_run, path=path, workspace=workspace)
    if as_json:
        click.echo(json.dumps(report.model_dump(mode="json"), indent=2))
        return
    if dry_run:
        verb = {"created": "create", "updated": "update", "unchanged": "leave unchanged"}[report.action]
        click.echo(f"dry run: would {verb} {report.path}", err=True)
        if report.backup is not None:
            click.echo(f"dry run: would back up the old file to {report.backup}", err=True)
        click.echo(report.content, nl=False)
        return
    entry = json.loads(report.content)[SECTIONS[client]][SERVER_NAME]
    what = " (replaced the older proxima entry)" if report.replaced else ""
    click.echo(f"{report.action} {report.path}{what}")
    click.echo(f"server: {SERVER_NAME} -> {shlex.join([entry['command'], *entry.get('args', [])])}")
    if report.backup is not None:
        click.echo(f"backup: {report.backup}")
    for note in report.notes:
        click.echo(f"note: {note}")
    click.echo(f"next: {NEXT_STEPS[client]}")
