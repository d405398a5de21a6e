"""hold cancellation wording: what candidates are told when a hold ends in cancellation

Revision ID: f6b2c8d41a97
Revises: e5a1c0d2f7b3
Create Date: 2026-12-04 19:30:00
"""

import sqlalchemy as sa
from alembic import op


revision = 'f6b2c8d41a97'
down_revision = 'e5a1c0d2f7b3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('hold', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'public_cancellation_reason', sa.String(length=300), nullable=False, server_default=''
            )
        )


def downgrade():
    with op.batch_alter_table('hold', schema=None) as batch_op:
        batch_op.drop_column('public_cancellation_reason')
