"""Count events per key in a sliding window, in the database so every worker and host agrees."""

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select

from hiretrack.auth.models import ThrottleCounter
from hiretrack.database import utcnow
from hiretrack.extensions import db


def _counter(key: str, now: datetime, window: timedelta) -> ThrottleCounter:
    """Load (locking it on PostgreSQL) or create the counter for key, resetting an expired window."""
    counter = db.session.scalars(
        select(ThrottleCounter).where(ThrottleCounter.key == key).with_for_update()
    ).first()
    if counter is None:
        counter = ThrottleCounter(key=key, window_started_at=now, count=0)
        db.session.add(counter)
    elif counter.window_started_at + window < now:
        counter.window_started_at = now
        counter.count = 0
    return counter


def is_blocked(key: str, now: datetime | None = None) -> bool:
    """Say whether key is currently blocked."""
    now = now or utcnow()
    counter = db.session.get(ThrottleCounter, key)
    return bool(counter and counter.blocked_until and counter.blocked_until > now)


def record_hit(key: str, limit: int, window: timedelta, block_for: timedelta) -> bool:
    """Count one event for key; return True if it is now over the limit (and block it)."""
    now = utcnow()
    counter = _counter(key, now, window)
    counter.count += 1
    if counter.count > limit:
        counter.blocked_until = now + block_for
        return True
    return False


def record_cost(key: str, cost: int, limit: int, window: timedelta, block_for: timedelta) -> bool:
    """Add cost (e.g. milliseconds) to key's window; past limit, block it. True if blocked now."""
    now = utcnow()
    counter = _counter(key, now, window)
    counter.count += cost
    if counter.count > limit:
        counter.blocked_until = now + block_for
        return True
    return False


def recent_failures(key: str, memory: timedelta, now: datetime | None = None) -> int:
    """How many failures key has had without a pause longer than memory (see record_failure)."""
    now = now or utcnow()
    counter = db.session.get(ThrottleCounter, key)
    if counter is None or counter.window_started_at + memory < now:
        return 0
    return counter.count


def record_failure(
    key: str, free: int, memory: timedelta, first_delay: timedelta, longest_delay: timedelta
) -> timedelta | None:
    """Count one failure for key; past `free` failures, make key wait a delay that doubles.

    Failures are forgotten only after a pause of `memory` since the latest one (so for these keys
    `window_started_at` holds the latest failure): a steady attacker never earns free tries again.
    Return the delay now imposed, or None while key is within its free failures.
    """
    now = utcnow()
    counter = _counter(key, now, memory)
    counter.window_started_at = now
    counter.count += 1
    if counter.count <= free:
        return None
    delay = min(first_delay * 2 ** (counter.count - free - 1), longest_delay)
    counter.blocked_until = now + delay
    return delay


def seconds_blocked(key: str, now: datetime | None = None) -> int:
    """How many whole seconds key stays blocked (0 when it is not blocked)."""
    now = now or utcnow()
    counter = db.session.get(ThrottleCounter, key)
    if counter is None or counter.blocked_until is None or counter.blocked_until <= now:
        return 0
    return int((counter.blocked_until - now).total_seconds() + 0.999)


def reset(key: str) -> None:
    """Forget the failures for key (after a successful login)."""
    counter = db.session.get(ThrottleCounter, key)
    if counter is not None:
        db.session.delete(counter)


#: Longer than any throttle window and block (the longest is an hour): older counters are spent.
STALE_AFTER = timedelta(days=1)


def purge_stale(now: datetime | None = None) -> int:
    """Delete counters whose window and block are long over; return how many.

    Keys hold IP addresses and emails, so they are not kept longer than a throttle needs them.
    """
    cutoff = (now or utcnow()) - STALE_AFTER
    result = db.session.execute(
        delete(ThrottleCounter).where(
            ThrottleCounter.window_started_at < cutoff,
            or_(ThrottleCounter.blocked_until.is_(None), ThrottleCounter.blocked_until < cutoff),
        )
    )
    return result.rowcount or 0
