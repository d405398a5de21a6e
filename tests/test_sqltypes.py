"""Lists bound as one parameter: what PostgreSQL reads back is what was bound, on every database."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import Date, Integer, String, column, select, text

from hiretrack.database import UTCDateTime
from hiretrack.extensions import db
from hiretrack.sqltypes import any_of, array_sql
from tests.conftest import POSTGRES_URL


def test_any_of_keeps_exactly_the_listed_ids(ctx):
    dialect = db.session.get_bind().dialect.name
    # A table of four rows, 1 to 4; VALUES names its column column1 on both databases.
    numbers = (
        select(column("column1", Integer()).label("n"))
        .select_from(text("(VALUES (1), (2), (3), (4)) AS numbers"))
        .subquery()
    )
    query = select(numbers.c.n).where(any_of(numbers.c.n, "ids", dialect)).order_by(numbers.c.n)
    for ids in ([2, 4], [3], [], [5, 1, 1]):
        assert db.session.scalars(query, {"ids": ids}).all() == sorted(set(ids) & {1, 2, 3, 4})


@pytest.mark.skipif(not POSTGRES_URL, reason="arrays are PostgreSQL's")
@pytest.mark.parametrize(
    ("element_type", "values"),
    [
        (
            String(),
            [
                "plain",
                'with "quotes"',
                "back\\slash",
                "a,b",
                "{braces}",
                " spaced ",
                "NULL",
                "",
                "naïve ünïcode",
                None,
            ],
        ),
        (Integer(), [0, -7, 2**31 - 1, None]),
        (Date(), [date(2026, 2, 28), date(999, 1, 1), None]),
        (
            UTCDateTime(),
            [
                datetime(2026, 12, 5, 9, 30, 1, 123456, tzinfo=UTC),
                datetime(2026, 3, 29, 1, 0, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
                None,
            ],
        ),
    ],
)
def test_a_list_bound_as_array_text_reads_back_as_bound(ctx, element_type, values):
    sql, parameter = array_sql("items", element_type)
    statement = text(f"SELECT unnest({sql}) AS item").bindparams(parameter)
    read = db.session.execute(statement.columns(column("item", element_type)), {"items": values})
    assert [row.item for row in read] == values


@pytest.mark.skipif(not POSTGRES_URL, reason="arrays are PostgreSQL's")
def test_a_naive_datetime_is_refused_in_an_array_too(ctx):
    sql, parameter = array_sql("items", UTCDateTime())
    statement = text(f"SELECT unnest({sql})").bindparams(parameter)
    with pytest.raises(Exception, match="naive datetime"):
        db.session.execute(statement, {"items": [datetime(2026, 12, 5, 9, 30)]})
