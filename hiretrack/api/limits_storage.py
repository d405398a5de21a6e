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
The checks before a request are made by `count_request`, all at once: on PostgreSQL one
statement, sent through psycopg itself, in a transaction of its own (one round trip, where a
transaction of a read and two upserts took five: BEGIN, three statements, COMMIT), on SQLite one
transaction. The strategy's reads and hits that follow are answered from what it returned.

That transaction commits with `synchronous_commit` off: PostgreSQL answers before the commit's
WAL record is flushed to disk, so the request does not wait for an fsync (3-6 ms of wall time on
this machine, against well under a millisecond for the statement). The counters are still
atomic and every worker sees every count at once; what a crash of the database server (not of
a worker) can lose is the last fraction of a second of increments, which lets a client make a
few more requests in that window than its limit: harmless for a rate limit, and the reason it is
off for these counters only.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import cache

import psycopg
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


def _counted() -> dict[str, int]:
    """Hits `count_request` already wrote this request, by key: `incr` answers them unwritten."""
    if not has_app_context():
        return {}
    return g.setdefault("hiretrack_rate_counted", {})


@contextmanager
def _connection(write: bool) -> Iterator:
    """A connection of the storage's own; a writer's transaction is committed at once."""
    if write:
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

#: A hit of the PostgreSQL statement of `count_request`: an upsert as `_upsert_statement`'s.
_PG_HIT = """hit_{n} AS (
  INSERT INTO rate_limit_counter (key, count, expires_at)
  SELECT %(hit_key_{n})s, 1, %(hit_expires_{n})s WHERE {allowed}
  ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN rate_limit_counter.expires_at <= %(now)s THEN 1
                 ELSE rate_limit_counter.count + 1 END,
    expires_at = CASE WHEN rate_limit_counter.expires_at <= %(now)s THEN excluded.expires_at
                      ELSE rate_limit_counter.expires_at END
  RETURNING key, count, expires_at
)"""


@cache
def _postgresql_request_sql(reads: int, hits: int) -> str:
    """One statement doing what `count_request` does, for so many reads and hits, as SQL with
    psycopg's named placeholders (`_count_in_one_statement` sends it through the driver).

    Data-modifying CTEs: each hit is made only if no read counter is at its limit and every
    earlier hit stayed within its own (the strategy stops at the first refusal, and so does
    this). `set_config(..., true)` is SET LOCAL: the statement's own transaction commits
    without waiting for its WAL flush (see the module's docstring).
    """
    read_keys = ", ".join(f"%(read_key_{n})s" for n in range(reads)) or "NULL"
    at_limit = " OR ".join(
        f"(key = %(read_key_{n})s AND count >= %(read_limit_{n})s)" for n in range(reads)
    )
    parts = [
        "settings AS (SELECT set_config('synchronous_commit', 'off', true) AS value)",
        "reads AS (SELECT key, count, expires_at FROM rate_limit_counter"
        f" WHERE key IN ({read_keys}) AND expires_at > %(now)s)",
    ]
    for n in range(hits):
        allowed = (
            f"NOT EXISTS (SELECT FROM reads WHERE {at_limit})"
            if n == 0 and reads
            else "true"
            if n == 0
            else f"(SELECT count FROM hit_{n - 1}) <= %(hit_limit_{n - 1})s"
        )
        parts.append(_PG_HIT.format(n=n, allowed=allowed))
    rows = ["SELECT key, count, expires_at FROM reads"]
    rows += [f"SELECT key, count, expires_at FROM hit_{n}" for n in range(hits)]
    return (
        f"WITH {', '.join(parts)}\n"
        f"SELECT key, count, expires_at FROM ({' UNION ALL '.join(rows)}) AS counted"
        " WHERE (SELECT value FROM settings) IS NOT NULL"
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

    def count_request(
        self, reads: Sequence[tuple[str, int]], hits: Sequence[tuple[str, int, int]]
    ) -> None:
        """Read `reads` (key, limit) and count `hits` (key, window in seconds, limit) at once.

        What the fixed-window strategy would do one call at a time, in one transaction: no hit
        if a read counter is at its limit, and none after a hit past its limit. The strategy's
        calls that follow (`get`, `get_expiry`, `incr` of these keys) are answered from here.
        """
        now = utcnow()
        try:
            if db.engine.dialect.name == "postgresql":
                found = self._count_in_one_statement(reads, hits, now)
            else:
                found = self._count_in_one_transaction(reads, hits, now)
        except (SQLAlchemyError, psycopg.Error) as error:
            raise StorageError(error) from error
        seen, counted = _seen(), _counted()
        for key, _ in reads:
            count, expires_at = found.get(key, (0, now))
            seen[key] = (count, expires_at.timestamp())
        for key, _, _ in hits:
            if key in found:
                count, expires_at = found[key]
                seen[key] = (count, expires_at.timestamp())
                counted[key] = count

    def _count_in_one_statement(self, reads, hits, now: datetime) -> dict:
        parameters = {"now": now}
        for n, (key, limit) in enumerate(reads):
            parameters |= {f"read_key_{n}": key, f"read_limit_{n}": limit}
        for n, (key, expiry, limit) in enumerate(hits):
            parameters |= {
                f"hit_key_{n}": key,
                f"hit_expires_{n}": now + timedelta(seconds=expiry),
                f"hit_limit_{n}": limit,
            }
        sql = _postgresql_request_sql(len(reads), len(hits))
        # Through the driver: SQLAlchemy's execution, result and isolation-level handling cost
        # more than twice the driver's own work on every API call (about 0.12 ms of CPU). A
        # transaction of its own: the statement's, in autocommit, with no BEGIN and COMMIT.
        connection = db.engine.raw_connection()
        try:
            driver = connection.dbapi_connection
            driver.autocommit = True
            try:
                with driver.cursor() as cursor:
                    cursor.execute(sql, parameters)
                    rows = cursor.fetchall()
            finally:
                driver.autocommit = False
        finally:
            connection.close()  # back to the pool
        return {key: (count, expires_at) for key, count, expires_at in rows}

    def _count_in_one_transaction(self, reads, hits, now: datetime) -> dict:
        found = {}
        with db.engine.begin() as connection:
            for key, _ in reads:  # one key a policy item, usually one: no expanding IN
                row = connection.execute(_READ, {"key": key, "now": now}).first()
                if row is not None:
                    found[key] = (row.count, row.expires_at)
            if any(found.get(key, (0,))[0] >= limit for key, limit in reads):
                return found
            upsert = _upsert_statement(connection.dialect.name)
            for key, expiry, limit in hits:
                parameters = {
                    "key": key,
                    "amount": 1,
                    "now": now,
                    "expires_at": now + timedelta(seconds=expiry),
                }
                found[key] = tuple(connection.execute(upsert, parameters).one())
                if found[key][0] > limit:
                    break
        return found

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Count `amount` hits on key, starting a window of `expiry` seconds if none is open."""
        if key in _counted():
            return _counted().pop(key)  # written by count_request
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
