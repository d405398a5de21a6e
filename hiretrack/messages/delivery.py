"""Deliver the outbox: claim a few messages, send them one by one, record their results.

A row moves SCHEDULED -> QUEUED -> SENDING -> SENT, back to QUEUED with a backoff after a
temporary failure, or to FAILED after a permanent one. A worker claims up to
`DELIVERY_CLAIM_SIZE` rows in one transaction, committed before any SMTP traffic; sends them
over one connection, one SMTP transaction each; then commits all their results in one
transaction and gives back the rows it did not reach. So a worker that dies leaves at most one
claim's rows in SENDING; once the claim is older than the lease they become UNCONFIRMED and wait
for a person, because they may already have reached the candidate. See docs/delivery.md.
"""

import logging
import os
import socket
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from threading import Event

from flask import current_app
from sqlalchemy import ColumnElement, and_, case, literal, select, update
from sqlalchemy.orm.exc import StaleDataError

from hiretrack.candidates.contact import record_deliveries
from hiretrack.candidates.models import Touchpoint
from hiretrack.candidates.services import record_delivery
from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.messages.backends import (
    BackendUnavailable,
    DeliveryFailure,
    MailBackend,
    backend_for,
    build_envelope,
)
from hiretrack.messages.models import OutboxEmail, OutboxStatus
from hiretrack.messages.premise import withdraw_untrue
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

