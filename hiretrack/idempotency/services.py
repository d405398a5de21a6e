"""Do a request's work once per key: claim the key, do the work and store its answer together.

The same mechanism serves the API's `Idempotency-Key` header and the web's one-time submission
tokens (a double-clicked Send). The claim (an `INSERT ... ON CONFLICT DO NOTHING`), the work and
the answer are one transaction: the views commit as usual, but their commits are held
(`HoldingSession.holding_commits`) until the answer is written beside the work. So a key is
either answered, with its work done, or free, with nothing done: a crash or an exception at any
point leaves no half-done key, and a retry does the work once or replays its answer.

Concurrent requests with one key: the first one's uncommitted claim makes the others' INSERTs
wait (PostgreSQL waits on the unique index entry; SQLite on the write lock) until it commits,
when they replay its answer, or rolls back, when one of them claims the key and does the work.
They wait up to `wait` seconds, then are told to retry (409).
"""

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import delete, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from hiretrack.database import utcnow
from hiretrack.errors import DomainError, ValidationFailed
from hiretrack.extensions import db
from hiretrack.idempotency.models import IdempotencyKey

#: How long a key answers with its first response (Stripe's 24 hours).
KEY_LIFETIME = timedelta(hours=24)
#: Longest accepted key; a UUID is 36 characters.
KEY_MAX_LENGTH = 255
#: How often a repeat looks again for the first request's answer while it works.
POLL_SECONDS = 0.05

KEYS = IdempotencyKey.__table__
INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}

Result = TypeVar("Result")


class KeyInUse(DomainError):
    """The first request with this key is still working; retrying a little later replays it."""

    title = "Request in progress"


@dataclass(frozen=True)
class Claim:
    """This request owns the key, in a transaction still open: `run_claimed` does the rest."""

    id: int


@dataclass(frozen=True)
class StoredResponse:
    """What the first request with the key answered, to answer again."""

    status: int
    content_type: str | None
    body: str
    location: str | None


def fingerprint(method: str, path: str, body: bytes) -> str:
    """A digest of what was asked: the same key with another request is refused.

    A JSON body counts by its content, so spacing and the order of fields do not matter.
    """
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (UnicodeDecodeError, ValueError, RecursionError):
        canonical = body
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(canonical)
    return digest.hexdigest()


def check_key(key: str) -> str:
    """Refuse a key no client would mean: empty, too long, or with non-printable characters."""
    if not 0 < len(key) <= KEY_MAX_LENGTH or not all(" " <= char <= "~" for char in key):
        raise ValidationFailed(
            f"The Idempotency-Key header must be 1 to {KEY_MAX_LENGTH} printable ASCII "
            "characters, e.g. a UUID.",
            {"Idempotency-Key": ["1 to 255 printable ASCII characters."]},
        )
    return key


def begin(
    user_id: int, key: str, request_fingerprint: str, *, wait: float
) -> Claim | StoredResponse:
    """Claim the key for this request, or wait (up to `wait` seconds) for its first answer.

    Commits what the session did before. A claim is left uncommitted: pass it to `run_claimed`
    at once, which does the work in the same transaction.
    """
    deadline = time.monotonic() + wait
    _forget_expired(user_id)
    db.session.commit()
    while True:
        try:
            claimed = _insert_claim(user_id, key, request_fingerprint, deadline)
        except OperationalError as error:
            db.session.rollback()
            if not _waited_too_long(error):
                raise
            claimed = None
        else:
            if claimed is not None:
                return Claim(claimed)
            db.session.rollback()
        first = db.session.execute(
            select(KEYS).where(KEYS.c.user_id == user_id, KEYS.c.key == key)
        ).first()
        db.session.commit()
        if first is not None and first.fingerprint != request_fingerprint:
            raise ValidationFailed(
                "This Idempotency-Key was already used with a different request; use a new key "
                "for a new request.",
                {"Idempotency-Key": ["Already used with a different request."]},
            )
        if first is not None and first.response_status is not None:
            return StoredResponse(
                first.response_status,
                first.response_type,
                first.response_body or "",
                first.response_location,
            )
        # Gone: its first request failed during this one's wait, so claim it again. Or kept
        # without an answer (by an earlier version, which committed claims before the work):
        # wait for one.
        if time.monotonic() >= deadline:
            raise KeyInUse(
                "A request with this Idempotency-Key is still being processed; retry in a "
                "moment to get its answer."
            )
        if first is not None:
            time.sleep(POLL_SECONDS)


def _insert_claim(user_id: int, key: str, request_fingerprint: str, deadline: float) -> int | None:
    """Insert the key's row in a new transaction; None if another request committed it first.

    While another request's claim is uncommitted this waits for it, until `deadline`.
    """
    postgresql = db.engine.dialect.name == "postgresql"
    if postgresql:
        remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))
        db.session.execute(
            text("SELECT set_config('lock_timeout', :timeout, true)"),
            {"timeout": f"{remaining_ms}ms"},
        )
    claimed = db.session.scalar(
        INSERTS[db.engine.dialect.name](KEYS)
        .values(user_id=user_id, key=key, fingerprint=request_fingerprint, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=[KEYS.c.user_id, KEYS.c.key])
        .returning(KEYS.c.id)
    )
    if postgresql:
        db.session.execute(text("SET LOCAL lock_timeout TO DEFAULT"))  # the work's own waits
    return claimed


def _waited_too_long(error: OperationalError) -> bool:
    """Whether the claim gave up waiting for another request's (PostgreSQL's lock timeout, or
    SQLite's busy timeout), rather than failed."""
    if getattr(error.orig, "sqlstate", None) == "55P03":  # lock_not_available
        return True
    return "database is locked" in str(error.orig)


def run_claimed(
    claim: Claim, work: Callable[[], Result], answer: Callable[[Result], StoredResponse | None]
) -> Result:
    """Do the claimed request's work and commit it together with its answer.

    `answer` says what to store for the work's result, or None for a refusal: then the key is
    given back (whatever the work committed stays, as without a key) and a retry does the work.
    An exception rolls everything back, the work and the claim: a retry does the work once.
    """
    try:
        with db.session().holding_commits():
            result = work()
        stored = answer(result)
        if stored is None:
            db.session.execute(delete(KEYS).where(KEYS.c.id == claim.id))
        else:
            db.session.execute(
                update(KEYS)
                .where(KEYS.c.id == claim.id)
                .values(
                    response_status=stored.status,
                    response_type=stored.content_type,
                    response_body=stored.body,
                    response_location=stored.location,
                )
            )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return result


def _forget_expired(user_id: int, now: datetime | None = None) -> None:
    """Drop this user's keys past their lifetime (their stored answers may name candidates)."""
    cutoff = (now or utcnow()) - KEY_LIFETIME
    db.session.execute(delete(KEYS).where(KEYS.c.user_id == user_id, KEYS.c.created_at < cutoff))


def purge_expired_keys(now: datetime | None = None) -> int:
    """Delete every key past its lifetime, with its stored answer; return how many.

    `begin` drops a user's own expired keys as they go; the retention run drops the rest, so
    no stored answer (which may name a candidate) outlives its 24 hours by more than a day.
    """
    cutoff = (now or utcnow()) - KEY_LIFETIME
    return db.session.execute(delete(KEYS).where(KEYS.c.created_at < cutoff)).rowcount
