"""Partial indexes over open applications in the orders lists show, for PostgreSQL

Revision ID: c3e5a7b9d021
Revises: a4d9e2b7c610
Create Date: 2026-12-04 22:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = 'c3e5a7b9d021'
down_revision = 'a4d9e2b7c610'
branch_labels = None
depends_on = None

OPEN = sa.text('closed_at IS NULL')


def upgrade():
    with op.batch_alter_table('application') as batch_op:
        batch_op.create_index(
            'ix_application_open_by_id',
            ['id', 'next_update_due', 'ghosted_on', 'due_from'],
            unique=False,
            sqlite_where=OPEN,
            postgresql_where=OPEN,
        )
        batch_op.create_index(
            'ix_application_open_by_due',
            ['next_update_due', 'silent_since', 'id', 'ghosted_on', 'due_from'],
            unique=False,
            sqlite_where=OPEN,
            postgresql_where=OPEN,
        )


def downgrade():
    with op.batch_alter_table('application') as batch_op:
        batch_op.drop_index('ix_application_open_by_due')
        batch_op.drop_index('ix_application_open_by_id')
