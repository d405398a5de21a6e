"""Cadence figures for every open application, computed by the database in one query.

The dashboard, the API, the reports and the reminders all read `cadence_query`, so an
application is "overdue" in exactly the same sense everywhere.

For one application, with N its cadence in business days:
- anchor: the last outbound contact that reached the candidate, else when the application opened;
- next update due: the earliest of the promised next update, anchor + N business days, the next
  business day after an unanswered inbound contact, and the next business day after an update
  was requested (e.g. a hold was placed);
- status: ghosted when silent for more than 2N business days, overdue when the due date has
  passed, due when it is at most 1 business day away, else on track.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from sqlalchemy import Select, and_, case, func, literal, or_, select
from sqlalchemy.orm import aliased

from hiretrack.admin.services import effective_settings
from hiretrack.cadence.business_calendar import ensure_calendar
from hiretrack.cadence.calendar import add_business_days
from hiretrack.cadence.models import CalendarDay
from hiretrack.candidates.models import Application
from hiretrack.database import utcnow
from hiretrack.requisitions.models import Requisition
from hiretrack.sqltypes import as_utc_date


class CadenceStatus(StrEnum):
    GHOSTED = "ghosted"
    OVERDUE = "overdue"
    DUE = "due"
    ON_TRACK = "on_track"


CADENCE_LABELS = {
    CadenceStatus.GHOSTED: "Ghosted",
    CadenceStatus.OVERDUE: "Overdue",
    CadenceStatus.DUE: "Due",
    CadenceStatus.ON_TRACK: "On track",
}

#: Sort key: the most urgent first.
URGENCY = {
    CadenceStatus.GHOSTED: 0,
    CadenceStatus.OVERDUE: 1,
    CadenceStatus.DUE: 2,
    CadenceStatus.ON_TRACK: 3,
}


@dataclass(frozen=True)
class CadenceColumns:
    """The computed columns of `cadence_query`, to select, filter and order by."""

    next_update_due: object
    status: object
    urgency: object
    business_days_silent: object
    cadence_days: object


def _least(*values):
    """The smallest non-null date of values (NULLs ignored), portable across databases."""
    result = values[0]
    for value in values[1:]:
        result = case(
            (result.is_(None), value),
            (value.is_(None), result),
            (value < result, value),
            else_=result,
        )
    return result


def cadence_query(today: date | None = None) -> tuple[Select, CadenceColumns]:
    """Return a SELECT over open applications with their cadence columns, and those columns.

    Callers add their own WHERE (access scope, filters), ORDER BY and LIMIT; the query joins
    Requisition so scope conditions on it work.
    """
    today = today or utcnow().date()
    settings = effective_settings()
    ensure_calendar(settings.holidays, today)
    next_business_day = add_business_days(today + timedelta(days=1), 0, settings.holidays)

    cadence_days = func.coalesce(Requisition.cadence_business_days, settings.cadence_business_days)
    anchor_day = as_utc_date(func.coalesce(Application.last_contact_at, Application.opened_at))
    anchor = aliased(CalendarDay, name="anchor_day")
    today_row = aliased(CalendarDay, name="today_day")
    cadence_due = aliased(CalendarDay, name="cadence_due_day")
    inbound = aliased(CalendarDay, name="inbound_day")
    inbound_due = aliased(CalendarDay, name="inbound_due_day")
    requested = aliased(CalendarDay, name="requested_day")
    requested_due = aliased(CalendarDay, name="requested_due_day")

    unanswered_inbound = and_(
        Application.last_inbound_at.is_not(None),
        or_(
            Application.last_contact_at.is_(None),
            Application.last_inbound_at > Application.last_contact_at,
        ),
    )
    next_due = _least(
        Application.promised_next_update,
        cadence_due.day,
        case((unanswered_inbound, inbound_due.day), else_=None),
        case((Application.update_requested_at.is_not(None), requested_due.day), else_=None),
    )
    silent = today_row.business_day_number - anchor.business_day_number
    status = case(
        (silent > 2 * cadence_days, literal(CadenceStatus.GHOSTED.value)),
        (next_due < today, literal(CadenceStatus.OVERDUE.value)),
        (next_due <= next_business_day, literal(CadenceStatus.DUE.value)),
        else_=literal(CadenceStatus.ON_TRACK.value),
    )
    urgency = case({status_name.value: rank for status_name, rank in URGENCY.items()}, value=status)
    query = (
        select(Application)
        .join(Requisition, Requisition.id == Application.requisition_id)
        .join(anchor, anchor.day == anchor_day)
        .join(today_row, today_row.day == today)
        .join(
            cadence_due,
            and_(
                cadence_due.business_day_number == anchor.business_day_number + cadence_days,
                cadence_due.is_business_day.is_(True),
            ),
        )
        .outerjoin(inbound, inbound.day == as_utc_date(Application.last_inbound_at))
        .outerjoin(
            inbound_due,
            and_(
                inbound_due.business_day_number == inbound.business_day_number + 1,
                inbound_due.is_business_day.is_(True),
            ),
        )
        .outerjoin(requested, requested.day == as_utc_date(Application.update_requested_at))
        .outerjoin(
            requested_due,
            and_(
                requested_due.business_day_number == requested.business_day_number + 1,
                requested_due.is_business_day.is_(True),
            ),
        )
        .where(Application.closed_at.is_(None))
    )
    return query, CadenceColumns(next_due, status, urgency, silent, cadence_days)


@dataclass(frozen=True)
class ApplicationCadence:
    """Cadence figures for one application, for pages and the API."""

    status: CadenceStatus
    next_update_due: date | None
    business_days_silent: int


def cadence_for(
    application_ids: list[int], today: date | None = None
) -> dict[int, ApplicationCadence]:
    """Cadence figures for a page of applications, in one query (closed ones are left out)."""
    if not application_ids:
        return {}
    query, columns = cadence_query(today)
    rows = query.with_only_columns(
        Application.id, columns.status, columns.next_update_due, columns.business_days_silent
    ).where(Application.id.in_(application_ids))
    from hiretrack.extensions import db

    return {
        row[0]: ApplicationCadence(CadenceStatus(row[1]), _as_date(row[2]), int(row[3] or 0))
        for row in db.session.execute(rows)
    }


def _as_date(value) -> date | None:
    """SQLite hands dates computed by CASE back as text; normalise to date."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
