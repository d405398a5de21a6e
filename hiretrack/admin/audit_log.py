"""The audit log read as sentences: "Tom Becker moved Clara Moreau to Position cancelled".

Each entry names its record by type and id; the page loads every record a page of entries
refers to in one query per type, and words each entry from its action, with links to the
records and changed values in the reader's terms (stage labels, times in their zone). The raw
entry (codes, ids, UTC) stays in the CSV export.
"""

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from flask import url_for
from sqlalchemy import select

from hiretrack.admin.models import Department
from hiretrack.approvals.models import KIND_LABELS, Approval
from hiretrack.audit.models import AuditEntry
from hiretrack.auth.models import User
from hiretrack.candidates.models import CHANNEL_LABELS, Application, Candidate, Touchpoint
from hiretrack.candidates.stages import LABELS, Stage
from hiretrack.extensions import db
from hiretrack.formatting import local_date, local_datetime
from hiretrack.holds.models import Hold
from hiretrack.messages.models import EmailTemplate, OutboxEmail
from hiretrack.offers.models import Offer
from hiretrack.requisitions.models import Requisition


@dataclass(frozen=True)
class Piece:
    """A run of a sentence: plain words, or words linking to a record."""

    text: str
    url: str | None = None


@dataclass
class AuditLine:
    """One audit entry in words: the sentence and the values it changed."""

    entry: AuditEntry
    sentence: list[Piece]
    changes: list[tuple[str, str, str | None]] = field(default_factory=list)


#: What each action says. {actor} did it; {subject} is the record, {context} where it belongs.
SENTENCES = {
    "application.create": "{actor} added {subject} to {context}",
    "application.stage": "{actor} moved {subject} to {stage}",
    "application.promised_update_passed": "The update {actor} promised {subject} was not sent",
    "candidate.create": "{actor} added the candidate {subject}",
    "candidate.update": "{actor} changed the details of {subject}",
    "candidate.export": "{actor} exported the data held on {subject}",
    "candidate.anonymise": "{actor} anonymised {subject}",
    "requisition.create": "{actor} created the requisition {subject}",
    "requisition.update": "{actor} changed the requisition {subject}",
    "requisition.submit": "{actor} submitted {subject} for approval",
    "requisition.approved": "{actor} completed the approval of {subject}: it is open",
    "requisition.rejected": "{actor} completed a rejection of {subject}: it is back in draft",
    "requisition.reopen": "{actor} reopened {subject}",
    "requisition.on_hold": "{actor} put {subject} on hold",
    "requisition.filled": "{actor} closed {subject} as filled",
    "requisition.cancelled": "{actor} cancelled {subject}",
    "hold.place": "{actor} placed the hold {subject} on {context}",
    "hold.update": "{actor} changed the hold {subject} on {context}",
    "hold.cleared": "{actor} cleared the hold {subject} on {context}",
    "hold.cancelled": "{actor} cancelled the hold {subject} on {context}",
    "approval.request": "{actor} asked {approver} for the {kind} approval of {context}",
    "approval.decide": "{actor} decided the {kind} approval of {context}: {decision}",
    "offer.propose": "{actor} proposed an offer to {subject}",
    "offer.change": "{actor} changed the offer to {subject}",
    "touchpoint.create": "{actor} logged {channel} with {subject}",
    "outbox.mark_sent": "{actor} marked the email to {subject} as delivered",
    "outbox.requeue": "{actor} sent the email to {subject} again",
    "outbox.withdraw": "{actor} withdrew the email to {subject}",
    "outbox.bounce": "The email to {subject} bounced",
    "draft.update": "{actor} edited a draft to {subject}",
    "status.feedback": "{subject} answered on their status page",
    "inbound.attach": "{actor} filed an incoming email under {subject}",
    "inbound.discard": "{actor} discarded an incoming email",
    "user.create": "{actor} created the user {subject}",
    "user.activate": "{actor} reactivated {subject}",
    "user.deactivate": "{actor} deactivated {subject}",
    "user.change_password": "{actor} changed their password",
    "user.timezone": "{actor} set their time zone to {zone}",
    "api_token.create": "{actor} created an API token",
    "api_token.revoke": "{actor} revoked an API token",
    "department.create": "{actor} added the department {subject}",
    "settings.update": "{actor} changed the organisation settings",
    "email_template.create": "{actor} created the template {subject}",
    "email_template.update": "{actor} changed the template {subject}",
    "email_template.activate": "{actor} switched the template {subject} on",
    "email_template.retire": "{actor} retired the template {subject}",
}

#: Who acted, when it was not a signed-in user (the entry's actor_label).
ACTOR_WORDS = {"cli": "An operator (command line)", "system": "HireTrack"}

