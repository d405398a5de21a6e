"""A candidate's personal data: export everything held about them, or anonymise it for good.

Anonymising keeps every row, date, stage, outcome, status and count, so the reports' figures do
not change; what goes is what identifies the person: their name, email and phone, every free
text written to or about them (touchpoint and stage notes, drafts, the emails in the outbox),
their status links, and the personal fields in the audit log's before/after values. A last sweep
removes their name, email and phone wherever else they were typed (a staff digest listing them,
a hold's notes). See docs/operations.md.
"""

import html
import json
import re
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, String, Text, and_, cast, func, or_, select, update

from hiretrack.audit.models import AuditEntry
from hiretrack.audit.services import record_change
from hiretrack.auth.models import User
from hiretrack.candidates.models import Application, Candidate, StageChange, Touchpoint
from hiretrack.candidates.stages import LABELS, Stage
from hiretrack.database import utcnow
from hiretrack.errors import GuardrailRefused, ValidationFailed
from hiretrack.extensions import db
from hiretrack.holds.models import Hold
from hiretrack.messages.models import Draft, DraftStatus, OutboxEmail, OutboxStatus
from hiretrack.offers.models import Offer
from hiretrack.status.models import StatusLink, UpdateFeedback

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
#: Internal hold text (the team's words about others' decisions): not part of an export.
INTERNAL_KEYS = frozenset({"summary", "internal_notes", "resolution_note"})

#: Tables the final sweep leaves alone: staff accounts, organisation content and bookkeeping.
#: `candidate` is excluded so that another person who shares the name keeps it.
SWEEP_EXCLUDED_TABLES = frozenset(
    {
        "candidate",
        "user",
        "api_token",
        "throttle_counter",
        "email_template",
        "email_template_version",
        "department",
        "organisation_settings",
        "calendar_day",
        "business_calendar",
        "alembic_version",
    }
)
#: A name shorter than this with no space ("Li") is too likely to occur inside other words.
MIN_SWEPT_NAME_LENGTH = 5
MIN_SWEPT_PHONE_DIGITS = 6

#: Outbox rows still waiting are cancelled; one being sent right now blocks anonymisation.
CANCELLABLE_OUTBOX = (OutboxStatus.QUEUED, OutboxStatus.SCHEDULED)


def anonymised_name(candidate_id: int) -> str:
    return f"Anonymised candidate #{candidate_id}"


def check_reason(reason: str) -> str:
    """Accept only a reason from ANONYMISE_REASONS (the audit log must not hold free text)."""
    if reason not in ANONYMISE_REASONS:
        options = ", ".join(ANONYMISE_REASONS)
        raise ValidationFailed(
            f"The reason must be one of {options}.", {"reason": [f"One of {options}."]}
        )
    return reason


# --- What is held about one candidate ------------------------------------------------------------


def _ids(statement) -> list[int]:
    return list(db.session.scalars(statement))


def related_records(candidate: Candidate) -> dict[str, list[int]]:
    """The ids of every row about this candidate, by table name (the audit log's entity_type)."""
    application_ids = _ids(select(Application.id).where(Application.candidate_id == candidate.id))
    records = {"candidate": [candidate.id], "application": application_ids}
    if not application_ids:
        return records | {
            name: []
            for name in (
                "stage_change",
                "touchpoint",
                "draft",
                "outbox_email",
                "status_link",
                "update_feedback",
                "hold",
                "offer",
            )
        }
    records["stage_change"] = _ids(
        select(StageChange.id).where(StageChange.application_id.in_(application_ids))
    )
    records["touchpoint"] = _ids(
        select(Touchpoint.id).where(Touchpoint.application_id.in_(application_ids))
    )
    records["draft"] = _ids(select(Draft.id).where(Draft.application_id.in_(application_ids)))
    records["outbox_email"] = _ids(
        select(OutboxEmail.id).where(OutboxEmail.application_id.in_(application_ids))
    )
    records["status_link"] = _ids(
        select(StatusLink.id).where(StatusLink.application_id.in_(application_ids))
    )
    records["update_feedback"] = _ids(
        select(UpdateFeedback.id).where(UpdateFeedback.application_id.in_(application_ids))
    )
    records["hold"] = _ids(select(Hold.id).where(Hold.application_id.in_(application_ids)))
    records["offer"] = _ids(select(Offer.id).where(Offer.application_id.in_(application_ids)))
    return records


def _audit_condition(records: dict[str, list[int]]):
    return or_(
        *(
            and_(AuditEntry.entity_type == entity_type, AuditEntry.entity_id.in_(ids))
            for entity_type, ids in records.items()
            if ids
        )
    )


