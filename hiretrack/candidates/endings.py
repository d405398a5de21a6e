"""When an application or a requisition ends, end the work that waited on it, saying why.

A closed application needs no offer, no offer approval, no hold of its own and no scheduled
email (its closure is the last word); a cancelled
requisition needs none at all, and a filled one no longer needs its own approval steps or
requisition-wide holds. Left open they stay on the owners' lists and counters, and an approver
could still approve an offer for a candidate already told no. `end_application_work` and
`end_requisition_work` resolve such holds as cancelled and withdraw such approvals and offers,
each with a note saying why; deciding a withdrawn approval afterwards is refused (409).

Below the candidates, requisitions, approvals and holds services, so each can call it; it uses
only the models and the audit log.
"""

from collections.abc import Iterable

from sqlalchemy import select, update

from hiretrack.approvals.models import Approval, Decision
from hiretrack.audit.services import record_change
from hiretrack.auth.models import User
from hiretrack.candidates.models import Application, Touchpoint
from hiretrack.candidates.stages import LABELS, Stage
from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.holds.models import Hold, HoldOutcome
from hiretrack.messages.models import Draft, DraftStatus, OutboxEmail, OutboxStatus
from hiretrack.offers.models import Offer, OfferStatus
from hiretrack.requisitions.models import Requisition, RequisitionStatus

#: Offers still on their way: once the candidacy ends they can no longer matter.
LIVE_OFFER_STATUSES = (OfferStatus.PENDING_APPROVAL, OfferStatus.APPROVED)
#: The stages at which a candidate on a filled requisition is the hire.
HIRE_STAGES = (Stage.ACCEPTED, Stage.HIRED)


def end_holds(actor: User | None, holds: Iterable[Hold], note: str) -> list[Hold]:
    """Resolve open holds as cancelled with `note`, and drop the hold notices still in draft."""
    ended = []
    now = utcnow()
    for hold in holds:
        if not hold.is_open:
            continue
        hold.outcome, hold.resolved_at, hold.resolution_note = HoldOutcome.CANCELLED, now, note
        record_change(
            actor,
            "hold.cancelled",
            hold,
            before={"outcome": None},
            after={"outcome": HoldOutcome.CANCELLED.value, "resolution_note": note},
        )
        ended.append(hold)
    if ended:
        db.session.execute(
            update(Draft)
            .where(
                Draft.hold_id.in_([hold.id for hold in ended]),
                Draft.status == DraftStatus.PENDING,
            )
            .values(status=DraftStatus.DISCARDED)
            .execution_options(synchronize_session="fetch")
        )
    return ended


def withdraw_approvals(actor: User | None, approvals: Iterable[Approval], note: str) -> int:
    """Withdraw pending approval steps with `note`: nobody needs to decide them any more."""
    count = 0
    for approval in approvals:
        if approval.decision != Decision.PENDING:
            continue
        approval.decision, approval.note, approval.decided_at = Decision.WITHDRAWN, note, utcnow()
        record_change(
            actor,
            "approval.withdraw",
            approval,
            before={"decision": Decision.PENDING.value},
            after={"decision": Decision.WITHDRAWN.value, "note": note},
        )
        count += 1
    return count


def _withdraw_offers(actor: User | None, offers: Iterable[Offer], note: str) -> None:
    """Withdraw offers not yet sent in writing, and their pending approval steps."""
    for offer in offers:
        if offer.status not in LIVE_OFFER_STATUSES:
            continue
        before = offer.status
        offer.status = OfferStatus.WITHDRAWN
        record_change(
            actor,
            "offer.withdraw",
            offer,
            before={"status": before},
            after={"status": OfferStatus.WITHDRAWN.value},
        )
        withdraw_approvals(actor, offer.approvals, note)


def end_application_work(
    actor: User | None, application: Application, keep_outbox_id: int | None = None
) -> None:
    """The application has closed: end its own holds, its offer and its offer approvals.

    Its scheduled emails are cancelled too (a scheduled closure among them would be a second
    closure), all but `keep_outbox_id`, the closure that is closing it.
    """
    note = f"The application closed ({LABELS[Stage(application.stage)]})."
    _cancel_scheduled(application, keep_outbox_id, note)
    end_holds(
        actor,
        db.session.scalars(
            select(Hold).where(Hold.application_id == application.id, Hold.resolved_at.is_(None))
        ),
        note,
    )
    _withdraw_offers(
        actor,
        db.session.scalars(select(Offer).where(Offer.application_id == application.id)),
        note,
    )


def _cancel_scheduled(application: Application, keep_outbox_id: int | None, note: str) -> None:
    """Cancel the application's scheduled emails, and their touchpoints, as a person would."""
    scheduled = db.session.scalars(
        select(OutboxEmail).where(
            OutboxEmail.application_id == application.id,
            OutboxEmail.status == OutboxStatus.SCHEDULED,
            OutboxEmail.id != (keep_outbox_id or 0),
        )
    ).all()
    for outbox in scheduled:
        outbox.status = OutboxStatus.CANCELLED
        outbox.last_error = f"{note} It was not sent."
        for touchpoint in db.session.scalars(
            select(Touchpoint).where(Touchpoint.outbox_email_id == outbox.id)
        ):
            db.session.delete(touchpoint)


def end_requisition_work(actor: User | None, requisition: Requisition) -> None:
    """The requisition closed: end the holds, approvals and offers that can no longer matter.

    Cancelled: every open hold, pending approval and unsent offer. Filled: the requisition's
    own pending steps and requisition-wide holds, and the offers of anyone but the hire.
    """
    cancelled = requisition.status == RequisitionStatus.CANCELLED
    note = f"The requisition was {'cancelled' if cancelled else 'filled'}."
    holds = select(Hold).where(Hold.requisition_id == requisition.id, Hold.resolved_at.is_(None))
    if not cancelled:
        holds = holds.where(Hold.application_id.is_(None))
    end_holds(actor, db.session.scalars(holds), note)
    own_steps = select(Approval).where(
        Approval.requisition_id == requisition.id,
        Approval.offer_id.is_(None),
        Approval.decision == Decision.PENDING,
    )
    withdraw_approvals(actor, db.session.scalars(own_steps), note)
    offers = (
        select(Offer)
        .join(Application, Application.id == Offer.application_id)
        .where(
            Application.requisition_id == requisition.id,
            Offer.status.in_([status.value for status in LIVE_OFFER_STATUSES]),
        )
    )
    if not cancelled:
        offers = offers.where(Application.stage.not_in([stage.value for stage in HIRE_STAGES]))
    _withdraw_offers(actor, db.session.scalars(offers), note)
