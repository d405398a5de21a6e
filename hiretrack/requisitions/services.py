"""Requisition lifecycle: create, edit, submit for approval, close with closure for everyone."""

from sqlalchemy import func, select

from hiretrack.admin.models import Department
from hiretrack.approvals.models import Approval, ChainState, Decision, chain_state
from hiretrack.audit.services import record_change, snapshot
from hiretrack.auth.models import Role, User
from hiretrack.candidates.endings import end_requisition_work
from hiretrack.candidates.models import Application
from hiretrack.candidates.services import check_version
from hiretrack.candidates.stages import FINAL_STAGES, Stage
from hiretrack.database import utcnow
from hiretrack.errors import ClosureRequired, GuardrailRefused, ValidationFailed
from hiretrack.extensions import db
from hiretrack.formatting import plural
from hiretrack.requisitions.currencies import CURRENCY_MESSAGE, is_currency
from hiretrack.requisitions.models import (
    CLOSED_REQUISITION_STATUSES,
    Requisition,
    RequisitionStatus,
)

EDITABLE_FIELDS = (
    "title",
    "department_id",
    "manager_id",
    "headcount",
    "salary_min",
    "salary_max",
    "currency",
    "cadence_business_days",
    "auto_check_in",
)


def _validate(values: dict) -> dict:
    """Check requisition fields and return them cleaned; collect every problem at once."""
    errors: dict[str, list[str]] = {}
    cleaned = dict(values)
    if "title" in values:
        title = " ".join((values["title"] or "").split())
        if not title:
            errors["title"] = ["Required."]
        elif len(title) > 200:
            errors["title"] = ["At most 200 characters."]
        cleaned["title"] = title
    if (
        "department_id" in values
        and db.session.get(Department, values["department_id"] or 0) is None
    ):
        errors["department_id"] = ["Unknown department."]
    if "manager_id" in values:
        manager = db.session.get(User, values["manager_id"] or 0)
        if (
            manager is None
            or not manager.active
            or manager.role not in (Role.MANAGER, Role.RECRUITER, Role.ADMIN)
        ):
            errors["manager_id"] = ["Must be an active manager, recruiter or admin."]
    if "headcount" in values and not (1 <= (values["headcount"] or 0) <= 1000):
        errors["headcount"] = ["Between 1 and 1000."]
    for field in ("salary_min", "salary_max"):
        value = values.get(field)
        if value is not None and not (0 <= value <= 100_000_000):
            errors[field] = ["Between 0 and 100,000,000."]
    low, high = values.get("salary_min"), values.get("salary_max")
    if low is not None and high is not None and low > high:
        errors["salary_max"] = ["Must be at least the minimum."]
    if "currency" in values:
        currency = (values["currency"] or "").strip().upper()
        if not is_currency(currency):
            errors["currency"] = [CURRENCY_MESSAGE]
        cleaned["currency"] = currency
    cadence = values.get("cadence_business_days")
    if cadence is not None and not (1 <= cadence <= 60):
        errors["cadence_business_days"] = ["Between 1 and 60 business days."]
    if errors:
        raise ValidationFailed("Please correct the highlighted fields.", errors)
    return cleaned


def create_requisition(actor: User, **values) -> Requisition:
    """Create a draft requisition; a manager creates their own."""
    if actor.role == Role.MANAGER:
        values["manager_id"] = actor.id
    values.setdefault("manager_id", actor.id)
    values.setdefault("headcount", 1)
    values.setdefault("currency", "EUR")
    for required in ("title", "department_id"):
        values.setdefault(required, None)
    cleaned = _validate({k: v for k, v in values.items() if k in EDITABLE_FIELDS})
    requisition = Requisition(**cleaned, status=values.get("status") or RequisitionStatus.DRAFT)
    if requisition.status not in (RequisitionStatus.DRAFT, RequisitionStatus.OPEN):
        raise ValidationFailed(
            "A new requisition starts as draft or open.", {"status": ["draft or open"]}
        )
    db.session.add(requisition)
    record_change(actor, "requisition.create", requisition)
    return requisition


def update_requisition(
    actor: User, requisition: Requisition, expected_version: int | None = None, **values
) -> Requisition:
    """Edit a requisition's details (not its status: that follows approvals, holds and closing)."""
    check_version(requisition, expected_version)
    if requisition.is_closed:
        raise GuardrailRefused(
            f"This requisition is {requisition.status}; it can no longer be edited."
        )
    if actor.role == Role.MANAGER and values.get("manager_id") not in (None, actor.id):
        raise GuardrailRefused("Ask a recruiter to hand a requisition to another manager.")
    merged = {f: getattr(requisition, f) for f in EDITABLE_FIELDS} | {
        k: v for k, v in values.items() if k in EDITABLE_FIELDS
    }
    cleaned = _validate(merged)
    before = snapshot(requisition)
    for field in EDITABLE_FIELDS:
        setattr(requisition, field, cleaned[field])
    record_change(actor, "requisition.update", requisition, before=before)
    return requisition