# --- Subject access export -----------------------------------------------------------------------


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
            select(Hold).where(
                Hold.requisition_id == application.requisition_id,
                or_(Hold.application_id.is_(None), Hold.application_id == application.id),
            )
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
    stage_changes = list(
        db.session.scalars(
            select(StageChange)
            .where(StageChange.id.in_(records["stage_change"]))
            .order_by(StageChange.changed_at, StageChange.id)
        )
    )
    touchpoints = list(
        db.session.scalars(
            select(Touchpoint)
            .where(Touchpoint.id.in_(records["touchpoint"]))
            .order_by(Touchpoint.created_at, Touchpoint.id)
        )
    )
    messages = list(
        db.session.scalars(
            select(OutboxEmail)
            .where(OutboxEmail.id.in_(records["outbox_email"]))
            .order_by(OutboxEmail.created_at, OutboxEmail.id)
        )
    )
    drafts = list(
        db.session.scalars(
            select(Draft).where(Draft.id.in_(records["draft"])).order_by(Draft.created_at, Draft.id)
        )
    )
    links = list(
        db.session.scalars(
            select(StatusLink)
            .where(StatusLink.id.in_(records["status_link"]))
            .order_by(StatusLink.created_at, StatusLink.id)
        )
    )
    feedback = list(
        db.session.scalars(
            select(UpdateFeedback)
            .where(UpdateFeedback.id.in_(records["update_feedback"]))
            .order_by(UpdateFeedback.created_at, UpdateFeedback.id)
        )
    )
    offers = list(
        db.session.scalars(select(Offer).where(Offer.id.in_(records["offer"])).order_by(Offer.id))
    )
    audit = list(
        db.session.scalars(
            select(AuditEntry)
            .where(_audit_condition(records))
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
        "candidate": _row(
            candidate, ("id", "name", "email", "phone", "created_at", "anonymised_at")
        ),
        "applications": [
            _row(
                a,
                (
                    "id",
                    "stage",
                    "opened_at",
                    "stage_entered_at",
                    "last_interview_on",
                    "closed_at",
                    "last_contact_at",
                    "last_inbound_at",
                    "promised_next_update",
                ),
                stage_label=LABELS[Stage(a.stage)],
                requisition_id=a.requisition_id,
                requisition_title=a.requisition.title,
                department=a.requisition.department.name,
            )
            for a in applications
        ],
        "stage_changes": [
            _row(
                c,
                ("id", "application_id", "from_stage", "to_stage", "changed_at", "note"),
                changed_by=names.get(c.changed_by_id, "HireTrack"),
            )
            for c in stage_changes
        ],
        "touchpoints": [
            _row(
                t,
                (
                    "id",
                    "application_id",
                    "direction",
                    "channel",
                    "note",
                    "promised_next_update",
                    "is_closure",
                    "occurred_at",
                    "created_at",
                ),
                recorded_by=names.get(t.created_by_id, "HireTrack"),
            )
            for t in touchpoints
        ],
        "messages": [
            _row(
                m,
                (
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
                ),
            )
            for m in messages
        ],
        "drafts": [
            _row(
                d,
                ("id", "application_id", "subject", "body", "status", "created_at", "sent_at"),
            )
            for d in drafts
        ],
        "holds": [
            _row(
                h,
                (
                    "id",
                    "application_id",
                    "requisition_id",
                    "public_reason",
                    "opened_at",
                    "expected_clear_date",
                    "resolved_at",
                    "outcome",
                ),
                category=h.reason,
            )
            for h in _affecting_holds(applications)
        ],
        "offers": [
            _row(o, ("id", "application_id", "salary", "currency", "start_date", "status"))
            for o in offers
        ],
        "status_links": [
            _row(link, ("id", "application_id", "created_at", "revoked_at")) for link in links
        ],
        "feedback": [_row(f, ("id", "application_id", "useful", "created_at")) for f in feedback],
        "audit_entries": [
            _row(
                e,
                ("id", "action", "entity_type", "entity_id", "created_at"),
                actor=names.get(e.actor_id) if e.actor_id else e.actor_label,
                before=_without_internal(e.before),
                after=_without_internal(e.after),
            )
            for e in audit
        ],
    }


def export_json(candidate: Candidate) -> str:
    """The export as an indented JSON document (what the download and the CLI hand out)."""
    return json.dumps(export_candidate(candidate), indent=2, ensure_ascii=False)


# --- Anonymisation -------------------------------------------------------------------------------


def _scrub_audit_values(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if not values:
        return values
    return {
        key: (REMOVED if key in PERSONAL_AUDIT_KEYS and value not in (None, "") else value)
        for key, value in values.items()
    }


def _sweep_values(candidate: Candidate) -> list[tuple[str, str]]:
    """(personal value, its replacement) pairs to remove wherever else they were typed."""
    pairs = []
    if candidate.email:
        pairs.append((candidate.email, "[email removed]"))
    name = (candidate.name or "").strip()
    if len(name) >= MIN_SWEPT_NAME_LENGTH or " " in name:
        pairs.append((name, anonymised_name(candidate.id)))
    phone = (candidate.phone or "").strip()
    if sum(ch.isdigit() for ch in phone) >= MIN_SWEPT_PHONE_DIGITS:
        pairs.append((phone, "[phone removed]"))
    return pairs


def _variants(value: str) -> set[str]:
    """The spellings a value may have been stored in: as typed, HTML-escaped, JSON-escaped."""
    return {value, html.escape(value), html.escape(value, quote=False)}


def _pattern(pairs: list[tuple[str, str]]) -> tuple[re.Pattern, dict[str, str]]:
    replacements: dict[str, str] = {}
    for value, replacement in pairs:
        for variant in _variants(value):
            replacements[variant.casefold()] = replacement
    alternatives = sorted(replacements, key=len, reverse=True)
    # Whole words only: "Ann Lee" must not eat part of "Joann Leeds".
    pattern = re.compile(
        r"(?<!\w)(?:" + "|".join(re.escape(a) for a in alternatives) + r")(?!\w)", re.IGNORECASE
    )
    return pattern, replacements


def _redact(value: Any, pattern: re.Pattern, replacements: dict[str, str]) -> Any:
    """Replace personal values inside a string, or inside every string of JSON data."""
    if isinstance(value, str):
        return pattern.sub(lambda match: replacements[match.group(0).casefold()], value)
    if isinstance(value, dict):
        return {key: _redact(item, pattern, replacements) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item, pattern, replacements) for item in value]
    return value


def _text_columns(table) -> list:
    return [
        column
        for column in table.columns
        if isinstance(column.type, String | JSON) and not column.primary_key
    ]


def sweep_personal_values(
    candidate_id: int, pairs: list[tuple[str, str]], skip_audit_of_others: bool = True
) -> int:
    """Remove personal values from every text and JSON column outside SWEEP_EXCLUDED_TABLES.

    Rows are found in SQL (a case-insensitive substring match, also on the JSON-escaped form),
    then rewritten in Python on word boundaries. Returns how many rows changed.
    """
    if not pairs:
        return 0
    pattern, replacements = _pattern(pairs)
    needles: set[str] = set()
    for value, _ in pairs:
        for variant in _variants(value):
            needles |= {variant, variant.lower(), json.dumps(variant)[1:-1].lower()}
    changed = 0
    for table in db.metadata.sorted_tables:
        if table.name in SWEEP_EXCLUDED_TABLES:
            continue
        columns = _text_columns(table)
        primary_key = list(table.primary_key.columns)
        if not columns or len(primary_key) != 1:
            continue
        key = primary_key[0]
        matches = []
        for column in columns:
            as_text = cast(column, Text) if isinstance(column.type, JSON) else column
            for needle in needles:
                matches.append(as_text.contains(needle, autoescape=True))
                matches.append(func.lower(as_text).contains(needle.lower(), autoescape=True))
        statement = select(key, *columns).where(or_(*matches))
        if skip_audit_of_others and table.name == "audit_entry":
            # Another candidate's own audit trail keeps their name, even if it is the same.
            statement = statement.where(
                or_(
                    table.c.entity_type != "candidate",
                    table.c.entity_id.is_(None),
                    table.c.entity_id == candidate_id,
                )
            )
        for row in db.session.execute(statement).all():
            row_id, *values = row
            new_values = {}
            for column, value in zip(columns, values, strict=True):
                redacted = _redact(value, pattern, replacements)
                if redacted != value:
                    new_values[column.key] = redacted
            if not new_values:
                continue
            if "version" in table.c:
                # Keep optimistic locking honest: an edit made against the old text is stale.
                new_values["version"] = table.c.version + 1
            db.session.execute(update(table).where(key == row_id).values(**new_values))
            changed += 1
    return changed


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
    if candidate.anonymised_at is not None:
        raise GuardrailRefused("This candidate's data was already anonymised.")
    open_count = db.session.scalar(
        select(func.count())
        .select_from(Application)
        .where(Application.candidate_id == candidate.id, Application.closed_at.is_(None))
    )
    if open_count:
        raise GuardrailRefused(
            f"{open_count} application(s) of this candidate are still open: close each with "
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
    pairs = _sweep_values(candidate)
    now = utcnow()
    application_ids = records["application"]

    if application_ids:
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
    # Staff emails name the candidate as Reply-To (the question notices): drop that header.
    if candidate.email:
        db.session.execute(
            update(OutboxEmail)
            .where(OutboxEmail.reply_to.contains(candidate.email, autoescape=True))
            .values(reply_to=None)
        )
    for entry in db.session.scalars(select(AuditEntry).where(_audit_condition(records))):
        entry.before = _scrub_audit_values(entry.before)
        entry.after = _scrub_audit_values(entry.after)

    candidate.name = anonymised_name(candidate.id)
    candidate.email = None
    candidate.phone = None
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
