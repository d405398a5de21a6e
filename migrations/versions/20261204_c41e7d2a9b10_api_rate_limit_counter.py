"""API rate-limit counters

Revision ID: c41e7d2a9b10
Revises: da7500bd9780
Create Date: 2026-12-04 16:00:00
"""

import sqlalchemy as sa
from alembic import op


revision = 'c41e7d2a9b10'
down_revision = 'da7500bd9780'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('rate_limit_counter',
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_rate_limit_counter'))
    )


def downgrade():
    op.drop_table('rate_limit_counter')