def set_status(actor: User | None, requisition: Requisition, status: str, action: str) -> None:
    """Change the lifecycle status, recording it in the audit log.

    Closing (filled or cancelled) ends the holds, approvals and offers that can no longer
    matter (`candidates.endings.end_requisition_work`).
    """
    before = {"status": requisition.status}
    requisition.status = status
    if status in CLOSED_REQUISITION_STATUSES:
        requisition.closed_at = requisition.closed_at or utcnow()
    record_change(actor, action, requisition, before=before, after={"status": status})
    if status in CLOSED_REQUISITION_STATUSES:
        end_requisition_work(actor, requisition)


def submit_for_approval(actor: User, requisition: Requisition) -> None:
    """Move a draft to pending approval; it needs at least one approval step first."""
    if requisition.status != RequisitionStatus.DRAFT:
        raise GuardrailRefused("Only a draft requisition can be submitted for approval.")
    pending = db.session.scalar(
        select(func.count())
        .select_from(Approval)
        .where(
            Approval.requisition_id == requisition.id,
            Approval.offer_id.is_(None),
            Approval.decision == Decision.PENDING,
        )
    )
    if not pending:
        raise GuardrailRefused("Add at least one approval step (e.g. budget) before submitting.")
    set_status(actor, requisition, RequisitionStatus.PENDING_APPROVAL, "requisition.submit")


def approval_chain(requisition: Requisition) -> list[Approval]:
    """The requisition's own approval steps (not its offers'), superseded ones included."""
    return list(
        db.session.scalars(
            select(Approval).where(
                Approval.requisition_id == requisition.id, Approval.offer_id.is_(None)
            )
        )
    )


def follow_approval_chain(actor: User | None, requisition: Requisition) -> None:
    """A pending requisition opens when its whole chain is approved, returns to draft on a rejection."""
    if requisition.status != RequisitionStatus.PENDING_APPROVAL:
        return
    state = chain_state(approval_chain(requisition))
    if state == ChainState.REJECTED:
        set_status(actor, requisition, RequisitionStatus.DRAFT, "requisition.rejected")
    elif state == ChainState.APPROVED:
        set_status(actor, requisition, RequisitionStatus.OPEN, "requisition.approved")


def open_applications(requisition: Requisition) -> list[Application]:
    """The requisition's applications that have not reached a final stage."""
    return list(
        db.session.scalars(
            select(Application)
            .where(Application.requisition_id == requisition.id, Application.closed_at.is_(None))
            .order_by(Application.id)
        )
    )


def closure_pending_count(requisition: Requisition) -> int:
    """On a filled or cancelled requisition, the candidates still owed closure."""
    if not requisition.is_closed:
        return 0
    # On a filled requisition the accepted candidate is the hire; on a cancelled one they too
    # are owed closure (their accepted offer is withdrawn).
    keep = {Stage.ACCEPTED} if requisition.status == RequisitionStatus.FILLED else set()
    waiting = [a for a in open_applications(requisition) if a.stage not in keep]
    return len(waiting)


def close_requisition(actor: User, requisition: Requisition, status: str) -> None:
    """Close as filled or cancelled, but only once every other open candidate has had closure."""
    if status not in (RequisitionStatus.FILLED, RequisitionStatus.CANCELLED):
        raise ValidationFailed(
            "Close a requisition as filled or cancelled.", {"status": ["filled or cancelled"]}
        )
    if requisition.is_closed:
        raise GuardrailRefused(f"This requisition is already {requisition.status}.")
    keep = {Stage.ACCEPTED, Stage.HIRED} if status == RequisitionStatus.FILLED else set()
    waiting = [a for a in open_applications(requisition) if a.stage not in keep]
    if waiting:
        names = ", ".join(a.candidate.name for a in waiting[:10])
        more = f" and {len(waiting) - 10} more" if len(waiting) > 10 else ""
        raise ClosureRequired(
            f"{plural(len(waiting), 'candidate')} still "
            f"{'waits' if len(waiting) == 1 else 'wait'} on this requisition ({names}{more}). "
            f"Send {'them' if len(waiting) == 1 else 'each'} a closure (or record one) before "
            f"closing it as {status}."
        )
    if status == RequisitionStatus.FILLED and not any(
        a.stage in (Stage.ACCEPTED, Stage.HIRED) for a in requisition_applications(requisition)
    ):
        raise GuardrailRefused("A requisition is filled only when a candidate accepted an offer.")
    set_status(actor, requisition, status, f"requisition.{status}")


def requisition_applications(requisition: Requisition) -> list[Application]:
    return list(
        db.session.scalars(select(Application).where(Application.requisition_id == requisition.id))
    )


def is_final(application: Application) -> bool:
    return application.stage in FINAL_STAGES
