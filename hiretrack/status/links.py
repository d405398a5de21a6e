"""Candidate status links: issue one for an email, resolve a token to its application, revoke.

A link is an unguessable token (192 bits) stored only as its SHA-256, tied to one application,
valid while the application is open and for 30 days after it closes, and revocable by the
manager. Issuing a link is part of sending any candidate email, so this module sits below
both the messages and the status services. See docs/status-page.md.
"""

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update

from hiretrack.audit.services import record_change
from hiretrack.auth.models import User
from hiretrack.candidates.models import Application
from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.status.models import StatusLink
from hiretrack.urls import external_url

#: A link keeps working this long after its application closes.
VALID_AFTER_CLOSE = timedelta(days=30)
#: Longer tokens are never ours; they are looked up as the empty token, down the same path.
MAX_TOKEN_LENGTH = 100


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def status_url(token: str) -> str:
    """The candidate's address for their status page (the link their emails carry)."""
    return external_url("status.page", token=token)


def issue_link(application: Application) -> str:
    """Create a new link for an application and return its URL (the token is shown only now)."""
    token = secrets.token_urlsafe(24)  # 192 bits
    db.session.flush()
    db.session.add(StatusLink(application_id=application.id, token_hash=hash_token(token)))
    return status_url(token)


def find_application(token: str, now: datetime | None = None) -> Application | None:
    """Resolve a token to its application if the link is valid: not revoked, not expired.

    A wrong, revoked or expired token takes the same path (hash, one indexed query for the link
    and its application), so neither the answer nor the work tells them apart.
    """
    token = token or ""
    if len(token) > MAX_TOKEN_LENGTH:
        token = ""
    row = db.session.execute(
        select(StatusLink.revoked_at, Application)
        .join(Application, Application.id == StatusLink.application_id)
        .where(StatusLink.token_hash == hash_token(token))
    ).first()
    if row is None:
        return None
    revoked_at, application = row
    now = now or utcnow()
    expired = application.closed_at is not None and application.closed_at + VALID_AFTER_CLOSE < now
    if revoked_at is not None or expired:
        return None
    return application


def revoke_links(application: Application, actor: User | None = None) -> int:
    """Revoke every status link of an application (e.g. a link was forwarded by mistake).

    The next email sent to the candidate carries a fresh link.
    """
    result = db.session.execute(
        update(StatusLink)
        .where(StatusLink.application_id == application.id, StatusLink.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if actor is not None and result.rowcount:
        record_change(
            actor,
            "status_link.revoke",
            application,
            before={"status_links": "active"},
            after={"status_links": "revoked", "revoked": result.rowcount},
        )
    return result.rowcount
