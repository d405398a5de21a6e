"""The subject access export: everything held about one candidate, as JSON-safe data."""

import json
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from hiretrack.audit.models import AuditEntry
from hiretrack.auth.models import User
from hiretrack.candidates.models import Application, Candidate, StageChange, Touchpoint
from hiretrack.candidates.privacy.records import audit_condition, related_records
from hiretrack.candidates.stages import LABELS, Stage
from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.holds.models import Hold
from hiretrack.holds.queries import hold_stops
from hiretrack.inbound.models import InboundMessage
from hiretrack.messages.models import Draft, OutboxEmail
from hiretrack.offers.models import Offer
from hiretrack.status.models import StatusLink, UpdateFeedback

#: Internal hold text (the team's words about others' decisions): not part of an export.
INTERNAL_KEYS = frozenset({"summary", "internal_notes", "resolution_note"})


def _plain(value: Any) -> Any:
    """Make a value JSON-safe: times and dates as ISO 8601, decimals as strings."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _row(obj: Any, fields: Iterable[str], **extra: Any) -> dict[str, Any]:
    return {name: _plain(getattr(obj, name)) for name in fields} | {
        key: _plain(value) for key, value in extra.items()
    }


def _user_names(ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())


def _affecting_holds(applications: list[Application]) -> list[Hold]:
    """Holds on one of their applications, or on a requisition while they were applying to it."""
    found: dict[int, Hold] = {}
    for application in applications:
        candidates_holds = db.session.scalars(
            select(Hold).where(hold_stops(application.id, application.requisition_id))
        )
        for hold in candidates_holds:
            ends = application.closed_at
            overlaps = (ends is None or hold.opened_at <= ends) and (
                hold.resolved_at is None or hold.resolved_at >= application.opened_at
            )
            if hold.application_id == application.id or overlaps:
                found[hold.id] = hold
    return sorted(found.values(), key=lambda hold: (hold.opened_at, hold.id))


def _without_internal(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if not values:
        return values
    return {key: value for key, value in values.items() if key not in INTERNAL_KEYS}


#: The columns each section of the export shows, in order.
CANDIDATE_FIELDS = (
    "id",
    "name",
    "email",
    "phone",
    "created_at",
    "anonymised_at",
    "email_bounced_at",
    "email_bounce_reason",
)
APPLICATION_FIELDS = (
    "id",
    "stage",
    "opened_at",
    "stage_entered_at",
    "last_interview_on",
    "closed_at",
    "last_contact_at",
    "last_inbound_at",
    "promised_next_update",
)
STAGE_CHANGE_FIELDS = ("id", "application_id", "from_stage", "to_stage", "changed_at", "note")
TOUCHPOINT_FIELDS = (
    "id",
    "application_id",
    "direction",
    "channel",
    "note",
    "promised_next_update",
    "is_closure",
    "occurred_at",
    "created_at",
)
MESSAGE_FIELDS = (
    "id",
    "application_id",
    "category",
    "to_address",
    "to_name",
    "subject",
    "body_text",
    "status",
    "created_at",
    "sent_at",
)
DRAFT_FIELDS = ("id", "application_id", "subject", "body", "status", "created_at", "sent_at")
HOLD_FIELDS = (
    "id",
    "application_id",
    "requisition_id",
    "public_reason",
    "opened_at",
    "expected_clear_date",
    "resolved_at",
    "outcome",
)
OFFER_FIELDS = ("id", "application_id", "salary", "currency", "start_date", "status")
STATUS_LINK_FIELDS = ("id", "application_id", "created_at", "revoked_at")
FEEDBACK_FIELDS = ("id", "application_id", "useful", "created_at")
INBOUND_FIELDS = (
    "id",
    "application_id",
    "kind",
    "received_at",
    "sent_at",
    "from_address",
    "from_name",
    "subject",
    "body_text",
    "attachments",
    "report_status",
    "report_diagnostic",
)
AUDIT_FIELDS = ("id", "action", "entity_type", "entity_id", "created_at")


def export_candidate(candidate: Candidate) -> dict[str, Any]:
    """Return everything held about one person, as JSON-safe data, for a subject access request.

    Holds appear with their category and the public reason the candidate may read, never the
    internal notes (those are about other people's decisions, not about the candidate).
    """
    applications = list(
        db.session.scalars(
            select(Application)
            .where(Application.candidate_id == candidate.id)
            .order_by(Application.opened_at, Application.id)
        )
    )
    records = related_records(candidate)
    stage_changes = _rows_by_id(
        StageChange, records["stage_change"], StageChange.changed_at, StageChange.id
    )
    touchpoints = _rows_by_id(
        Touchpoint, records["touchpoint"], Touchpoint.created_at, Touchpoint.id
    )
    messages = _rows_by_id(
        OutboxEmail, records["outbox_email"], OutboxEmail.created_at, OutboxEmail.id
    )
    drafts = _rows_by_id(Draft, records["draft"], Draft.created_at, Draft.id)
    links = _rows_by_id(StatusLink, records["status_link"], StatusLink.created_at, StatusLink.id)
    feedback = _rows_by_id(
        UpdateFeedback, records["update_feedback"], UpdateFeedback.created_at, UpdateFeedback.id
    )
    offers = _rows_by_id(Offer, records["offer"], Offer.id)
    inbound = _rows_by_id(
        InboundMessage, records["inbound_message"], InboundMessage.received_at, InboundMessage.id
    )
    audit = list(
        db.session.scalars(
            select(AuditEntry)
            .where(audit_condition(records))
            .order_by(AuditEntry.created_at, AuditEntry.id)
        )
    )
    names = _user_names(
        {c.changed_by_id for c in stage_changes}
        | {t.created_by_id for t in touchpoints}
        | {e.actor_id for e in audit}
    )
    return {
        "format": "hiretrack-subject-access-export/1",
        "exported_at": _plain(utcnow()),
        "candidate": _row(candidate, CANDIDATE_FIELDS),
        "applications": [_application_row(a) for a in applications],
        "stage_changes": [
            _row(c, STAGE_CHANGE_FIELDS, changed_by=names.get(c.changed_by_id, "HireTrack"))
            for c in stage_changes
        ],
        "touchpoints": [
            _row(t, TOUCHPOINT_FIELDS, recorded_by=names.get(t.created_by_id, "HireTrack"))
            for t in touchpoints
        ],
        "messages": [_row(m, MESSAGE_FIELDS) for m in messages],
        "drafts": [_row(d, DRAFT_FIELDS) for d in drafts],
        "holds": [_row(h, HOLD_FIELDS, category=h.reason) for h in _affecting_holds(applications)],
        "offers": [_row(o, OFFER_FIELDS) for o in offers],
        "status_links": [_row(link, STATUS_LINK_FIELDS) for link in links],
        "feedback": [_row(f, FEEDBACK_FIELDS) for f in feedback],
        "inbound_mail": [_row(m, INBOUND_FIELDS) for m in inbound],
        "audit_entries": [_audit_row(e, names) for e in audit],
    }


def _rows_by_id(model: Any, ids: list[int], *order_by: Any) -> list[Any]:
    """The rows of one table with these ids, in the export's order."""
    return list(db.session.scalars(select(model).where(model.id.in_(ids)).order_by(*order_by)))


def _application_row(application: Application) -> dict[str, Any]:
    return _row(
        application,
        APPLICATION_FIELDS,
        stage_label=LABELS[Stage(application.stage)],
        requisition_id=application.requisition_id,
        requisition_title=application.requisition.title,
        department=application.requisition.department.name,
    )


def _audit_row(entry: AuditEntry, names: dict[int, str]) -> dict[str, Any]:
    """An audit entry, by whom, without the internal hold text in its before/after values."""
    return _row(
        entry,
        AUDIT_FIELDS,
        actor=names.get(entry.actor_id) if entry.actor_id else entry.actor_label,
        before=_without_internal(entry.before),
        after=_without_internal(entry.after),
    )


def export_json(candidate: Candidate) -> str:
    """The export as an indented JSON document (what the download and the CLI hand out)."""
    return json.dumps(export_candidate(candidate), indent=2, ensure_ascii=False)
