"""After an erasure, remove the old bytes the database engine keeps on disk.

An UPDATE or DELETE leaves the old row readable: SQLite in the WAL file (until a checkpoint)
and in freed page space (unless `secure_delete` is on: `database.tune_sqlite` turns it on for
every connection); PostgreSQL in dead tuples, until VACUUM reclaims them.
"""

import time

from sqlalchemy import text

from hiretrack.candidates.privacy.sweep import SWEEP_EXCLUDED_TABLES
from hiretrack.extensions import db

#: A checkpoint cannot pass a reader still using older WAL frames: try a few times.
CHECKPOINT_ATTEMPTS = 5
CHECKPOINT_PAUSE_SECONDS = 0.2


def erased_tables() -> list[str]:
    """Tables an anonymisation or a retention run changes: the sweep's, the candidate, counters."""
    return sorted(
        name
        for name in db.metadata.tables
        if name not in SWEEP_EXCLUDED_TABLES or name in ("candidate", "throttle_counter")
    )


def checkpoint_sqlite() -> bool:
    """Copy the WAL into the database file and truncate it; True once it fully succeeded."""
    for attempt in range(CHECKPOINT_ATTEMPTS):
        with db.engine.connect() as connection:
            busy, _, _ = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
        if not busy:
            return True
        if attempt + 1 < CHECKPOINT_ATTEMPTS:
            time.sleep(CHECKPOINT_PAUSE_SECONDS)
    return False


def vacuum_postgresql(tables: list[str]) -> None:
    """VACUUM the tables, so their dead tuples (old versions of erased rows) are reclaimed."""
    quoted = ", ".join(f'"{name}"' for name in tables)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f"VACUUM {quoted}"))


def erase_leftovers(*, vacuum: bool = False) -> bool:
    """Call after committing an erasure: checkpoint SQLite's WAL; with vacuum, VACUUM PostgreSQL.

    Returns False when SQLite's checkpoint could not finish (a long reader); the next erasure
    or retention run tries again. Without vacuum PostgreSQL is left to the nightly retention
    run, which vacuums (VACUUM on every request would cost too much).
    """
    dialect = db.engine.dialect.name
    if dialect == "sqlite":
        return checkpoint_sqlite()
    if dialect == "postgresql" and vacuum:
        vacuum_postgresql(erased_tables())
    return True
