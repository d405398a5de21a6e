"""`hiretrack outbox ...`: deliver queued email, see where the outbox stands, retry a message."""

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import click
from flask.cli import with_appcontext
from sqlalchemy import true

from hiretrack.database import utcnow
from hiretrack.errors import DomainError
from hiretrack.extensions import db
from hiretrack.messages import after_delivery, delivery
from hiretrack.messages.models import OutboxEmail, OutboxStatus

#: How many failed or unconfirmed messages `outbox status` lists.
ATTENTION_LIMIT = 20
#: The worker loop's exit status when the mail server refuses the login (sysexits' EX_CONFIG);
#: hiretrack-mail@.service does not restart on it.
EXIT_SETTINGS_REFUSED = 78
#: A due message older than this suggests that no worker is running.
STALE_QUEUE_AGE = timedelta(minutes=5)

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@click.group("outbox", help="Deliver queued email and inspect the outbox.")
def outbox_group() -> None:
    pass


class StopRequest(threading.Event):
    """An event a signal handler can set without risking a deadlock.

    The handler runs in the main thread, which may be inside `wait()` holding the event's
    non-reentrant lock; so the handler only flips a flag (seen at once by `is_set`) and leaves
    waking the sleeper to another thread.
    """

    def __init__(self) -> None:
        super().__init__()
        self.requested_by: str | None = None

    def is_set(self) -> bool:
        return self.requested_by is not None or super().is_set()

    def request_from_signal(self, name: str) -> None:
        """Ask the loop to stop; called from a signal handler."""
        self.requested_by = name
        threading.Thread(target=self._announce_and_wake, daemon=True).start()

    def _announce_and_wake(self) -> None:
        click.echo(f"{self.requested_by}: stopping after the current message.", err=True)
        self.set()


@contextmanager
def stop_on_signals(stop: StopRequest) -> Iterator[None]:
    """Turn SIGTERM and SIGINT into a request to stop once the current message is recorded.

    Dying mid-send would leave the claimed messages unconfirmed for a person to check;
    finishing takes one SMTP exchange and one commit, which also gives back the messages not
    reached. A second signal acts as usual (Ctrl+C twice quits now).
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be installed from the main thread
        return

    def request_stop(signum: int, frame: object) -> None:
        restore()
        stop.request_from_signal(signal.Signals(signum).name)

    previous = {number: signal.signal(number, request_stop) for number in _STOP_SIGNALS}

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)

    try:
        yield
    finally:
        restore()


def _drain_with_progress(
    worker_id: str, batch_size: int, stop: threading.Event
) -> delivery.DeliveryReport:
    """Drain the outbox, with a progress bar when it will take more than one batch."""
    due = after_delivery.due_count()
    if due <= batch_size:
        return delivery.drain(worker_id, batch_size, stop=stop)
    with click.progressbar(length=due, label=f"Delivering {due} messages") as bar:
        return delivery.drain(
            worker_id, batch_size, stop=stop, on_batch=lambda report: bar.update(report.attempted)
        )


@outbox_group.command("deliver")
@click.option(
    "--once",
    is_flag=True,
    help="Deliver everything due now, print a summary and exit (for cron or a systemd timer). "
    "Exits with status 1 if the mail server could not be used.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Messages per batch; one SMTP connection is reused within a batch. Messages are "
    "claimed HIRETRACK_DELIVERY_CLAIM_SIZE at a time within it.",
)
@click.option(
    "--worker-id",
    default=None,
    help="Name recorded on the messages this worker claims. [default: <hostname>-<pid>]",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds to wait when nothing is due, or after the mail server was unavailable.",
)
@with_appcontext
def deliver_command(
    once: bool, batch_size: int, worker_id: str | None, poll_interval: float
) -> None:
    """Deliver queued email: as a worker loop, or with --once until nothing is due.

    Several workers may run at once on PostgreSQL. SIGTERM or Ctrl+C stops a worker cleanly
    after the message it is sending. A worker whose login the server refuses exits with 78.
    """
    worker_id = (worker_id or delivery.default_worker_id())[:100]
    stop = StopRequest()
    with stop_on_signals(stop):
        if once:
            report = _drain_with_progress(worker_id, batch_size, stop)
        else:
            click.echo(f"Worker {worker_id} delivering; polling every {poll_interval:g}s.")
            report = delivery.run_worker(
                worker_id, batch_size=batch_size, poll_interval=poll_interval, stop=stop
            )
    click.echo(report.summary())
    if once and report.backend_error:
        click.get_current_context().exit(1)
    if report.backend_refused:
        # The settings are read once, at start: only a restart with better ones can help.
        click.get_current_context().exit(EXIT_SETTINGS_REFUSED)


def _age(duration: timedelta) -> str:
    """A duration a person reads at a glance: 45s, 12m, 3h 20m, 2d 4h."""
    seconds = max(int(duration.total_seconds()), 0)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m" if minutes else f"{seconds}s"


def _echo_attention(rows: list[OutboxEmail]) -> None:
    """List the messages a person must look at, with what went wrong."""
    click.echo("\nNeeds attention (retry with `hiretrack outbox retry --id N`):")
    for row in rows:
        error = (row.last_error or "").splitlines()[0] if row.last_error else ""
        click.echo(f"  #{row.id} {row.status:<11} to {row.to_address}: {row.subject[:60]}")
        if error:
            click.echo(f"      {error[:160]}")


@outbox_group.command("status")
@with_appcontext
def status_command() -> None:
    """Show how many messages are in each state and how long the oldest due one has waited."""
    now = utcnow()
    summary = after_delivery.outbox_summary(now)
    for status, count in summary.counts.items():
        click.echo(f"{status:<12} {count}")
    if summary.oldest_due_at is not None:
        waited = now - summary.oldest_due_at
        hint = " Is a worker running?" if waited > STALE_QUEUE_AGE else ""
        click.echo(f"\n{summary.due_now} due now; the oldest has waited {_age(waited)}.{hint}")
    else:
        click.echo("\nNothing is waiting to be sent.")
    attention = list(
        db.session.scalars(after_delivery.failed_deliveries(true()).limit(ATTENTION_LIMIT))
    )
    if attention:
        _echo_attention(attention)


def _load(outbox_id: int) -> OutboxEmail:
    outbox = db.session.get(OutboxEmail, outbox_id)
    if outbox is None:
        raise click.ClickException(f"There is no outbox message {outbox_id}.")
    return outbox


@outbox_group.command("retry")
@click.option("--id", "outbox_id", type=int, required=True, help="The outbox message's id.")
@with_appcontext
def retry_command(outbox_id: int) -> None:
    """Queue a failed or unconfirmed message again, to the recipient's current address.

    An unconfirmed message may already have arrived: check first, or use `mark-sent`.
    """
    outbox = _load(outbox_id)
    was_unconfirmed = outbox.status == OutboxStatus.UNCONFIRMED
    try:
        after_delivery.requeue(outbox, actor=None)
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    kept = "same Message-ID" if was_unconfirmed else "new Message-ID"
    click.echo(f"Queued message {outbox.id} again for {outbox.to_address} ({kept}).")


@outbox_group.command("mark-sent")
@click.option("--id", "outbox_id", type=int, required=True, help="The outbox message's id.")
@with_appcontext
def mark_sent_command(outbox_id: int) -> None:
    """Record that an unconfirmed message did arrive (after checking), so it is never resent."""
    outbox = _load(outbox_id)
    try:
        after_delivery.mark_unconfirmed_as_sent(outbox)
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    click.echo(f"Marked message {outbox.id} as sent.")


COMMANDS = [outbox_group]
