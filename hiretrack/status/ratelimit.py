"""Rate limits for the public status pages, counted in the database so every worker agrees.

The counters are `hiretrack.auth.throttle`'s: one row per key with a sliding window and a block.
Each check commits at once, so a refused or failed action still counts and the row lock
(PostgreSQL) is held only for the moment of counting.
"""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from hiretrack.auth import throttle
from hiretrack.auth.models import ThrottleCounter
from hiretrack.database import utcnow
from hiretrack.extensions import db


@dataclass(frozen=True)
class Limit:
    """At most `limit` hits per `window`; the next one blocks the key for `block_for`.

    `block_for` is at least `window`, so the window has reset by the time the block ends.
    """

    limit: int
    window: timedelta
    block_for: timedelta


#: Every request to a status page from one address: generous for a person, not for a script.
PER_IP = Limit(100, timedelta(minutes=10), timedelta(minutes=15))
#: Every request on one valid link, from anywhere (a leaked link cannot be hammered).
PER_LINK = Limit(60, timedelta(minutes=10), timedelta(minutes=10))
#: Questions on one link: each one emails the hiring manager.
QUESTIONS_PER_LINK = Limit(5, timedelta(hours=1), timedelta(hours=1))


def ip_key(address: str | None) -> str:
    return f"status:ip:{address or '-'}"


def link_key(token_hash: str) -> str:
    # A prefix of the hash is plenty to tell links apart and reveals nothing about the token.
    return f"status:token:{token_hash[:32]}"


def question_key(token_hash: str) -> str:
    return f"status:question:{token_hash[:32]}"


def hit(checks: list[tuple[str, Limit]]) -> bool:
    """Count one request against each key; True if any key is (now) over its limit. Commits."""
    try:
        return _count(checks)
    except IntegrityError:
        # Two first requests for a new key raced to insert its counter; the row exists now.
        db.session.rollback()
        return _count(checks)


def _count(checks: list[tuple[str, Limit]]) -> bool:
    """Count and commit; a blocked key is not counted again, so retrying never extends a block."""
    refused = False
    for key, limit in checks:
        blocked = throttle.is_blocked(key) or throttle.record_hit(
            key, limit.limit, limit.window, limit.block_for
        )
        refused = refused or blocked
    db.session.commit()
    return refused


def seconds_until_unblocked(keys: list[str]) -> int:
    """How long the longest current block among keys lasts, in whole seconds (at least 1)."""
    now = utcnow()
    longest = 0
    for key in keys:
        counter = db.session.get(ThrottleCounter, key)
        if counter is not None and counter.blocked_until and counter.blocked_until > now:
            longest = max(longest, int((counter.blocked_until - now).total_seconds()) + 1)
    return max(longest, 1)
