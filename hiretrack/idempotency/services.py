"""Do a request's work once per key: claim the key first, store the answer, replay it to repeats.

The same mechanism serves the API's `Idempotency-Key` header and the web's one-time submission
tokens (a double-clicked Send). Claiming is one `INSERT ... ON CONFLICT DO NOTHING` committed at
once, so of any number of concurrent requests with one key exactly one does the work; the
others wait for its answer and replay it, or are told to retry once the wait runs out.
"""

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

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


class KeyInUse(DomainError):
    """The first request with this key is still working; retrying a little later replays it."""

    title = "Request in progress"


@dataclass(frozen=True)
class Claim:
    """This request owns the key: it does the work, then `finish` or `release`."""

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

    Commits the session: call it before the request's own work starts.
    """
    deadline = time.monotonic() + wait
    _forget_expired(user_id)
    while True:
        claimed = db.session.scalar(
            INSERTS[db.engine.dialect.name](KEYS)
            .values(user_id=user_id, key=key, fingerprint=request_fingerprint, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=[KEYS.c.user_id, KEYS.c.key])
            .returning(KEYS.c.id)
        )
        db.session.commit()
        if claimed is not None:
            return Claim(claimed)
        first = db.session.execute(
            select(KEYS).where(KEYS.c.user_id == user_id, KEYS.c.key == key)
        ).first()
        db.session.commit()
        if first is None:
            continue  # released by a first request that failed: this one may do the work
        if first.fingerprint != request_fingerprint:
            raise ValidationFailed(
                "This Idempotency-Key was already used with a different request; use a new key "
                "for a new request.",
                {"Idempotency-Key": ["Already used with a different request."]},
            )
        if first.response_status is not None:
            return StoredResponse(
                first.response_status,
                first.response_type,
                first.response_body or "",
                first.response_location,
            )
        if time.monotonic() >= deadline:
            raise KeyInUse(
                "A request with this Idempotency-Key is still being processed; retry in a "
                "moment to get its answer."
            )
        time.sleep(POLL_SECONDS)


def finish(claim: Claim, response: StoredResponse) -> None:
    """Store the answer of the request that did the work, for every repeat of it."""
    db.session.rollback()  # whatever the view left uncommitted is not part of its answer
    db.session.execute(
        update(KEYS)
        .where(KEYS.c.id == claim.id)
        .values(
            response_status=response.status,
            response_type=response.content_type,
            response_body=response.body,
            response_location=response.location,
        )
    )
    db.session.commit()


def release(claim: Claim) -> None:
    """Give the key back after a refusal: nothing was done, so a retry may do the work."""
    db.session.rollback()
    db.session.execute(delete(KEYS).where(KEYS.c.id == claim.id))
    db.session.commit()


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
