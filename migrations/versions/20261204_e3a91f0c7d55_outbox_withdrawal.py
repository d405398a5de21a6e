"""outbox withdrawal: what a message was written for, and why it was withdrawn

Revision ID: e3a91f0c7d55
Revises: c41e7d2a9b10
Create Date: 2026-12-04 19:15:00
"""

import sqlalchemy as sa
from alembic import op


revision = 'e3a91f0c7d55'
down_revision = 'c41e7d2a9b10'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_email', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hold_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('written_at_stage', sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('withdrawn_reason', sa.String(length=500), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_outbox_email_hold_id_hold'), 'hold', ['hold_id'], ['id']
        )


def downgrade():
    with op.batch_alter_table('outbox_email', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_outbox_email_hold_id_hold'), type_='foreignkey')
        batch_op.drop_column('withdrawn_reason')
        batch_op.drop_column('withdrawn_at')
        batch_op.drop_column('written_at_stage')
        batch_op.drop_column('hold_id')
