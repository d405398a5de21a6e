"""Check candidate messages again when they are due to go out: is what they say still true?

A message is written for a state: the hold it announces, the stage the application is at, the
latest word of its kind. It can go out much later (scheduled, retried, the worker down for a
night), and by then the hold may be resolved, the application closed or moved on, or a newer
message of the same kind on its way. `withdrawal_reasons` says why messages must not go; the
delivery worker then withdraws those rows (`withdraw_untrue`) instead of sending them, and the
reason shows on the outbox page and the candidate's timeline. Closures always go: an ending
stays true.

A whole claim is checked with one statement (`_premises`): the facts each rule needs, read
together for every claimed row, then the rules applied in Python, so a claim of a hundred
costs about what one message did.
"""

from collections.abc import Sequence
from datetime import date, datetime
from typing import NamedTuple

from sqlalchemy import ColumnElement, Select, case, func, insert, select, update
from sqlalchemy.orm import aliased

from hiretrack.audit.models import AuditEntry
from hiretrack.candidates.models import Application
from hiretrack.candidates.stages import FINAL_STAGES, LABELS, Stage
from hiretrack.database import memoized_statement, utcnow
from hiretrack.extensions import db
from hiretrack.formatting import long_date
from hiretrack.holds.models import Hold
from hiretrack.holds.queries import hold_stops
from hiretrack.messages.context import past_dates_named
from hiretrack.messages.models import (
    CATEGORY_LABELS,
    CLOSURE_OUTCOMES,
    OutboxEmail,
    OutboxRow,
    OutboxStatus,
    TemplateCategory,
)
from hiretrack.requisitions.models import Requisition, RequisitionStatus
from hiretrack.sqltypes import any_of

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


class Premise(NamedTuple):
    """What the rules read about one message's application, requisition, holds and successors."""

    outbox_id: int
    stage: str
    opened_at: datetime
    requisition_status: str
    #: The hold the message cites: resolved when `cited_hold_resolved_at` is set.
    cited_hold_outcome: str | None
    cited_hold_resolved_at: datetime | None
    #: For "moving forward": the first open hold placed after the message was written.
    new_hold_opened_at: datetime | None
    #: The newest message of the same kind to the same application, on its way or sent.
    newer_of_same_kind: int | None


def _newer_of_same_kind() -> ColumnElement[int | None]:
    """Correlated: the newest later message of the row's kind to its application (the index
    `ix_outbox_email_application_kind` answers it)."""
    newer = aliased(OutboxEmail)
    return (
        select(func.max(newer.id))
        .where(
            newer.application_id == OutboxEmail.application_id,
            newer.category == OutboxEmail.category,
            newer.id > OutboxEmail.id,
            newer.status.in_([status.value for status in SUPERSEDING_STATUSES]),
        )
        .correlate(OutboxEmail)
        .scalar_subquery()
    )


def _new_hold_opened_at() -> ColumnElement[datetime | None]:
    """Correlated, for "moving forward" only: when the first hold still open that stops the
    application was placed after the message was written."""
    new_hold = aliased(Hold)
    opened = (
        select(func.min(new_hold.opened_at))
        .where(
            hold_stops(Application.id, Application.requisition_id, hold=new_hold),
            new_hold.resolved_at.is_(None),
            new_hold.opened_at > OutboxEmail.created_at,
        )
        .correlate(OutboxEmail, Application)
        .scalar_subquery()
    )
    return case((OutboxEmail.category == TemplateCategory.MOVING_FORWARD.value, opened))


def _premise_statement(dialect: str) -> Select:
    """The facts every rule needs, for the outbox ids bound as `outbox_ids`."""
    cited = aliased(Hold)
    return (
        select(
            OutboxEmail.id,
            Application.stage,
            Application.opened_at,
            Requisition.status,
            cited.outcome,
            cited.resolved_at,
            _new_hold_opened_at(),
            _newer_of_same_kind(),
        )
        .join(Application, Application.id == OutboxEmail.application_id)
        .join(Requisition, Requisition.id == Application.requisition_id)
        .outerjoin(cited, cited.id == OutboxEmail.hold_id)
        .where(
            any_of(OutboxEmail.id, "outbox_ids", dialect),
            OutboxEmail.category.is_not(None),
        )
    )


def _premises(outbox_ids: Sequence[int]) -> dict[int, Premise]:
    """One statement for a whole claim: each candidate message's premise, by outbox id."""
    dialect = db.session.get_bind().dialect.name
    statement = memoized_statement(
        "delivery premises", dialect, lambda: _premise_statement(dialect)
    )
    rows = db.session.execute(statement, {"outbox_ids": list(outbox_ids)})
    return {row[0]: Premise(*row) for row in rows}


def _moved_past(written: str | None, current: str) -> bool:
    """Whether the application went forward from the stage the message was written at."""
    if written not in STAGE_ORDER or current not in STAGE_ORDER:
        return False
    return STAGE_ORDER.index(Stage(current)) > STAGE_ORDER.index(Stage(written))


