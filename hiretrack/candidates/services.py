"""Candidates, applications, stage changes and touchpoints, with the closure guarantee.

The closure guarantee lives in `change_stage`: no application reaches a closed outcome unless a
closure message or closure touchpoint is recorded in the same action. The web forms, the API, the
CLI and the messages service all close applications through it.
"""

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, update

from hiretrack.audit.services import record_change, snapshot
from hiretrack.auth.models import User
from hiretrack.auth.services import normalise_email
from hiretrack.cadence.stored import STORED_COLUMNS
from hiretrack.candidates.contact import CONTACT_COLUMNS, Contact, record_contacts
from hiretrack.candidates.endings import end_application_work
from hiretrack.candidates.models import (
    Application,
    Candidate,
    Channel,
    Direction,
    StageChange,
    Touchpoint,
)
from hiretrack.candidates.stages import (
    CLOSED_OUTCOMES,
    FINAL_STAGES,
    LABELS,
    Stage,
    check_transition,
    parse_stage,
)
from hiretrack.database import utcnow
from hiretrack.errors import ClosureRequired, GuardrailRefused, StaleVersion, ValidationFailed
from hiretrack.extensions import db
from hiretrack.messages.models import Draft, DraftStatus
from hiretrack.offers.models import Offer, OfferStatus
from hiretrack.requisitions.models import Requisition
from hiretrack.text import require_text, text_problem

MAX_NOTE_LENGTH = 5000


@dataclass(frozen=True)
class ClosureNote:
    """A closure given outside email (e.g. a phone call), recorded as a closure touchpoint."""

    channel: str
    note: str


def check_version(obj, expected_version: int | None) -> None:
    """Refuse a change made against an older version of obj (optimistic locking)."""
    if expected_version is not None and obj.version != expected_version:
        raise StaleVersion(
            f"This {type(obj).__tablename__.replace('_', ' ')} was changed by someone else "
            f"(version {obj.version}, you had {expected_version}). Reload and try again."
        )


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationFailed("A name is required.", {"name": ["Required."]})
    if len(name) > 200:
        raise ValidationFailed("Names are limited to 200 characters.", {"name": ["Too long."]})
    return require_text(name, "name", "Full name")


def _clean_phone(phone: str | None) -> str | None:
    phone = (phone or "").strip()
    if len(phone) > 40 or text_problem(phone, "phone"):
        raise ValidationFailed("That phone number is not valid.", {"phone": ["Not valid."]})
    return phone or None


def _ensure_unique_email(email: str, candidate_id: int | None = None) -> None:
    existing = db.session.scalars(select(Candidate).where(Candidate.email == email)).first()
    if existing is not None and existing.id != candidate_id:
        raise ValidationFailed(
            f"A candidate with email {email} already exists.", {"email": ["Already in use."]}
        )


def create_candidate(actor: User, name: str, email: str, phone: str | None = None) -> Candidate:
    """Add a person; the email address is validated now, not when we first write to them."""
    email = normalise_email(email)
    _ensure_unique_email(email)
    candidate = Candidate(
        name=_clean_name(name), email=email, phone=_clean_phone(phone), created_by_id=actor.id
    )
    db.session.add(candidate)
    record_change(actor, "candidate.create", candidate)
    return candidate


def update_candidate(
    actor: User, candidate: Candidate, expected_version: int | None = None, **changes
) -> Candidate:
    """Change a candidate's name, email or phone."""
    check_version(candidate, expected_version)
    before = snapshot(candidate)
    if "name" in changes:
        candidate.name = _clean_name(changes["name"])
    if "email" in changes:
        email = normalise_email(changes["email"])
        _ensure_unique_email(email, candidate.id)
        if email != candidate.email:
            candidate.email_bounced_at = candidate.email_bounce_reason = None
        candidate.email = email
    if "phone" in changes:
        candidate.phone = _clean_phone(changes["phone"])
    record_change(actor, "candidate.update", candidate, before=before)
    return candidate


