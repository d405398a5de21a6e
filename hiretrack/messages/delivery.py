"""Deliver the outbox: claim a few messages, send them one by one, record their results.

A row moves SCHEDULED -> QUEUED -> SENDING -> SENT, back to QUEUED with a backoff after a
temporary failure, or to FAILED after a permanent one. A worker claims up to
`DELIVERY_CLAIM_SIZE` rows in one transaction, committed before any SMTP traffic; sends them
over one connection, one SMTP transaction each; then commits all their results in one
transaction and gives back the rows it did not reach. The claim before is recorded and the
next one prepared on a second thread while one is sent (`Courier`), a claim being taken only
once the one before is recorded. So a worker that dies leaves at most two claims' rows in
SENDING; once a claim is older than the lease its rows become UNCONFIRMED and wait for a
person, because they may already have reached the candidate. See docs/delivery.md.
"""

import logging
import os
import socket
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from threading import Event
from types import TracebackType
from typing import Self, TypeVar

from flask import current_app
from sqlalchemy import Row, select, update

from hiretrack.candidates.models import Touchpoint
from hiretrack.candidates.services import record_delivery
from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.messages.backends import (
    BackendUnavailable,
    DeliveryFailure,
    Envelope,
    MailBackend,
    backend_for,
    build_envelope,
)
from hiretrack.messages.bookkeeping import Bookkeeper
from hiretrack.messages.claims import claim_due
from hiretrack.messages.models import FAILED_STATUSES, OutboxEmail, OutboxStatus
from hiretrack.messages.results import MAX_ATTEMPTS as MAX_ATTEMPTS
from hiretrack.messages.results import Attempt
from hiretrack.messages.results import record_results as _record_results
from hiretrack.messages.results import release_after_error as _release_after_error
from hiretrack.messages.results import retry_delay as retry_delay
from hiretrack.messages.services import release_due_scheduled

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
T = TypeVar("T")

MINIMUM_CLAIM_LEASE = timedelta(minutes=10)
#: A run releases the scheduled messages now due and expires abandoned claims before its first
#: batch, then at most this often: a busy worker's batches follow each other closely, and doing
#: it before each (two statements and two commits) cost as much as claiming.
HOUSEKEEPING_INTERVAL = timedelta(seconds=10)

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


@dataclass(frozen=True)
class Outgoing:
    """A claimed row as the sender needs it: plain values and its bytes, or why it has none."""

    outbox_id: int
    message_id: str
    previous_attempts: int
    envelope: Envelope | None
    failure: DeliveryFailure | None = None


@dataclass
class Claim:
    """Claimed rows ready to send, in order; a row leaves `rows` when its send starts."""

    rows: deque[Outgoing]
    claimed_at: datetime
    withdrawn: int = 0

    @property
    def ids(self) -> list[int]:
        return [row.outbox_id for row in self.rows]


def _outgoing(outbox: Row) -> Outgoing:
    """Build a claimed row's bytes; a row that cannot be built fails without being sent."""
    try:
        envelope = build_envelope(outbox)
    except DeliveryFailure as failure:
        return Outgoing(outbox.id, outbox.message_id, outbox.attempts, None, failure)
    return Outgoing(outbox.id, outbox.message_id, outbox.attempts, envelope)


def _prepare(worker_id: str, limit: int, clock: Clock, stop: Event | None) -> Claim:
    """Claim, check and build up to `limit` due messages: the bookkeeping thread's part."""
    now, counted = clock(), DeliveryReport()
    rows = claim_due(worker_id, limit, now, counted, stop)
    return Claim(deque(_outgoing(row) for row in rows), now, counted.withdrawn)


def _housekeeping(clock: Clock) -> tuple[int, int]:
    """Release the scheduled messages now due and expire abandoned claims, before a batch."""
    released = release_due_scheduled(clock())
    db.session.commit()
    return released, expire_stale_claims(clock())


def _attempt(backend: MailBackend, outgoing: Outgoing, clock: Clock) -> Attempt:
    """Send one claimed row; a failure is returned, to be recorded with the others."""
    failure = outgoing.failure
    if outgoing.envelope is not None:
        try:
            backend.send(outgoing.envelope)
        except DeliveryFailure as error:
            failure = error
    return Attempt(
        outgoing.outbox_id,
        outgoing.message_id,
        outgoing.previous_attempts,
        finished_at=clock(),
        failure=failure,
    )


