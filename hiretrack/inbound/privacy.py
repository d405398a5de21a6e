"""Inbound mail is personal data: what a subject access export shows, what anonymisation and
the retention run remove.

A message is about a candidate when it is tied to one of their applications, or when it was
sent from their address (unmatched or discarded mail that was never tied to anything).
"""

from datetime import datetime

from sqlalchemy import ColumnElement, false, func, or_, select, update

from hiretrack.candidates.models import Candidate
from hiretrack.extensions import db
from hiretrack.inbound.models import InboundMessage, InboundStatus


def about_candidate(candidate: Candidate, application_ids: list[int]) -> ColumnElement[bool]:
    """The condition selecting every received message about this person."""
    conditions = []
    if application_ids:
        conditions.append(InboundMessage.application_id.in_(application_ids))
    if candidate.email:
        conditions.append(func.lower(InboundMessage.from_address) == candidate.email.lower())
    return or_(*conditions) if conditions else false()


def message_ids_about(candidate: Candidate, application_ids: list[int]) -> list[int]:
    """The ids of every received message about this person (the export and anonymisation)."""
    return list(
        db.session.scalars(
            select(InboundMessage.id).where(about_candidate(candidate, application_ids))
        )
    )


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


def erase_messages(message_ids: list[int]) -> int:
    """Anonymisation: remove the text of these messages (found by `message_ids_about`)."""
    if not message_ids:
        return 0
    return _erase(InboundMessage.id.in_(message_ids))


def erase_unlinked_before(cutoff: datetime) -> int:
    """Retention: remove the text of unmatched and discarded mail received before `cutoff`,
    which no candidate's anonymisation would reach."""
    return _erase(
        (InboundMessage.application_id.is_(None))
        & (InboundMessage.status.in_((InboundStatus.OPEN, InboundStatus.DISCARDED)))
        & (InboundMessage.received_at < cutoff)
        & ((InboundMessage.from_address != "") | (InboundMessage.body_text != ""))
    )
