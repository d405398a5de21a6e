"""How many candidates each closed requisition still owes closure, kept on the requisition.

The dashboard shows the organisation's total. Counting it from the applications starts from
every filled or cancelled requisition (1,400 at 100,000 applications, 5,600 at 400,000: 4 ms on
SQLite), although nearly all owe nothing. So each requisition stores its own figure
(`Requisition.closure_pending`), recounted in the transaction of every flush that changes what
it depends on (an application's stage, closure or requisition; a requisition's status), and an
index over it reads only the requisitions that owe something. `recount` rewrites every row
(`hiretrack cadence recompute`, after rows written in bulk).
"""

from collections.abc import Iterable

from sqlalchemy import ColumnElement, and_, event, func, inspect, or_, select, update
from sqlalchemy.orm import Session

from hiretrack.candidates.models import Application
from hiretrack.candidates.stages import Stage
from hiretrack.requisitions.models import (
    CLOSED_REQUISITION_STATUSES,
    Requisition,
    RequisitionStatus,
)

#: What an application's closure pending depends on, and a requisition's.
APPLICATION_FACTS = ("stage", "closed_at", "requisition_id")
REQUISITION_FACTS = ("status",)

#: Session.info key: the requisitions to recount after the flush.
_AFFECTED = "hiretrack_closure_pending"


def closure_pending_condition() -> ColumnElement[bool]:
    """SQL form of `closure_pending_count`'s rule, on Application joined to Requisition.

    Lets the dashboard and lists count closure pending over many requisitions in one query.
    """
    return and_(
        Requisition.status.in_([s.value for s in CLOSED_REQUISITION_STATUSES]),
        Application.closed_at.is_(None),
        or_(
            Application.stage != Stage.ACCEPTED.value,
            Requisition.status == RequisitionStatus.CANCELLED.value,
        ),
    )


def recount(session: Session, requisition_ids: Iterable[int] | None = None) -> None:
    """Rewrite the stored closure pending of some requisitions (None: all) from their rows.

    A derived figure, not an edit: the version counter and updated_at are left alone.
    """
    table = Requisition.__table__
    owed = (
        select(func.count(Application.id))
        .where(Application.requisition_id == Requisition.id, closure_pending_condition())
        .scalar_subquery()
    )
    # Only the rows whose figure changes: an open requisition's stays 0, and its row is neither
    # written nor locked (concurrent contacts and moves on it would queue behind the lock).
    statement = (
        update(table)
        .where(table.c.closure_pending != owed)
        .values(closure_pending=owed, updated_at=table.c.updated_at)
    )
    if requisition_ids is not None:
        statement = statement.where(table.c.id.in_(sorted(requisition_ids)))
    session.connection().execute(statement)


def _changed(obj, facts: tuple[str, ...]) -> bool:
    state = inspect(obj)
    return (
        state.pending
        or state.deleted
        or any(state.attrs[name].history.has_changes() for name in facts)
    )


@event.listens_for(Session, "before_flush")
def _note_affected(session: Session, _flush_context, _instances) -> None:
    """Remember the requisitions whose closure pending this flush may change."""
    affected = set()
    with session.no_autoflush:
        for obj in (*session.new, *session.dirty, *session.deleted):
            if isinstance(obj, Application) and _changed(obj, APPLICATION_FACTS):
                history = inspect(obj).attrs.requisition_id.history
                affected.update(value for value in history.deleted if value is not None)
                requisition = obj.__dict__.get("requisition")
                affected.add(obj.requisition_id or (requisition.id if requisition else None))
            elif (
                isinstance(obj, Requisition)
                and obj.id is not None
                and _changed(obj, REQUISITION_FACTS)
            ):
                affected.add(obj.id)
    affected.discard(None)
    if affected:
        session.info.setdefault(_AFFECTED, set()).update(affected)


@event.listens_for(Session, "after_flush_postexec")
def _recount_affected(session: Session, _flush_context) -> None:
    affected = session.info.pop(_AFFECTED, None)
    if not affected:
        return
    # A new application's requisition may itself have been new in this flush: ids exist now.
    recount(session, affected)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Requisition) and obj.id in affected:
            session.expire(obj, ["closure_pending"])


@event.listens_for(Session, "after_rollback")
def _drop_affected(session: Session) -> None:
    session.info.pop(_AFFECTED, None)
