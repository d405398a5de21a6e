"""Candidate status links (hashed tokens) and the candidate's feedback on our updates."""

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hiretrack.database import utcnow
from hiretrack.extensions import db


class StatusLink(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class UpdateFeedback(db.Model):
    """The candidate's one-click answer to "were our updates useful?"."""

    id: Mapped[int] = mapped_column(primary_key=True)
    # One answer per application: a second click changes it.
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), unique=True)
    useful: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
