"""What happens to a message after its delivery attempt: a person resends it or confirms it
arrived, a bounce report retracts it; and the outbox at a glance for operators.

Kept apart from `delivery`, which claims and sends: these are one-row actions taken by people,
the inbound mail reader and monitoring, not by the delivery loop.
"""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, func, or_, select

from hiretrack.audit.services import record_change
from hiretrack.auth.models import User
from hiretrack.candidates.models import Application, Touchpoint
from hiretrack.candidates.services import retract_delivery
from hiretrack.database import utcnow
from hiretrack.errors import GuardrailRefused
from hiretrack.extensions import db
from hiretrack.messages.claims import due_now
from hiretrack.messages.delivery import RESENDABLE, mark_sent
from hiretrack.messages.models import FAILED_STATUSES, OutboxEmail, OutboxStatus
from hiretrack.messages.outbox import new_message_id


def mark_unconfirmed_as_sent(outbox: OutboxEmail, actor: User | None = None) -> None:
    """Record that an unconfirmed message did reach the candidate (a person checked)."""
    if outbox.status != OutboxStatus.UNCONFIRMED:
        raise GuardrailRefused(
            f"Only an unconfirmed message can be marked as sent (this one is {outbox.status})."
        )
    mark_sent(outbox, outbox.claimed_at or utcnow())
    outbox.last_error = None
    record_change(
        actor,
        "outbox.mark_sent",
        outbox,
        before={"status": OutboxStatus.UNCONFIRMED.value},
        after={"status": OutboxStatus.SENT.value},
    )


def mark_bounced(outbox: OutboxEmail, reason: str) -> bool:
    """Record that the recipient's server refused a sent message after all (a bounce report).

    The email stops counting as contact with the candidate. Returns False when the message
    was already recorded as bounced (a second report about it changes nothing).
    """
    if outbox.status == OutboxStatus.BOUNCED:
        return False
    before = {"status": outbox.status}
    outbox.status = OutboxStatus.BOUNCED
    outbox.last_error = f"Bounced: {reason}"[:2000]
    outbox.claimed_at = outbox.claimed_by = None
    touchpoint = db.session.scalars(
        select(Touchpoint).where(Touchpoint.outbox_email_id == outbox.id)
    ).first()
    if touchpoint is not None and touchpoint.occurred_at is not None:
        retract_delivery(touchpoint)
    record_change(
        None,
        "outbox.bounce",
        outbox,
        before=before,
        after={"status": OutboxStatus.BOUNCED.value},
        actor_label="delivery report",
    )
    return True


def _current_recipient(outbox: OutboxEmail) -> tuple[str, str]:
    """The address to use now: a typo fixed on the candidate (or user) since then applies."""
    if outbox.application_id is not None:
        candidate = outbox.application.candidate
        if candidate.email is None:
            raise GuardrailRefused("This candidate's data was anonymised; there is no address.")
        return candidate.email, candidate.name
    if outbox.recipient_user_id is not None:
        user = db.session.get(User, outbox.recipient_user_id)
        return user.email, user.name
    return outbox.to_address, outbox.to_name


def requeue(outbox: OutboxEmail, actor: User | None, now: datetime | None = None) -> OutboxEmail:
    """Queue a failed or unconfirmed message again, to the recipient's current address.

    An unconfirmed message keeps its Message-ID, so a server that did receive it can drop the
    copy; a failed or bounced one never arrived anywhere and goes out as a new message.
    """
    if outbox.status not in RESENDABLE:
        raise GuardrailRefused(
            "Only a failed or unconfirmed message can be sent again, or a bounced one "
            f"(this one is {outbox.status})."
        )
    before = {"status": outbox.status, "to_address": outbox.to_address}
    outbox.to_address, outbox.to_name = _current_recipient(outbox)
    if outbox.status in (OutboxStatus.FAILED, OutboxStatus.BOUNCED):
        outbox.message_id = new_message_id(outbox.from_address)
    outbox.status = OutboxStatus.QUEUED
    outbox.attempts = 0
    outbox.last_error = None
    outbox.next_attempt_at = now or utcnow()
    outbox.claimed_at = outbox.claimed_by = None
    record_change(
        actor,
        "outbox.requeue",
        outbox,
        before=before,
        after={"status": outbox.status.value, "to_address": outbox.to_address},
    )
    return outbox


def failed_deliveries(scope: ColumnElement[bool]) -> Select[tuple[OutboxEmail]]:
    """Failed, bounced and unconfirmed messages within `scope` (a condition on Application), newest first.

    Pass `hiretrack.auth.access.visible_applications(user)`; staff emails, which have no
    application, appear only where the condition is true for everything (recruiters, admins).
    """
    return (
        select(OutboxEmail)
        .outerjoin(Application, OutboxEmail.application_id == Application.id)
        .where(
            OutboxEmail.status.in_(FAILED_STATUSES),
            scope,
        )
        .order_by(OutboxEmail.created_at.desc(), OutboxEmail.id.desc())
    )


@dataclass
class OutboxSummary:
    """The outbox at a glance, for `hiretrack outbox status` and monitoring."""

    counts: dict[str, int] = field(default_factory=dict)
    due_now: int = 0
    oldest_due_at: datetime | None = None


def due_count(now: datetime | None = None) -> int:
    """How many messages a drain would try now, scheduled ones whose time has come included."""
    now = now or utcnow()
    scheduled_due = and_(
        OutboxEmail.status == OutboxStatus.SCHEDULED, OutboxEmail.send_after <= now
    )
    return db.session.scalar(
        select(func.count()).select_from(OutboxEmail).where(or_(due_now(now), scheduled_due))
    )


def outbox_summary(now: datetime | None = None) -> OutboxSummary:
    """Count rows by status and find how long the oldest due message has waited."""
    now = now or utcnow()
    rows = db.session.execute(
        select(OutboxEmail.status, func.count()).group_by(OutboxEmail.status)
    ).all()
    counts = {status.value: 0 for status in OutboxStatus} | {status: n for status, n in rows}
    due, oldest = db.session.execute(
        select(func.count(), func.min(OutboxEmail.next_attempt_at)).where(due_now(now))
    ).one()
    return OutboxSummary(counts=counts, due_now=due, oldest_due_at=oldest)
