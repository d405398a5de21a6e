"""Deliver the outbox: claim one message, send it, record the result, then the next.

A row moves SCHEDULED -> QUEUED -> SENDING -> SENT, back to QUEUED with a backoff after a
temporary failure, or to FAILED after a permanent one. Each claim is committed before any SMTP
traffic and each result right after its send, so a worker that dies leaves at most one row in
SENDING; once its claim is older than the lease that row becomes UNCONFIRMED and waits for a
person, because it may already have reached the candidate. See docs/delivery.md.
"""

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import make_msgid
from threading import Event

from flask import current_app
from sqlalchemy import ColumnElement, Select, and_, func, or_, select, update
from sqlalchemy.orm.exc import StaleDataError

from hiretrack.audit.services import record_change
from hiretrack.auth.models import User
from hiretrack.candidates.models import Application, Touchpoint
from hiretrack.candidates.services import record_delivery
from hiretrack.database import utcnow
from hiretrack.errors import GuardrailRefused
from hiretrack.extensions import db
from hiretrack.messages.backends import (
    BackendUnavailable,
    DeliveryFailure,
    MailBackend,
    backend_for,
    build_envelope,
)
from hiretrack.messages.models import OutboxEmail, OutboxStatus
from hiretrack.messages.services import release_due_scheduled

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

FIRST_RETRY_DELAY = timedelta(minutes=1)
MAX_RETRY_DELAY = timedelta(hours=6)
#: With delays of 1, 2, 4 ... minutes capped at 6 hours, twelve attempts span about 20 hours:
#: long enough to ride out a mail server that is down overnight.
MAX_ATTEMPTS = 12
MINIMUM_CLAIM_LEASE = timedelta(minutes=10)
#: Staleness retries when a concurrent edit of the application collides with recording a send.
RECORD_RETRIES = 3

UNCONFIRMED_NOTE = (
    "The worker that was sending this message stopped before recording the result, so it may "
    "have been delivered. Check with the candidate or the mail server's log, then mark it as "
    "sent or send it again."
)


@dataclass
class DeliveryReport:
    """What one run did, for the CLI summary and the logs."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    released: int = 0
    unconfirmed: int = 0
    backend_error: str | None = None

    @property
    def attempted(self) -> int:
        return self.sent + self.retrying + self.failed

    def add(self, other: "DeliveryReport") -> None:
        """Fold another batch's counts into this one."""
        self.sent += other.sent
        self.retrying += other.retrying
        self.failed += other.failed
        self.released += other.released
        self.unconfirmed += other.unconfirmed
        self.backend_error = other.backend_error or self.backend_error

    def summary(self) -> str:
        """One line for a person or a cron mail."""
        parts = [f"{self.sent} sent", f"{self.retrying} to retry later", f"{self.failed} failed"]
        if self.released:
            parts.append(f"{self.released} scheduled released")
        if self.unconfirmed:
            parts.append(f"{self.unconfirmed} unconfirmed (see `hiretrack outbox status`)")
        line = "Outbox delivery: " + ", ".join(parts) + "."
        if self.backend_error:
            line += f" Stopped early: {self.backend_error}"
        return line


