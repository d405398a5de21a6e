"""One row per idempotency key used: who used it, on what request, and the answer it got."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hiretrack.database import utcnow
from hiretrack.extensions import db


class IdempotencyKey(db.Model):
    """A request that must take effect once: claimed before the work, answered after it.

    `response_status` stays empty while the first request with the key is still working; a
    repeat then waits for it (or is told to retry), and once it is set every repeat answers
    the stored response instead of doing the work again. Keys are scoped to their user.
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
