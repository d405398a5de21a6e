"""Small SQL constructs that compile differently per database, so queries stay portable."""

from sqlalchemy import Date, func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement


class utc_date(FunctionElement):  # noqa: N801  (reads like a SQL function)
    """The UTC calendar date of a stored timestamp: date(x) on SQLite, CAST(x AS DATE) elsewhere."""

    type = Date()
    inherit_cache = True
    name = "utc_date"


@compiles(utc_date)
def _utc_date_default(element, compiler, **kw):
    (argument,) = list(element.clauses)
    return f"CAST({compiler.process(argument, **kw)} AS DATE)"


@compiles(utc_date, "postgresql")
def _utc_date_postgresql(element, compiler, **kw):
    (argument,) = list(element.clauses)
    return f"CAST(({compiler.process(argument, **kw)} AT TIME ZONE 'UTC') AS DATE)"


@compiles(utc_date, "sqlite")
def _utc_date_sqlite(element, compiler, **kw):
    (argument,) = list(element.clauses)
    return f"date({compiler.process(argument, **kw)})"


def as_utc_date(column) -> ColumnElement:
    return utc_date(column)


class least_date(FunctionElement):  # noqa: N801  (reads like a SQL function)
    """The earliest of several dates, ignoring NULLs (NULL only when all are NULL).

    PostgreSQL's LEAST already ignores NULLs; SQLite's multi-argument min() returns NULL if any
    argument is NULL, so there each argument is defaulted to a far-future ISO date first (SQLite
    stores dates as ISO text, which sorts like the dates). Nested CASEs would do the same
    portably, but grow exponentially with the number of dates and slow down compiling.
    """

    type = Date()
    inherit_cache = True
    name = "least_date"


@compiles(least_date)
def _least_date_default(element, compiler, **kw):
    arguments = ", ".join(compiler.process(clause, **kw) for clause in element.clauses)
    return f"LEAST({arguments})"


@compiles(least_date, "sqlite")
def _least_date_sqlite(element, compiler, **kw):
    clauses = list(element.clauses)
    if len(clauses) == 1:
        return compiler.process(clauses[0], **kw)
    never = "'9999-12-31'"
    arguments = ", ".join(f"coalesce({compiler.process(c, **kw)}, {never})" for c in clauses)
    return f"nullif(min({arguments}), {never})"


class not_indexed_on_sqlite(FunctionElement):  # noqa: N801  (reads like a SQL function)
    """A column that SQLite must not look up in an index; on PostgreSQL, the column itself.

    On SQLite it is written `coalesce(x, x)`, which no index serves, so SQLite starts from a
    more selective condition instead. PostgreSQL weighs its indexes by their statistics and
    gains from using such a column in an index (see `cadence.queries.is_open`).
    """

    inherit_cache = True
    name = "not_indexed_on_sqlite"

    def __init__(self, column):
        super().__init__(column)
        self.type = column.type


@compiles(not_indexed_on_sqlite)
def _not_indexed_default(element, compiler, **kw):
    (argument,) = list(element.clauses)
    return compiler.process(argument, **kw)


@compiles(not_indexed_on_sqlite, "sqlite")
def _not_indexed_sqlite(element, compiler, **kw):
    (argument,) = list(element.clauses)
    column = compiler.process(argument, **kw)
    return f"coalesce({column}, {column})"


def unindexed(column: ColumnElement) -> ColumnElement:
    """A column that no index may serve a condition on: `coalesce(x, x)`, the same value.

    For a condition the planner misjudges: PostgreSQL estimated 127 ghosted applications among
    400,000 where there were 1,464 (ghosted_on is set only on open rows, a correlation its
    statistics cannot see), so it read them all by an index on ghosted_on and sorted them for
    a page of 25. As a filter, the condition is checked while an index is read in the page's
    order, which stops at the page's end.
    """
    return func.coalesce(column, column)
