"""Index outbox messages by application, kind and id, for the delivery check of a whole claim

It replaces the index on application_id alone, which it starts with.

Revision ID: a4d9e2b7c610
Revises: b8d2f4a6c013
Create Date: 2026-12-04 22:30:00
"""

from alembic import op

revision = 'a4d9e2b7c610'
down_revision = 'b8d2f4a6c013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        'ix_outbox_email_application_kind',
        'outbox_email',
        ['application_id', 'category', 'id'],
        unique=False,
    )
    op.drop_index('ix_outbox_email_application', table_name='outbox_email')


def downgrade():
    op.create_index('ix_outbox_email_application', 'outbox_email', ['application_id'], unique=False)
    op.drop_index('ix_outbox_email_application_kind', table_name='outbox_email')
