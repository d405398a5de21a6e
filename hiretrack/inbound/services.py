"""What a received message does: one processing path for the IMAP fetcher and the API.

`receive` reads the raw bytes, records the message once (its fingerprint is unique), matches
it (see `matching`) and applies what its kind means:

- a reply to an open application becomes an inbound email touchpoint, through the same contact
  rule as every contact (`log_touchpoint`), so the application is due: the manager owes an
  answer; the manager is told unless they were among its recipients;
- an automatic answer is recorded and counts as nothing;
- a permanent delivery failure marks our email bounced (it no longer counts as contact), flags
  the candidate's address, asks for an update and tells the manager; a delay is recorded only;
- anything that matches nothing waits on the "Unmatched mail" page.

A reply to a closed application, or one sent by a HireTrack user, is recorded against its
application without counting and without reopening anything. The caller commits.
"""

from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hiretrack.audit.services import record_change
from hiretrack.auth.models import User
from hiretrack.candidates.models import Application, Channel, Direction
from hiretrack.candidates.services import (
    MAX_NOTE_LENGTH,
    flag_bounced_address,
    log_touchpoint,
    request_update,
)
from hiretrack.database import utcnow
from hiretrack.errors import GuardrailRefused, NotFound
from hiretrack.extensions import db
from hiretrack.inbound.matching import Match, match_message, staff_user
from hiretrack.inbound.models import InboundKind, InboundMessage, InboundStatus, MatchedBy
from hiretrack.inbound.notices import tell_manager
from hiretrack.inbound.parsing import (
    Automatic,
    ReadMessage,
    header_section,
    read_headers,
    read_message,
)
from hiretrack.messages.after_delivery import mark_bounced

#: How the audit log names a candidate who wrote by email (they have no user account).
CANDIDATE_EMAIL_ACTOR = "candidate (email)"
SOURCES = ("imap", "api")


@dataclass(frozen=True)
class Received:
    """The record a message became, and whether this call created it (False: seen before)."""

    message: InboundMessage
    created: bool


def max_bytes() -> int:
    """The largest message read whole (HIRETRACK_INBOUND_MAX_BYTES)."""
    return int(current_app.config["INBOUND_MAX_BYTES"])


def find_by_fingerprint(fingerprint: str) -> InboundMessage | None:
    """The message recorded under this fingerprint, if it was received before."""
    return db.session.scalars(
        select(InboundMessage).where(InboundMessage.fingerprint == fingerprint)
    ).first()


def receive(
    raw: bytes,
    *,
    source: str,
    size: int | None = None,
    received_at: datetime | None = None,
) -> Received:
    """Record and act on one received message; a message seen before is not recorded again.

    `raw` may be only the headers of a message of `size` bytes that was too large to fetch;
    anything over HIRETRACK_INBOUND_MAX_BYTES is recorded by its headers only, as unmatched,
    with a note saying so: never half stored.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    size = len(raw) if size is None else size
    oversized = size > max_bytes()
    read = read_headers(header_section(raw), size) if oversized else read_message(raw)
    existing = find_by_fingerprint(read.fingerprint)
    if existing is not None:
        return Received(existing, False)
    message = InboundMessage(
        fingerprint=read.fingerprint,
        source=source,
        kind=InboundKind.UNMATCHED,
        status=InboundStatus.OPEN,
        received_at=received_at or utcnow(),
        from_address=read.from_address,
        from_name=read.from_name,
        subject=read.subject,
        message_id=read.message_id,
        sent_at=read.sent_at,
        size_bytes=size,
        body_text=read.text,
        attachments=[attachment.as_dict() for attachment in read.attachments],
        automatic_reason=read.automatic_reason[:200],
    )
    # Claim the fingerprint first, in a savepoint: of two workers holding the same message,
    # the second waits here for the first to commit, then finds its record.
    try:
        with db.session.begin_nested():
            db.session.add(message)
    except IntegrityError:
        existing = find_by_fingerprint(read.fingerprint)
        if existing is None:
            raise
        return Received(existing, False)
    notes = list(read.problems)
    if oversized:
        limit = max_bytes()
        notes.append(
            f"Too large to read ({_megabytes(size)}; the limit is {_megabytes(limit)}): only its "
            "headers were read. Open it in the mailbox, then attach or discard it here."
        )
        message.note = "\n".join(notes)
        return Received(message, True)
    match = match_message(read, current_app.config.get("REPLY_ADDRESS"))
    notes += match.notes
    _apply(message, read, match, notes)
    message.note = "\n".join(notes)
    db.session.flush()
    return Received(message, True)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _apply(message: InboundMessage, read: ReadMessage, match: Match, notes: list[str]) -> None:
    """Set the message's kind from what it is and what it matched, and act on it."""
    if read.automatic in (Automatic.FAILED, Automatic.DELAYED):
        if match.outbox is None:
            notes.append(
                "A delivery report about a message HireTrack cannot find "
                f"({read.automatic_reason})."
            )
            return
        _link(message, match)
        if read.automatic == Automatic.DELAYED:
            message.kind = InboundKind.DELAY
        else:
            message.kind = InboundKind.BOUNCE
            _bounce(message, read, match, notes)
        _set_report(message, read)
        return
    if match.application is None:
        if read.automatic != Automatic.PERSON:
            notes.append(f"An automatic message ({read.automatic_reason}).")
        return
    _link(message, match)
    if read.automatic != Automatic.PERSON:
        message.kind = InboundKind.AUTO_REPLY
        notes.append(
            f"An automatic answer ({read.automatic_reason}): recorded, not counted as contact."
        )
        if read.report is not None:
            _set_report(message, read)
        return
    message.kind = InboundKind.REPLY
    _reply(message, match.application, read.recipients, notes)


