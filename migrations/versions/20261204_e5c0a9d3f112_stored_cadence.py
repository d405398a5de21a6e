"""Stored cadence dates on applications, and their backfill

Revision ID: e5c0a9d3f112
Revises: f6b2c8d41a97
Create Date: 2026-12-04 19:30:00
"""

import sqlalchemy as sa
from alembic import op
from flask import current_app

from hiretrack.cadence.stored import STORED_COLUMNS, CadenceFacts, compute_stored_cadence

revision = 'e5c0a9d3f112'
down_revision = 'f6b2c8d41a97'
branch_labels = None
depends_on = None

CHUNK = 2_000

application = sa.table(
    'application',
    sa.column('id', sa.Integer),
    sa.column('requisition_id', sa.Integer),
    sa.column('stage', sa.String),
    sa.column('closed_at', sa.DateTime),
    sa.column('opened_at', sa.DateTime),
    sa.column('last_contact_at', sa.DateTime),
    sa.column('last_inbound_at', sa.DateTime),
    sa.column('promised_next_update', sa.Date),
    sa.column('update_requested_at', sa.DateTime),
    *(sa.column(name, sa.Date) for name in STORED_COLUMNS),
)
requisition = sa.table(
    'requisition', sa.column('id', sa.Integer), sa.column('cadence_business_days', sa.Integer)
)
settings_table = sa.table(
    'organisation_settings',
    sa.column('cadence_business_days', sa.Integer),
    sa.column('holidays', sa.String),
)


def _settings(connection) -> tuple[int, str | None]:
    """The organisation's cadence and holiday calendar, as `effective_settings` reads them."""
    config = current_app.config
    saved = connection.execute(sa.select(settings_table).limit(1)).first()
    cadence = (saved and saved.cadence_business_days) or config['CADENCE_BUSINESS_DAYS']
    holidays = saved.holidays if saved and saved.holidays is not None else config['HOLIDAYS']
    return cadence, holidays or None


def _backfill() -> None:
    """Compute the stored dates of every open application with the one function the app uses."""
    connection = op.get_bind()
    cadence, holidays = _settings(connection)
    rows = connection.execute(
        sa.select(
            application.c.id,
            application.c.stage,
            application.c.closed_at,
            application.c.opened_at,
            application.c.last_contact_at,
            application.c.last_inbound_at,
            application.c.promised_next_update,
            application.c.update_requested_at,
            requisition.c.cadence_business_days,
        )
        .join(requisition, requisition.c.id == application.c.requisition_id)
        .where(application.c.closed_at.is_(None))
    ).all()
    statement = (
        application.update()
        .where(application.c.id == sa.bindparam('row_id'))
        .values({name: sa.bindparam(f'new_{name}') for name in STORED_COLUMNS})
    )
    values = []
    for row in rows:
        facts = CadenceFacts(*row[1:8], cadence_days=row[8] or cadence)
        stored = compute_stored_cadence(facts, holidays)
        values.append(
            {'row_id': row[0], **{f'new_{n}': getattr(stored, n) for n in STORED_COLUMNS}}
        )
    for start in range(0, len(values), CHUNK):
        connection.execute(statement, values[start : start + CHUNK])


def upgrade():
    with op.batch_alter_table('application', schema=None) as batch_op:
        for name in STORED_COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Date(), nullable=True))
    op.create_index(
        'ix_application_open_due',
        'application',
        ['closed_at', 'next_update_due', 'silent_since', 'id', 'ghosted_on', 'due_from'],
        unique=False,
    )
    op.create_index(
        'ix_application_open_ghosted', 'application', ['closed_at', 'ghosted_on'], unique=False
    )
    op.create_index(
        'ix_application_open_id',
        'application',
        ['closed_at', 'id', 'next_update_due', 'ghosted_on', 'due_from'],
        unique=False,
    )
    _backfill()


def downgrade():
    op.drop_index('ix_application_open_id', table_name='application')
    op.drop_index('ix_application_open_ghosted', table_name='application')
    op.drop_index('ix_application_open_due', table_name='application')
    with op.batch_alter_table('application', schema=None) as batch_op:
        for name in reversed(STORED_COLUMNS):
            batch_op.drop_column(name)
