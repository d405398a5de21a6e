"""sqlite autoincrement: ids are never handed out twice, also after a delete or a restore

Revision ID: 5a0c1e9d2b47
Revises: e3a91f0c7d55
Create Date: 2026-12-04 19:50:00

SQLite only (PostgreSQL's sequences already never go back): rebuild every table whose key is
one integer column with AUTOINCREMENT, so SQLite records the highest id used in sqlite_sequence.
"""

import sqlalchemy as sa
from alembic import op


revision = '5a0c1e9d2b47'
down_revision = 'e3a91f0c7d55'
branch_labels = None
depends_on = None


def _integer_keyed_tables(bind) -> list[str]:
    inspector = sa.inspect(bind)
    names = []
    for name in inspector.get_table_names():
        if name == 'alembic_version':
            continue
        key = inspector.get_pk_constraint(name)['constrained_columns']
        columns = {column['name']: column for column in inspector.get_columns(name)}
        if len(key) == 1 and isinstance(columns[key[0]]['type'], sa.Integer):
            names.append(name)
    return names


def _rebuild(autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        return
    for name in _integer_keyed_tables(bind):
        with op.batch_alter_table(
            name, recreate='always', table_kwargs={'sqlite_autoincrement': autoincrement}
        ):
            pass


def upgrade():
    _rebuild(True)


def downgrade():
    _rebuild(False)