def default_worker_id() -> str:
    """Name a worker after its host and process, so a stuck claim points at its owner."""
    return f"{socket.gethostname()}-{os.getpid()}"[:100]


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff after the n-th failed attempt: 1, 2, 4 ... minutes, capped at 6 h."""
    return min(FIRST_RETRY_DELAY * 2 ** max(attempts - 1, 0), MAX_RETRY_DELAY)


def claim_lease() -> timedelta:
    """How old a claim must be before its worker is presumed dead.

    smtplib's timeout applies to each socket operation, and one send with a fresh connection
    makes about ten; a live worker therefore never holds a claim longer than ten timeouts.
    """
    timeout = float(current_app.config["SMTP_TIMEOUT"])
    return max(MINIMUM_CLAIM_LEASE, timedelta(seconds=10 * timeout))


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(OutboxEmail.status == OutboxStatus.QUEUED, OutboxEmail.next_attempt_at <= now)


def claim(outbox_id: int, worker_id: str, now: datetime) -> bool:
    """Mark one queued row as being sent by this worker and commit; False if another got it.

    The status condition in the UPDATE makes the claim atomic on every database: of two workers
    that saw the same queued row, only one changes a row, the other sees a rowcount of 0.
    """
    result = db.session.execute(
        update(OutboxEmail)
        .where(OutboxEmail.id == outbox_id, OutboxEmail.status == OutboxStatus.QUEUED)
        .values(status=OutboxStatus.SENDING, claimed_at=now, claimed_by=worker_id)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def claim_next(worker_id: str, now: datetime) -> OutboxEmail | None:
    """Claim the oldest due message, or return None when nothing is due.

    On PostgreSQL `FOR UPDATE SKIP LOCKED` lets workers pass each other without waiting; SQLite
    has no row locks, so there the conditional UPDATE in `claim` alone prevents a double claim.
    The loop ends: each lost race means another worker took a row out of the queue.
    """
    while True:
        outbox_id = db.session.scalar(
            select(OutboxEmail.id)
            .where(_due(now))
            .order_by(OutboxEmail.next_attempt_at, OutboxEmail.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if outbox_id is None:
            db.session.commit()
            return None
        if claim(outbox_id, worker_id, now):
            return db.session.get(OutboxEmail, outbox_id)


def expire_stale_claims(now: datetime) -> int:
    """Turn claims older than the lease into UNCONFIRMED rows rather than resending them."""
    result = db.session.execute(
        update(OutboxEmail)
        .where(
            OutboxEmail.status == OutboxStatus.SENDING,
            OutboxEmail.claimed_at < now - claim_lease(),
        )
        .values(status=OutboxStatus.UNCONFIRMED, last_error=UNCONFIRMED_NOTE)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if result.rowcount:
        logger.warning("%d outbox message(s) left in sending are now unconfirmed", result.rowcount)
    return result.rowcount


def _touchpoint_for(outbox: OutboxEmail) -> Touchpoint | None:
    return db.session.scalars(
        select(Touchpoint).where(Touchpoint.outbox_email_id == outbox.id)
    ).first()


def _mark_sent(outbox: OutboxEmail, sent_at: datetime) -> None:
    """Set SENT and count the email as contact with the candidate (staff emails have none)."""
    outbox.status = OutboxStatus.SENT
    outbox.sent_at = sent_at
    outbox.attempts += 1
    touchpoint = _touchpoint_for(outbox)
    if touchpoint is not None:
        record_delivery(touchpoint, sent_at)


def _record_sent(outbox: OutboxEmail, sent_at: datetime) -> None:
    """Commit a send that the server accepted.

    A concurrent edit of the application (it has a version counter) is retried: the message is
    out, and a row left in SENDING would later ask a person whether it was.
    """
    for attempt in range(1, RECORD_RETRIES + 1):
        try:
            _mark_sent(outbox, sent_at)
            db.session.commit()
            return
        except StaleDataError:
            db.session.rollback()
            if attempt == RECORD_RETRIES:
                raise


def _record_failure(outbox: OutboxEmail, failure: DeliveryFailure, now: datetime) -> bool:
    """Commit a failed attempt: back to the queue with a backoff, or FAILED; True if retrying."""
    outbox.attempts += 1
    outbox.claimed_at = outbox.claimed_by = None
    retrying = not failure.permanent and outbox.attempts < MAX_ATTEMPTS
    if retrying:
        outbox.status = OutboxStatus.QUEUED
        outbox.next_attempt_at = now + retry_delay(outbox.attempts)
        outbox.last_error = str(failure)
    else:
        outbox.status = OutboxStatus.FAILED
        outbox.last_error = (
            str(failure)
            if failure.permanent
            else f"Gave up after {outbox.attempts} attempts. Last error: {failure}"
        )
    db.session.commit()
    # The failure text can quote the recipient's address: it stays on the row, out of the logs.
    logger.warning(
        "Outbox message %s %s (%s; details on the outbox row)",
        outbox.id,
        "will be retried" if retrying else "failed",
        type(failure).__name__,
    )
    return retrying


def _deliver_one(
    backend: MailBackend, outbox: OutboxEmail, report: DeliveryReport, clock: Clock
) -> None:
    """Send one claimed row and commit its result before the next row is claimed."""
    try:
        backend.send(build_envelope(outbox))
    except DeliveryFailure as failure:
        if _record_failure(outbox, failure, clock()):
            report.retrying += 1
        else:
            report.failed += 1
        if isinstance(failure, BackendUnavailable):
            report.backend_error = str(failure)
        return
    _record_sent(outbox, clock())
    report.sent += 1
    logger.info("Outbox message %s sent (%s)", outbox.id, outbox.message_id)


def deliver_batch(
    worker_id: str, limit: int = 100, now: datetime | None = None, stop: Event | None = None
) -> DeliveryReport:
    """Deliver up to `limit` due messages; stop early when the transport is down or on `stop`.

    Without `now` every step reads the clock afresh, as a long batch needs; with it (tests) the
    whole batch happens at that instant.
    """
    clock: Clock = (lambda: now) if now is not None else utcnow
    report = DeliveryReport()
    report.released = release_due_scheduled(clock())
    db.session.commit()
    report.unconfirmed = expire_stale_claims(clock())
    with backend_for(current_app) as backend:
        while report.attempted < limit and not (stop and stop.is_set()):
            outbox = claim_next(worker_id, clock())
            if outbox is None:
                break
            _deliver_one(backend, outbox, report, clock)
            if report.backend_error:
                break
    return report


def drain(
    worker_id: str,
    batch_size: int = 100,
    *,
    stop: Event | None = None,
    on_batch: Callable[[DeliveryReport], None] | None = None,
) -> DeliveryReport:
    """Deliver batch after batch until nothing is due, for cron's `--once`."""
    total = DeliveryReport()
    while not (stop and stop.is_set()):
        report = deliver_batch(worker_id, batch_size, stop=stop)
        total.add(report)
        if on_batch is not None:
            on_batch(report)
        if report.attempted < batch_size or report.backend_error:
            break
    return total


