"""Business-day calendar table and the log that makes reminder digests idempotent."""

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from hiretrack.database import utcnow
from hiretrack.extensions import db


class CalendarDay(db.Model):
    """One calendar day with the running count of business days up to it.

    Business-day arithmetic becomes a join: "N business days after D" is the first day whose
    business_day_number is N more than D's, so cadence figures stay inside SQL on every database.
    """

    __table_args__ = (
        # "N business days after D" looks up the business day numbered N more: there is exactly
        # one, and saying so lets PostgreSQL estimate those joins as one row, not eleven.
        Index(
            "ix_calendar_day_business_day_number",
            "business_day_number",
            unique=True,
            sqlite_where=text("is_business_day IS 1"),
            postgresql_where=text("is_business_day IS true"),
        ),
    )

    day: Mapped[date] = mapped_column(primary_key=True)
    is_business_day: Mapped[bool]
    business_day_number: Mapped[int]


class ReminderDigest(db.Model):
    """One digest per recipient, kind and day: the unique constraint stops a second send."""

    __table_args__ = (UniqueConstraint("recipient_user_id", "kind", "sent_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    kind: Mapped[str] = mapped_column(String(30))
    sent_on: Mapped[date]
    outbox_email_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_email.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BusinessCalendar(db.Model):
    """Which holiday calendar and date range the calendar_day rows were built for."""

    id: Mapped[int] = mapped_column(primary_key=True)
    holidays_code: Mapped[str] = mapped_column(String(20), default="")
    first_day: Mapped[date]
    last_day: Mapped[date]
    built_at: Mapped[datetime] = mapped_column(default=utcnow)


class CadenceTally(db.Model):
    """How many open applications store each cadence date: the organisation-wide counts.

    A status is a comparison of stored dates with today, so a count per status cannot be kept
    by writes (time passing moves applications between statuses); a count per date can, and
    "overdue" becomes a sum over the dates before today. Its rows grow with the distinct dates
    (a few dozen), not with the applications. Kept by `hiretrack.cadence.tally` in the
    transaction of each write of the stored dates, rebuilt by `hiretrack cadence recompute`.

    kind: "open" counts every open application by its `silent_since` (never empty while open),
    "due" by `next_update_due`, "ghosted" by `ghosted_on`.
    """

    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    applications: Mapped[int]
