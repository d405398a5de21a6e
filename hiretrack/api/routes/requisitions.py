"""JSON API v1: requisitions: list, create, read, change, and ask for approvals."""

from sqlalchemy import select

from hiretrack.api import presenters as present
from hiretrack.api import schemas as s
from hiretrack.api.blueprint import HIRING_ROLES, api
from hiretrack.approvals.services import request_approval
from hiretrack.auth import access
from hiretrack.auth.models import User
from hiretrack.candidates.services import check_version
from hiretrack.extensions import db
from hiretrack.requisitions.models import Requisition, RequisitionStatus
from hiretrack.requisitions.services import (
    close_requisition,
    create_requisition,
    submit_for_approval,
    update_requisition,
)

RequisitionPage = s.page_of(s.RequisitionOut)


@api.operation(
    "GET",
    "/requisitions",
    summary="List requisitions",
    tag="Requisitions",
    response=RequisitionPage,
    query=s.RequisitionQuery,
)
def list_requisitions(user: User, query: s.RequisitionQuery):
    """List the requisitions you may see (a manager: their own), newest first."""
    statement = (
        select(Requisition)
        .where(access.visible_requisitions(user))
        .options(*present.REQUISITION_LOADING)
        .order_by(Requisition.id.desc())
    )
    if query.status is not None:
        statement = statement.where(Requisition.status == query.status)
    if query.department_id is not None:
        statement = statement.where(Requisition.department_id == query.department_id)
    return RequisitionPage.model_validate(present.paginate(statement, query, present.requisitions))


@api.operation(
    "POST",
    "/requisitions",
    summary="Create a requisition",
    tag="Requisitions",
    response=s.RequisitionOut,
    status=201,
    body=s.RequisitionCreate,
)
def add_requisition(user: User, body: s.RequisitionCreate):
    """Create a requisition as `draft` (to submit for approval) or `open`."""
    access.require_role(user, *HIRING_ROLES)
    values = body.model_dump(exclude_none=True)
    requisition = create_requisition(user, **values)
    db.session.commit()
    return present.requisition(requisition)


@api.operation(
    "GET",
    "/requisitions/<int:requisition_id>",
    summary="Get a requisition",
    tag="Requisitions",
    response=s.RequisitionOut,
)
def get_requisition(user: User, requisition_id: int):
    """Read one requisition you may see."""
    return present.requisition(access.get_requisition(user, requisition_id))


@api.operation(
    "PATCH",
    "/requisitions/<int:requisition_id>",
    summary="Change a requisition",
    tag="Requisitions",
    response=s.RequisitionOut,
    body=s.RequisitionUpdate,
)
def patch_requisition(user: User, requisition_id: int, body: s.RequisitionUpdate):
    """Edit details, or move the lifecycle on with `status` (submit for approval, close)."""
    requisition = access.get_requisition(user, requisition_id, for_edit=True)
    changes = body.model_dump(exclude_unset=True)
    check_version(requisition, changes.pop("version", None))
    status = changes.pop("status", None)
    if changes:
        update_requisition(user, requisition, **changes)
    if status == RequisitionStatus.PENDING_APPROVAL:
        submit_for_approval(user, requisition)
    elif status is not None:
        close_requisition(user, requisition, status)
    db.session.commit()
    return present.requisition(requisition)


@api.operation(
    "POST",
    "/requisitions/<int:requisition_id>/approvals",
    summary="Ask for an approval",
    tag="Approvals",
    response=s.ApprovalOut,
    status=201,
    body=s.ApprovalCreate,
)
def add_approval(user: User, requisition_id: int, body: s.ApprovalCreate):
    """Add a step (budget, headcount, compensation, offer) to a requisition's approval chain."""
    requisition = access.get_requisition(user, requisition_id, for_edit=True)
    approval = request_approval(
        user, requisition, body.kind, body.approver_id, due_date=body.due_date
    )
    db.session.commit()
    return present.approval(approval)
