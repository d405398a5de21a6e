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
The checks before a request run in `one_transaction`: one connection and one commit for all the
request's counters (three statements and two commits on separate connections cost the API list
about a fifth of its CPU).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import cache

from flask import g, has_app_context
from limits.errors import StorageError
from limits.storage import Storage
from sqlalchemy import bindparam, case, delete, select
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


#: Where `one_transaction` keeps its connection for the storage's reads and writes.
_CONNECTION = "hiretrack_rate_connection"


@contextmanager
def _connection(write: bool) -> Iterator:
    """The open `one_transaction` connection, else one of the storage's own (committed at once)."""
    shared = g.get(_CONNECTION) if has_app_context() else None
    if shared is not None:
        yield shared
    elif write:
        with db.engine.begin() as connection:
            yield connection
    else:
        with db.engine.connect() as connection:
            yield connection


_NOW = bindparam("now", type_=COUNTERS.c.expires_at.type)

#: A key's open window (built once: the statements of every API request).
_READ = select(COUNTERS.c.count, COUNTERS.c.expires_at).where(
    COUNTERS.c.key == bindparam("key"), COUNTERS.c.expires_at > _NOW
)


@cache
def _upsert_statement(dialect: str):
    """The hit: an atomic upsert that starts a new window when the stored one is over."""
    amount = bindparam("amount", type_=COUNTERS.c.count.type)
    upsert = UPSERTS[dialect](COUNTERS).values(
        key=bindparam("key"),
        count=amount,
        expires_at=bindparam("expires_at", type_=COUNTERS.c.expires_at.type),
    )
    window_over = COUNTERS.c.expires_at <= _NOW
    return upsert.on_conflict_do_update(
        index_elements=[COUNTERS.c.key],
        set_={
            "count": case((window_over, amount), else_=COUNTERS.c.count + amount),
            "expires_at": case(
                (window_over, upsert.excluded.expires_at), else_=COUNTERS.c.expires_at
            ),
        },
    ).returning(COUNTERS.c.count, COUNTERS.c.expires_at)


class DatabaseStorage(Storage):
    """Fixed-window counters in the `rate_limit_counter` table of the app's database."""

    STORAGE_SCHEME = None  # built by `hiretrack.api.ratelimit`, never from a URI

    def __init__(self, wrap_exceptions: bool = True):
        super().__init__(None, wrap_exceptions=wrap_exceptions)

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    @contextmanager
    def one_transaction(self) -> Iterator[None]:
        """Read and count every counter inside on one connection, committed on the way out.

        Committed whatever the block raises (a refusal still counts its hits), unless the
        database itself failed.
        """
        if g.get(_CONNECTION) is not None:
            yield
            return
        with db.engine.connect() as connection:
            transaction = connection.begin()
            g.setdefault(_CONNECTION, connection)
            try:
                yield
            except (SQLAlchemyError, StorageError):
                transaction.rollback()
                raise
            finally:
                g.pop(_CONNECTION, None)
                if transaction.is_active:
                    transaction.commit()

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Count `amount` hits on key, starting a window of `expiry` seconds if none is open."""
        now = utcnow()
        parameters = {
            "key": key,
            "amount": amount,
            "now": now,
            "expires_at": now + timedelta(seconds=expiry),
        }
        with _connection(write=True) as connection:
            statement = _upsert_statement(connection.dialect.name)
            count, expires_at = connection.execute(statement, parameters).one()
        _seen()[key] = (count, expires_at.timestamp())
        return count

    def _read(self, key: str) -> tuple[int, float]:
        """(count, end of window as a Unix time) for key; (0, now) when no window is open."""
        if key in _seen():
            return _seen()[key]
        now = utcnow()
        with _connection(write=False) as connection:
            row = connection.execute(_READ, {"key": key, "now": now}).first()
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
