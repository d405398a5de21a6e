"""Indexes for the outbox list, newest first, and the count of failed deliveries

Revision ID: f7a1c3e9b204
Revises: e5c0a9d3f112
Create Date: 2026-12-04 19:50:00
"""

from alembic import op

revision = 'f7a1c3e9b204'
down_revision = 'e5c0a9d3f112'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_outbox_email_created', 'outbox_email', ['created_at', 'id'], unique=False)
    op.create_index(
        'ix_outbox_email_status_created',
        'outbox_email',
        ['status', 'created_at', 'id'],
        unique=False,
    )
    op.create_index(
        'ix_outbox_email_status_application',
        'outbox_email',
        ['status', 'application_id'],
        unique=False,
    )


def downgrade():
    op.drop_index('ix_outbox_email_status_application', table_name='outbox_email')
    op.drop_index('ix_outbox_email_status_created', table_name='outbox_email')
    op.drop_index('ix_outbox_email_created', table_name='outbox_email')