def apply_to_requisition(
    actor: User, candidate: Candidate, requisition: Requisition, stage: str = Stage.INTERVIEWING
) -> Application:
    """Start a candidacy on an open requisition, at interviewing or final round."""
    start = parse_stage(stage)
    if start not in (Stage.INTERVIEWING, Stage.FINAL_ROUND):
        raise GuardrailRefused(
            "A new application starts at interviewing or final round; later stages are reached "
            "through approvals and stage changes."
        )
    if requisition.is_closed:
        raise GuardrailRefused(f"The requisition '{requisition.title}' is {requisition.status}.")
    if candidate.anonymised_at is not None:
        raise GuardrailRefused("This candidate's data was anonymised; add them again instead.")
    duplicate = db.session.scalars(
        select(Application).where(
            Application.candidate_id == candidate.id, Application.requisition_id == requisition.id
        )
    ).first()
    if duplicate is not None:
        raise GuardrailRefused(f"{candidate.name} already has an application for this requisition.")
    application = Application(candidate=candidate, requisition=requisition, stage=start)
    db.session.add(application)
    db.session.add(
        StageChange(
            application=application, from_stage=None, to_stage=start, changed_by_id=actor.id
        )
    )
    record_change(actor, "application.create", application)
    return application


def _check_offer_approved(application: Application) -> None:
    offer = db.session.scalars(select(Offer).where(Offer.application_id == application.id)).first()
    if offer is None or offer.status not in (OfferStatus.APPROVED, OfferStatus.EXTENDED):
        raise GuardrailRefused(
            "There is no approved offer yet: record the offer terms and get every approval "
            "before moving to 'offer approved'. Verbal intent is not an offer."
        )


def change_stage(
    actor: User | None,
    application: Application,
    target: str,
    *,
    note: str = "",
    closure: ClosureNote | None = None,
    closure_touchpoint: Touchpoint | None = None,
    expected_version: int | None = None,
    actor_label: str | None = None,
) -> StageChange:
    """Move an application to another stage, enforcing the stage machine and its guardrails.

    A closed outcome needs either `closure` (recorded here as a closure touchpoint) or a
    `closure_touchpoint` created in the same transaction (a closure email being sent).
    """
    check_version(application, expected_version)
    target_stage = check_transition(application.stage, target)
    if target_stage == Stage.OFFER_APPROVED:
        _check_offer_approved(application)
    if target_stage in CLOSED_OUTCOMES:
        if closure_touchpoint is None and closure is None:
            raise ClosureRequired(
                f"Closing as '{LABELS[target_stage]}' needs closure: send a closure email, or "
                "record how you told the candidate (e.g. a phone call, with a note)."
            )
        if closure_touchpoint is None:
            closure_touchpoint = log_touchpoint(
                actor,
                application,
                direction=Direction.OUTBOUND,
                channel=closure.channel,
                note=closure.note,
                is_closure=True,
                require_note=True,
            )
    now = utcnow()
    change = StageChange(
        application=application,
        from_stage=application.stage,
        to_stage=target_stage,
        changed_at=now,
        changed_by_id=getattr(actor, "id", None),
        note=(note or "")[:MAX_NOTE_LENGTH],
    )
    db.session.add(change)
    before = {"stage": application.stage}
    application.stage = target_stage
    application.stage_entered_at = now
    if target_stage in (Stage.FINAL_ROUND, Stage.INTERVIEWING):
        application.last_interview_on = now.date()
    if target_stage in FINAL_STAGES:
        application.closed_at = now
        _discard_pending_drafts(application)
        end_application_work(
            actor, application, keep_outbox_id=getattr(closure_touchpoint, "outbox_email_id", None)
        )
    record_change(
        actor,
        "application.stage",
        application,
        before=before,
        after={"stage": target_stage.value},
        actor_label=actor_label,
    )
    return change


def _discard_pending_drafts(application: Application) -> None:
    """A closed application must not receive a stale hold notice prepared earlier."""
    db.session.execute(
        update(Draft)
        .where(Draft.application_id == application.id, Draft.status == DraftStatus.PENDING)
        .values(status=DraftStatus.DISCARDED)
    )


def _parse_enum(value: str, allowed: type, field: str) -> str:
    try:
        return allowed(value).value
    except ValueError:
        options = ", ".join(v.value for v in allowed)
        raise ValidationFailed(
            f"{field} must be one of {options}.", {field: [f"One of {options}."]}
        ) from None


