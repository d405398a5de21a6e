"""Each requisition's failed deliveries and drafts waiting for review, kept by the database.

A manager's dashboard shows how many of their candidates' emails failed (failed, bounced or
unconfirmed: the manager must look at each) and how many drafts wait for review. Counted from
the manager's applications, every request read every application the manager ever had, closed
ones included, to find the few rows it counts: the cost grew with the manager's history (0.85 ms
at 400,000 applications against 0.19 at 100,000 on SQLite), not with what it counts. So each
requisition stores both figures (`Requisition.failed_deliveries`, `Requisition.drafts_waiting`)
and the dashboard sums them over the manager's few requisitions.

Triggers keep them, not the session: outbox and draft statuses are written by bulk UPDATEs in a
dozen places (delivery results, stale claims, withdrawals, closures, holds, anonymisation) that
no flush hook sees, and a trigger adds or takes one on the row that changed, so concurrent
writers never overwrite each other's counts. Only a change into or out of a counted status (or
to another application) touches the requisition: a delivery's queued, sending, sent does not;
an application moved to another requisition takes its counts along. (Applications are never
deleted; the foreign keys would refuse it while outbox rows or drafts remain.)

`trigger_statements` is what the migration that added the counts installed (a test compares
them); create_all (the SQLite tests) installs them through the metadata's `after_create`.
`recount` rewrites the figures from the rows (`hiretrack cadence recompute`, after a bulk load
that skipped the triggers).
"""

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, Table, event, func, or_, select, update
from sqlalchemy.orm import Session

from hiretrack.candidates.models import Application
from hiretrack.extensions import db
from hiretrack.messages.models import FAILED_STATUSES, Draft, DraftStatus, OutboxEmail
from hiretrack.requisitions.models import Requisition


@dataclass(frozen=True)
class KeptCount:
    """One figure kept on the requisition: the rows of `table` in one of `statuses`."""

    column: str
    table: Table
    statuses: tuple[str, ...]

    def condition(self) -> ColumnElement[bool]:
        return self.table.c.status.in_(self.statuses)

    def sql_condition(self, row: str) -> str:
        return f"{row}.status IN ({', '.join(repr(status) for status in self.statuses)})"


KEPT = (
    KeptCount(
        "failed_deliveries",
        OutboxEmail.__table__,
        tuple(status.value for status in FAILED_STATUSES),
    ),
    KeptCount("drafts_waiting", Draft.__table__, (DraftStatus.PENDING.value,)),
)


def counted(column: str) -> Select:
    """One kept figure counted from the rows: (requisition id, count) for each that has any."""
    kept = next(kept for kept in KEPT if kept.column == column)
    return (
        select(Application.requisition_id, func.count())
        .select_from(kept.table.join(Application, Application.id == kept.table.c.application_id))
        .where(kept.condition())
        .group_by(Application.requisition_id)
    )


def recount(session: Session, requisition_ids: Iterable[int] | None = None) -> None:
    """Rewrite the kept figures of some requisitions (None: all) from the outbox and the drafts.

    A derived figure, not an edit: the version counter and updated_at are left alone, and only
    the rows whose figures differ are written.
    """
    table = Requisition.__table__
    counted = {
        kept.column: select(func.count())
        .select_from(kept.table.join(Application, Application.id == kept.table.c.application_id))
        .where(Application.requisition_id == table.c.id, kept.condition())
        .scalar_subquery()
        for kept in KEPT
    }
    statement = (
        update(table)
        .where(or_(*(table.c[column] != value for column, value in counted.items())))
        .values(**counted, updated_at=table.c.updated_at)
    )
    if requisition_ids is not None:
        statement = statement.where(table.c.id.in_(sorted(requisition_ids)))
    session.connection().execute(statement)


def trigger_statements(dialect: str) -> list[str]:
    """The DDL that installs the triggers on one database ("sqlite" or "postgresql")."""
    if dialect == "postgresql":
        return [*_postgresql_counting(), *_postgresql_moving()]
    return [*_sqlite_counting(), *_sqlite_moving()]


def trigger_names() -> list[str]:
    """The triggers `trigger_statements` installs, by name."""
    names = [f"{kept.table.name}_requisition_counts_{op}" for kept in KEPT for op in _OPERATIONS]
    return [*names, "application_requisition_counts_move"]


_OPERATIONS = ("insert", "update", "delete")


def _requisition_of(row: str) -> str:
    return f"(SELECT requisition_id FROM application WHERE id = {row}.application_id)"


