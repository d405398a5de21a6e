"""`hiretrack retention run`, `hiretrack backup PATH` and `hiretrack restore PATH`: for cron and operators."""

from datetime import timedelta
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import func, select

from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.formatting import local_date
from hiretrack.ops import backup as backups
from hiretrack.ops.retention import (
    due_for_anonymisation,
    months_before,
    retention_cutoff,
    retention_months,
    run_retention,
)


@click.group("retention", help="Anonymise candidates once the retention period has passed.")
def retention_group() -> None:
    pass


@retention_group.command("run")
@click.option("--dry-run", is_flag=True, help="Only list who would be anonymised; change nothing.")
@with_appcontext
def retention_run_command(dry_run: bool) -> None:
    """Anonymise every candidate whose applications all closed over the retention period ago."""
    try:
        months = retention_months()
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    cutoff = retention_cutoff(months=months)
    click.echo(
        f"Retention period: {months} month(s); applications closed before "
        f"{local_date(cutoff)} are past it."
    )
    if dry_run:
        report = run_retention(dry_run=True)
        if not report.due:
            click.echo("Nobody is due for anonymisation.")
            return
        click.echo(
            f"{len(report.due)} candidate(s) would be anonymised (dry run, nothing changed):"
        )
        for candidate_id, name in report.due:
            click.echo(f"  #{candidate_id}  {name}")
        return
    total = db.session.scalar(
        select(func.count()).select_from(due_for_anonymisation(cutoff).order_by(None).subquery())
    )
    if not total:
        report = run_retention()
        click.echo("Nobody is due for anonymisation.")
    else:
        with click.progressbar(length=total, label=f"Anonymising {total} candidate(s)") as bar:
            report = run_retention(progress=bar.update)
        click.echo(f"Anonymised {len(report.anonymised)} candidate(s).")
    for candidate_id, why in report.skipped:
        click.echo(f"Skipped #{candidate_id} for now: {why}", err=True)
    if report.throttle_counters_purged:
        click.echo(
            f"Removed {report.throttle_counters_purged} expired sign-in and status-page "
            "throttle counter(s)."
        )
    if report.inbound_mail_erased:
        click.echo(
            f"Cleared the text of {report.inbound_mail_erased} unmatched or discarded inbound "
            "message(s) past the retention period."
        )
    if report.rate_limit_counters_purged:
        click.echo(
            f"Removed {report.rate_limit_counters_purged} expired API rate-limit counter(s)."
        )
    if report.idempotency_keys_purged:
        click.echo(
            f"Removed {report.idempotency_keys_purged} expired idempotency key(s) and the "
            "answers stored for them."
        )
    if not report.leftovers_erased:
        click.echo(
            "Warning: SQLite's write-ahead log could not be emptied (another process kept "
            "reading); erased values may stay in it until the next run.",
            err=True,
        )


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--prune",
    is_flag=True,
    help="Then delete the backups in the same folder older than the retention period.",
)
@click.option(
    "--keep-days",
    type=click.IntRange(min=1),
    help="With --prune: delete backups older than this many days instead.",
)
@with_appcontext
def backup_command(path: Path, prune: bool, keep_days: int | None) -> None:
    """Back up the database to a new file (SQLite online backup, or pg_dump -Fc)."""
    if keep_days is not None and not prune:
        raise click.UsageError("--keep-days goes with --prune.")
    try:
        months = retention_months() if prune else 0
        result = backups.backup(path)
    except (backups.BackupError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Backed up the {result.kind} database to {result.path} ({result.size:,} bytes).")
    if prune:
        now = utcnow()
        cutoff = now - timedelta(days=keep_days) if keep_days else months_before(now, months)
        period = f"{keep_days} day(s)" if keep_days else f"{months} month(s), the retention period"
        pruned = backups.prune_backups(result.path.parent, cutoff, keep=result.path)
        for old in pruned:
            click.echo(f"Deleted {old} (older than {period}).")
        if not pruned:
            click.echo(f"No backup there is older than {period}.")


@click.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (for scripts).")
@click.option(
    "--force",
    is_flag=True,
    help="Restore even while the app or a worker uses the database (their writes may be lost).",
)
@with_appcontext
def restore_command(path: Path, yes: bool, force: bool) -> None:
    """Replace the whole database with a backup made by `hiretrack backup`.

    Refused while the web app, a delivery worker or another command uses the database.
    """
    if not path.is_file():
        raise click.ClickException(f"There is no backup file at {path}.")
    if not yes:
        click.confirm(
            f"This replaces EVERYTHING in the database with the contents of {path}. Continue?",
            abort=True,
        )
    try:
        kind = backups.restore(path, force=force, warn=lambda line: click.echo(line, err=True))
    except backups.BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Restored the {kind} database from {path}.")


COMMANDS = [retention_group, backup_command, restore_command]