def log_touchpoint(
    actor: User | None,
    application: Application,
    *,
    direction: str,
    channel: str,
    note: str = "",
    promised_next_update: date | None = None,
    is_closure: bool = False,
    outbox_email_id: int | None = None,
    occurred_at: datetime | None = None,
    require_note: bool = False,
    actor_label: str | None = None,
) -> Touchpoint:
    """Record a contact with the candidate and update the application's contact figures.

    An outbound email counts as contact only once it is delivered (see `record_delivery`), so
    it is created here with occurred_at unset; any other channel reached the candidate now.
    """
    direction = _parse_enum(direction, Direction, "direction")
    channel = _parse_enum(channel, Channel, "channel")
    note = (note or "").strip()
    if len(note) > MAX_NOTE_LENGTH:
        raise ValidationFailed(
            f"Notes are limited to {MAX_NOTE_LENGTH} characters.", {"note": ["Too long."]}
        )
    if require_note and not note:
        raise ValidationFailed(
            "Say how the candidate was told (a short note is required).",
            {"note": ["Required for a closure recorded outside email."]},
        )
    if promised_next_update is not None and promised_next_update < utcnow().date():
        raise ValidationFailed(
            "The promised next update cannot be in the past.",
            {"promised_next_update": ["Must be today or later."]},
        )
    if not application.is_open and not is_closure:
        raise GuardrailRefused("This application is closed; it takes no further contacts.")
    is_email = channel == Channel.EMAIL and outbox_email_id is not None
    touchpoint = Touchpoint(
        application=application,
        direction=direction,
        channel=channel,
        note=note,
        promised_next_update=promised_next_update,
        is_closure=is_closure,
        outbox_email_id=outbox_email_id,
        created_by_id=getattr(actor, "id", None),
        occurred_at=None if is_email else (occurred_at or utcnow()),
    )
    db.session.add(touchpoint)
    if touchpoint.occurred_at is not None:
        apply_contact(application, touchpoint)
    record_change(actor, "touchpoint.create", touchpoint, actor_label=actor_label)
    return touchpoint


def apply_contact(application: Application, touchpoint: Touchpoint) -> None:
    """Update the application's contact columns for a touchpoint that reached its destination.

    Not an edit of the record: the version is left alone, so contacts logged at the same moment
    never conflict with each other or with an edit of the application, and the latest contact
    wins whatever order they commit in (see `candidates.contact.record_contacts`).
    """
    record_contacts(
        [
            Contact(
                application.id,
                touchpoint.direction,
                touchpoint.occurred_at,
                touchpoint.promised_next_update,
            )
        ]
    )
    db.session.refresh(application, attribute_names=[*CONTACT_COLUMNS, *STORED_COLUMNS])


def record_delivery(touchpoint: Touchpoint, delivered_at: datetime) -> None:
    """Count a delivered email as contact: the candidate's clock restarts only now."""
    touchpoint.occurred_at = delivered_at
    apply_contact(touchpoint.application, touchpoint)


def retract_delivery(touchpoint: Touchpoint) -> None:
    """Stop counting an email as contact: it bounced, so the candidate never got it.

    The application's contact figures go back to its latest outbound contact that did reach
    the candidate, by the same rule `apply_contact` applies going forward.
    """
    touchpoint.occurred_at = None
    application = touchpoint.application
    db.session.flush()
    latest = db.session.scalars(
        select(Touchpoint)
        .where(
            Touchpoint.application_id == application.id,
            Touchpoint.direction == Direction.OUTBOUND,
            Touchpoint.occurred_at.is_not(None),
        )
        .order_by(Touchpoint.occurred_at.desc(), Touchpoint.id.desc())
        .limit(1)
    ).first()
    application.last_contact_at = latest.occurred_at if latest else None
    application.promised_next_update = latest.promised_next_update if latest else None


def flag_bounced_address(candidate: Candidate, reason: str, when: datetime | None = None) -> None:
    """Mark the candidate's address as refused for good, until someone corrects it."""
    candidate.email_bounced_at = when or utcnow()
    candidate.email_bounce_reason = " ".join((reason or "").split())[:500]


def request_update(applications: list[Application], when: datetime | None = None) -> None:
    """Mark applications as owing the candidate an update (something changed that they must hear)."""
    when = when or utcnow()
    for application in applications:
        if application.is_open:
            application.update_requested_at = when