def _send_claim(
    backend: MailBackend,
    claim: Claim,
    report: DeliveryReport,
    clock: Clock,
    halted: Callable[[], bool],
) -> list[Attempt]:
    """Send a claim's rows in order until the transport fails, `halted()` says so (a stop, or a
    failed recording) or the claim is older than half the lease; the rows still in
    `claim.rows` were not tried."""
    attempts: list[Attempt] = []
    last_start = claim.claimed_at + claim_lease() / 2
    while claim.rows and not halted():
        if clock() > last_start:
            break
        attempt = _attempt(backend, claim.rows.popleft(), clock)
        attempts.append(attempt)
        if isinstance(attempt.failure, BackendUnavailable):
            report.backend_error = str(attempt.failure)
            report.backend_refused = attempt.failure.permanent
            break
    return attempts


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


class Courier:
    """Deliver claim after claim over one connection; the database work runs beside the sends.

    The main thread sends; a `Bookkeeper` thread meanwhile records the claim sent before, then
    claims, checks and builds the next one. The next claim is taken only once the one before is
    recorded, so a worker that dies leaves at most two claims in SENDING: the one being sent and
    the one being recorded (or, once that is recorded, the one claimed ahead). A failed
    recording stops the sender at the next message boundary and nothing more is claimed; rows
    never tried, those of the claim ahead included, go back to the queue when the worker stops,
    the transport fails or anything unexpected happens.
    """

    def __init__(self, worker_id: str, clock: Clock, stop: Event | None) -> None:
        self.worker_id, self.clock, self.stop = worker_id, clock, stop
        self.size = claim_size()
        self.backend = backend_for(current_app)
        self.books = Bookkeeper()
        self._ahead: Future[Claim] | None = None
        self._last: Future | None = None
        #: The results committed beside the next claim's sends, and why they failed if they did.
        self._recording: Future | None = None
        self._record_error: BaseException | None = None
        self._housekept_at: datetime | None = None

    def _run(self, task: Callable[..., T], *args: object) -> T:
        """Run a task on the bookkeeping thread after those queued before it, and wait."""
        return self._submit(task, *args).result()

    def _submit(self, task: Callable[..., T], *args: object) -> "Future[T]":
        self._last = self.books.submit(self._unless_recording_failed, task, *args)
        return self._last

    def _unless_recording_failed(self, task: Callable[..., T], *args: object) -> T:
        """Run a bookkeeping task, unless a recording failed: then claim, record nothing more."""
        if self._record_error is not None:
            raise self._record_error
        return task(*args)

    def _record_task(self, attempts: list[Attempt], untried: list[int]) -> None:
        try:
            _record_results(self.worker_id, attempts, untried)
        except BaseException as error:
            self._record_error = error
            raise

    def _halted(self) -> bool:
        """Whether the sender must stop before its next message: asked to, or a recording failed."""
        return self._record_error is not None or bool(self.stop and self.stop.is_set())

    def _raise_if_recording_failed(self) -> None:
        if self._record_error is not None:
            raise self._record_error

    def _stopping(self, report: DeliveryReport) -> bool:
        return bool(report.backend_error) or bool(self.stop and self.stop.is_set())

    def _next_claim(self, limit: int) -> Claim:
        """The claim prepared ahead, or a fresh one when there is none or it came back empty
        (prepared while the claim before was sent, it could not take that claim's untried rows)."""
        ahead, self._ahead = self._ahead, None
        claim = ahead.result() if ahead is not None else None
        if claim is None or not claim.rows:
            withdrawn = claim.withdrawn if claim is not None else 0
            claim = self._run(
                _prepare, self.worker_id, min(self.size, limit), self.clock, self.stop
            )
            claim.withdrawn += withdrawn
        return claim

    def _claim_ahead(self, room: int) -> None:
        self._ahead = self._submit(
            _prepare, self.worker_id, min(self.size, room), self.clock, self.stop
        )

    def _record(self, claim: Claim, attempts: list[Attempt], report: DeliveryReport) -> None:
        """Record a sent claim's results while the next claim is sent; when the batch ends here
        (stopped, transport down, or nothing could be tried), give back the claim ahead's rows
        with the claim's untried ones and wait until all is committed."""
        if not (self._stopping(report) or not attempts):
            self._recording = self._submit(self._record_task, attempts, claim.ids)
            claim.rows.clear()
            return
        if self._ahead is not None:
            ahead, self._ahead = self._ahead.result(), None
            claim.rows.extend(ahead.rows)  # given back with the claim's, or after an error
            report.withdrawn += ahead.withdrawn
        self._run(self._record_task, attempts, claim.ids)
        claim.rows.clear()

    def batch(self, limit: int, more: bool = False) -> DeliveryReport:
        """Deliver up to `limit` due messages; with `more`, claim ahead for the next batch too.

        The last claim's results may still be being committed when it returns: the next batch
        or the end of the `Courier` waits for them."""
        report = DeliveryReport()
        housekeeping = self._housekeeping_due()
        claim = None
        try:
            while report.attempted < limit and not self._stopping(report):
                self._raise_if_recording_failed()
                claim = self._next_claim(limit - report.attempted)
                report.withdrawn += claim.withdrawn
                if not claim.rows:
                    break
                room = (limit if not more else limit * 2) - report.attempted - len(claim.rows)
                if room > 0 and not self._stopping(report):
                    self._claim_ahead(room)
                attempts = _send_claim(self.backend, claim, report, self.clock, self._halted)
                self._raise_if_recording_failed()
                _report(attempts, report)
                self._record(claim, attempts, report)
                if not attempts:
                    break  # stopped, or out of lease time, before trying any: leave it for next time
            if housekeeping is not None:
                report.released, report.unconfirmed = housekeeping.result()
        except BaseException:
            self._give_back(claim)
            raise
        return report

    def _housekeeping_due(self) -> "Future[tuple[int, int]] | None":
        """Start the housekeeping before a batch, if it is the first or the last was a while ago."""
        now = self.clock()
        last = self._housekept_at
        if last is not None and timedelta(0) <= now - last < HOUSEKEEPING_INTERVAL:
            return None
        self._housekept_at = now
        return self._submit(_housekeeping, self.clock)

    def _give_back(self, claim: Claim | None) -> None:
        """Wait for the bookkeeping thread, then give back every claimed row not tried: after an
        error, or at the end of a run with a claim prepared ahead."""
        untried = claim.ids if claim is not None else []
        for future in (self._last, self._ahead):
            try:
                result = future.result() if future is not None else None
            except BaseException:
                result = None
            if isinstance(result, Claim):
                untried += result.ids
        self._ahead = None
        _release_after_error(self.worker_id, untried)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if self._ahead is not None:
                self._give_back(None)
            if exc is None and self._recording is not None:
                self._recording.result()  # the last claim's results: raise if they failed
        finally:
            self.books.__exit__(exc_type, exc, traceback)
            self.backend.close()


