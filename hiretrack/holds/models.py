"""Holds: anything that stops an offer going out, with an owner and a date it should clear by."""

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hiretrack.auth.models import User
from hiretrack.database import utcnow
from hiretrack.extensions import db


class HoldReason(StrEnum):
    BUDGET = "budget"
    HEADCOUNT = "headcount"
    COMPENSATION = "compensation"
    FREEZE = "freeze"
    REORG = "reorg"
    VISA = "visa"
    BACKGROUND_CHECK = "background_check"
    OTHER = "other"


#: How each hold reason is named on the pages and in reports.
REASON_LABELS = {
    HoldReason.BUDGET: "Budget",
    HoldReason.HEADCOUNT: "Headcount",
    HoldReason.COMPENSATION: "Compensation",
    HoldReason.FREEZE: "Hiring freeze",
    HoldReason.REORG: "Re-organisation",
    HoldReason.VISA: "Visa",
    HoldReason.BACKGROUND_CHECK: "Background check",
    HoldReason.OTHER: "Other",
}


class HoldOutcome(StrEnum):
    CLEARED = "cleared"
    CANCELLED = "cancelled"


class Hold(db.Model):
    __table_args__ = (Index("ix_hold_requisition_resolved", "requisition_id", "resolved_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    requisition_id: Mapped[int] = mapped_column(ForeignKey("requisition.id"))
    # Set for holds on one candidacy only (visa, background check).
    application_id: Mapped[int | None] = mapped_column(ForeignKey("application.id"), index=True)
    reason: Mapped[str] = mapped_column(String(30))
    summary: Mapped[str] = mapped_column(String(300))
    internal_notes: Mapped[str] = mapped_column(Text, default="")
    # The only words about the hold a candidate ever sees.
    public_reason: Mapped[str] = mapped_column(String(300), default="")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    owner_name: Mapped[str | None] = mapped_column(String(200))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    expected_clear_date: Mapped[date | None]
    resolved_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(20))
    resolution_note: Mapped[str] = mapped_column(Text, default="")
    # What candidates are told when the hold ends in cancellation: its own words, because the
    # public reason described a wait, and a closure must not read as one.
    public_cancellation_reason: Mapped[str] = mapped_column(String(300), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    version: Mapped[int] = mapped_column(default=1)

    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    requisition: Mapped["Requisition"] = relationship()  # noqa: F821
    application: Mapped["Application | None"] = relationship()  # noqa: F821

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def owner_label(self) -> str:
        return self.owner.name if self.owner else (self.owner_name or "unassigned")

    def is_overdue(self, today: date) -> bool:
        return self.is_open and clear_date_passed(self.expected_clear_date, today)


def clear_date_passed(expected_clear_date: date | None, today: date) -> bool:
    """An open hold is overdue once the day it was expected to clear has gone by."""
    return expected_clear_date is not None and expected_clear_date < today
