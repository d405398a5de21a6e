"""The reminders run's first step: record broken promises and flag ghosted applications.

Plain SQL statements over every open application, safe to repeat; `hiretrack.cadence.reminders`
runs them before it plans the day's digests and check-ins.
"""

from datetime import date
from functools import partial

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.orm import aliased

from hiretrack.admin.services import effective_settings
from hiretrack.cadence.business_calendar import ensure_calendar
from hiretrack.cadence.models import CalendarDay
from hiretrack.cadence.queries import CadenceStatus, cadence_query
from hiretrack.candidates.models import Application, Direction, Touchpoint
from hiretrack.database import retry_when_ended_for_another
from hiretrack.extensions import db
from hiretrack.sqltypes import as_utc_date


def _broken_promise_condition(today: date):
    """Outbound promises whose date passed with no outbound contact reaching the candidate since."""
    later = aliased(Touchpoint, name="later_contact")
    kept = exists().where(
        later.application_id == Touchpoint.application_id,
        later.direction == Direction.OUTBOUND.value,
        later.occurred_at.is_not(None),
        later.occurred_at > Touchpoint.occurred_at,
        as_utc_date(later.occurred_at) <= Touchpoint.promised_next_update,
    )
    return and_(
        Touchpoint.promised_next_update < today,
        Touchpoint.promise_broken_on.is_(None),
        Touchpoint.direction == Direction.OUTBOUND.value,
        Touchpoint.occurred_at.is_not(None),
        ~kept,
    )


def count_broken_promises(today: date) -> int:
    """How many promises `record_broken_promises` would record now (for the dry run)."""
    return db.session.scalar(
        select(func.count()).select_from(Touchpoint).where(_broken_promise_condition(today))
    )


def record_broken_promises(today: date) -> int:
    """Mark each broken promise with the day it broke (the day after its date); idempotent.

    Only promises that reached the candidate count: a queued email's promise was never made.
    """
    ensure_calendar(effective_settings().holidays, today)
    day_after = (
        select(func.min(CalendarDay.day))
        .where(CalendarDay.day > Touchpoint.promised_next_update)
        .scalar_subquery()
    )
    result = db.session.execute(
        update(Touchpoint)
        .where(_broken_promise_condition(today))
        .values(promise_broken_on=func.coalesce(day_after, today))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def _ghosted_ids(today: date):
    """The ids of ghosted applications not yet flagged, as a self-contained subquery."""
    query, columns = cadence_query(today)
    return (
        query.with_only_columns(Application.id)
        .where(columns.status == CadenceStatus.GHOSTED.value, Application.was_ghosted.is_(False))
        .correlate(None)
    )


def count_newly_ghosted(today: date) -> int:
    """How many applications `mark_ghosted` would flag now (for the dry run)."""
    return db.session.scalar(select(func.count()).select_from(_ghosted_ids(today).subquery()))


def mark_ghosted(today: date) -> int:
    """Flag ghosted applications for good, so the closure ledger remembers the silence.

    The version counter is left alone on purpose: the flag changes nothing a person is editing.
    """
    result = db.session.execute(
        update(Application)
        .where(Application.id.in_(_ghosted_ids(today)))
        .values(was_ghosted=True)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def prepare_run(today: date) -> tuple[int, int]:
    """Record broken promises and ghosted applications, and commit; return both counts.

    One transaction of updates across many applications, run again from scratch if PostgreSQL
    ends it for a concurrent writer (a web edit of one of those applications, in another order).
    """
    return retry_when_ended_for_another(
        partial(_prepare_run, today), db.session, what="Recording promises and ghosting"
    )


def _prepare_run(today: date) -> tuple[int, int]:
    """One run of `prepare_run`."""
    ensure_calendar(effective_settings().holidays, today)
    broken = record_broken_promises(today)
    ghosted = mark_ghosted(today)
    db.session.commit()
    return broken, ghosted
