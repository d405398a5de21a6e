"""Inbound mail is personal data: what a subject access export shows, what anonymisation and
the retention run remove.

A message is about a candidate when it is tied to one of their applications, or when it was
sent from their address (unmatched or discarded mail that was never tied to anything).
"""

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select, update

from hiretrack.candidates.models import Candidate
from hiretrack.extensions import db
from hiretrack.inbound.models import InboundMessage, InboundStatus

#: The fields of a message in the subject access export.
EXPORTED_FIELDS = (
    "id",
    "application_id",
    "kind",
    "status",
    "received_at",
    "sent_at",
    "from_address",
    "from_name",
    "subject",
    "body_text",
    "attachments",
    "automatic_reason",
    "report_status",
    "report_diagnostic",
)


def about_candidate(candidate: Candidate, application_ids: list[int]) -> ColumnElement[bool]:
    """The condition selecting every received message about this person."""
    conditions = []
    if application_ids:
        conditions.append(InboundMessage.application_id.in_(application_ids))
    if candidate.email:
        conditions.append(func.lower(InboundMessage.from_address) == candidate.email.lower())
    return or_(*conditions) if conditions else false()


def export_rows(candidate: Candidate, application_ids: list[int]) -> list[dict[str, Any]]:
    """The messages about this person as JSON-safe rows, oldest first."""
    rows = []
    for message in db.session.scalars(
        select(InboundMessage)
        .where(about_candidate(candidate, application_ids))
        .order_by(InboundMessage.received_at, InboundMessage.id)
    ):
        row = {}
        for name in EXPORTED_FIELDS:
            value = getattr(message, name)
            row[name] = value.isoformat() if isinstance(value, datetime) else value
        rows.append(row)
    return rows


def _erase(condition: ColumnElement[bool]) -> int:
    """Remove what people wrote, and who they are, from the messages matching `condition`.

    The rows stay (their kind, dates and links keep the figures); the text goes.
    """
    result = db.session.execute(
        update(InboundMessage)
        .where(condition)
        .values(
            from_address="",
            from_name="",
            subject="",
            message_id="",
            body_text="",
            attachments=[],
            automatic_reason="",
            note="",
            report_recipient=None,
            report_diagnostic=None,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def erase_about_candidate(candidate: Candidate, application_ids: list[int]) -> int:
    """Anonymisation: remove the text of every message about this person (call before their
    address is removed, which the matching needs)."""
    return _erase(about_candidate(candidate, application_ids))


def erase_unlinked_before(cutoff: datetime) -> int:
    """Retention: remove the text of unmatched and discarded mail received before `cutoff`,
    which no candidate's anonymisation would reach."""
    return _erase(
        (InboundMessage.application_id.is_(None))
        & (InboundMessage.status.in_((InboundStatus.OPEN, InboundStatus.DISCARDED)))
        & (InboundMessage.received_at < cutoff)
        & ((InboundMessage.from_address != "") | (InboundMessage.body_text != ""))
    )
