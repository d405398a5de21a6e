"""The contact rule: how a contact that reached its destination changes an application.

Written once (`after_contact`) and used by both paths: one touchpoint at a time through the ORM
(`candidates.services.apply_contact`: a call, a meeting, one email delivered), and a delivery
claim's worth of emails at once (`record_deliveries`). Both go through `record_contacts`, which
applies the rule to the latest committed columns and writes the applications that changed, with
their stored cadence dates, in one statement.
"""

import functools
from collections import Counter
from dataclasses import dataclass, replace
from datetime import date, datetime
from operator import attrgetter
from typing import NamedTuple

from sqlalchemy import (
    Integer,
    TextClause,
    TextualSelect,
    bindparam,
    select,
    text,
    true,
    update,
)

from hiretrack.admin.services import SAVED_SETTINGS, settings_from_saved
from hiretrack.cadence import tally
from hiretrack.cadence.stored import STORED_COLUMNS, CadenceFacts, compute_stored_cadence
from hiretrack.candidates.models import Application, Direction, Touchpoint
from hiretrack.database import UTCDateTime
from hiretrack.extensions import db
from hiretrack.requisitions.models import Requisition
from hiretrack.sqltypes import any_of, array_sql, pairs_parameters, pairs_size, pairs_table


@dataclass(frozen=True)
class ContactColumns:
    """An application's contact columns, which each contact that reaches its destination moves."""

    last_contact_at: datetime | None
    last_inbound_at: datetime | None
    promised_next_update: date | None
    update_requested_at: datetime | None


CONTACT_COLUMNS = tuple(ContactColumns.__dataclass_fields__)


def contact_columns(application: Application) -> ContactColumns:
    return ContactColumns(*(getattr(application, name) for name in CONTACT_COLUMNS))


def after_contact(
    columns: ContactColumns, direction: str, when: datetime, promised: date | None
) -> ContactColumns:
    """The contact columns once a contact made at `when` reached its destination.

    Inbound: the candidate's latest word. Outbound: the latest contact sets the clock and its
    promise (an older one arriving late changes neither), and meets a requested update made
    before it.
    """
    if direction == Direction.INBOUND:
        if columns.last_inbound_at is None or when > columns.last_inbound_at:
            return replace(columns, last_inbound_at=when)
        return columns
    if columns.last_contact_at is None or when >= columns.last_contact_at:
        columns = replace(columns, last_contact_at=when, promised_next_update=promised)
    if columns.update_requested_at is not None and columns.update_requested_at <= when:
        columns = replace(columns, update_requested_at=None)
    return columns


class Contact(NamedTuple):
    """A contact that reached its destination, to apply to an application's columns."""

    application_id: int
    direction: str
    when: datetime
    promised: date | None


_COLUMNS = (*CONTACT_COLUMNS, *STORED_COLUMNS)
# Flat field values, as dataclasses.astuple gives them without its deep copy of each value (a
# third of recording a delivery claim's contacts).
_contact_values = attrgetter(*CONTACT_COLUMNS)
_stored_values = attrgetter(*STORED_COLUMNS)
_REWRITE_APPLICATION = (
    update(Application.__table__)
    .where(Application.__table__.c.id == bindparam("row_id"))
    .values({name: bindparam(f"new_{name}") for name in _COLUMNS})
)


@functools.cache
def _rewrite_applications_arrays() -> TextClause:
    """PostgreSQL: `_REWRITE_APPLICATION` for every changed application in one statement, each
    column's new values bound as one array. Run once per application (a delivery claim's
    hundred), it cost a hundred executions on the server and a hundred in psycopg."""
    table = Application.__table__
    arrays = [array_sql("row_id", table.c.id.type)]
    arrays += [array_sql(f"new_{name}", table.c[name].type) for name in _COLUMNS]
    columns = ", ".join(_COLUMNS)
    return text(
        f"UPDATE application SET ({columns}) = "
        f"({', '.join(f'changed.{name}' for name in _COLUMNS)}) "
        f"FROM unnest({', '.join(sql for sql, _ in arrays)}) "
        f"AS changed (row_id, {columns}) "
        "WHERE application.id = changed.row_id"
    ).bindparams(*(parameter for _, parameter in arrays))


