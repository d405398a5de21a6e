"""`hiretrack inbox fetch`: read replies, automatic answers and bounces from an IMAP mailbox."""

import click
from flask import current_app
from flask.cli import with_appcontext

from hiretrack.inbound.imap import (
    FetchReport,
    MailboxSettingsRefused,
    MailboxUnavailable,
    fetch_once,
    run_fetcher,
)
from hiretrack.messages.cli import EXIT_SETTINGS_REFUSED, StopRequest, stop_on_signals


@click.group("inbox", help="Fetch inbound mail (replies, automatic answers, bounces).")
def inbox_group() -> None:
    pass


@inbox_group.command("fetch")
@click.option(
    "--once",
    is_flag=True,
    help="Read every message waiting now, print a summary and exit (for cron or a systemd "
    "timer). Exits with status 1 if the mailbox could not be used.",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=1),
    default=None,
    help="Seconds between passes over the mailbox. [default: HIRETRACK_IMAP_POLL_SECONDS, 60]",
)
@with_appcontext
def fetch_command(once: bool, poll_interval: float | None) -> None:
    """Record each new message of the IMAP mailbox once, then move or flag it.

    Safe to run from several hosts at once and to kill at any moment: a message is marked
    handled only after it is recorded, and recording it a second time changes nothing.
    SIGTERM or Ctrl+C stops the loop after the current message. The loop exits with status 78
    when the settings cannot work (missing, the login refused, no such folder).
    """
    stop = StopRequest()
    with stop_on_signals(stop):
        if once:
            try:
                report = fetch_once(stop=stop)
            except MailboxUnavailable as error:
                click.echo(f"Inbox: {error}", err=True)
                click.get_current_context().exit(1)
            click.echo(report.summary())
            return
        interval = poll_interval or float(current_app.config["IMAP_POLL_SECONDS"])
        click.echo(f"Fetching inbound mail; polling every {interval:g}s.")

        def show(report: FetchReport) -> None:
            if report.seen or report.failed:
                click.echo(report.summary())

        try:
            run_fetcher(poll_seconds=interval, stop=stop, on_report=show)
        except MailboxSettingsRefused as error:
            # Settings are read once, at start: only a restart with better ones can help.
            click.echo(f"Inbox: {error}", err=True)
            click.get_current_context().exit(EXIT_SETTINGS_REFUSED)


COMMANDS = [inbox_group]
