"""Claiming the outbox: which messages are due, and taking some for one worker, atomically.

A claim marks queued rows SENDING for one worker in a transaction committed before any SMTP
traffic, so two workers never send the same message (see `delivery` and docs/delivery.md); each
claimed message is checked against the state it was written for before it is sent.
"""

from collections.abc import Sequence
from datetime import datetime
from threading import Event
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, Row, Select, String, and_, literal_column, select, update

from hiretrack.extensions import db
from hiretrack.messages.models import OutboxEmail, OutboxStatus
from hiretrack.messages.premise import withdraw_untrue
from hiretrack.messages.results import commit_durability

if TYPE_CHECKING:
    from hiretrack.messages.delivery import DeliveryReport


def due_now(now: datetime) -> ColumnElement[bool]:
    """Queued messages whose next attempt time has come.

    The status is written into the SQL text, not bound: on PostgreSQL the queue's index holds
    the queued rows only (`OutboxEmail`), and a plan PostgreSQL keeps for a prepared statement
    can use such an index only when the statement itself says `status = 'queued'`.
    """
    queued = literal_column(f"'{OutboxStatus.QUEUED.value}'", type_=String())
    return and_(OutboxEmail.status == queued, OutboxEmail.next_attempt_at <= now)


def claim_rows(outbox_ids: Sequence[int], worker_id: str, now: datetime) -> list[Row]:
    """Mark queued rows as being sent by this worker and commit; return the rows it got, in
    the order of `outbox_ids`, as the claim left them.

    The status condition in the UPDATE makes the claim atomic on every database: of two workers
    that saw the same queued row, only one changes it, and only that one gets it back. The rows
    come back from the UPDATE itself (`RETURNING` every column), as plain rows: the worker only
    reads them, and needs no second statement to load them.
    """
    outbox = OutboxEmail.__table__
    claimed = {row.id: row for row in _mark_claimed(outbox.c.id.in_(outbox_ids), worker_id, now)}
    return [claimed[outbox_id] for outbox_id in outbox_ids if outbox_id in claimed]


def _mark_claimed(rows: ColumnElement[bool], worker_id: str, now: datetime) -> list[Row]:
    """The claim itself, for both ways of choosing `rows`: those of them still queued become
    this worker's SENDING rows, committed durably; they come back as the UPDATE left them."""
    commit_durability(True)
    outbox = OutboxEmail.__table__
    claimed = db.session.execute(
        update(outbox)
        .where(rows, outbox.c.status == OutboxStatus.QUEUED)
        .values(status=OutboxStatus.SENDING, claimed_at=now, claimed_by=worker_id)
        .returning(*outbox.c)
    ).all()
    db.session.commit()
    return claimed


def _oldest_due(now: datetime, limit: int) -> Select[tuple[int]]:
    """The ids of the `limit` oldest due messages, locked unless another worker holds them."""
    return (
        select(OutboxEmail.id)
        .where(due_now(now))
        .order_by(OutboxEmail.next_attempt_at, OutboxEmail.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def _claim_oldest(worker_id: str, limit: int, now: datetime) -> list[Row]:
    """PostgreSQL: find and claim the oldest due messages in one statement, and commit; return
    the rows claimed, oldest first.

    `claim_rows` joined to the rows `_oldest_due` finds, rather than reading them first: a round
    trip fewer for each claim. They are found in a materialized CTE, run exactly once: as a
    subquery, PostgreSQL may run it again for the same statement, and with SKIP LOCKED a second
    run finds other rows, so a claim could take more than `limit`. The rows are locked as they
    are found, so the status condition only repeats what the lock already ensures.
    """
    oldest = _oldest_due(now, limit).cte("oldest").prefix_with("MATERIALIZED")
    claimed = _mark_claimed(OutboxEmail.__table__.c.id == oldest.c.id, worker_id, now)
    return sorted(claimed, key=lambda row: (row.next_attempt_at, row.id))


def claim(outbox_ids: Sequence[int], worker_id: str, now: datetime) -> list[int]:
    """Claim as `claim_rows` does; return the ids this worker got."""
    return [row.id for row in claim_rows(outbox_ids, worker_id, now)]


def claim_due(
    worker_id: str,
    limit: int,
    now: datetime,
    report: "DeliveryReport | None" = None,
    stop: Event | None = None,
) -> list[Row]:
    """Claim up to `limit` of the oldest due messages, oldest first; empty when nothing is due.

    Each claimed message is checked against the state it was written for: one no longer true
    (`messages.premise`) is withdrawn, never sent, and counted in `report`. A claim that was all
    withdrawn is followed by the next one, unless `stop` is set: a long run of withdrawals must
    not keep a worker past its stop. On PostgreSQL `FOR UPDATE SKIP LOCKED` lets workers pass
    each other without waiting; SQLite has no row locks, so there the conditional UPDATE in
    `claim_rows` alone prevents a double claim. The loop ends: each lost race means another worker
    took rows out of the queue.
    """
    postgresql = db.session.get_bind().dialect.name == "postgresql"
    while True:
        if postgresql:
            claimed = _claim_oldest(worker_id, limit, now)
            if not claimed:
                return []
        else:
            due = db.session.scalars(_oldest_due(now, limit)).all()
            if not due:
                db.session.commit()
                return []
            claimed = claim_rows(due, worker_id, now)
        if claimed:
            kept = withdraw_untrue(claimed, now)
            if len(kept) < len(claimed):
                db.session.commit()
                if report is not None:
                    report.withdrawn += len(claimed) - len(kept)
            if kept:
                return kept
            if stop is not None and stop.is_set():
                return []