#: Deliveries a person must look at: refused for good, bounced later, or possibly never sent.
FAILED_STATUSES = (OutboxStatus.FAILED, OutboxStatus.BOUNCED, OutboxStatus.UNCONFIRMED)
#: What `requeue` sends again.
RESENDABLE = FAILED_STATUSES

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
    #: Messages no longer true when they were due (the hold resolved, the application closed...).
    withdrawn: int = 0
    backend_error: str | None = None
    #: The server refused the configured login: nothing can be sent until the settings change.
    backend_refused: bool = False

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
        self.withdrawn += other.withdrawn
        self.backend_error = other.backend_error or self.backend_error
        self.backend_refused = self.backend_refused or other.backend_refused

    def summary(self) -> str:
        """One line for a person or a cron mail."""
        parts = [f"{self.sent} sent", f"{self.retrying} to retry later", f"{self.failed} failed"]
        if self.released:
            parts.append(f"{self.released} scheduled released")
        if self.withdrawn:
            parts.append(f"{self.withdrawn} withdrawn (no longer true)")
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
    makes about ten. A worker starts no send on a claim older than half the lease, so with a
    lease of at least twenty timeouts a live worker never holds a claim that long.
    """
    timeout = float(current_app.config["SMTP_TIMEOUT"])
    return max(MINIMUM_CLAIM_LEASE, timedelta(seconds=20 * timeout))


def claim_size() -> int:
    """How many messages a worker claims at once (HIRETRACK_DELIVERY_CLAIM_SIZE)."""
    return int(current_app.config["DELIVERY_CLAIM_SIZE"])


def due_now(now: datetime) -> ColumnElement[bool]:
    """Queued messages whose next attempt time has come."""
    return and_(OutboxEmail.status == OutboxStatus.QUEUED, OutboxEmail.next_attempt_at <= now)


def _commit_durability(durable: bool) -> None:
    """Choose whether the current transaction's commit waits until it is safe on disk.

    A claim must be durable before its message is sent: a claim lost in a power cut would send
    the message again. A result need not be: one lost leaves its row claimed, so it becomes
    UNCONFIRMED for a person, never sent twice. And any durable commit also makes the commits
    before it durable. So claims wait for the disk and results do not, on PostgreSQL
    (`synchronous_commit`) and on SQLite in WAL mode (`synchronous`; NORMAL keeps a WAL database
    consistent, and outside WAL mode the connection's own setting is left alone).
    """
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SET LOCAL synchronous_commit TO {'on' if durable else 'off'}")
        return
    if connection.dialect.name != "sqlite":
        return
    pooled = connection.connection
    if pooled.dbapi_connection.in_transaction:
        # SQLite refuses the change inside a transaction (never the case here: claims and results
        # start their transactions afresh); the connection's own setting then applies.
        return
    if "hiretrack.wal" not in pooled.info:
        (mode,) = connection.exec_driver_sql("PRAGMA journal_mode").one()
        pooled.info["hiretrack.wal"] = mode == "wal"
    if pooled.info["hiretrack.wal"]:
        connection.exec_driver_sql(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")


def claim(outbox_ids: Sequence[int], worker_id: str, now: datetime) -> list[int]:
    """Mark queued rows as being sent by this worker and commit; return the ids it got.

    The status condition in the UPDATE makes the claim atomic on every database: of two workers
    that saw the same queued row, only one changes it, and only that one gets its id back.
    """
    _commit_durability(True)
    claimed = set(
        db.session.scalars(
            update(OutboxEmail)
            .where(OutboxEmail.id.in_(outbox_ids), OutboxEmail.status == OutboxStatus.QUEUED)
            .values(status=OutboxStatus.SENDING, claimed_at=now, claimed_by=worker_id)
            .returning(OutboxEmail.id)
            .execution_options(synchronize_session=False)
        )
    )
    db.session.commit()
    return [outbox_id for outbox_id in outbox_ids if outbox_id in claimed]


def claim_due(
    worker_id: str,
    limit: int,
    now: datetime,
    report: DeliveryReport | None = None,
    stop: Event | None = None,
) -> list[OutboxEmail]:
    """Claim up to `limit` of the oldest due messages, oldest first; empty when nothing is due.

    Each claimed message is checked against the state it was written for: one no longer true
    (`messages.premise`) is withdrawn, never sent, and counted in `report`. A claim that was all
    withdrawn is followed by the next one, unless `stop` is set: a long run of withdrawals must
    not keep a worker past its stop. On PostgreSQL `FOR UPDATE SKIP LOCKED` lets workers pass
    each other without waiting; SQLite has no row locks, so there the conditional UPDATE in
    `claim` alone prevents a double claim. The loop ends: each lost race means another worker
    took rows out of the queue.
    """
    while True:
        due = db.session.scalars(
            select(OutboxEmail.id)
            .where(due_now(now))
            .order_by(OutboxEmail.next_attempt_at, OutboxEmail.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        if not due:
            db.session.commit()
            return []
        claimed = claim(due, worker_id, now)
        if claimed:
            rows = db.session.scalars(select(OutboxEmail).where(OutboxEmail.id.in_(claimed)))
            by_id = {row.id: row for row in rows}
            kept = withdraw_untrue([by_id[outbox_id] for outbox_id in claimed], now)
            if len(kept) < len(claimed):
                kept_ids = [row.id for row in kept]
                db.session.commit()
                if report is not None:
                    report.withdrawn += len(claimed) - len(kept)
                if kept:
                    # The commit expired them: read them again in one statement, not one each.
                    db.session.scalars(
                        select(OutboxEmail).where(OutboxEmail.id.in_(kept_ids))
                    ).all()
            if kept:
                return kept
            if stop is not None and stop.is_set():
                return []


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


@dataclass
class Attempt:
    """One claimed row's send, kept until the results of its claim are committed together."""

    outbox_id: int
    message_id: str
    previous_attempts: int
    finished_at: datetime
    failure: DeliveryFailure | None = None

    @property
    def retrying(self) -> bool:
        """Whether the row goes back to the queue (a temporary failure with attempts left)."""
        failure = self.failure
        return failure is not None and not failure.permanent and self.attempts < MAX_ATTEMPTS

    @property
    def attempts(self) -> int:
        return self.previous_attempts + 1


def mark_sent(outbox: OutboxEmail, sent_at: datetime) -> None:
    """Set SENT and count the email as contact with the candidate (staff emails have none)."""
    outbox.status = OutboxStatus.SENT
    outbox.sent_at = sent_at
    outbox.attempts += 1
    touchpoint = db.session.scalars(
        select(Touchpoint).where(Touchpoint.outbox_email_id == outbox.id)
    ).first()
    if touchpoint is not None:
        record_delivery(touchpoint, sent_at)


def _ours(worker_id: str) -> ColumnElement[bool]:
    return and_(OutboxEmail.status == OutboxStatus.SENDING, OutboxEmail.claimed_by == worker_id)


def _apply_sent(worker_id: str, sent: list[Attempt]) -> None:
    """Mark accepted rows SENT in one statement and count them as contact with their candidates
    in two more (touchpoints, applications), whatever the claim's size."""
    sent_at = {attempt.outbox_id: attempt.finished_at for attempt in sent}
    column_type = OutboxEmail.__table__.c.sent_at.type
    recorded = set(
        db.session.scalars(
            update(OutboxEmail)
            .where(OutboxEmail.id.in_(sent_at), _ours(worker_id))
            .values(
                status=OutboxStatus.SENT,
                attempts=OutboxEmail.attempts + 1,
                sent_at=case(
                    {key: literal(value, column_type) for key, value in sent_at.items()},
                    value=OutboxEmail.id,
                ),
            )
            .returning(OutboxEmail.id)
            .execution_options(synchronize_session=False)
        )
    )
    if len(recorded) < len(sent_at):
        # Only if the claim outlived its lease, which a live worker prevents: a person decides.
        logger.error(
            "Outbox messages %s were sent but were no longer claimed by %s; left as they are",
            sorted(set(sent_at) - recorded),
            worker_id,
        )
    record_deliveries({outbox_id: sent_at[outbox_id] for outbox_id in recorded})


def _apply_failure(worker_id: str, attempt: Attempt) -> None:
    """Queue a failed row again with a backoff, or mark it FAILED for good."""
    failure = attempt.failure
    values: dict[str, object] = {
        "attempts": attempt.attempts,
        "claimed_at": None,
        "claimed_by": None,
    }
    if attempt.retrying:
        values |= {
            "status": OutboxStatus.QUEUED,
            "next_attempt_at": attempt.finished_at + retry_delay(attempt.attempts),
            "last_error": str(failure),
        }
    else:
        values |= {
            "status": OutboxStatus.FAILED,
            "last_error": str(failure)
            if failure.permanent
            else f"Gave up after {attempt.attempts} attempts. Last error: {failure}",
        }
    db.session.execute(
        update(OutboxEmail)
        .where(OutboxEmail.id == attempt.outbox_id, _ours(worker_id))
        .values(values)
        .execution_options(synchronize_session=False)
    )


def _release(worker_id: str, outbox_ids: list[int]) -> None:
    """Put claimed rows that were never tried back in the queue, their turn unchanged."""
    db.session.execute(
        update(OutboxEmail)
        .where(OutboxEmail.id.in_(outbox_ids), _ours(worker_id))
        .values(status=OutboxStatus.QUEUED, claimed_at=None, claimed_by=None)
        .execution_options(synchronize_session=False)
    )


def _record_results(worker_id: str, attempts: list[Attempt], untried: list[int]) -> None:
    """Commit the results of one claim's sends, and release the rows it did not try.

    A concurrent edit of an application (it has a version counter) is retried: the messages are
    out, and rows left in SENDING would later ask a person whether they were.
    """
    sent = [attempt for attempt in attempts if attempt.failure is None]
    for number in range(1, RECORD_RETRIES + 1):
        try:
            _commit_durability(False)
            if sent:
                _apply_sent(worker_id, sent)
            for attempt in attempts:
                if attempt.failure is not None:
                    _apply_failure(worker_id, attempt)
            if untried:
                _release(worker_id, untried)
            db.session.commit()
            return
        except StaleDataError:
            db.session.rollback()
            if number == RECORD_RETRIES:
                raise


def _release_after_error(worker_id: str, untried: list[int]) -> None:
    """After an unexpected error, give back the rows never tried, if the database still works."""
    try:
        db.session.rollback()
        if untried:
            _release(worker_id, untried)
            db.session.commit()
    except Exception:
        logger.exception("Could not release %d claimed outbox message(s)", len(untried))


def _attempt(backend: MailBackend, outbox: OutboxEmail, clock: Clock) -> Attempt:
    """Build and send one claimed row; a failure is returned, to be recorded with the others."""
    attempt = Attempt(outbox.id, outbox.message_id, outbox.attempts, finished_at=clock())
    try:
        backend.send(build_envelope(outbox))
    except DeliveryFailure as failure:
        attempt.failure = failure
    attempt.finished_at = clock()
    return attempt


def _report(attempts: list[Attempt], report: DeliveryReport) -> None:
    """Count and log the committed results."""
    for attempt in attempts:
        if attempt.failure is None:
            report.sent += 1
            logger.info("Outbox message %s sent (%s)", attempt.outbox_id, attempt.message_id)
            continue
        if attempt.retrying:
            report.retrying += 1
        else:
            report.failed += 1
        # The failure text can quote the recipient's address: it stays on the row, out of the logs.
        logger.warning(
            "Outbox message %s %s (%s; details on the outbox row)",
            attempt.outbox_id,
            "will be retried" if attempt.retrying else "failed",
            type(attempt.failure).__name__,
        )


def _deliver_claimed(
    backend: MailBackend,
    claimed: list[OutboxEmail],
    worker_id: str,
    report: DeliveryReport,
    clock: Clock,
    stop: Event | None,
) -> None:
    """Send the claimed rows one by one over the backend, then commit all their results.

    The rows are sent in order until the transport fails or the worker is asked to stop; those
    not reached go back to the queue. No send starts on a claim older than half the lease. If
    anything unexpected happens, the rows not reached are still given back, while the row in
    flight and those sent since the claim stay claimed and become UNCONFIRMED after the lease.
    """
    claimed_at = clock()
    # Ids read now: after a failed commit or a rollback the objects could not tell them.
    untried = deque((outbox.id, outbox) for outbox in claimed)
    attempts: list[Attempt] = []
    try:
        while untried and not (stop and stop.is_set()):
            if clock() - claimed_at > claim_lease() / 2:
                break
            attempt = _attempt(backend, untried.popleft()[1], clock)
            attempts.append(attempt)
            if isinstance(attempt.failure, BackendUnavailable):
                report.backend_error = str(attempt.failure)
                report.backend_refused = attempt.failure.permanent
                break
        _record_results(worker_id, attempts, [outbox_id for outbox_id, _ in untried])
    except BaseException:
        _release_after_error(worker_id, [outbox_id for outbox_id, _ in untried])
        raise
    _report(attempts, report)


def deliver_batch(
    worker_id: str, limit: int = 100, now: datetime | None = None, stop: Event | None = None
) -> DeliveryReport:
    """Deliver up to `limit` due messages; stop early when the transport is down or on `stop`.

    Rows are claimed `claim_size()` at a time and sent over one connection for the whole batch.
    Without `now` every step reads the clock afresh, as a long batch needs; with it (tests) the
    whole batch happens at that instant.
    """
    clock: Clock = (lambda: now) if now is not None else utcnow
    report = DeliveryReport()
    report.released = release_due_scheduled(clock())
    db.session.commit()
    report.unconfirmed = expire_stale_claims(clock())
    size = claim_size()
    with backend_for(current_app) as backend:
        while report.attempted < limit and not report.backend_error:
            if stop and stop.is_set():
                break
            claimed = claim_due(
                worker_id, min(size, limit - report.attempted), clock(), report, stop
            )
            if not claimed:
                break
            attempted = report.attempted
            _deliver_claimed(backend, claimed, worker_id, report, clock, stop)
            if report.attempted == attempted:
                break  # stopped, or out of lease time, before trying any: leave it for next time
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
    """Deliver until `stop` is set, or the server refuses the login; sleep when idle.

    An unexpected error (the database restarting, say) is logged and the loop goes on: claims
    are committed before sending, so a failed batch can leave at most one claim's rows to
    confirm.
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
        if report.backend_refused:
            logger.error("Outbox worker stopping: %s", report.backend_error)
            break
        if report.attempted or report.unconfirmed:
            logger.info(report.summary())
        if report.attempted < batch_size or report.backend_error:
            stop.wait(poll_interval)
    return total
