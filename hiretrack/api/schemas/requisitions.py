"""API v1 shapes: requisitions and their approvals."""

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field

from hiretrack.api.schemas.base import (
    INT_MAX,
    Count,
    Currency,
    Id,
    Note,
    Output,
    PageQuery,
    RequestBody,
    Text,
    Version,
)
from hiretrack.approvals.models import ApprovalKind, Decision
from hiretrack.requisitions.models import RequisitionStatus


class RequisitionOut(Output):
    """An opening to fill, with its lifecycle status."""

    id: int
    title: str
    department_id: int
    department_name: str
    manager_id: int
    manager_name: str
    headcount: int
    salary_min: int | None
    salary_max: int | None
    currency: str
    status: RequisitionStatus
    cadence_business_days: int | None
    auto_check_in: bool
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    version: int


class RequisitionCreate(RequestBody):
    title: Text(200, 1)
    department_id: Id
    manager_id: Id | None = Field(
        default=None, description="Defaults to you; a manager always creates their own."
    )
    headcount: Annotated[int, Field(ge=1, le=INT_MAX)] = 1
    salary_min: Count | None = None
    salary_max: Count | None = None
    currency: Currency = "EUR"
    status: RequisitionStatus = Field(
        default=RequisitionStatus.DRAFT, description="A new requisition is `draft` or `open`."
    )
    cadence_business_days: Annotated[int, Field(ge=1, le=INT_MAX)] | None = None
    auto_check_in: bool = False


class RequisitionUpdate(RequestBody):
    """Only the fields you send change."""

    title: Text(200, 1) = None
    department_id: Id = None
    manager_id: Id = None
    headcount: Annotated[int, Field(ge=1, le=INT_MAX)] = None
    salary_min: Count | None = None
    salary_max: Count | None = None
    currency: Currency = None
    cadence_business_days: Annotated[int, Field(ge=1, le=INT_MAX)] | None = None
    auto_check_in: bool = None
    status: Literal["pending_approval", "filled", "cancelled"] = Field(
        default=None,
        description=(
            "Move the lifecycle on: `pending_approval` submits a draft for approval; `filled` "
            "and `cancelled` close it (refused with 409 while candidates still wait on closure)."
        ),
    )
    version: Version = None


class RequisitionQuery(PageQuery):
    status: RequisitionStatus | None = None
    department_id: Id | None = None


class ApprovalOut(Output):
    """One step of an approval chain on a requisition (or on an offer)."""

    id: int
    requisition_id: int
    offer_id: int | None
    kind: ApprovalKind
    approver_id: int
    approver_name: str
    requested_by_id: int | None
    due_date: date | None
    decision: Decision
    note: str
    created_at: datetime
    decided_at: datetime | None
    version: int


class ApprovalCreate(RequestBody):
    kind: ApprovalKind
    approver_id: Id
    due_date: date | None = None


class ApprovalDecisionIn(RequestBody):
    decision: Literal["approved", "rejected"]
    note: Note = ""
    version: Version = None


class ApprovalQuery(PageQuery):
    decision: Decision | None = None
    requisition_id: Id | None = None
