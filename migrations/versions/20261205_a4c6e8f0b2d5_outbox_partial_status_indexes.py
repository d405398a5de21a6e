"""On PostgreSQL the queue's index holds only queued rows, the failed deliveries' index only
failed, bounced and unconfirmed ones

Every send changes a row's status twice (claimed, then sent), and each change wrote an entry in
all 8 of the outbox's indexes; an entry in a partial index is written only when the new row meets
its condition. SQLite keeps its full indexes (nothing to do there).

Revision ID: a4c6e8f0b2d5
Revises: b8e2d4f6a1c3
Create Date: 2026-12-05 07:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = 'a4c6e8f0b2d5'
down_revision = 'b8e2d4f6a1c3'
branch_labels = None
depends_on = None

QUEUED = "status = 'queued'"
FAILED = "status IN ('failed', 'bounced', 'unconfirmed')"


def _rebuild(partial: bool) -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.drop_index('ix_outbox_email_status_next_attempt', table_name='outbox_email')
    op.create_index(
        'ix_outbox_email_status_next_attempt',
        'outbox_email',
        ['status', 'next_attempt_at', 'id'],
        unique=False,
        postgresql_where=sa.text(QUEUED) if partial else None,
    )
    op.drop_index('ix_outbox_email_status_application', table_name='outbox_email')
    op.create_index(
        'ix_outbox_email_status_application',
        'outbox_email',
        ['status', 'application_id'],
        unique=False,
        postgresql_where=sa.text(FAILED) if partial else None,
    )


def upgrade():
    _rebuild(partial=True)


def downgrade():
    _rebuild(partial=False)