def deliver_batch(
    worker_id: str, limit: int = 100, now: datetime | None = None, stop: Event | None = None
) -> DeliveryReport:
    """Deliver up to `limit` due messages; stop early when the transport is down or on `stop`.

    Rows are claimed `claim_size()` at a time and sent over one connection for the whole batch.
    Without `now` every step reads the clock afresh, as a long batch needs; with it (tests) the
    whole batch happens at that instant.
    """
    clock: Clock = (lambda: now) if now is not None else utcnow
    with Courier(worker_id, clock, stop) as courier:
        return courier.batch(limit)


def drain(
    worker_id: str,
    batch_size: int = 100,
    *,
    stop: Event | None = None,
    on_batch: Callable[[DeliveryReport], None] | None = None,
) -> DeliveryReport:
    """Deliver batch after batch until nothing is due, for cron's `--once`.

    One connection and one bookkeeping thread serve all the batches, and each batch's last claim
    is sent while the next batch's first is prepared.
    """
    total = DeliveryReport()
    with Courier(worker_id, utcnow, stop) as courier:
        while not (stop and stop.is_set()):
            report = courier.batch(batch_size, more=True)
            total.add(report)
            if on_batch is not None:
                on_batch(report)
            if report.attempted < batch_size or report.backend_error:
                break
    return total


def _busy_batches(
    worker_id: str, batch_size: int, stop: Event, total: DeliveryReport
) -> DeliveryReport:
    """Deliver batch after batch over one connection and bookkeeping thread, while they come
    back full; return the last one's report."""
    with Courier(worker_id, utcnow, stop) as courier:
        while True:
            report = courier.batch(batch_size, more=True)
            total.add(report)
            if (report.attempted or report.unconfirmed) and not report.backend_refused:
                logger.info(report.summary())
            if report.attempted < batch_size or report.backend_error or stop.is_set():
                return report


def run_worker(
    worker_id: str,
    *,
    batch_size: int = 100,
    poll_interval: float = 10.0,
    stop: Event | None = None,
) -> DeliveryReport:
    """Deliver until `stop` is set, or the server refuses the login; sleep when idle.

    An unexpected error (the database restarting, say) is logged and the loop goes on: claims
    are committed before sending, so a failed batch can leave at most two claims' rows to
    confirm.
    """
    stop = stop or Event()
    total = DeliveryReport()
    while not stop.is_set():
        try:
            report = _busy_batches(worker_id, batch_size, stop, total)
        except Exception:
            logger.exception("Outbox delivery batch failed; trying again in %ss", poll_interval)
            db.session.rollback()
            stop.wait(poll_interval)
            continue
        if report.backend_refused:
            logger.error("Outbox worker stopping: %s", report.backend_error)
            break
        stop.wait(poll_interval)
    return total
