"""Offers: the terms a manager intends to put in writing, approved before they may go out."""

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hiretrack.approvals.models import Approval, ChainState, chain_state
from hiretrack.database import utcnow
from hiretrack.extensions import db


class OfferStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXTENDED = "extended"  # sent in writing
    WITHDRAWN = "withdrawn"  # the application or requisition closed before it went out


class Offer(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), unique=True)
    salary: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    start_date: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(20), default=OfferStatus.PENDING_APPROVAL)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    approvals: Mapped[list[Approval]] = relationship(back_populates="offer")

    __mapper_args__ = {"version_id_col": version}

    def follow_approvals(self) -> None:
        """Take the status the approval chain gives: approved, or rejected, once it is decided."""
        state = chain_state(self.approvals)
        if state == ChainState.APPROVED:
            self.status = OfferStatus.APPROVED
        elif state == ChainState.REJECTED:
            self.status = OfferStatus.REJECTED
