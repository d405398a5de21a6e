"""Candidate status links: unguessable, stored hashed, tied to one application, revocable."""

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from hiretrack.candidates.models import Application
from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.status.models import StatusLink

#: A link keeps working this long after its application closes.
VALID_AFTER_CLOSE = timedelta(days=30)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def status_url(token: str) -> str:
    return f"{current_app.config['BASE_URL']}/status/{token}"


def issue_link(application: Application) -> str:
    """Create a new link for an application and return its URL (the token is shown only now)."""
    token = secrets.token_urlsafe(24)  # 192 bits
    db.session.flush()
    db.session.add(StatusLink(application_id=application.id, token_hash=hash_token(token)))
    return status_url(token)


def find_application(token: str, now: datetime | None = None) -> Application | None:
    """Resolve a token to its application if the link is valid: not revoked, not expired."""
    if not token or len(token) > 100:
        return None
    link = db.session.scalars(
        select(StatusLink).where(StatusLink.token_hash == hash_token(token))
    ).first()
    if link is None or link.revoked_at is not None:
        return None
    application = db.session.get(Application, link.application_id)
    now = now or utcnow()
    if application.closed_at is not None and application.closed_at + VALID_AFTER_CLOSE < now:
        return None
    return application


def revoke_links(application: Application) -> int:
    """Revoke every status link of an application (e.g. a link was forwarded by mistake)."""
    result = db.session.execute(
        update(StatusLink)
        .where(StatusLink.application_id == application.id, StatusLink.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return result.rowcount
