"""Requisitions: openings a hiring manager fills, with their lifecycle status."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hiretrack.admin.models import Department
from hiretrack.auth.models import User
from hiretrack.database import utcnow
from hiretrack.extensions import db


class RequisitionStatus(StrEnum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    OPEN = "open"
    ON_HOLD = "on_hold"
    FILLED = "filled"
    CANCELLED = "cancelled"


#: How each requisition status is named on the pages.
STATUS_LABELS = {
    RequisitionStatus.DRAFT: "Draft",
    RequisitionStatus.PENDING_APPROVAL: "Pending approval",
    RequisitionStatus.OPEN: "Open",
    RequisitionStatus.ON_HOLD: "On hold",
    RequisitionStatus.FILLED: "Filled",
    RequisitionStatus.CANCELLED: "Cancelled",
}


CLOSED_REQUISITION_STATUSES = frozenset({RequisitionStatus.FILLED, RequisitionStatus.CANCELLED})


class Requisition(db.Model):
    __table_args__ = (
        Index("ix_requisition_manager_status", "manager_id", "status"),
        # The few that owe candidates closure, for the organisation's total.
        Index("ix_requisition_closure_pending", "closure_pending"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    manager_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    headcount: Mapped[int] = mapped_column(default=1)
    salary_min: Mapped[int | None]
    salary_max: Mapped[int | None]
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    status: Mapped[str] = mapped_column(String(20), default=RequisitionStatus.DRAFT)
    cadence_business_days: Mapped[int | None]
    auto_check_in: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None]
    # Candidates still owed closure once closed: kept by hiretrack.requisitions.closure_pending.
    closure_pending: Mapped[int] = mapped_column(default=0, server_default="0")
    # Its candidates' failed deliveries and drafts waiting for review: kept by the database's
    # triggers (hiretrack.messages.requisition_counts), never written by the app.
    failed_deliveries: Mapped[int] = mapped_column(default=0, server_default="0")
    drafts_waiting: Mapped[int] = mapped_column(default=0, server_default="0")
    version: Mapped[int] = mapped_column(default=1)

    department: Mapped[Department] = relationship()
    manager: Mapped[User] = relationship()

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED_REQUISITION_STATUSES

    def salary_in_band(self, salary: int) -> bool:
        """Say whether an offered salary sits inside the approved band (no band: anything goes)."""
        if self.salary_min is not None and salary < self.salary_min:
            return False
        return not (self.salary_max is not None and salary > self.salary_max)
