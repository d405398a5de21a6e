"""Approvals: one step of a chain on a requisition or on an offer, with its approver and decision."""

from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hiretrack.auth.models import User
from hiretrack.database import utcnow
from hiretrack.extensions import db


class ApprovalKind(StrEnum):
    BUDGET = "budget"
    HEADCOUNT = "headcount"
    COMPENSATION = "compensation"
    OFFER = "offer"


#: How each kind of approval is named on the pages.
KIND_LABELS = {
    ApprovalKind.BUDGET: "Budget",
    ApprovalKind.HEADCOUNT: "Headcount",
    ApprovalKind.COMPENSATION: "Compensation",
    ApprovalKind.OFFER: "Offer sign-off",
}


class Decision(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"  # the offer changed after this step; a new step replaced it
    WITHDRAWN = "withdrawn"  # its requisition or application closed: no decision is needed


class Approval(db.Model):
    __table_args__ = (Index("ix_approval_approver_decision", "approver_id", "decision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    requisition_id: Mapped[int] = mapped_column(ForeignKey("requisition.id"), index=True)
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offer.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    approver_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    due_date: Mapped[date | None]
    decision: Mapped[str] = mapped_column(String(20), default=Decision.PENDING)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    approver: Mapped[User] = relationship(foreign_keys=[approver_id])
    requisition: Mapped["Requisition"] = relationship()  # noqa: F821
    offer: Mapped["Offer | None"] = relationship(back_populates="approvals")  # noqa: F821

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_pending(self) -> bool:
        return self.decision == Decision.PENDING


class ChainState(StrEnum):
    """Where a chain of approval steps stands, which its requisition or offer follows."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


def chain_state(steps: Iterable[Approval]) -> ChainState:
    """One rejection rejects a chain; it is approved once every current step is approved.

    Superseded steps (an offer that changed after them) and withdrawn ones (the requisition or
    application closed) no longer count.
    """
    current = [
        step for step in steps if step.decision not in (Decision.SUPERSEDED, Decision.WITHDRAWN)
    ]
    if any(step.decision == Decision.REJECTED for step in current):
        return ChainState.REJECTED
    if current and all(step.decision == Decision.APPROVED for step in current):
        return ChainState.APPROVED
    return ChainState.PENDING
