"""The API's own table: request counters for its rate limits, shared by every worker and host."""

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from hiretrack.extensions import db


class RateLimitCounter(db.Model):
    """Requests counted under one rate-limit key in a fixed window that ends at `expires_at`.

    Written by `hiretrack.api.limits_storage.DatabaseStorage`, the default store of the `limits`
    library's counters when no Redis is configured.
    """

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    count: Mapped[int]
    expires_at: Mapped[datetime]
