"""`proxima mcp`: serve Proxima's tools, resources and prompts over MCP (stdio or streamable HTTP; the
transport is chosen here, at the edge, and its imports stay in its branch), and `proxima mcp install`, which
registers the server with a client."""

from __future__ import annotations

from pathlib import Path

import click

from proxima_agent.cli.common import read_config
from proxima_agent.errors import OptionError
from proxima_agent.mcp.install import install_command


@click.group(invoke_without_command=True)
@click.option(
    "--transport", type=click.Choice(["stdio", "http"]), default="stdio", show_default=True,
    help="stdio for a client that starts the server (Claude Desktop, Claude Code, editors); http to serve.",
)  # fmt: skip
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="HTTP: address to bind (loopback only, unless a token is set).",
)
@click.option("--port", type=int, default=8765, show_default=True, help="HTTP: port.")
@click.option(
    "--token",
    envvar="PROXIMA_MCP_TOKEN",
    help="HTTP: bearer token clients must send (needed beyond loopback). Prefer the PROXIMA_MCP_TOKEN "
    "environment variable: an option is visible to every user in the process list.",
)
@click.option(
    "--allow-origin", "allow_origins", multiple=True, metavar="ORIGIN",
    help="HTTP: also accept browser requests from this origin (e.g. http://localhost:5173); by default only "
    "the server's own origin is.",
)  # fmt: skip
@click.option(
    "--workspace", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Folder that circuit and results file paths must stay inside (default: the current folder).",
)  # fmt: skip
@click.pass_context
def mcp(
    ctx: click.Context,
    transport: str,
    host: str,
    port: int,
    token: str | None,
    allow_origins: tuple[str, ...],
    workspace: Path | None,
) -> None:
    """Serve Proxima's tools, resources and prompts over MCP (stdio by default; `proxima mcp install` registers
    the server with a client). Nothing but protocol messages is written to stdout."""
    if ctx.invoked_subcommand is not None:
        return
    if transport == "stdio":
        # HTTP's options mean nothing on stdio: refused rather than ignored (a token in the environment is
        # not an option given, and is ignored here)
        flags = {"host": "--host", "port": "--port", "token": "--token", "allow_origins": "--allow-origin"}
        given = [
            flag
            for name, flag in flags.items()
            if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
        ]
        if given:
            raise OptionError(
                f"{', '.join(given)} only {'applies' if len(given) == 1 else 'apply'} to --transport http; "
                "this server speaks stdio",
                hint=f"add --transport http to serve over HTTP, or leave out {', '.join(given)}",
            )
    config = read_config()
    if transport == "stdio":
        from proxima_agent.mcp.server import run_stdio

        run_stdio(config, workspace)
    else:
        from proxima_agent.mcp.http import serve_http

        serve_http(config, workspace, host=host, port=port, token=token or None, allow_origins=allow_origins)


mcp.add_command(install_command)

COMMANDS: list[click.Command] = [mcp]
