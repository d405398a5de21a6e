"""Record what a delivery claim's sends did: sent, retried later, failed, or given back.

The results of a whole claim are committed together, in one statement per table whatever the
claim's size (`record_results`); `hiretrack.messages.delivery` claims and sends.
"""

import functools
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Integer, String, TextClause, and_, bindparam, text, update
from sqlalchemy.orm.exc import StaleDataError

from hiretrack.candidates.contact import record_deliveries
from hiretrack.database import UTCDateTime, retry_when_ended_for_another
from hiretrack.extensions import db
from hiretrack.messages.backends import DeliveryFailure
from hiretrack.messages.models import OutboxEmail, OutboxStatus
from hiretrack.sqltypes import pairs_parameters, pairs_size, pairs_table

logger = logging.getLogger(__name__)

FIRST_RETRY_DELAY = timedelta(minutes=1)
MAX_RETRY_DELAY = timedelta(hours=6)
#: With delays of 1, 2, 4 ... minutes capped at 6 hours, twelve attempts span about 20 hours:
#: long enough to ride out a mail server that is down overnight.
MAX_ATTEMPTS = 12


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff after the n-th failed attempt: 1, 2, 4 ... minutes, capped at 6 h."""
    return min(FIRST_RETRY_DELAY * 2 ** max(attempts - 1, 0), MAX_RETRY_DELAY)


def commit_durability(durable: bool) -> None:
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
        wanted = "on" if durable else "off"
        pooled = connection.connection
        if "hiretrack.synchronous_commit" not in pooled.info:
            # The connection's own setting, which SET LOCAL leaves as it was: a transaction that
            # wants the same needs no statement (a round trip for each claim, as the default is on).
            (setting,) = connection.exec_driver_sql("SHOW synchronous_commit").one()
            pooled.info["hiretrack.synchronous_commit"] = setting
        if pooled.info["hiretrack.synchronous_commit"] != wanted:
            connection.exec_driver_sql(f"SET LOCAL synchronous_commit TO {wanted}")
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


def _ours(worker_id: str) -> ColumnElement[bool]:
    return and_(OutboxEmail.status == OutboxStatus.SENDING, OutboxEmail.claimed_by == worker_id)


@functools.cache
def _mark_sent_statement(dialect: str, size: int) -> TextClause:
    """Mark claimed rows SENT, each at its own time, and return the ids marked.

    Built once per database, size and process (`sqltypes.pairs_size`): the rows' times are
    bound parameters of a joined table of pairs (two arrays on PostgreSQL), not a
    `CASE id WHEN ... THEN ...` expression that SQLAlchemy would build and walk again for every
    claim.
    """
    pairs, parameters = pairs_table(dialect, size, Integer(), UTCDateTime())
    return text(
        f"UPDATE outbox_email SET status = '{OutboxStatus.SENT.value}', "
        "attempts = attempts + 1, sent_at = sent.column2 "
        f"FROM {pairs} AS sent "
        "WHERE outbox_email.id = sent.column1 "
        f"AND outbox_email.status = '{OutboxStatus.SENDING.value}' "
        "AND outbox_email.claimed_by = :worker_id "
        "RETURNING outbox_email.id"
    ).bindparams(*parameters, bindparam("worker_id", type_=String()))


def _apply_sent(worker_id: str, sent: list[Attempt]) -> None:
    """Mark accepted rows SENT in one statement and count them as contact with their candidates
    in two more (touchpoints, applications), whatever the claim's size."""
    sent_at = {attempt.outbox_id: attempt.finished_at for attempt in sent}
    connection = db.session.connection()
    dialect = connection.dialect.name
    size = pairs_size(dialect, len(sent_at))
    recorded = set(
        connection.execute(
            _mark_sent_statement(dialect, size),
            {"worker_id": worker_id, **pairs_parameters(dialect, sent_at.items(), size)},
        ).scalars()
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


def record_results(worker_id: str, attempts: list[Attempt], untried: list[int]) -> None:
    """Commit the results of one claim's sends, and release the rows it did not try.

    A concurrent edit of an application (its version counter) or, on PostgreSQL, a deadlock
    over requisition rows (whose kept counts of failed deliveries two workers recording failures
    in opposite orders may both wait for) is retried, as `retry_when_ended_for_another` runs
    every worker's transaction: the messages are out, and rows left in SENDING would later ask
    a person whether they were.
    """
    sent = [attempt for attempt in attempts if attempt.failure is None]

    def record() -> None:
        commit_durability(False)
        if sent:
            _apply_sent(worker_id, sent)
        for attempt in attempts:
            if attempt.failure is not None:
                _apply_failure(worker_id, attempt)
        if untried:
            _release(worker_id, untried)
        db.session.commit()

    retry_when_ended_for_another(
        record,
        db.session,
        what="Recording a claim",
        also=(StaleDataError,),
    )


def release_after_error(worker_id: str, untried: list[int]) -> None:
    """After an unexpected error, give back the rows never tried, if the database still works."""
    try:
        db.session.rollback()
        if untried:
            _release(worker_id, untried)
            db.session.commit()
    except Exception:
        logger.exception("Could not release %d claimed outbox message(s)", len(untried))
