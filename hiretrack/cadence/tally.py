"""Organisation-wide counts per cadence status, read from a tally of stored dates.

Counting the open applications per status with the indexes costs in proportion to the open
applications (7,600 at 100,000 applications, 30,500 at 400,000). The `cadence_tally` table keeps
how many open applications store each date (see `CadenceTally`): a few dozen rows, whatever the
size of the company. Every writer of the stored dates passes the rows' dates before and after
to `count_change` and writes the result with `apply_changes` in the same transaction (the session
hook of `hiretrack.cadence.stored`, `record_contacts`, the bulk recompute); `rebuild` recounts
it from the applications (`hiretrack cadence recompute`).

The counts per status rest on two facts of `compute_stored_cadence`, which the property test of
tests/test_cadence_stored.py checks against the conditions of `status_conditions`:
- a ghosted application's update was due before it was ghosted (`next_update_due` is the
  earliest of several dates, one of which is the cadence from the anchor, before `ghosted_on`),
  so every ghosted application is among those whose update date has passed;
- `next_update_due` is a business day and `due_from` the business day before it, so "due" is
  `next_update_due` between today and the next business day.
"""

import functools
from collections import Counter
from collections.abc import Mapping
from datetime import date, timedelta

from sqlalchemy import (
    Connection,
    Select,
    TextClause,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

from hiretrack.cadence.calendar import add_business_days
from hiretrack.cadence.models import CadenceTally
from hiretrack.cadence.queries import CadenceStatus, cadence_key
from hiretrack.candidates.models import Application
from hiretrack.database import memoized_statement
from hiretrack.extensions import db
from hiretrack.sqltypes import array_sql

#: The stored column counted by each kind of tally row.
TALLIED_COLUMNS = {"silent_since": "open", "next_update_due": "due", "ghosted_on": "ghosted"}

Changes = Counter[tuple[str, date]]


def count_change(
    changes: Changes, before: Mapping[str, date | None], after: Mapping[str, date | None]
) -> None:
    """Add to `changes` what one application's stored dates going from before to after does.

    A missing or None date is not counted (a closed application stores none).
    """
    for column, kind in TALLIED_COLUMNS.items():
        old, new = before.get(column), after.get(column)
        if old == new:
            continue
        if old is not None:
            changes[(kind, old)] -= 1
        if new is not None:
            changes[(kind, new)] += 1


def _upsert(dialect: str):
    table = CadenceTally.__table__
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.kind, table.c.day],
        set_={"applications": table.c.applications + statement.excluded.applications},
    )


@functools.cache
def _upsert_arrays() -> TextClause:
    """PostgreSQL: every changed date's upsert in one statement, the rows bound as three arrays
    and written in their order. A delivery claim changes some fifty dates: run once per date,
    the upsert cost fifty executions, each parsed again by psycopg."""
    table = CadenceTally.__table__
    kinds, kinds_parameter = array_sql("kinds", table.c.kind.type)
    days, days_parameter = array_sql("days", table.c.day.type)
    numbers, numbers_parameter = array_sql("numbers", table.c.applications.type)
    return text(
        "INSERT INTO cadence_tally (kind, day, applications) "
        "SELECT kind, day, applications "
        f"FROM unnest({kinds}, {days}, {numbers}) "
        "WITH ORDINALITY AS changed (kind, day, applications, n) "
        "ORDER BY n "
        "ON CONFLICT (kind, day) DO UPDATE "
        "SET applications = cadence_tally.applications + excluded.applications"
    ).bindparams(kinds_parameter, days_parameter, numbers_parameter)


def apply_changes(connection: Connection, changes: Changes) -> None:
    """Write tally changes: an upsert per changed date, in key order (so no two writers
    lock the same rows in opposite orders), then drop the dates no application stores."""
    rows = [(kind, day, number) for (kind, day), number in sorted(changes.items()) if number]
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        kinds, days, numbers = (list(column) for column in zip(*rows, strict=True))
        connection.execute(_upsert_arrays(), {"kinds": kinds, "days": days, "numbers": numbers})
    else:
        connection.execute(
            _upsert(connection.dialect.name),
            [{"kind": kind, "day": day, "applications": number} for kind, day, number in rows],
        )
    if any(number < 0 for _, _, number in rows):
        connection.execute(delete(CadenceTally).where(CadenceTally.applications == 0))


def counted_from_applications() -> Select:
    """(kind, day, applications) counted from the applications themselves, from scratch."""
    parts = [
        select(literal(kind).label("kind"), column.label("day"), func.count().label("applications"))
        .where(Application.closed_at.is_(None), column.is_not(None))
        .group_by(column)
        for column, kind in ((getattr(Application, c), k) for c, k in TALLIED_COLUMNS.items())
    ]
    return parts[0].union_all(*parts[1:])


def rebuild(connection: Connection) -> None:
    """Recount the tally from the applications (after a bulk rewrite of the stored dates)."""
    connection.execute(delete(CadenceTally))
    connection.execute(
        insert(CadenceTally).from_select(
            ["kind", "day", "applications"], counted_from_applications()
        )
    )


def status_counts(today: date, next_business_day: date) -> Select:
    """One row: open applications, then how many are ghosted, overdue, due, and without a date.

    The rest of the open applications are on track with a date due after the next business day.
    """
    tally = CadenceTally

    def summed(condition):
        return func.coalesce(func.sum(case((condition, tally.applications), else_=0)), 0)

    ghosted = summed((tally.kind == "ghosted") & (tally.day <= today))
    return select(
        summed(tally.kind == "open").label("waiting"),
        ghosted.label("ghosted"),
        (summed((tally.kind == "due") & (tally.day < today)) - ghosted).label("overdue"),
        summed(
            (tally.kind == "due") & (tally.day >= today) & (tally.day <= next_business_day)
        ).label("due"),
        (summed(tally.kind == "open") - summed(tally.kind == "due")).label("undated"),
    )


def organisation_count(status: CadenceStatus, today: date | None = None) -> int:
    """How many open applications of the whole organisation have this cadence status today."""
    today, holidays, _ = cadence_key(today)
    statement = memoized_statement(
        "cadence_tally",
        (today, holidays),
        lambda: status_counts(today, add_business_days(today + timedelta(days=1), 0, holidays)),
    )
    counts = db.session.execute(statement).one()
    if status == CadenceStatus.ON_TRACK:
        return int(counts.waiting - counts.ghosted - counts.overdue - counts.due)
    return int(getattr(counts, status.value))
