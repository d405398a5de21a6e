"""Small SQL constructs that compile differently per database, so queries stay portable."""

from sqlalchemy import Date
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