def _counts_change(kept: KeptCount, distinct: str) -> str:
    """SQL: the row moved into or out of the counted statuses, or to another application."""
    return (
        f"({kept.sql_condition('OLD')}) {distinct} ({kept.sql_condition('NEW')}) "
        f"OR OLD.application_id {distinct} NEW.application_id"
    )


def _sqlite_counting() -> list[str]:
    statements = []
    for kept in KEPT:
        name, column = kept.table.name, kept.column
        add, take = (
            f"UPDATE requisition SET {column} = {column} {sign} 1 "
            f"WHERE {kept.sql_condition(row)} AND id = {_requisition_of(row)};"
            for sign, row in (("+", "NEW"), ("-", "OLD"))
        )
        statements += [
            f"CREATE TRIGGER {name}_requisition_counts_insert AFTER INSERT ON {name} "
            f"WHEN {kept.sql_condition('NEW')} BEGIN {add} END",
            f"CREATE TRIGGER {name}_requisition_counts_update "
            f"AFTER UPDATE OF status, application_id ON {name} "
            f"WHEN {_counts_change(kept, 'IS NOT')} BEGIN {take} {add} END",
            f"CREATE TRIGGER {name}_requisition_counts_delete AFTER DELETE ON {name} "
            f"WHEN {kept.sql_condition('OLD')} BEGIN {take} END",
        ]
    return statements


def _moved_counts(sign: str, row: str) -> str:
    """SQL: add or take an application's counted rows on its requisition."""
    settings = ", ".join(
        f"{kept.column} = {kept.column} {sign} (SELECT count(*) FROM {kept.table.name} "
        f"WHERE application_id = {row}.id AND {kept.sql_condition(kept.table.name)})"
        for kept in KEPT
    )
    return f"UPDATE requisition SET {settings} WHERE id = {row}.requisition_id;"


def _sqlite_moving() -> list[str]:
    return [
        "CREATE TRIGGER application_requisition_counts_move "
        "AFTER UPDATE OF requisition_id ON application "
        "WHEN OLD.requisition_id IS NOT NEW.requisition_id "
        f"BEGIN {_moved_counts('-', 'OLD')} {_moved_counts('+', 'NEW')} END"
    ]


def _postgresql_counting() -> list[str]:
    statements = []
    for kept in KEPT:
        name, column, function = (
            kept.table.name,
            kept.column,
            f"{kept.table.name}_requisition_counts",
        )
        add, take = (
            f"IF {kept.sql_condition(row)} THEN UPDATE requisition SET {column} = {column} "
            f"{sign} 1 WHERE id = {_requisition_of(row)}; END IF;"
            for sign, row in (("+", "NEW"), ("-", "OLD"))
        )
        statements += [
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN IF TG_OP <> 'INSERT' THEN {take} END IF; "
            f"IF TG_OP <> 'DELETE' THEN {add} END IF; RETURN NULL; END $$",
            f"CREATE TRIGGER {name}_requisition_counts_insert AFTER INSERT ON {name} "
            f"FOR EACH ROW WHEN ({kept.sql_condition('NEW')}) EXECUTE FUNCTION {function}()",
            f"CREATE TRIGGER {name}_requisition_counts_update "
            f"AFTER UPDATE OF status, application_id ON {name} "
            f"FOR EACH ROW WHEN ({_counts_change(kept, 'IS DISTINCT FROM')}) "
            f"EXECUTE FUNCTION {function}()",
            f"CREATE TRIGGER {name}_requisition_counts_delete AFTER DELETE ON {name} "
            f"FOR EACH ROW WHEN ({kept.sql_condition('OLD')}) EXECUTE FUNCTION {function}()",
        ]
    return statements


def _postgresql_moving() -> list[str]:
    return [
        "CREATE OR REPLACE FUNCTION application_requisition_counts() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$ BEGIN {_moved_counts('-', 'OLD')} "
        f"{_moved_counts('+', 'NEW')} RETURN NULL; END $$",
        "CREATE TRIGGER application_requisition_counts_move "
        "AFTER UPDATE OF requisition_id ON application FOR EACH ROW "
        "WHEN (OLD.requisition_id IS DISTINCT FROM NEW.requisition_id) "
        "EXECUTE FUNCTION application_requisition_counts()",
    ]


@event.listens_for(db.metadata, "after_create")
def _install_triggers(_metadata, connection, **_kw) -> None:
    """Install the triggers when create_all builds the schema (the migrations do elsewhere)."""
    for statement in trigger_statements(connection.dialect.name):
        connection.exec_driver_sql(statement)
