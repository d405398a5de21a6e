"""The selects behind the inbound pages and the API: one definition of each list."""

from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, or_, select

from hiretrack.auth.models import Role
from hiretrack.candidates.models import Application, Candidate
from hiretrack.extensions import db
from hiretrack.inbound.models import InboundMessage, InboundStatus
from hiretrack.requisitions.models import Requisition

#: Who sorts unmatched mail: it may concern any candidate, so only those who see everyone.
SORTING_ROLES = (Role.RECRUITER, Role.ADMIN)
#: The most applications the attach search lists.
SEARCH_LIMIT = 20


def inbound_query(
    scope: ColumnElement[bool],
    *,
    kind: str | None = None,
    application_id: int | None = None,
    since: datetime | None = None,
) -> Select[tuple[InboundMessage]]:
    """Received messages within `scope` (a condition on Application), newest first.

    Pass `hiretrack.auth.access.visible_applications(user)`: messages tied to no application
    (unmatched) appear only where that condition is true for everything (recruiters, admins).
    """
    query = (
        select(InboundMessage)
        .outerjoin(Application, Application.id == InboundMessage.application_id)
        .where(scope)
        .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
    )
    if kind is not None:
        query = query.where(InboundMessage.kind == kind)
    if application_id is not None:
        query = query.where(InboundMessage.application_id == application_id)
    if since is not None:
        query = query.where(InboundMessage.received_at >= since)
    return query


#: The statuses of mail that matched nothing when it arrived.
UNMATCHED_STATUSES = (InboundStatus.OPEN, InboundStatus.ATTACHED, InboundStatus.DISCARDED)


def unmatched_query(status: str = InboundStatus.OPEN) -> Select[tuple[InboundMessage]]:
    """Mail that matched nothing, in one status: open (waiting, oldest first) or handled."""
    query = select(InboundMessage).where(InboundMessage.status == status)
    if status == InboundStatus.OPEN:
        return query.order_by(InboundMessage.received_at, InboundMessage.id)
    return query.order_by(InboundMessage.handled_at.desc(), InboundMessage.id.desc())


def open_unmatched_count_query() -> Select[tuple[int]]:
    """How many unmatched messages wait for a person (the dashboard's counters read it in
    their own statement, a round trip fewer)."""
    return select(func.count(InboundMessage.id)).where(InboundMessage.status == InboundStatus.OPEN)


def attach_candidates(message: InboundMessage, search: str) -> list[Application]:
    """Applications a person may attach a message to: the sender's first, then a name search."""
    query = (
        select(Application)
        .join(Candidate, Candidate.id == Application.candidate_id)
        .join(Requisition, Requisition.id == Application.requisition_id)
        .order_by(Application.closed_at.is_not(None), Candidate.name, Application.id)
        .limit(SEARCH_LIMIT)
    )
    search = " ".join(search.split())[:100]
    if search:
        escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        query = query.where(
            or_(
                func.lower(Candidate.name).like(pattern, escape="\\"),
                func.lower(Candidate.email).like(pattern, escape="\\"),
                func.lower(Requisition.title).like(pattern, escape="\\"),
            )
        )
    elif message.from_address:
        query = query.where(func.lower(Candidate.email) == message.from_address.lower())
    else:
        return []
    return list(db.session.scalars(query))


def messages_for_applications(application_ids: list[int]) -> dict[int, list[InboundMessage]]:
    """Each application's received messages, newest first (the candidate page's list)."""
    if not application_ids:
        return {}
    found: dict[int, list[InboundMessage]] = {}
    for message in db.session.scalars(
        select(InboundMessage)
        .where(InboundMessage.application_id.in_(application_ids))
        .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
    ):
        found.setdefault(message.application_id, []).append(message)
    return found