def _link(message: InboundMessage, match: Match) -> None:
    """Tie the message to what it matched; it needs no person any more."""
    message.status = InboundStatus.RECORDED
    message.application = match.application
    message.outbox_email = match.outbox
    message.matched_by = match.matched_by


def _set_report(message: InboundMessage, read: ReadMessage) -> None:
    """Keep the delivery report's recipient, status code and the remote server's words."""
    report = read.report
    message.report_recipient = report.recipient or None
    message.report_status = report.status or None
    message.report_diagnostic = report.diagnostic or None


def _reply(
    message: InboundMessage,
    application: Application,
    recipients: tuple[str, ...],
    notes: list[str],
) -> None:
    """The candidate wrote: count it as their contact (the manager now owes an answer)."""
    candidate = application.candidate
    manager = application.requisition.manager
    # A HireTrack user answering all (the tracking address in copy), unless the candidate is
    # one of our own users applying internally.
    staff = staff_user(message.from_address) if message.from_address != candidate.email else None
    if staff is not None:
        notes.append(
            f"Sent by {staff.name}, a HireTrack user, not by the candidate: not counted as the "
            "candidate's reply."
        )
        return
    if not application.is_open:
        notes.append(
            "The application is closed: the reply is recorded here, nothing is reopened. "
            "Answer the candidate yourself if it needs one."
        )
    else:
        touchpoint = log_touchpoint(
            None,
            application,
            direction=Direction.INBOUND,
            channel=Channel.EMAIL,
            note=touchpoint_note(message),
            occurred_at=message.received_at,
            actor_label=CANDIDATE_EMAIL_ACTOR,
        )
        db.session.flush()
        message.touchpoint_id = touchpoint.id
        message.counted = True
    if candidate.email and message.from_address and candidate.email != message.from_address:
        notes.append(f"Sent from {message.from_address}, not the address on file.")
    if manager.email.lower() in recipients:
        return  # the Reply-To named the manager: they already have it in their mailbox
    tell_manager(
        application,
        subject=f"{candidate.name} replied about {application.requisition.title}",
        what="replied by email",
        message=message,
    )


def touchpoint_note(message: InboundMessage) -> str:
    """The touchpoint's note: the subject, the new text and the attachments' names."""
    parts = [f"Email reply: {message.subject or '(no subject)'}"]
    if message.body_text:
        parts.append(message.body_text)
    if message.attachments:
        names = ", ".join(f"{a['name']} ({a['size']:,} bytes)" for a in message.attachments)
        parts.append(f"Attachments (not kept): {names}")
    note = "\n\n".join(parts)
    if len(note) > MAX_NOTE_LENGTH:
        note = note[: MAX_NOTE_LENGTH - 40].rstrip() + "\n[… the full text is in the inbox]"
    return note


def _bounce(message: InboundMessage, read: ReadMessage, match: Match, notes: list[str]) -> None:
    """Our email never arrived: stop counting it, flag the address, tell the manager."""
    report = read.report
    outbox = match.outbox
    reason = " ".join(part for part in (report.status, report.diagnostic) if part)
    reason = reason or "The recipient's mail server refused the message."
    if not mark_bounced(outbox, reason):
        notes.append("This message was already recorded as bounced.")
        return
    application = outbox.application
    if application is None:
        return  # a staff email (a digest) bounced: the outbox page shows it
    candidate = application.candidate
    if candidate.email and candidate.email == outbox.to_address.lower():
        flag_bounced_address(candidate, reason, message.received_at)
    else:
        notes.append("The candidate's address has changed since: it is not flagged.")
    request_update([application], message.received_at)
    tell_manager(
        application,
        subject=f"Your email to {candidate.name} bounced",
        what="did not receive your email: their mail server refused it",
        message=message,
        reason=reason,
    )


# --- The Unmatched mail page --------------------------------------------------------------------


def get_message(message_id: int) -> InboundMessage:
    """Load a received message by id (the pages check the role first)."""
    message = db.session.get(InboundMessage, message_id) if 0 < message_id < 2**63 else None
    if message is None:
        raise NotFound("No such message.")
    return message


def attach(actor: User, message: InboundMessage, application: Application) -> InboundMessage:
    """Tie an unmatched message to an application a person chose; a reply then counts."""
    if message.status != InboundStatus.OPEN:
        raise GuardrailRefused(f"This message was already {message.status}.")
    message.application = application
    message.matched_by = MatchedBy.PERSON
    message.status = InboundStatus.ATTACHED
    message.handled_by_id = actor.id
    message.handled_at = utcnow()
    notes = [message.note] if message.note else []
    if message.automatic_reason:
        message.kind = InboundKind.AUTO_REPLY
        notes.append("Attached by hand as an automatic answer: not counted as contact.")
    else:
        message.kind = InboundKind.REPLY
        _reply(message, application, (), notes)
    message.note = "\n".join(notes)
    record_change(
        actor,
        "inbound.attach",
        message,
        after={"application_id": application.id, "kind": message.kind},
    )
    return message


def discard(actor: User, message: InboundMessage) -> InboundMessage:
    """Set aside an unmatched message that concerns no application; its text is removed."""
    if message.status != InboundStatus.OPEN:
        raise GuardrailRefused(f"This message was already {message.status}.")
    message.status = InboundStatus.DISCARDED
    message.body_text = ""
    message.attachments = []
    message.handled_by_id = actor.id
    message.handled_at = utcnow()
    record_change(actor, "inbound.discard", message, after={"status": message.status})
    return message
