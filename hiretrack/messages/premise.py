"""Check a candidate message again when it is due to go out: is what it says still true?

A message is written for a state: the hold it announces, the stage the application is at, the
latest word of its kind. It can go out much later (scheduled, retried, the worker down for a
night), and by then the hold may be resolved, the application closed or moved on, or a newer
message of the same kind on its way. `withdrawal_reason` says why a message must not go; the
delivery worker then withdraws the row (`withdraw`) instead of sending it, and the reason shows
on the outbox page and the candidate's timeline. Closures always go: an ending stays true.
"""

from datetime import datetime

from sqlalchemy import select

from hiretrack.audit.services import record_change
from hiretrack.candidates.models import Application
from hiretrack.candidates.stages import LABELS, Stage
from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.formatting import long_date
from hiretrack.holds.models import Hold
from hiretrack.holds.queries import hold_stops
from hiretrack.messages.context import past_dates_named
from hiretrack.messages.models import (
    CATEGORY_LABELS,
    CLOSURE_OUTCOMES,
    OutboxEmail,
    OutboxStatus,
    TemplateCategory,
)
from hiretrack.requisitions.models import RequisitionStatus

#: Kinds that speak of a wait: false once the hold they cite is resolved.
WAITING_KINDS = frozenset(
    {TemplateCategory.HOLD_NOTICE, TemplateCategory.CHECK_IN, TemplateCategory.DELAY}
)
#: Kinds that say where things stand at one stage ("no decision yet", "waiting on an approval"):
#: false once the application has moved past that stage.
STAGE_BOUND_KINDS = WAITING_KINDS
#: The open stages in the order an application moves through them.
STAGE_ORDER = [
    Stage.INTERVIEWING,
    Stage.FINAL_ROUND,
    Stage.VERBAL_INTENT,
    Stage.OFFER_APPROVED,
    Stage.OFFER_EXTENDED,
    Stage.ACCEPTED,
]
#: A newer message of the same kind in one of these states makes an older one stale.
SUPERSEDING_STATUSES = (
    OutboxStatus.QUEUED,
    OutboxStatus.SENDING,
    OutboxStatus.SENT,
    OutboxStatus.UNCONFIRMED,
)


def _moved_past(written: str | None, current: str) -> bool:
    """Whether the application went forward from the stage the message was written at."""
    if written not in STAGE_ORDER or current not in STAGE_ORDER:
        return False
    return STAGE_ORDER.index(Stage(current)) > STAGE_ORDER.index(Stage(written))


def _hold_reason(outbox: OutboxEmail, kind: TemplateCategory) -> str | None:
    """Why the hold the message speaks of makes it untrue now, if it does."""
    if kind in WAITING_KINDS and outbox.hold_id is not None:
        hold = db.session.get(Hold, outbox.hold_id)
        if hold is not None and not hold.is_open:
            return (
                f"The hold it announces was {hold.outcome} on "
                f"{long_date(hold.resolved_at.date())} before it went out."
            )
    if kind == TemplateCategory.MOVING_FORWARD:
        application = outbox.application
        newer_hold = db.session.scalars(
            select(Hold)
            .where(
                hold_stops(application.id, application.requisition_id),
                Hold.resolved_at.is_(None),
                Hold.opened_at > outbox.created_at,
            )
            .limit(1)
        ).first()
        if newer_hold is not None:
            return (
                f"A new hold was placed on {long_date(newer_hold.opened_at.date())}, after it "
                "was written: the application is not moving forward."
            )
    return None


def _newer_of_same_kind(outbox: OutboxEmail) -> int | None:
    """The id of a newer message of the same kind to the same application on its way or sent."""
    return db.session.scalar(
        select(OutboxEmail.id)
        .where(
            OutboxEmail.application_id == outbox.application_id,
            OutboxEmail.category == outbox.category,
            OutboxEmail.id > outbox.id,
            OutboxEmail.status.in_([status.value for status in SUPERSEDING_STATUSES]),
        )
        .order_by(OutboxEmail.id.desc())
        .limit(1)
    )


def withdrawal_reason(outbox: OutboxEmail) -> str | None:
    """Why this message is no longer true and must not go out; None when it may.

    Staff emails and closures always go. Otherwise, in order: the application closed, its
    requisition was cancelled, the hold it speaks of was resolved (or a new hold made "moving
    forward" untrue), the application moved past the stage it speaks of, or a newer message of
    the same kind replaced it, or it names a date that has passed meanwhile.
    """
    if outbox.application_id is None or outbox.category is None:
        return None
    kind = TemplateCategory(outbox.category)
    if kind in CLOSURE_OUTCOMES:
        return None
    application: Application = outbox.application
    if not application.is_open:
        return f"The application closed ({LABELS[Stage(application.stage)]}) before it went out."
    if application.requisition.status == RequisitionStatus.CANCELLED:
        return "The position was cancelled before it went out."
    reason = _hold_reason(outbox, kind)
    if reason is not None:
        return reason
    if kind in STAGE_BOUND_KINDS and _moved_past(outbox.written_at_stage, application.stage):
        return (
            f"The application moved on from {LABELS[Stage(outbox.written_at_stage)]} to "
            f"{LABELS[Stage(application.stage)]} before it went out."
        )
    newer = _newer_of_same_kind(outbox)
    if newer is not None:
        return f"A newer {CATEGORY_LABELS[kind].lower()} message (#{newer}) replaced it."
    return _passed_date_reason(outbox, application)


def _passed_date_reason(outbox: OutboxEmail, application: Application) -> str | None:
    """Why a message naming a date that has passed since it was written must not go.

    Written on Monday, "I will write again by Friday" or "we expect to know more by Friday"
    is false once it goes out on Saturday (a scheduled send, a worker down for days).
    """
    passed = past_dates_named(
        f"{outbox.subject}\n{outbox.body_text}",
        utcnow().date(),
        {application.opened_at.date()},
    )
    if not passed:
        return None
    return f"It names {long_date(passed[0])}, a date that had passed by the time it was due."


def withdraw(outbox: OutboxEmail, reason: str, now: datetime | None = None) -> None:
    """Mark a message withdrawn, never to be sent, with the reason people will read."""
    before = {"status": outbox.status}
    outbox.status = OutboxStatus.WITHDRAWN
    outbox.withdrawn_at = now or utcnow()
    outbox.withdrawn_reason = reason[:500]
    outbox.claimed_at = outbox.claimed_by = None
    record_change(
        None,
        "outbox.withdraw",
        outbox,
        before=before,
        after={"status": OutboxStatus.WITHDRAWN.value, "reason": outbox.withdrawn_reason},
        actor_label="delivery check",
    )


def withdraw_untrue(rows: list[OutboxEmail], now: datetime | None = None) -> list[OutboxEmail]:
    """Withdraw the rows whose premise no longer holds; return the others, in order.

    The caller owns the rows (claimed, or about to be) and commits.
    """
    kept = []
    for outbox in rows:
        reason = withdrawal_reason(outbox)
        if reason is None:
            kept.append(outbox)
        else:
            withdraw(outbox, reason, now)
    return kept