def run_worker(
    worker_id: str,
    *,
    batch_size: int = 100,
    poll_interval: float = 10.0,
    stop: Event | None = None,
) -> DeliveryReport:
    """Deliver until `stop` is set, sleeping between polls when there is nothing to do.

    An unexpected error (the database restarting, say) is logged and the loop goes on: claims
    are committed before sending, so a failed batch can leave at most one row to confirm.
    """
    stop = stop or Event()
    total = DeliveryReport()
    while not stop.is_set():
        try:
            report = deliver_batch(worker_id, batch_size, stop=stop)
        except Exception:
            logger.exception("Outbox delivery batch failed; trying again in %ss", poll_interval)
            db.session.rollback()
            stop.wait(poll_interval)
            continue
        total.add(report)
        if report.attempted or report.unconfirmed:
            logger.info(report.summary())
        if report.attempted < batch_size or report.backend_error:
            stop.wait(poll_interval)
    return total


def mark_unconfirmed_as_sent(outbox: OutboxEmail, actor: User | None = None) -> None:
    """Record that an unconfirmed message did reach the candidate (a person checked)."""
    if outbox.status != OutboxStatus.UNCONFIRMED:
        raise GuardrailRefused(
            f"Only an unconfirmed message can be marked as sent (this one is {outbox.status})."
        )
    _mark_sent(outbox, outbox.claimed_at or utcnow())
    outbox.last_error = None
    record_change(
        actor,
        "outbox.mark_sent",
        outbox,
        before={"status": OutboxStatus.UNCONFIRMED.value},
        after={"status": OutboxStatus.SENT.value},
    )


