"""`hiretrack reminders run`: the hourly cron job behind digests and automatic check-ins."""

from datetime import date, datetime

import click

from hiretrack.cadence.reminders import (
    DIGEST_KIND_LABELS,
    DigestKind,
    ReminderPlan,
    execute_plan,
    plan_reminders,
)
from hiretrack.cadence.stored import open_application_count, recompute_stored_cadence
from hiretrack.cadence.upkeep import prepare_run
from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.messages.requisition_counts import recount as recount_message_counts
from hiretrack.requisitions.closure_pending import recount as recount_closure_pending


@click.group("reminders", help="Daily digests for managers and hold owners, and check-ins.")
def reminders_group() -> None:
    pass


def plan_rows(plan: ReminderPlan) -> list[tuple[str, str, str, str]]:
    """The dry-run table: what would go to whom, and whether it already went today."""
    rows = []
    for check_in in plan.check_ins:
        state = (
            "already sent today"
            if check_in.manager.id in plan.check_ins_already_sent_for
            else "would send"
        )
        rows.append(
            (
                DIGEST_KIND_LABELS[DigestKind.AUTO_CHECK_IN],
                f"{check_in.candidate_name} (application {check_in.application_id})",
                f"check-in ({check_in.status.value}) from {check_in.manager.name}",
                state,
            )
        )
    for digest in plan.digests:
        recipient = f"{digest.recipient.name} <{digest.recipient.email}>"
        state = "already sent today" if digest.already_sent else "would send"
        rows.append((DIGEST_KIND_LABELS[digest.kind], recipient, digest.summary(), state))
    return rows


def echo_table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    """Print rows as aligned columns under a header."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        click.echo(
            "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        )


def _echo_dry_run(plan: ReminderPlan) -> None:
    click.echo(f"Dry run for {plan.today.isoformat()}: nothing was sent or recorded.")
    rows = plan_rows(plan)
    if rows:
        echo_table(rows, ("WHAT", "TO", "CONTENT", "STATE"))
    else:
        click.echo("Nothing is due: no digests or check-ins would be sent.")
    click.echo(
        f"Would record {plan.broken_promises} broken promise(s) and flag "
        f"{plan.newly_ghosted} newly ghosted application(s)."
    )


@reminders_group.command("run")
@click.option(
    "--dry-run", is_flag=True, help="Print what would be sent as a table; change nothing."
)
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Run as of this date (YYYY-MM-DD) instead of today (UTC), e.g. to catch up a missed day.",
)
@click.option("--quiet", is_flag=True, help="Print nothing unless there is a problem (for cron).")
def run_command(dry_run: bool, today: datetime | None, quiet: bool) -> None:
    """Send today's digests and automatic check-ins; safe to run every hour on several hosts."""
    day: date = today.date() if today else utcnow().date()
    if dry_run:
        _echo_dry_run(plan_reminders(day))
        return
    broken, ghosted = prepare_run(day)
    plan = plan_reminders(day, count_updates=False)
    if quiet or not plan.work_units:
        report = execute_plan(plan)
    else:
        with click.progressbar(length=plan.work_units, label="Sending reminders") as bar:
            report = execute_plan(plan, bar.update)
    report.broken_promises, report.newly_ghosted = broken, ghosted
    if report.problems or not quiet:
        click.echo(report.summary(day))
    if report.problems:
        raise SystemExit(1)


@click.group("cadence", help="The cadence dates stored on each open application.")
def cadence_group() -> None:
    pass


@cadence_group.command("recompute")
@click.option("--quiet", is_flag=True, help="Print nothing unless there is a problem.")
def recompute_command(quiet: bool) -> None:
    """Recompute every open application's stored cadence dates, and the counts kept from them.

    Needed after a cadence or holiday setting changed outside the settings page (e.g.
    HIRETRACK_HOLIDAYS in the environment); safe to run at any time: only rows that differ are
    written.
    """
    if quiet:
        checked, rewritten = recompute_stored_cadence(db.session)
    else:
        total = open_application_count(db.session)
        with click.progressbar(length=total, label="Recomputing cadence dates") as bar:
            checked, rewritten = recompute_stored_cadence(db.session, progress=bar.update)
    # The other figures kept for the dashboards' counts.
    recount_closure_pending(db.session)
    recount_message_counts(db.session)
    db.session.commit()
    if not quiet:
        click.echo(f"Checked {checked} open application(s); rewrote {rewritten}.")


COMMANDS = [reminders_group, cadence_group]
