"""JSON API v1: approvals: list, read, decide."""

from sqlalchemy import select

from hiretrack.api import presenters as present
from hiretrack.api import schemas as s
from hiretrack.api.blueprint import api
from hiretrack.approvals.models import Approval
from hiretrack.approvals.services import decide
from hiretrack.auth import access
from hiretrack.auth.models import User
from hiretrack.extensions import db

ApprovalPage = s.page_of(s.ApprovalOut)


@api.operation(
    "GET",
    "/approvals",
    summary="List approvals",
    tag="Approvals",
    response=ApprovalPage,
    query=s.ApprovalQuery,
)
def list_approvals(user: User, query: s.ApprovalQuery):
    """List approvals you may see (an approver: the ones assigned to them), oldest due first."""
    statement = (
        select(Approval)
        .where(access.visible_approvals(user))
        .options(*present.APPROVAL_LOADING)
        .order_by(Approval.due_date.is_(None), Approval.due_date, Approval.id)
    )
    if query.decision is not None:
        statement = statement.where(Approval.decision == query.decision)
    if query.requisition_id is not None:
        statement = statement.where(Approval.requisition_id == query.requisition_id)
    return ApprovalPage.model_validate(present.paginate(statement, query, present.approvals))


@api.operation(
    "GET",
    "/approvals/<int:approval_id>",
    summary="Get an approval",
    tag="Approvals",
    response=s.ApprovalOut,
)
def get_approval(user: User, approval_id: int):
    """Read one approval you may see."""
    return present.approval(access.get_approval(user, approval_id))


@api.operation(
    "POST",
    "/approvals/<int:approval_id>/decision",
    summary="Decide an approval",
    tag="Approvals",
    response=s.ApprovalOut,
    body=s.ApprovalDecisionIn,
)
def decide_approval(user: User, approval_id: int, body: s.ApprovalDecisionIn):
    """Approve or reject; a fully approved requisition opens, an approved offer may go out."""
    approval = access.get_approval(user, approval_id, for_decision=True)
    decide(user, approval, body.decision, body.note, expected_version=body.version)
    db.session.commit()
    return present.approval(approval)
