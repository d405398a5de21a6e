"""Approval chains on requisitions and offers: request a step, record the approver's decision."""

from datetime import date

from sqlalchemy import select

from hiretrack.approvals.models import Approval, ApprovalKind, Decision
from hiretrack.audit.services import record_change, snapshot
from hiretrack.auth.models import User
from hiretrack.candidates.services import check_version
from hiretrack.database import utcnow
from hiretrack.errors import GuardrailRefused, ValidationFailed
from hiretrack.extensions import db
from hiretrack.requisitions.models import Requisition
from hiretrack.requisitions.services import follow_approval_chain


def _approver(approver_id) -> User:
    approver = db.session.get(User, approver_id or 0) if isinstance(approver_id, int) else None
    if approver is None or not approver.active:
        raise ValidationFailed(
            "Choose an active user as approver.", {"approver_id": ["Unknown user."]}
        )
    return approver


def request_approval(
    actor: User,
    requisition: Requisition,
    kind: str,
    approver_id: int,
    due_date: date | None = None,
    offer=None,
) -> Approval:
    """Add one step to a requisition's (or an offer's) approval chain."""
    try:
        kind = ApprovalKind(kind).value
    except ValueError:
        options = ", ".join(k.value for k in ApprovalKind)
        raise ValidationFailed(
            f"kind must be one of {options}.", {"kind": [f"One of {options}."]}
        ) from None
    if requisition.is_closed:
        raise GuardrailRefused(f"This requisition is {requisition.status}.")
    if due_date is not None and due_date < utcnow().date():
        raise ValidationFailed(
            "The due date cannot be in the past.", {"due_date": ["In the past."]}
        )
    approval = Approval(
        requisition=requisition,
        offer=offer,
        kind=kind,
        approver=_approver(approver_id),
        requested_by_id=actor.id if actor else None,
        due_date=due_date,
    )
    db.session.add(approval)
    record_change(actor, "approval.request", approval)
    return approval


def decide(
    actor: User,
    approval: Approval,
    decision: str,
    note: str = "",
    expected_version: int | None = None,
) -> Approval:
    """Record approved or rejected; the offer or requisition then follows its chain's state.

    What a decided chain means is the subject's rule (`Offer.follow_approvals`,
    `requisitions.services.follow_approval_chain`), both below this module; offers build
    on approvals (they request them), so nothing here calls back up into the offers service.
    """
    check_version(approval, expected_version)
    check_decidable(approval)
    if decision not in (Decision.APPROVED, Decision.REJECTED):
        raise ValidationFailed(
            "decision must be approved or rejected.", {"decision": ["approved or rejected"]}
        )
    if len(note or "") > 5000:
        raise ValidationFailed("Notes are limited to 5000 characters.", {"note": ["Too long."]})
    before = snapshot(approval)
    approval.decision = decision
    approval.note = (note or "").strip()
    approval.decided_at = utcnow()
    record_change(actor, "approval.decide", approval, before=before)
    if approval.offer is not None:
        approval.offer.follow_approvals()
    else:
        follow_approval_chain(actor, approval.requisition)
    return approval


def check_decidable(approval: Approval) -> None:
    """Refuse a decision on a step already decided, or withdrawn because its subject closed."""
    if approval.decision == Decision.WITHDRAWN:
        raise GuardrailRefused(
            f"This approval was withdrawn: {approval.note} Nobody needs to decide it any more."
        )
    if not approval.is_pending:
        raise GuardrailRefused(f"This approval was already {approval.decision}.")


def pending_for(approver: User) -> list[Approval]:
    """An approver's pending decisions, the oldest due first."""
    return list(
        db.session.scalars(
            select(Approval)
            .where(Approval.approver_id == approver.id, Approval.decision == Decision.PENDING)
            .order_by(Approval.due_date.is_(None), Approval.due_date, Approval.id)
        )
    )
