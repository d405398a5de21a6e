"""The conditions and aggregates every report is built from: scope, period, counts and totals."""

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Date, and_, case, func, literal, true

from hiretrack.admin.services import effective_settings
from hiretrack.cadence.business_calendar import ensure_calendar
from hiretrack.reports.tables import ReportFilters
from hiretrack.requisitions.models import Requisition


def department_condition(filters: ReportFilters):
    """SQL condition: the requisition is in the report's department, if it names one."""
    if filters.department_id is None:
        return true()
    return Requisition.department_id == filters.department_id


def within(day, filters: ReportFilters):
    """SQL condition: a date column falls inside the report's period."""
    conditions = []
    if filters.date_from is not None:
        conditions.append(day >= filters.date_from)
    if filters.date_to is not None:
        conditions.append(day <= filters.date_to)
    return and_(true(), *conditions)


def start_of(day: date) -> datetime:
    """The first moment of a (UTC) day."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def happened_within(moment, filters: ReportFilters):
    """SQL condition: a timestamp falls on a (UTC) day of the report's period.

    Compared as timestamps, not dates, so indexes apply and the planner estimates well.
    """
    conditions = []
    if filters.date_from is not None:
        conditions.append(moment >= start_of(filters.date_from))
    if filters.date_to is not None:
        conditions.append(moment < start_of(filters.date_to + timedelta(days=1)))
    return and_(true(), *conditions)


def count_if(condition) -> object:
    """SQL aggregate: how many rows meet condition (0, never NULL, on no rows)."""
    return total(case((condition, 1), else_=0))


def total(value) -> object:
    """SQL aggregate: the sum of value, 0 (not NULL) when there are no rows."""
    return func.coalesce(func.sum(value), 0)


def today_literal(day: date):
    """Today as a SQL date value."""
    return literal(day, Date())


def ready_calendar(today: date) -> None:
    """Make sure calendar_day covers today, so business-day figures can be computed in SQL."""
    ensure_calendar(effective_settings().holidays, today)
