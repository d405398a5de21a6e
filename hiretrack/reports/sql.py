"""Portable SQL pieces the reports share: business days, elapsed hours and percentiles.

Every figure in a report is computed by the database; these helpers keep the few constructs that
differ between SQLite and PostgreSQL in one place.
"""

from collections.abc import Mapping, Sequence
from datetime import date

from sqlalchemy import (
    Float,
    Integer,
    Row,
    Select,
    case,
    cast,
    func,
    literal,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from hiretrack.cadence.models import CalendarDay
from hiretrack.extensions import db
from hiretrack.reports.tables import Column, Table


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
    """Business days after start up to and including end, never below zero.

    Two correlated lookups per row: fine for a few hundred rows. Queries over thousands join
    `calendar_day` once per date instead (`CalendarLookup`).
    """
    return _days_from_numbers(business_day_number(start), business_day_number(end))


def _days_from_numbers(start_number: ColumnElement, end_number: ColumnElement) -> ColumnElement:
    difference = end_number - start_number
    return case((difference > 0, difference), else_=0)


class CalendarLookup:
    """calendar_day joined once per date a query needs, for business days over many rows.

    `day(name, expression)` names a join of calendar_day on that date; `joined(query)` adds
    every such join (outer joins: a date outside the calendar counts as its start, like
    `business_day_number`); `between(start, end)` is then a plain subtraction of two joined
    columns, where correlated lookups would look each date up twice per row.
    """

    def __init__(self) -> None:
        self._joins: dict[str, tuple[object, ColumnElement]] = {}

    def day(self, name: str, expression: ColumnElement | date) -> str:
        self._joins[name] = (aliased(CalendarDay, name=f"{name}_day"), expression)
        return name

    def number(self, name: str) -> ColumnElement:
        alias, _ = self._joins[name]
        return func.coalesce(alias.business_day_number, 0)

    def between(self, start: str, end: str) -> ColumnElement:
        """Business days after the day named start up to and including end, never below zero."""
        return _days_from_numbers(self.number(start), self.number(end))

    def joined(self, query: Select) -> Select:
        for alias, expression in self._joins.values():
            query = query.outerjoin(alias, alias.day == expression)
        return query


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


class Sections:
    """Several tables of one report computed by one statement, run once however many read it.

    Each branch is the SELECT of one table's rows and the order of those rows. They are combined
    with UNION ALL over the same columns (NULL where a table has no such column), each row tagged
    with its table (`section`, the branch's position) and its place in that table (`ordinal`).
    The branches read one common table expression, which SQLite and PostgreSQL compute once for
    the whole statement when it is read more than once: a report's base rows (the holds with
    the candidates they strand, the closed applications) are computed once, not once per table.

    `query(name)` computes one table on its own (both databases prune the other branches).
    `rows(name)` runs the whole statement the first time any table is read and keeps every
    table's rows, so use it for tables of a bounded size: subtotals, totals, one row per hold.
    """

    SECTION = "section"
    ORDINAL = "ordinal"

    def __init__(
        self,
        branches: Mapping[str, tuple[Select, Sequence[ColumnElement]]],
    ) -> None:
        # Each column's type, from the first branch that has it: PostgreSQL resolves a UNION's
        # types pair by pair, so a bare NULL in the first two branches would become text.
        types: dict[str, object] = {}
        for branch, _ in branches.values():
            for column in branch.selected_columns:
                if column.key not in types or types[column.key]._isnull:
                    types[column.key] = column.type
        fillers = {
            key: null() if type_._isnull else cast(null(), type_) for key, type_ in types.items()
        }
        self.names = list(branches)
        parts = []
        for number, (branch, order_by) in enumerate(branches.values()):
            own = {column.key: column for column in branch.selected_columns}
            parts.append(
                branch.with_only_columns(
                    literal_column(str(number), Integer).label(self.SECTION),
                    func.row_number().over(order_by=list(order_by)).label(self.ORDINAL),
                    *[(own[key] if key in own else fillers[key]).label(key) for key in types],
                    maintain_column_froms=True,
                )
            )
        self.combined = union_all(*parts).subquery("report_sections")
        self.keys = [column.key for column in self.combined.c]
        self._kept: dict[str, list[Row]] | None = None

    def _number(self, name: str) -> ColumnElement:
        return literal_column(str(self.names.index(name)), Integer)

    def query(self, name: str) -> Select:
        """One table's rows, in order, from the combined statement (for running on its own)."""
        combined = self.combined
        return (
            select(*[column for column in combined.c if column.key != self.SECTION])
            .where(combined.c[self.SECTION] == self._number(name))
            .order_by(combined.c[self.ORDINAL])
        )

    def table(self, name: str, title: str, columns: tuple[Column, ...], **options) -> Table:
        """The report table computed by the branch called name."""
        return Table(name, title, columns, self.query(name), sections=self, **options)

    def rows(self, name: str) -> list[Row]:
        """One table's rows, in order; reading the first table runs the statement for all."""
        if self._kept is None:
            combined = self.combined
            statement = select(combined).order_by(
                combined.c[self.SECTION], combined.c[self.ORDINAL]
            )
            kept: dict[str, list[Row]] = {}
            for row in db.session.execute(statement):
                kept.setdefault(self.names[row[0]], []).append(row)
            self._kept = kept
        return self._kept.get(name, [])
