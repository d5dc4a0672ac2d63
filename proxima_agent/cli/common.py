"""What every command module of the CLI shares: JSON output, the configuration, the job store, the `--json`
option, and how errors are said to a terminal user (the hint's next steps as commands, the JSON error document
docs/errors.md promises). Nothing heavy is imported here: this module is loaded by `proxima --help`."""

from __future__ import annotations

import json
import logging
from typing import Any

import click

from proxima_agent.errors import ProximaError, Step

log = logging.getLogger("proxima_agent.cli")

EXIT_INTERNAL, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def read_config() -> Any:
    from proxima_agent.config import load_config

    return load_config()


def with_store(work: Any) -> Any:
    """Run `work(store)` on a freshly opened job store, and close it."""
    import asyncio

    from proxima_agent.store.db import Store

    async def main() -> Any:
        store = await Store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(main())


# --- errors, in the terminal's words ----------------------------------------------------------------------------

# A hint's next step (errors.Step, named as a tool call) said as the command a terminal user types.
_CLI_COMMANDS = {
    "list_backends": "proxima backends",
    "describe_circuit": "proxima describe {circuit}",
    "estimate_resources": "proxima estimate {circuit}",
    "select_backend": "proxima run {circuit}",
    "execute": "proxima run {circuit}",
    "list_jobs": "proxima jobs",
    "job_status": "proxima status {job_id}",
    "wait_job": "proxima status {job_id}",
    "resume": "proxima resume {job_id}",
    "abort": "proxima abort {job_id}",
    "checkpoint": "proxima checkpoint {job_id}",
    "rollback": "proxima rollback {job_id} {number}",
}
_CLI_FLAGS = {"force": "--force", "return_state": "--state", "backend": "--backend", "shots": "--shots",
              "seed": "--seed", "noise": "--noise"}  # fmt: skip


def cli_step(step: Step) -> str:
    if step.tool == "pause":
        suspend = step.args.get("mode") == "suspend"
        return f"proxima pause {step.args.get('job_id', 'JOB')}" + (" --suspend" if suspend else "")
    flags = []
    for name, value in step.args.items():
        flag = _CLI_FLAGS.get(name)
        if flag is None or step.tool is not None:
            continue
        if value is True:
            flags.append(flag)
        elif value is False:
            flags.append(f"without {flag}")
        else:
            flags.append(f"{flag} {value}")
    if step.tool is None:
        return " ".join(flags)
    form = _CLI_COMMANDS.get(step.tool, f"proxima {step.tool}")
    names = {name: str(step.args.get(name, name.upper())) for name in ("circuit", "job_id", "number")}
    return form.format(**names)


def report(exc: ProximaError, as_json: bool) -> None:
    from proxima_agent.ui.render import error_text, make_console

    if as_json:
        emit_json(error_document(exc))
    make_console(stderr=True).print(error_text(exc.code, exc.message, exc.hint_for(cli_step)), soft_wrap=True)


def error_document(exc: ProximaError) -> dict[str, Any]:
    """The JSON error document docs/errors.md promises, with the hint in the terminal's words."""
    return {"error": exc.to_dict() | {"hint": exc.hint_for(cli_step)}}


class Reported(Exception):
    """An error whose JSON document has been printed already (with the result it goes with)."""

    def __init__(self, error: ProximaError) -> None:
        super().__init__(error.message)
        self.error = error


def plain_error(code: str, message: str, hint: str | None, as_json: bool) -> None:
    """A failure that is not a ProximaError (usage, interruption, a bug): its JSON document under --json."""
    if as_json:
        emit_json({"error": {"code": code, "message": message, "hint": hint, "context": {}}})
