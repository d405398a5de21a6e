"""Anonymise a candidate for good, keeping the rows, dates and counts the reports use."""

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from hiretrack.audit.models import AuditEntry
from hiretrack.audit.services import record_change
from hiretrack.auth.models import User
from hiretrack.candidates.models import Application, Candidate, StageChange, Touchpoint
from hiretrack.candidates.privacy.records import anonymised_name, audit_condition, related_records
from hiretrack.candidates.privacy.sweep import sweep_personal_values, sweep_values
from hiretrack.database import utcnow
from hiretrack.errors import GuardrailRefused, ValidationFailed
from hiretrack.extensions import db
from hiretrack.formatting import plural
from hiretrack.inbound.privacy import erase_messages
from hiretrack.messages.models import Draft, DraftStatus, OutboxEmail, OutboxStatus
from hiretrack.status.models import StatusLink

#: Why a candidate was anonymised: a fixed list, so the audit entry never holds free text.
ANONYMISE_REASONS = {
    "candidate_request": "The candidate asked us to delete their data",
    "retention": "The retention period after their last application closed has passed",
    "other": "Another lawful reason (recorded outside HireTrack)",
}

#: Keys in audit before/after values that can identify a candidate or quote what they said.
PERSONAL_AUDIT_KEYS = frozenset(
    {
        "name",
        "email",
        "phone",
        "note",
        "subject",
        "body",
        "body_text",
        "body_html",
        "to_address",
        "to_name",
        "reply_to",
        "last_error",
        "summary",
        "internal_notes",
        "public_reason",
        "resolution_note",
    }
)
REMOVED = "[removed]"

#: Outbox rows still waiting are cancelled; one being sent right now blocks anonymisation.
CANCELLABLE_OUTBOX = (OutboxStatus.QUEUED, OutboxStatus.SCHEDULED)


def check_reason(reason: str) -> str:
    """Accept only a reason from ANONYMISE_REASONS (the audit log must not hold free text)."""
    if reason not in ANONYMISE_REASONS:
        options = ", ".join(ANONYMISE_REASONS)
        raise ValidationFailed(
            f"The reason must be one of {options}.", {"reason": [f"One of {options}."]}
        )
    return reason


def _scrub_audit_values(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if not values:
        return values
    return {
        key: (REMOVED if key in PERSONAL_AUDIT_KEYS and value not in (None, "") else value)
        for key, value in values.items()
    }


def anonymise_candidate(
    actor: User | None,
    candidate: Candidate,
    reason: str,
    *,
    actor_label: str | None = None,
) -> Candidate:
    """Remove everything that identifies this person, keeping the figures the reports count.

    Refused while any of their applications is open (close it with closure first) or while an
    email to them is being sent. Queued and scheduled emails to them are cancelled.
    """
    check_reason(reason)
    records = _records_if_anonymisable(candidate)
    pairs = sweep_values(candidate)
    now = utcnow()
    application_ids = records["application"]

    if application_ids:
        _clear_application_texts(records, now)
    erase_messages(records["inbound_message"])
    # Staff emails name the candidate as Reply-To (the question notices): drop that header.
    if candidate.email:
        db.session.execute(
            update(OutboxEmail)
            .where(OutboxEmail.reply_to.contains(candidate.email, autoescape=True))
            .values(reply_to=None)
        )
    for entry in db.session.scalars(select(AuditEntry).where(audit_condition(records))):
        entry.before = _scrub_audit_values(entry.before)
        entry.after = _scrub_audit_values(entry.after)

    candidate.name = anonymised_name(candidate.id)
    candidate.email = None
    candidate.phone = None
    candidate.email_bounce_reason = None
    candidate.anonymised_at = now
    db.session.flush()
    sweep_personal_values(candidate.id, pairs)
    record_change(
        actor,
        "candidate.anonymise",
        candidate,
        after={
            "anonymised_at": now.isoformat(),
            "reason": reason,
            "applications": len(application_ids),
        },
        actor_label=actor_label,
    )
    db.session.flush()
    # The bulk updates above bypassed the objects already loaded in this session.
    for obj in list(db.session.identity_map.values()):
        if not isinstance(obj, User):
            db.session.expire(obj)
    return candidate


def _records_if_anonymisable(candidate: Candidate) -> dict[str, list[int]]:
    """The rows about this candidate, unless they are anonymised, still applying, or mid-send."""
    if candidate.anonymised_at is not None:
        raise GuardrailRefused("This candidate's data was already anonymised.")
    open_count = db.session.scalar(
        select(func.count())
        .select_from(Application)
        .where(Application.candidate_id == candidate.id, Application.closed_at.is_(None))
    )
    if open_count:
        raise GuardrailRefused(
            f"{plural(open_count, 'application')} of this candidate "
            f"{'is' if open_count == 1 else 'are'} still open: close each with "
            "closure (tell them it has ended) before anonymising their data."
        )
    records = related_records(candidate)
    outbox_ids = records["outbox_email"]
    if outbox_ids and db.session.scalar(
        select(func.count())
        .select_from(OutboxEmail)
        .where(OutboxEmail.id.in_(outbox_ids), OutboxEmail.status == OutboxStatus.SENDING)
    ):
        raise GuardrailRefused(
            "An email to this candidate is being sent right now; try again in a few minutes."
        )
    return records


def _clear_application_texts(records: dict[str, list[int]], now: datetime) -> None:
    """Blank the notes, drafts and emails of their applications; cancel what waits; revoke links."""
    outbox_ids = records["outbox_email"]
    db.session.execute(
        update(Touchpoint).where(Touchpoint.id.in_(records["touchpoint"])).values(note="")
    )
    db.session.execute(
        update(StageChange).where(StageChange.id.in_(records["stage_change"])).values(note="")
    )
    db.session.execute(
        update(Draft)
        .where(Draft.id.in_(records["draft"]), Draft.status == DraftStatus.PENDING)
        .values(status=DraftStatus.DISCARDED)
    )
    db.session.execute(
        update(Draft).where(Draft.id.in_(records["draft"])).values(subject="", body="")
    )
    db.session.execute(
        update(OutboxEmail)
        .where(OutboxEmail.id.in_(outbox_ids), OutboxEmail.status.in_(CANCELLABLE_OUTBOX))
        .values(status=OutboxStatus.CANCELLED)
    )
    db.session.execute(
        update(OutboxEmail)
        .where(OutboxEmail.id.in_(outbox_ids))
        .values(
            to_address="",
            to_name="",
            subject="",
            body_text="",
            body_html="",
            last_error=None,
        )
    )
    db.session.execute(
        update(StatusLink)
        .where(StatusLink.id.in_(records["status_link"]), StatusLink.revoked_at.is_(None))
        .values(revoked_at=now)
    )
