"""One row per idempotency key used: who used it, on what request, and the answer it got."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hiretrack.database import utcnow
from hiretrack.extensions import db


class IdempotencyKey(db.Model):
    """A request that must take effect once: claimed, worked on and answered in one transaction.

    Other requests see the row only once its work and `response_status` are committed with it
    (until then their claim waits on it); every repeat then answers the stored response instead
    of doing the work again. A row without a response was committed by an earlier version,
    which claimed keys apart from the work. Keys are scoped to their user, not their token.
    """

    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(300))
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of the method, path and body
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    response_status: Mapped[int | None]
    response_type: Mapped[str | None] = mapped_column(String(100))
    response_body: Mapped[str | None] = mapped_column(Text)
    response_location: Mapped[str | None] = mapped_column(String(2000))
