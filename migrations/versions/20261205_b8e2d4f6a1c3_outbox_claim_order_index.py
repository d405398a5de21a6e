"""The queue's index also orders by id, the claim's tie-break

A bulk send queues its messages with one next_attempt_at; the claim (oldest first, then by id)
read and sorted every one of them for each claim of 100 before its LIMIT applied.

Revision ID: b8e2d4f6a1c3
Revises: d7f3b1a9c254
Create Date: 2026-12-05 04:40:00
"""

from alembic import op

revision = 'b8e2d4f6a1c3'
down_revision = 'd7f3b1a9c254'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_outbox_email_status_next_attempt', table_name='outbox_email')
    op.create_index(
        'ix_outbox_email_status_next_attempt',
        'outbox_email',
        ['status', 'next_attempt_at', 'id'],
        unique=False,
    )


def downgrade():
    op.drop_index('ix_outbox_email_status_next_attempt', table_name='outbox_email')
    op.create_index(
        'ix_outbox_email_status_next_attempt',
        'outbox_email',
        ['status', 'next_attempt_at'],
        unique=False,
    )
