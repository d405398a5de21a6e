"""What is held about one candidate: the ids of every row about them, by table."""

from sqlalchemy import and_, or_, select

from hiretrack.audit.models import AuditEntry
from hiretrack.candidates.models import Application, Candidate, StageChange, Touchpoint
from hiretrack.extensions import db
from hiretrack.holds.models import Hold
from hiretrack.inbound.privacy import message_ids_about
from hiretrack.messages.models import Draft, OutboxEmail
from hiretrack.offers.models import Offer
from hiretrack.status.models import StatusLink, UpdateFeedback


def anonymised_name(candidate_id: int) -> str:
    """The name an anonymised candidate keeps: a number, never anything that identifies them."""
    return f"Anonymised candidate #{candidate_id}"


def _ids(statement) -> list[int]:
    return list(db.session.scalars(statement))


def related_records(candidate: Candidate) -> dict[str, list[int]]:
    """The ids of every row about this candidate, by table name (the audit log's entity_type)."""
    application_ids = _ids(select(Application.id).where(Application.candidate_id == candidate.id))
    records = {
        "candidate": [candidate.id],
        "application": application_ids,
        # Mail they sent: tied to an application, or unmatched from their address.
        "inbound_message": message_ids_about(candidate, application_ids),
    }
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


def audit_condition(records: dict[str, list[int]]):
    """The audit entries about any of these rows."""
    return or_(
        *(
            and_(AuditEntry.entity_type == entity_type, AuditEntry.entity_id.in_(ids))
            for entity_type, ids in records.items()
            if ids
        )
    )
