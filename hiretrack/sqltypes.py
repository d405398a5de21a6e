"""Small SQL constructs that compile differently per database, so queries stay portable.

Lists of values bound as parameters are among them: on PostgreSQL one array each (`pairs_table`,
`any_of`), elsewhere one parameter per value.
"""

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ARRAY, Date, String, any_, bindparam, cast, func
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.expression import ColumnElement, FunctionElement
from sqlalchemy.types import TypeDecorator, TypeEngine


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


def _array_element(value: object) -> str:
    """One element of PostgreSQL's text form of an array."""
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given; HireTrack stores aware UTC datetimes only")
        return value.isoformat()
    return str(value)  # int, date (ISO), Decimal


class ArrayText(TypeDecorator):
    """A list bound as the text form of a PostgreSQL array (`{1,2,NULL}`), cast in the SQL.

    psycopg dumps a list parameter element by element in Python (1.5-3 µs each: a delivery
    claim's arrays of a hundred rows cost its worker 3 ms); written here it is one join.
    """

    impl = String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else "{" + ",".join(map(_array_element, value)) + "}"


def array_sql(key: str, element_type: TypeEngine) -> tuple[str, BindParameter]:
    """PostgreSQL: SQL text for an array of `element_type` bound as `key`, and its parameter."""
    sql_type = ARRAY(element_type).compile(dialect=postgresql.dialect())
    return f"CAST(:{key} AS {sql_type})", bindparam(key, type_=ArrayText())


def pairs_size(dialect: str, count: int) -> int:
    """How many rows the `pairs_table` holding `count` pairs has.

    On SQLite the power of two at or above it: a statement built per size then exists in a
    handful of sizes per process. On PostgreSQL 0: the pairs are two array parameters, and
    one statement serves every count.
    """
    if dialect == "postgresql":
        return 0
    return 1 << max(count - 1, 0).bit_length()


def pairs_table(
    dialect: str, size: int, key_type: TypeEngine, value_type: TypeEngine
) -> tuple[str, list[BindParameter]]:
    """SQL text of a table of rows of two bound values, and its typed parameters.

    For an `UPDATE ... FROM` that gives each row its own value (a time per message) without a
    `CASE` expression built per execution; its columns are `column1` and `column2`. On
    PostgreSQL it is `unnest` of two arrays, `keys` and `values`: psycopg parses a statement of
    more than 50 parameters again at every execution (a delivery claim's 256 took 0.4 ms), and
    the server plans it again. On SQLite (3.33 or later) a VALUES list of `size` rows, with the
    parameters `key_N` and `value_N`.
    """
    if dialect == "postgresql":
        keys, keys_parameter = array_sql("keys", key_type)
        values, values_parameter = array_sql("values", value_type)
        sql = f"(SELECT * FROM unnest({keys}, {values}) AS pairs (column1, column2))"
        return sql, [keys_parameter, values_parameter]
    sql = "(VALUES " + ", ".join(f"(:key_{n}, :value_{n})" for n in range(size)) + ")"
    parameters = [bindparam(f"key_{n}", type_=key_type) for n in range(size)]
    parameters += [bindparam(f"value_{n}", type_=value_type) for n in range(size)]
    return sql, parameters


def pairs_parameters(
    dialect: str, pairs: Iterable[tuple[object, object]], size: int
) -> dict[str, object]:
    """The parameters of a `pairs_table(dialect, size)` holding `pairs`; on SQLite the rows
    after them are NULLs, which join nothing."""
    if dialect == "postgresql":
        keys, values = [], []
        for key, value in pairs:
            keys.append(key)
            values.append(value)
        return {"keys": keys, "values": values}
    parameters: dict[str, object] = {}
    count = 0
    for count, (key, value) in enumerate(pairs, start=1):
        parameters[f"key_{count - 1}"] = key
        parameters[f"value_{count - 1}"] = value
    for n in range(count, size):
        parameters[f"key_{n}"] = parameters[f"value_{n}"] = None
    return parameters


def any_of(column: ColumnElement, key: str, dialect: str) -> ColumnElement[bool]:
    """`column` among a list bound as `key`: on PostgreSQL `= ANY` of one array parameter,
    elsewhere an expanding `IN`.

    The same statement for a list of any length: psycopg parses it once (it parses a statement
    of more than 50 parameters again at every execution), and PostgreSQL plans it once.
    """
    if dialect == "postgresql":
        return column == any_(cast(bindparam(key, type_=ArrayText()), ARRAY(column.type)))
    return column.in_(bindparam(key, expanding=True))