#: Field names as people say them; others are shown with underscores as spaces.
FIELD_LABELS = {
    "stage": "Stage",
    "expected_clear_date": "Expected to clear",
    "public_reason": "What candidates may be told",
    "resolved_at": "Resolved",
    "owner_id": "Owner",
    "last_contact_at": "Last contact",
}

_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_STAGE_VALUES = {stage.value for stage in Stage}


def _value_words(value) -> str:
    """A stored value as a reader would say it: labels for codes, times in their zone."""
    if value is None or value == "":
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    if _ISO_DATETIME.match(text):
        try:
            return local_datetime(datetime.fromisoformat(text))
        except ValueError:
            return text
    if _ISO_DATE.match(text):
        return local_date(date.fromisoformat(text))
    if text in _STAGE_VALUES:
        return LABELS[Stage(text)]
    return text if len(text) <= 120 else text[:119] + "…"


def _changes(entry: AuditEntry) -> list[tuple[str, str, str | None]]:
    """(field, before, after) in words; before is None for a record that was created."""
    after = entry.after or {}
    before = entry.before
    return [
        (
            FIELD_LABELS.get(key, key.replace("_", " ").capitalize()),
            _value_words(before.get(key)) if before is not None else None,
            _value_words(value),
        )
        for key, value in after.items()
        if key not in ("id", "version", "password_hash", "session_token")
    ]


def _load(model, ids: set[int]) -> dict[int, object]:
    if not ids:
        return {}
    return {row.id: row for row in db.session.scalars(select(model).where(model.id.in_(ids)))}


class _Records:
    """Every record a page of entries refers to, loaded once per type."""

    def __init__(self, entries: list[AuditEntry]):
        wanted: dict[str, set[int]] = defaultdict(set)
        for entry in entries:
            if entry.entity_id is not None:
                wanted[entry.entity_type].add(entry.entity_id)
            if entry.actor_id:
                wanted["user"].add(entry.actor_id)
        self.touchpoints = _load(Touchpoint, wanted["touchpoint"])
        self.outbox = _load(OutboxEmail, wanted["outbox_email"])
        self.offers = _load(Offer, wanted["offer"])
        self.approvals = _load(Approval, wanted["approval"])
        self.holds = _load(Hold, wanted["hold"])
        for group in (self.touchpoints, self.outbox, self.offers):
            wanted["application"] |= {r.application_id for r in group.values() if r.application_id}
        self.applications = _load(Application, wanted["application"])
        wanted["candidate"] |= {a.candidate_id for a in self.applications.values()}
        for group in (self.applications, self.approvals, self.holds):
            wanted["requisition"] |= {r.requisition_id for r in group.values()}
        wanted["user"] |= {a.approver_id for a in self.approvals.values()}
        self.candidates = _load(Candidate, wanted["candidate"])
        self.requisitions = _load(Requisition, wanted["requisition"])
        self.users = _load(User, wanted["user"])
        self.templates = _load(EmailTemplate, wanted["email_template"])
        self.departments = _load(Department, wanted["department"])

    def candidate(self, candidate_id) -> Piece:
        candidate = self.candidates.get(candidate_id)
        if candidate is None:
            return Piece(f"candidate #{candidate_id}")
        return Piece(candidate.name, url_for("candidates.detail", candidate_id=candidate.id))

    def requisition(self, requisition_id) -> Piece:
        requisition = self.requisitions.get(requisition_id)
        if requisition is None:
            return Piece(f"requisition #{requisition_id}")
        url = url_for("requisitions.detail", requisition_id=requisition.id)
        return Piece(requisition.title, url)

    def application(self, application_id) -> Piece:
        application = self.applications.get(application_id)
        if application is None:
            return Piece(f"application #{application_id}")
        return self.candidate(application.candidate_id)

    def user(self, user_id) -> Piece:
        user = self.users.get(user_id)
        return Piece(user.name if user else f"user #{user_id}")

    def subject_and_context(self, entry: AuditEntry) -> tuple[Piece, Piece | None]:
        """The record an entry is about and, where it has one, the record it belongs to."""
        kind, record_id = entry.entity_type, entry.entity_id
        finders: dict[str, Callable[[], tuple[Piece, Piece | None]]] = {
            "candidate": lambda: (self.candidate(record_id), None),
            "requisition": lambda: (self.requisition(record_id), None),
            "application": lambda: self._application_pair(record_id),
            "hold": lambda: self._hold_pair(record_id),
            "approval": lambda: self._approval_pair(record_id),
            "offer": lambda: self._via_application(self.offers.get(record_id)),
            "touchpoint": lambda: self._via_application(self.touchpoints.get(record_id)),
            "outbox_email": lambda: self._outbox_pair(record_id),
            "user": lambda: (self.user(record_id), None),
            "email_template": lambda: (self._template(record_id), None),
            "department": lambda: (self._department(record_id), None),
        }
        finder = finders.get(kind)
        if finder is None:
            label = kind.replace("_", " ")
            return Piece(f"{label} #{record_id}" if record_id else label), None
        return finder()

    def _application_pair(self, application_id):
        application = self.applications.get(application_id)
        requisition = self.requisition(application.requisition_id) if application else None
        return self.application(application_id), requisition

    def _via_application(self, record):
        if record is None or not record.application_id:
            return Piece("a record since removed"), None
        return self._application_pair(record.application_id)

    def _hold_pair(self, hold_id):
        hold = self.holds.get(hold_id)
        if hold is None:
            return Piece(f"hold #{hold_id}"), None
        url = url_for("holds.detail", hold_id=hold.id)
        return Piece(f"“{hold.summary}”", url), self.requisition(hold.requisition_id)

    def _approval_pair(self, approval_id):
        approval = self.approvals.get(approval_id)
        if approval is None:
            return Piece(f"approval #{approval_id}"), None
        return Piece(f"approval #{approval_id}"), self.requisition(approval.requisition_id)

    def _outbox_pair(self, outbox_id):
        message = self.outbox.get(outbox_id)
        if message is None:
            return Piece(f"email #{outbox_id}"), None
        if message.application_id:
            return self._application_pair(message.application_id)
        return Piece(message.to_name or "a member of staff"), None

    def _template(self, template_id):
        template = self.templates.get(template_id)
        if template is None:
            return Piece(f"template #{template_id}")
        return Piece(template.name, url_for("messages.template_detail", slug=template.slug))

    def _department(self, department_id):
        department = self.departments.get(department_id)
        return Piece(department.name if department else f"department #{department_id}")