def _rewrite_applications(changes: list[dict[str, object]]) -> None:
    """Write the changed applications' columns: one statement, whatever their number."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(_REWRITE_APPLICATION, changes)
        return
    names = ("row_id", *(f"new_{name}" for name in _COLUMNS))
    connection.execute(
        _rewrite_applications_arrays(), {name: [row[name] for row in changes] for name in names}
    )


def record_contacts(contacts: list[Contact]) -> None:
    """Apply contacts to their applications by `after_contact`, with their stored cadence dates.

    Not an edit of the records (their version counters stay): the rows are locked as they are
    read, so the columns read are the latest committed and a concurrent contact waits rather
    than being lost; the latest contact wins whatever order they commit in. PostgreSQL locks
    them with `FOR NO KEY UPDATE`, in id order; SQLite has no row locks, so a no-op UPDATE takes its
    write lock first (on PostgreSQL that UPDATE wrote a new version of every row, and cost the
    delivery worker's server process 10-50 us a message). Then one statement writes every
    application that changed. Contacts to one application apply in the order given.
    """
    if not contacts:
        return
    ids = sorted({contact.application_id for contact in contacts})
    dialect = db.session.get_bind().dialect.name
    current = (
        select(
            Application.id,
            Application.stage,
            Application.closed_at,
            Application.opened_at,
            Requisition.cadence_business_days,
            *(getattr(Application, name) for name in _COLUMNS),
            # The organisation's settings, read with the rows rather than in a statement of
            # their own (a round trip for each delivery claim).
            *SAVED_SETTINGS.c,
        )
        .join(Requisition, Requisition.id == Application.requisition_id)
        .outerjoin(SAVED_SETTINGS, true())
        .where(any_of(Application.id, "ids", dialect))
    )
    if dialect == "postgresql":
        # NO KEY UPDATE, the lock an UPDATE takes: a plain FOR UPDATE would also wait for the
        # key-share locks that inserting a touchpoint takes on its application, and two
        # contacts to one application would deadlock.
        current = current.order_by(Application.id).with_for_update(of=Application, key_share=True)
    else:
        db.session.execute(
            update(Application)
            .where(Application.id.in_(ids))
            .values(version=Application.version)
            .execution_options(synchronize_session=False)
        )
    rows = {row[0]: row for row in db.session.execute(current, {"ids": ids})}
    if not rows:
        return
    end = 5 + len(_COLUMNS)
    settings = settings_from_saved(next(iter(rows.values()))[end:])
    width = len(CONTACT_COLUMNS)
    after = {key: ContactColumns(*row[5 : 5 + width]) for key, row in rows.items()}
    for contact in contacts:
        after[contact.application_id] = after_contact(
            after[contact.application_id], contact.direction, contact.when, contact.promised
        )
    changes, counted = [], Counter()
    for application_id, row in rows.items():
        columns = after[application_id]
        facts = CadenceFacts(
            *row[1:4],
            *_contact_values(columns),
            cadence_days=row[4] or settings.cadence_business_days,
        )
        stored = compute_stored_cadence(facts, settings.holidays)
        values = (*_contact_values(columns), *_stored_values(stored))
        if values != tuple(row[5:end]):
            changes.append(
                {
                    "row_id": application_id,
                    **{f"new_{name}": value for name, value in zip(_COLUMNS, values, strict=True)},
                }
            )
            tally.count_change(
                counted,
                dict(zip(_COLUMNS, row[5:end], strict=True)),
                dict(zip(_COLUMNS, values, strict=True)),
            )
    if changes:
        _rewrite_applications(changes)
        tally.apply_changes(db.session.connection(), counted)


@functools.cache
def _delivered_statement(dialect: str, size: int) -> TextualSelect:
    """Set the touchpoints of delivered emails to the time each was sent, and return what the
    contact rule needs of them; built once per database, size and process, as the outbox's
    (`messages.results`)."""
    touchpoint = Touchpoint.__table__
    pairs, parameters = pairs_table(dialect, size, Integer(), UTCDateTime())
    return (
        text(
            "UPDATE touchpoint SET occurred_at = sent.column2 "
            f"FROM {pairs} AS sent "
            "WHERE touchpoint.outbox_email_id = sent.column1 "
            "RETURNING touchpoint.outbox_email_id, touchpoint.application_id, "
            "touchpoint.direction, touchpoint.promised_next_update"
        )
        .bindparams(*parameters)
        .columns(
            touchpoint.c.outbox_email_id,
            touchpoint.c.application_id,
            touchpoint.c.direction,
            touchpoint.c.promised_next_update,
        )
    )


def record_deliveries(sent_at: dict[int, datetime]) -> None:
    """Count delivered emails (outbox id: when sent) as contact with their candidates.

    One statement sets the touchpoints' occurred_at and reads them back; `record_contacts`
    applies them to their applications (locked in one statement, written in one). Emails apply
    in the order sent (`sent_at`'s order where two times are equal).
    """
    if not sent_at:
        return
    connection = db.session.connection()
    dialect = connection.dialect.name
    size = pairs_size(dialect, len(sent_at))
    rows = connection.execute(
        _delivered_statement(dialect, size), pairs_parameters(dialect, sent_at.items(), size)
    ).all()
    # In the order sent: by time, and for equal times in the order given.
    order = {outbox_id: (when, n) for n, (outbox_id, when) in enumerate(sent_at.items())}
    record_contacts(
        [
            Contact(application_id, direction, sent_at[outbox_id], promised)
            for outbox_id, application_id, direction, promised in sorted(
                rows, key=lambda row: order[row[0]]
            )
        ]
    )
