"""Portable SQL pieces the reports share: business days, elapsed hours and percentiles.

Every figure in a report is computed by the database; these helpers keep the few constructs that
differ between SQLite and PostgreSQL in one place.
"""

from collections.abc import Sequence
from datetime import date

from sqlalchemy import Float, Integer, Select, case, cast, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from hiretrack.cadence.models import CalendarDay
from hiretrack.extensions import db


class hours_between(FunctionElement):  # noqa: N801  (reads like the SQL function it stands for)
    """Hours elapsed from the first timestamp to the second, as a floating-point number."""

    type = Float()
    inherit_cache = True
    name = "hours_between"


@compiles(hours_between)
def _hours_between_default(element, compiler, **kw):
    start, end = (compiler.process(argument, **kw) for argument in element.clauses)
    return f"(EXTRACT(EPOCH FROM ({end} - {start})) / 3600.0)"


@compiles(hours_between, "sqlite")
def _hours_between_sqlite(element, compiler, **kw):
    start, end = (compiler.process(argument, **kw) for argument in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 24.0)"


def business_day_number(day: ColumnElement | date) -> ColumnElement:
    """The running business-day number of a date, looked up in calendar_day.

    The difference of two numbers is the count of business days after the first date up to and
    including the second. A date before the calendar counts as its start (0).
    """
    number = (
        select(CalendarDay.business_day_number)
        .where(CalendarDay.day == day)
        .correlate_except(CalendarDay)
        .scalar_subquery()
    )
    return func.coalesce(number, 0)


def business_days_between(start: ColumnElement | date, end: ColumnElement | date) -> ColumnElement:
    """Business days after start up to and including end, never below zero."""
    difference = business_day_number(end) - business_day_number(start)
    return case((difference > 0, difference), else_=0)


def later_of(first: ColumnElement, second: ColumnElement) -> ColumnElement:
    """The later of two non-null values, portable (SQLite has no GREATEST)."""
    return case((second > first, second), else_=first)


def ratio_percent(part: ColumnElement, whole: ColumnElement) -> ColumnElement:
    """part / whole as a percentage, NULL when whole is 0 (never an integer division)."""
    return case((whole > 0, cast(part, Float) * 100.0 / whole), else_=None)


def percentiles(
    source,
    value: str,
    fractions: dict[str, float],
    group_by: Sequence[str] = (),
) -> Select:
    """Continuous percentiles (like percentile_cont) of source.c[value] per group, in SQL.

    PostgreSQL has percentile_cont; elsewhere the rows are ranked with window functions
    (ROW_NUMBER and COUNT over the group) and the two neighbouring ranks interpolated. Returns
    a SELECT of the group columns and one column per fraction name; NULL rows are ignored.
    """
    groups = [source.c[name] for name in group_by]
    present = source.c[value].is_not(None)
    if db.engine.dialect.name == "postgresql":
        columns = [
            func.percentile_cont(fraction).within_group(source.c[value]).label(name)
            for name, fraction in fractions.items()
        ]
        return select(*groups, *columns).where(present).group_by(*groups)
    ranked = (
        select(
            *groups,
            source.c[value].label("value"),
            (
                func.row_number().over(partition_by=groups or None, order_by=source.c[value]) - 1
            ).label("ordinal"),
            func.count().over(partition_by=groups or None).label("total"),
        )
        .where(present)
        .subquery("ranked")
    )
    ranked_groups = [ranked.c[name] for name in group_by]
    columns = []
    for name, fraction in fractions.items():
        position = literal(fraction, Float) * (ranked.c.total - 1)
        lower_rank = cast(position, Integer)  # positions are never negative: this is floor()
        lower = func.max(case((ranked.c.ordinal == lower_rank, ranked.c.value)))
        upper = func.max(case((ranked.c.ordinal == lower_rank + 1, ranked.c.value)))
        weight = func.max(position - lower_rank)
        columns.append((lower + weight * (func.coalesce(upper, lower) - lower)).label(name))
    return select(*ranked_groups, *columns).group_by(*ranked_groups)