def _extra_values(entry: AuditEntry, records: _Records) -> dict[str, Piece]:
    """The words some sentences need beyond who and what: the stage, the decision, the zone."""
    after = entry.after or {}
    values = {
        "stage": Piece(_value_words(after.get("stage"))),
        "decision": Piece(str(after.get("decision") or "recorded")),
        "zone": Piece(after.get("timezone") or "the organisation's default"),
        "channel": Piece(_channel_words(records.touchpoints.get(entry.entity_id))),
    }
    approval = records.approvals.get(entry.entity_id) if entry.entity_type == "approval" else None
    values["kind"] = Piece(KIND_LABELS.get(approval.kind, approval.kind) if approval else "an")
    values["approver"] = records.user(approval.approver_id) if approval else Piece("someone")
    return values


def _channel_words(touchpoint) -> str:
    """ "a phone call", "an email": how the logged contact happened."""
    if touchpoint is None:
        return "a contact"
    label = str(CHANNEL_LABELS.get(touchpoint.channel, touchpoint.channel)).lower()
    return f"{'an' if label[:1] in 'aeiou' else 'a'} {label}"


def _words(template: str, values: dict[str, Piece]) -> list[Piece]:
    """Fill a sentence's placeholders with pieces; the words between stay plain."""
    pieces = []
    for part in re.split(r"(\{\w+\})", template):
        if part.startswith("{") and part.endswith("}"):
            pieces.append(values.get(part[1:-1], Piece("?")))
        elif part:
            pieces.append(Piece(part))
    return pieces


def _fallback(entry: AuditEntry) -> str:
    verb = entry.action.split(".")[-1].replace("_", " ")
    return "{actor} recorded “" + verb + "” on {subject}"


def describe(entries: Iterable[AuditEntry]) -> list[AuditLine]:
    """Word a page of audit entries, loading the records they name in one query per type."""
    entries = list(entries)
    records = _Records(entries)
    lines = []
    for entry in entries:
        subject, context = records.subject_and_context(entry)
        actor = (
            records.user(entry.actor_id)
            if entry.actor_id
            else Piece(ACTOR_WORDS.get(entry.actor_label, entry.actor_label or "Someone"))
        )
        values = {"actor": actor, "subject": subject, "context": context or Piece("—")}
        values.update(_extra_values(entry, records))
        template = SENTENCES.get(entry.action) or _fallback(entry)
        sentence = _words(template, values)
        if sentence and sentence[0].url is None:  # "system moved…" starts a sentence
            sentence[0] = Piece(sentence[0].text[:1].upper() + sentence[0].text[1:])
        lines.append(AuditLine(entry, sentence, _changes(entry)))
    return lines
