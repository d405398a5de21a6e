"""Cadence figures for every open application, computed by the database in one query.

The dashboard, the API, the reports and the reminders all read `cadence_query`, so an
application is "overdue" in exactly the same sense everywhere. See docs/cadence.md.

For one application, with N its cadence in business days (the requisition's, else the
organisation's):
- anchor: the last outbound contact that reached the candidate, else when the application opened;
- next update due, the earliest of:
  - the promised next update, moved back to the last business day on or before it (a promise
    for Sunday must be kept by Friday);
  - anchor + N business days, from final round onwards (candidates waiting on a decision);
  - the next business day after an inbound contact we have not answered since;
  - the next business day after an update was requested (e.g. a hold was placed);
- status: ghosted when silent for more than 2N business days (final round onwards), overdue when
  the due date has passed, due when it is today or the next business day, else on track.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.orm import aliased

from hiretrack.admin.services import effective_settings
from hiretrack.cadence.business_calendar import ensure_calendar
from hiretrack.cadence.calendar import add_business_days
from hiretrack.cadence.models import CalendarDay
from hiretrack.candidates.models import Application
from hiretrack.candidates.stages import OPEN_STAGES, Stage
from hiretrack.database import memoized_statement, utcnow
from hiretrack.extensions import db
from hiretrack.requisitions.models import Requisition
from hiretrack.sqltypes import as_utc_date, least_date


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

#: Stages at which the candidate waits on a decision, so the cadence clock runs (final round on).
CADENCE_STAGES = frozenset(OPEN_STAGES - {Stage.INTERVIEWING})


@dataclass(frozen=True)
class CadenceColumns:
    """The computed columns of `cadence_query`, to select, filter and order by."""

    next_update_due: ColumnElement
    status: ColumnElement
    urgency: ColumnElement
    business_days_silent: ColumnElement
    cadence_days: ColumnElement
    awaiting_reply: ColumnElement


def _business_day_after(alias, start_number: ColumnElement, offset: ColumnElement | int):
    """Join condition: alias is the business day `offset` business days after a day numbered so."""
    return and_(
        alias.business_day_number == start_number + offset,
        alias.is_business_day.is_(True),
    )


def cadence_key(today: date | None = None) -> tuple:
    """What `cadence_query`'s statement depends on: the day and the organisation's cadence settings.

    Also makes sure the calendar_day table covers that day (which may fill it and commit).
    """
    today = today or utcnow().date()
    settings = effective_settings()
    ensure_calendar(settings.holidays, today)
    return today, settings.holidays, settings.cadence_business_days


def cadence_query(today: date | None = None) -> tuple[Select, CadenceColumns]:
    """Return a SELECT over open applications with their cadence columns, and those columns.

    Callers add their own WHERE (access scope, filters), ORDER BY and LIMIT; the query joins
    Requisition so scope conditions on it work. It may fill the calendar_day table first (and
    commit) when the holiday calendar changed or the covered years ran out.

    The statement depends only on `cadence_key`, so it is built once per process for each
    (see `memoized_statement`): building it costs more than running it on a manager's page.
    """
    key = cadence_key(today)
    return memoized_statement("cadence", key, lambda: _build_cadence_query(*key))


def _build_cadence_query(
    today: date, holidays: str | None, organisation_cadence_days: int
) -> tuple[Select, CadenceColumns]:
    """Build `cadence_query`'s statement for one day and one set of cadence settings."""
    next_business_day = add_business_days(today + timedelta(days=1), 0, holidays)

    cadence_days = func.coalesce(Requisition.cadence_business_days, organisation_cadence_days)
    anchor_day = as_utc_date(func.coalesce(Application.last_contact_at, Application.opened_at))
    anchor = aliased(CalendarDay, name="anchor_day")
    today_row = aliased(CalendarDay, name="today_day")
    cadence_due = aliased(CalendarDay, name="cadence_due_day")
    promised = aliased(CalendarDay, name="promised_day")
    promised_due = aliased(CalendarDay, name="promised_due_day")
    inbound = aliased(CalendarDay, name="inbound_day")
    inbound_due = aliased(CalendarDay, name="inbound_due_day")
    requested = aliased(CalendarDay, name="requested_day")
    requested_due = aliased(CalendarDay, name="requested_due_day")

    # An anchor older than the calendar counts from its first day: silent for years either way.
    anchor_number = func.coalesce(anchor.business_day_number, 0)
    clock_runs = Application.stage.in_([stage.value for stage in CADENCE_STAGES])
    awaiting_reply = and_(
        Application.last_inbound_at.is_not(None),
        or_(
            Application.last_contact_at.is_(None),
            Application.last_inbound_at > Application.last_contact_at,
        ),
    )
    next_due = least_date(
        case(
            (
                Application.promised_next_update.is_not(None),
                func.coalesce(promised_due.day, Application.promised_next_update),
            ),
            else_=None,
        ),
        case((clock_runs, cadence_due.day), else_=None),
        case((awaiting_reply, inbound_due.day), else_=None),
        case((Application.update_requested_at.is_not(None), requested_due.day), else_=None),
    )
    silent = today_row.business_day_number - anchor_number
    status = case(
        (and_(clock_runs, silent > 2 * cadence_days), literal(CadenceStatus.GHOSTED.value)),
        (next_due < today, literal(CadenceStatus.OVERDUE.value)),
        (next_due <= next_business_day, literal(CadenceStatus.DUE.value)),
        else_=literal(CadenceStatus.ON_TRACK.value),
    )
    urgency = case({name.value: rank for name, rank in URGENCY.items()}, value=status)
    query = (
        select(Application)
        .join(Requisition, Requisition.id == Application.requisition_id)
        .join(today_row, today_row.day == today)
        .outerjoin(anchor, anchor.day == anchor_day)
        .outerjoin(cadence_due, _business_day_after(cadence_due, anchor_number, cadence_days))
        .outerjoin(promised, promised.day == Application.promised_next_update)
        .outerjoin(promised_due, _business_day_after(promised_due, promised.business_day_number, 0))
        .outerjoin(inbound, inbound.day == as_utc_date(Application.last_inbound_at))
        .outerjoin(inbound_due, _business_day_after(inbound_due, inbound.business_day_number, 1))
        .outerjoin(requested, requested.day == as_utc_date(Application.update_requested_at))
        .outerjoin(
            requested_due, _business_day_after(requested_due, requested.business_day_number, 1)
        )
        .where(Application.closed_at.is_(None))
    )
    columns = CadenceColumns(next_due, status, urgency, silent, cadence_days, awaiting_reply)
    return query, columns