def _current_recipient(outbox: OutboxEmail) -> tuple[str, str]:
    """The address to use now: a typo fixed on the candidate (or user) since then applies."""
    if outbox.application_id is not None:
        candidate = outbox.application.candidate
        if candidate.email is None:
            raise GuardrailRefused("This candidate's data was anonymised; there is no address.")
        return candidate.email, candidate.name
    if outbox.recipient_user_id is not None:
        user = db.session.get(User, outbox.recipient_user_id)
        return user.email, user.name
    return outbox.to_address, outbox.to_name


def _new_message_id(old: str) -> str:
    """A fresh Message-ID in the same domain as the one it replaces."""
    domain = old.strip("<>").rpartition("@")[2] or None
    return make_msgid(domain=domain)


def requeue(outbox: OutboxEmail, actor: User | None, now: datetime | None = None) -> OutboxEmail:
    """Queue a failed or unconfirmed message again, to the recipient's current address.

    An unconfirmed message keeps its Message-ID, so a server that did receive it can drop the
    copy; a failed one never arrived anywhere and goes out as a new message.
    """
    if outbox.status not in (OutboxStatus.FAILED, OutboxStatus.UNCONFIRMED):
        raise GuardrailRefused(
            f"Only a failed or unconfirmed message can be sent again (this one is {outbox.status})."
        )
    before = {"status": outbox.status, "to_address": outbox.to_address}
    outbox.to_address, outbox.to_name = _current_recipient(outbox)
    if outbox.status == OutboxStatus.FAILED:
        outbox.message_id = _new_message_id(outbox.message_id)
    outbox.status = OutboxStatus.QUEUED
    outbox.attempts = 0
    outbox.last_error = None
    outbox.next_attempt_at = now or utcnow()
    outbox.claimed_at = outbox.claimed_by = None
    record_change(
        actor,
        "outbox.requeue",
        outbox,
        before=before,
        after={"status": outbox.status.value, "to_address": outbox.to_address},
    )
    return outbox


def failed_deliveries(scope: ColumnElement[bool]) -> Select[tuple[OutboxEmail]]:
    """Failed and unconfirmed messages within `scope` (a condition on Application), newest first.

    Pass `hiretrack.auth.access.visible_applications(user)`; staff emails, which have no
    application, appear only where the condition is true for everything (recruiters, admins).
    """
    return (
        select(OutboxEmail)
        .outerjoin(Application, OutboxEmail.application_id == Application.id)
        .where(
            OutboxEmail.status.in_((OutboxStatus.FAILED, OutboxStatus.UNCONFIRMED)),
            scope,
        )
        .order_by(OutboxEmail.created_at.desc(), OutboxEmail.id.desc())
    )


@dataclass
class OutboxSummary:
    """The outbox at a glance, for `hiretrack outbox status` and monitoring."""

    counts: dict[str, int] = field(default_factory=dict)
    due_now: int = 0
    oldest_due_at: datetime | None = None


def due_count(now: datetime | None = None) -> int:
    """How many messages a drain would try now, scheduled ones whose time has come included."""
    now = now or utcnow()
    scheduled_due = and_(
        OutboxEmail.status == OutboxStatus.SCHEDULED, OutboxEmail.send_after <= now
    )
    return db.session.scalar(
        select(func.count()).select_from(OutboxEmail).where(or_(_due(now), scheduled_due))
    )


def outbox_summary(now: datetime | None = None) -> OutboxSummary:
    """Count rows by status and find how long the oldest due message has waited."""
    now = now or utcnow()
    rows = db.session.execute(
        select(OutboxEmail.status, func.count()).group_by(OutboxEmail.status)
    ).all()
    counts = {status.value: 0 for status in OutboxStatus} | {status: n for status, n in rows}
    due_now, oldest = db.session.execute(
        select(func.count(), func.min(OutboxEmail.next_attempt_at)).where(_due(now))
    ).one()
    return OutboxSummary(counts=counts, due_now=due_now, oldest_due_at=oldest)
