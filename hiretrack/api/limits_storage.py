"""A `limits` storage in the app's own database, for the API's rate limits when there is no Redis.

`limits` (the library under Flask-Limiter) ships Redis, Memcached and MongoDB stores but none in
SQL, and HireTrack promises that any number of workers and hosts agree on their limits with
nothing but the database. This adapter implements the counter half of `limits.storage.Storage`,
which is all the fixed-window strategy needs: one row per key with its count and the end of its
window. A hit is one atomic upsert (`INSERT ... ON CONFLICT DO UPDATE ... RETURNING`, on SQLite
and PostgreSQL alike), so two workers counting at once never lose a request and never wait on a
lock held for longer than that statement.

Counts are written on a connection of their own and committed at once: a refused or failed
request still counts, and the row lock is not held for the length of the request's transaction.
"""

from datetime import datetime, timedelta

from flask import g, has_app_context
from limits.storage import Storage
from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from hiretrack.api.models import RateLimitCounter
from hiretrack.database import utcnow
from hiretrack.extensions import db

COUNTERS = RateLimitCounter.__table__

#: Dialect-specific INSERTs that know ON CONFLICT; the app runs on these two databases.
UPSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def _seen() -> dict[str, tuple[int, float]]:
    """Counts this request already read or wrote, by key: the headers need them once more."""
    if not has_app_context():
        return {}
    return g.setdefault("hiretrack_rate_counts", {})


class DatabaseStorage(Storage):
    """Fixed-window counters in the `rate_limit_counter` table of the app's database."""

    STORAGE_SCHEME = None  # built by `hiretrack.api.ratelimit`, never from a URI

    def __init__(self, wrap_exceptions: bool = True):
        super().__init__(None, wrap_exceptions=wrap_exceptions)

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Count `amount` hits on key, starting a window of `expiry` seconds if none is open."""
        now = utcnow()
        upsert = UPSERTS[db.engine.dialect.name](COUNTERS).values(
            key=key, count=amount, expires_at=now + timedelta(seconds=expiry)
        )
        window_over = COUNTERS.c.expires_at <= now
        upsert = upsert.on_conflict_do_update(
            index_elements=[COUNTERS.c.key],
            set_={
                "count": case((window_over, amount), else_=COUNTERS.c.count + amount),
                "expires_at": case(
                    (window_over, upsert.excluded.expires_at), else_=COUNTERS.c.expires_at
                ),
            },
        ).returning(COUNTERS.c.count, COUNTERS.c.expires_at)
        with db.engine.begin() as connection:
            count, expires_at = connection.execute(upsert).one()
        _seen()[key] = (count, expires_at.timestamp())
        return count

    def _read(self, key: str) -> tuple[int, float]:
        """(count, end of window as a Unix time) for key; (0, now) when no window is open."""
        if key in _seen():
            return _seen()[key]
        now = utcnow()
        with db.engine.connect() as connection:
            row = connection.execute(
                select(COUNTERS.c.count, COUNTERS.c.expires_at).where(
                    COUNTERS.c.key == key, COUNTERS.c.expires_at > now
                )
            ).first()
        value = (row.count, row.expires_at.timestamp()) if row else (0, now.timestamp())
        _seen()[key] = value
        return value

    def get(self, key: str) -> int:
        return self._read(key)[0]

    def get_expiry(self, key: str) -> float:
        return self._read(key)[1]

    def check(self) -> bool:
        with db.engine.connect() as connection:
            connection.execute(select(1))
        return True

    def reset(self) -> int:
        with db.engine.begin() as connection:
            removed = connection.execute(delete(COUNTERS)).rowcount
        _seen().clear()
        return removed

    def clear(self, key: str) -> None:
        with db.engine.begin() as connection:
            connection.execute(delete(COUNTERS).where(COUNTERS.c.key == key))
        _seen().pop(key, None)


def purge_expired(now: datetime | None = None) -> int:
    """Delete counters whose window is over; return how many. Keys name addresses and tokens.

    Runs in the caller's session (the retention run commits it).
    """
    cutoff = now or utcnow()
    result = db.session.execute(
        delete(RateLimitCounter).where(RateLimitCounter.expires_at <= cutoff)
    )
    return result.rowcount or 0
