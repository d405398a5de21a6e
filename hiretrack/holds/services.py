"""Holds: place one, and every candidate it strands is owed an update; resolve it, and each gets one.

Placing or resolving a hold prepares drafts for the manager to review (hold notice, moving
forward, or closure) through the messages service; nothing is sent without confirmation.
"""

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select, update

from hiretrack.audit.services import record_change, snapshot
from hiretrack.auth.models import User
from hiretrack.candidates.models import Application
from hiretrack.candidates.services import check_version, request_update
from hiretrack.database import utcnow
from hiretrack.errors import GuardrailRefused, ValidationFailed
from hiretrack.extensions import db
from hiretrack.holds.models import Hold, HoldOutcome, HoldReason
from hiretrack.holds.queries import stranded_applications
from hiretrack.messages.drafts import prepare_drafts
from hiretrack.messages.models import Draft, DraftStatus, TemplateCategory
from hiretrack.requisitions.models import Requisition, RequisitionStatus
from hiretrack.requisitions.services import set_status

MAX_TEXT = 300


@dataclass
class HoldResult:
    """A hold together with the drafts its placing or resolving prepared."""

    hold: Hold
    drafts: list[Draft] = field(default_factory=list)


def _validate(
    reason: str,
    summary: str,
    public_reason: str,
    owner_id,
    owner_name,
    expected_clear_date: date | None,
    previous_clear_date: date | None = None,
) -> dict:
    errors: dict[str, list[str]] = {}
    try:
        reason = HoldReason(reason).value
    except ValueError:
        errors["reason"] = ["One of " + ", ".join(r.value for r in HoldReason) + "."]
    summary = " ".join((summary or "").split())
    if not summary:
        errors["summary"] = [
            "Say what is blocking the offer (for your team; candidates never see it)."
        ]
    elif len(summary) > MAX_TEXT:
        errors["summary"] = [f"At most {MAX_TEXT} characters."]
    public_reason = " ".join((public_reason or "").split())
    if len(public_reason) > MAX_TEXT:
        errors["public_reason"] = [f"At most {MAX_TEXT} characters."]
    owner = None
    if owner_id is not None:
        owner = db.session.get(User, owner_id) if isinstance(owner_id, int) else None
        if owner is None or not owner.active:
            errors["owner_id"] = ["Unknown user."]
    owner_name = " ".join((owner_name or "").split())[:200] or None
    if owner is None and not owner_name and "owner_id" not in errors:
        errors["owner_id"] = ["Name who owns the hold (a user, or a name such as 'Head office')."]
    if (
        expected_clear_date not in (None, previous_clear_date)
        and expected_clear_date < utcnow().date()
    ):
        errors["expected_clear_date"] = ["Cannot be in the past."]
    if errors:
        raise ValidationFailed("Please correct the highlighted fields.", errors)
    return {
        "reason": reason,
        "summary": summary,
        "public_reason": public_reason,
        "owner_id": owner.id if owner else None,
        "owner_name": owner_name,
        "expected_clear_date": expected_clear_date,
    }


def place_hold(
    actor: User,
    requisition: Requisition,
    *,
    reason: str,
    summary: str,
    public_reason: str = "",
    owner_id: int | None = None,
    owner_name: str | None = None,
    expected_clear_date: date | None = None,
    internal_notes: str = "",
    application: Application | None = None,
) -> HoldResult:
    """Put a requisition (or one application) on hold and prepare a hold notice for each candidate."""
    if requisition.is_closed:
        raise GuardrailRefused(
            f"This requisition is {requisition.status}; it cannot be put on hold."
        )
    if application is not None and (
        application.requisition_id != requisition.id or not application.is_open
    ):
        raise GuardrailRefused("Holds go on open applications only.")
    values = _validate(reason, summary, public_reason, owner_id, owner_name, expected_clear_date)
    hold = Hold(
        requisition=requisition,
        application=application,
        created_by_id=actor.id,
        internal_notes=(internal_notes or "")[:5000],
        **values,
    )
    db.session.add(hold)
    if application is None and requisition.status == RequisitionStatus.OPEN:
        set_status(actor, requisition, RequisitionStatus.ON_HOLD, "requisition.on_hold")
    record_change(actor, "hold.place", hold)
    stranded = stranded_applications(hold)
    request_update(stranded, hold.opened_at)
    drafts = prepare_drafts(actor, stranded, TemplateCategory.HOLD_NOTICE, hold=hold)
    return HoldResult(hold, drafts)