@dataclass(frozen=True)
class ApplicationCadence:
    """Cadence figures for one application, for pages and the API."""

    status: CadenceStatus
    next_update_due: date | None
    business_days_silent: int

    @property
    def label(self) -> str:
        return CADENCE_LABELS[self.status]


def cadence_for(
    application_ids: list[int], today: date | None = None
) -> dict[int, ApplicationCadence]:
    """Cadence figures for a page of applications, in one query (closed ones are left out)."""
    if not application_ids:
        return {}
    key = cadence_key(today)
    statement = memoized_statement("cadence_for", key, lambda: _cadence_for_statement(key[0]))
    rows = db.session.execute(statement, {"application_ids": list(application_ids)})
    return {
        row[0]: ApplicationCadence(CadenceStatus(row[1]), as_date(row[2]), int(row[3] or 0))
        for row in rows
    }


def _cadence_for_statement(today: date) -> Select:
    query, columns = cadence_query(today)
    return query.with_only_columns(
        Application.id, columns.status, columns.next_update_due, columns.business_days_silent
    ).where(Application.id.in_(bindparam("application_ids", expanding=True)))


def cadence_summary(
    scope_condition: ColumnElement[bool] | None = None, today: date | None = None
) -> dict[CadenceStatus, int]:
    """Count open applications per cadence status within a scope, for dashboards and reports.

    Pass e.g. `hiretrack.auth.access.visible_applications(user)`; every status is in the
    result, with 0 where none match.
    """
    query, columns = cadence_query(today)
    scoped = query.with_only_columns(columns.status.label("status")).where(
        true() if scope_condition is None else scope_condition
    )
    statuses = scoped.subquery()
    counts = db.session.execute(
        select(statuses.c.status, func.count()).group_by(statuses.c.status)
    ).all()
    summary = dict.fromkeys(CadenceStatus, 0)
    summary.update({CadenceStatus(status): count for status, count in counts})
    return summary


def as_date(value: object) -> date | None:
    """SQLite hands dates computed by CASE back as text; normalise to date."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
