"""The `proxima` command: thin; it parses arguments, calls the layers and renders. Errors become a message with
a hint and a documented exit code (docs/errors.md); tracebacks go to the log file, never to the terminal.

The group and the entry point live here; the commands live in one module per command group, registered below in
one place. Command modules import nothing heavy at the top (simulators, numpy, LLM SDKs are imported inside the
commands), so that `proxima --help` starts fast."""

from __future__ import annotations

import sys

import click

from proxima_agent import __version__
from proxima_agent.cli.common import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    Reported,
    cli_step,
    log,
    plain_error,
    report,
)
from proxima_agent.errors import ProximaError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="proxima")
def cli() -> None:
    """Proxima: simulate quantum circuits on the right simulator, with real numbers.

    Circuits are library names (bell, ghz:5, qft:12, random:10:20:7, grover:4, w:5, qaoa:6:2; see
    `proxima circuits`) or OpenQASM 2/3 files.
    """


# --- the commands: each module lists its own in COMMANDS; a new command group is a module added here -----------

from proxima_agent.cli import agent, circuits, jobs, maintenance, mcp, run, sessions  # noqa: E402

COMMAND_MODULES = (agent, circuits, run, jobs, maintenance, mcp, sessions)

for _module in COMMAND_MODULES:
    for _command in _module.COMMANDS:
        cli.add_command(_command)

# ----------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Entry point: exit codes 0 ok, 1 internal error, 2 usage, 3 bad input, 4 backend, 5 resources, 6 output,
    7 aborted, 8 model failed, 130 interrupted. With --json every failure also prints its JSON error document on stdout."""
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args
    log_path = None
    try:
        from proxima_agent.logs import setup_logging

        log_path = setup_logging()
        code = cli.main(args=args, prog_name="proxima", standalone_mode=False)
        return code if isinstance(code, int) else 0  # a command's click Exit(N) comes back as N
    except Reported as done:
        log.info("error %s: %s", done.error.code, done.error.message)
        report(done.error, as_json=False)
        return done.error.exit_code
    except ProximaError as exc:
        log.info("error %s: %s", exc.code, exc.message, exc_info=True)
        report(exc, as_json)
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        plain_error("INTERRUPTED", "interrupted", None, as_json)
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        usage = isinstance(exc, click.UsageError)
        hint = None
        if usage and exc.ctx is not None:  # type: ignore[attr-defined]
            hint = f"`{exc.ctx.command_path} --help` lists the arguments and options"  # type: ignore[attr-defined]
        plain_error("USAGE" if usage else "PROXIMA_ERROR", exc.format_message(), hint, as_json)
        exc.show()
        return EXIT_USAGE if usage else exc.exit_code
    except Exception as exc:
        log.exception("internal error")
        where = f" (details in {log_path})" if log_path else ""
        message = f"internal error: {type(exc).__name__}: {exc}"
        plain_error("PROXIMA_ERROR", message, f"a bug: please report it{where}", as_json)
        click.echo(f"{message}{where}", err=True)
        return EXIT_INTERNAL


def entry() -> None:
    sys.exit(main())


__all__ = ["cli", "cli_step", "entry", "main"]