def _hold_reason(outbox: OutboxRow, kind: TemplateCategory, premise: Premise) -> str | None:
    """Why the hold the message speaks of makes it untrue now, if it does."""
    if kind in WAITING_KINDS and premise.cited_hold_resolved_at is not None:
        return (
            f"The hold it announces was {premise.cited_hold_outcome} on "
            f"{long_date(premise.cited_hold_resolved_at.date())} before it went out."
        )
    if kind == TemplateCategory.MOVING_FORWARD and premise.new_hold_opened_at is not None:
        return (
            f"A new hold was placed on {long_date(premise.new_hold_opened_at.date())}, after it "
            "was written: the application is not moving forward."
        )
    return None


def _reason(outbox: OutboxRow, premise: Premise | None, today: date) -> str | None:
    """Apply the rules, in order, to one message and the facts read for it."""
    if premise is None or outbox.application_id is None or outbox.category is None:
        return None
    kind = TemplateCategory(outbox.category)
    if kind in CLOSURE_OUTCOMES:
        return None
    if premise.stage in FINAL_STAGES:
        return f"The application closed ({LABELS[Stage(premise.stage)]}) before it went out."
    if premise.requisition_status == RequisitionStatus.CANCELLED:
        return "The position was cancelled before it went out."
    reason = _hold_reason(outbox, kind, premise)
    if reason is not None:
        return reason
    if kind in STAGE_BOUND_KINDS and _moved_past(outbox.written_at_stage, premise.stage):
        return (
            f"The application moved on from {LABELS[Stage(outbox.written_at_stage)]} to "
            f"{LABELS[Stage(premise.stage)]} before it went out."
        )
    if premise.newer_of_same_kind is not None:
        return (
            f"A newer {CATEGORY_LABELS[kind].lower()} message (#{premise.newer_of_same_kind}) "
            "replaced it."
        )
    return _passed_date_reason(outbox, premise.opened_at, today)


def _passed_date_reason(outbox: OutboxRow, applied_at: datetime, today: date) -> str | None:
    """Why a message naming a date that has passed since it was written must not go.

    Written on Monday, "I will write again by Friday" or "we expect to know more by Friday"
    is false once it goes out on Saturday (a scheduled send, a worker down for days).
    """
    passed = past_dates_named(f"{outbox.subject}\n{outbox.body_text}", today, {applied_at.date()})
    if not passed:
        return None
    return f"It names {long_date(passed[0])}, a date that had passed by the time it was due."


def withdrawal_reasons(rows: Sequence[OutboxRow]) -> dict[int, str]:
    """Why each of these messages is no longer true and must not go out, by outbox id.

    Staff emails and closures always go. Otherwise, in order: the application closed, its
    requisition was cancelled, the hold it speaks of was resolved (or a new hold made "moving
    forward" untrue), the application moved past the stage it speaks of, or a newer message of
    the same kind replaced it, or it names a date that has passed meanwhile.
    """
    candidate_rows = [row for row in rows if row.application_id and row.category]
    if not candidate_rows:
        return {}
    premises = _premises([row.id for row in candidate_rows])
    today = utcnow().date()
    reasons = {row.id: _reason(row, premises.get(row.id), today) for row in candidate_rows}
    return {outbox_id: reason for outbox_id, reason in reasons.items() if reason is not None}


def withdrawal_reason(outbox: OutboxEmail) -> str | None:
    """Why this message is no longer true and must not go out; None when it may."""
    return withdrawal_reasons([outbox]).get(outbox.id)


def withdraw(rows: Sequence[OutboxRow], reasons: dict[int, str], now: datetime) -> None:
    """Mark messages withdrawn, never to be sent, with the reasons people will read.

    One UPDATE for the rows and one INSERT for their audit entries (`outbox.withdraw`, by the
    delivery check), whatever their number. The rows in the session are stale until the caller
    commits.
    """
    if not reasons:
        return
    reasons = {outbox_id: reason[:500] for outbox_id, reason in reasons.items()}
    db.session.execute(
        update(OutboxEmail)
        .where(OutboxEmail.id.in_(list(reasons)))
        .values(
            status=OutboxStatus.WITHDRAWN,
            withdrawn_at=now,
            withdrawn_reason=case(reasons, value=OutboxEmail.id),
            claimed_at=None,
            claimed_by=None,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        insert(AuditEntry),
        [
            {
                "actor_id": None,
                "actor_label": "delivery check",
                "action": "outbox.withdraw",
                "entity_type": OutboxEmail.__tablename__,
                "entity_id": row.id,
                "before": {"status": row.status, "reason": None},
                "after": {"status": OutboxStatus.WITHDRAWN.value, "reason": reasons[row.id]},
            }
            for row in rows
            if row.id in reasons
        ],
    )


def withdraw_untrue(rows: list[OutboxRow], now: datetime | None = None) -> list[OutboxRow]:
    """Withdraw the rows whose premise no longer holds; return the others, in order.

    The caller owns the rows (claimed, or about to be) and commits.
    """
    reasons = withdrawal_reasons(rows)
    withdraw(rows, reasons, now or utcnow())
    return [row for row in rows if row.id not in reasons]
