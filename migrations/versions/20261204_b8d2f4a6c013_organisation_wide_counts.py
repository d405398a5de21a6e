"""Organisation-wide counts: the cadence tally, and closure pending stored per requisition

Revision ID: b8d2f4a6c013
Revises: f7a1c3e9b204
Create Date: 2026-12-04 22:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = 'b8d2f4a6c013'
down_revision = 'f7a1c3e9b204'
branch_labels = None
depends_on = None

#: The stored column counted by each kind of row (as `hiretrack.cadence.tally.TALLIED_COLUMNS`).
TALLIED_COLUMNS = {'silent_since': 'open', 'next_update_due': 'due', 'ghosted_on': 'ghosted'}


def upgrade():
    op.create_table(
        'cadence_tally',
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('applications', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('kind', 'day', name=op.f('pk_cadence_tally')),
    )
    # Filled from the stored dates, as `hiretrack cadence recompute` rebuilds it.
    for column, kind in TALLIED_COLUMNS.items():
        op.execute(
            f"INSERT INTO cadence_tally (kind, day, applications) "
            f"SELECT '{kind}', {column}, count(*) FROM application "
            f"WHERE closed_at IS NULL AND {column} IS NOT NULL GROUP BY {column}"
        )
    with op.batch_alter_table('requisition') as batch_op:
        batch_op.add_column(
            sa.Column('closure_pending', sa.Integer(), server_default='0', nullable=False)
        )
        batch_op.create_index('ix_requisition_closure_pending', ['closure_pending'], unique=False)
    # As `hiretrack.requisitions.closure_pending.recount` counts them.
    op.execute(
        "UPDATE requisition SET closure_pending = (SELECT count(application.id) FROM application "
        "WHERE application.requisition_id = requisition.id AND application.closed_at IS NULL "
        "AND (application.stage != 'accepted' OR requisition.status = 'cancelled')) "
        "WHERE status IN ('filled', 'cancelled')"
    )


def downgrade():
    with op.batch_alter_table('requisition') as batch_op:
        batch_op.drop_index('ix_requisition_closure_pending')
        batch_op.drop_column('closure_pending')
    op.drop_table('cadence_tally')