def update_hold(actor: User, hold: Hold, expected_version: int | None = None, **values) -> Hold:
    """Change a hold's details, e.g. push out its expected clear date (the candidate is owed word)."""
    check_version(hold, expected_version)
    if not hold.is_open:
        raise GuardrailRefused("This hold is resolved; it can no longer be changed.")
    current = {
        k: getattr(hold, k)
        for k in (
            "reason",
            "summary",
            "public_reason",
            "owner_id",
            "owner_name",
            "expected_clear_date",
        )
    }
    merged = current | {k: v for k, v in values.items() if k in current}
    cleaned = _validate(**merged, previous_clear_date=hold.expected_clear_date)
    before = snapshot(hold)
    for key, value in cleaned.items():
        setattr(hold, key, value)
    if "internal_notes" in values:
        hold.internal_notes = (values["internal_notes"] or "")[:5000]
    record_change(actor, "hold.update", hold, before=before)
    return hold


def resolve_hold(
    actor: User,
    hold: Hold,
    outcome: str,
    note: str = "",
    expected_version: int | None = None,
    public_cancellation_reason: str = "",
) -> HoldResult:
    """Clear or cancel a hold and prepare the candidates' next message.

    Cleared: "moving forward" drafts, and the requisition reopens when no other hold remains.
    Cancelled: closure drafts for every stranded candidate; a requisition-wide cancellation
    cancels the requisition, which shows "closure pending" until every closure is sent.
    `public_cancellation_reason` is what the closures may tell candidates about the ending.
    """
    check_version(hold, expected_version)
    if not hold.is_open:
        raise GuardrailRefused(f"This hold was already resolved as {hold.outcome}.")
    try:
        outcome = HoldOutcome(outcome).value
    except ValueError:
        raise ValidationFailed(
            "outcome must be cleared or cancelled.", {"outcome": ["cleared or cancelled"]}
        ) from None
    if len(note or "") > 5000:
        raise ValidationFailed("Notes are limited to 5000 characters.", {"note": ["Too long."]})
    public_cancellation_reason = " ".join((public_cancellation_reason or "").split())
    if len(public_cancellation_reason) > MAX_TEXT:
        raise ValidationFailed(
            f"What candidates are told is limited to {MAX_TEXT} characters.",
            {"public_cancellation_reason": [f"At most {MAX_TEXT} characters."]},
        )
    before = snapshot(hold)
    if outcome == HoldOutcome.CANCELLED:
        hold.public_cancellation_reason = public_cancellation_reason
    hold.outcome = outcome
    hold.resolved_at = utcnow()
    hold.resolution_note = (note or "").strip()
    record_change(actor, f"hold.{outcome}", hold, before=before)
    discard_hold_drafts(hold)
    requisition = hold.requisition
    stranded = stranded_applications(hold)
    request_update(stranded, hold.resolved_at)
    if outcome == HoldOutcome.CLEARED:
        if (
            hold.application_id is None
            and requisition.status == RequisitionStatus.ON_HOLD
            and not other_open_requisition_holds(hold)
        ):
            set_status(actor, requisition, RequisitionStatus.OPEN, "requisition.reopen")
        drafts = prepare_drafts(actor, stranded, TemplateCategory.MOVING_FORWARD, hold=hold)
    else:
        if hold.application_id is None:
            set_status(actor, requisition, RequisitionStatus.CANCELLED, "requisition.cancelled")
        drafts = prepare_drafts(actor, stranded, TemplateCategory.CLOSURE_CANCELLED, hold=hold)
    return HoldResult(hold, drafts)


def discard_hold_drafts(hold: Hold) -> None:
    """Drop the drafts still waiting that announce this hold: once it is resolved they are untrue."""
    db.session.execute(
        update(Draft)
        .where(Draft.hold_id == hold.id, Draft.status == DraftStatus.PENDING)
        .values(status=DraftStatus.DISCARDED)
        .execution_options(synchronize_session="fetch")
    )


def other_open_requisition_holds(hold: Hold) -> list[Hold]:
    return list(
        db.session.scalars(
            select(Hold).where(
                Hold.requisition_id == hold.requisition_id,
                Hold.application_id.is_(None),
                Hold.resolved_at.is_(None),
                Hold.id != hold.id,
            )
        )
    )
