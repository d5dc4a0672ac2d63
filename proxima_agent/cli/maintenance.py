"""Looking after the data directory: `proxima gc` frees the disk space that ended jobs' checkpoints and
result files hold, as engine.checkpoint_retention and `--older-than` say."""

from __future__ import annotations

from typing import Any

import click

from proxima_agent.cli.common import emit_json, json_option, read_config, with_store


@click.command()
@click.option(
    "--older-than", "older_than", type=click.FloatRange(min=0), default=None, metavar="DAYS",
    help="Also remove everything jobs that ended more than DAYS ago left: all their checkpoints and results.",
)  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@json_option
def gc(older_than: float | None, dry_run: bool, as_json: bool) -> None:
    """Free disk space: checkpoints of ended jobs beyond engine.checkpoint_retention, and with --older-than
    the checkpoints and result files of jobs that ended long ago. Running, paused and interrupted jobs, and
    jobs that can still be continued, keep theirs. Job records stay."""
    from proxima_agent.engine.gc import collect_garbage

    config = read_config()

    async def work(store: Any) -> Any:
        return await collect_garbage(
            store, config.engine.checkpoint_retention, older_than_days=older_than, dry_run=dry_run
        )

    report = with_store(work)
    if as_json:
        emit_json(report.model_dump() | {"bytes_freed": report.bytes_freed})
        return
    for item in report.removed:
        click.echo(f"{'would remove' if dry_run else 'removed'} {item.kind} of {item.job_id}: {item.files} "
                   f"files, {item.bytes} bytes ({item.path})")  # fmt: skip
    click.echo(report.summary())


COMMANDS: list[click.Command] = [gc]
