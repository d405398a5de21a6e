"""Offer terms and their approval: "there is no offer until there is an offer in writing"."""

from datetime import date

from sqlalchemy import select

from hiretrack.approvals.models import Approval, ApprovalKind, Decision
from hiretrack.approvals.services import request_approval
from hiretrack.audit.services import record_change, snapshot
from hiretrack.auth.models import User
from hiretrack.candidates.models import Application
from hiretrack.candidates.services import change_stage
from hiretrack.candidates.stages import Stage
from hiretrack.errors import GuardrailRefused, ValidationFailed
from hiretrack.extensions import db
from hiretrack.offers.models import Offer, OfferStatus
from hiretrack.requisitions.currencies import CURRENCY_MESSAGE, is_currency


def offer_for(application: Application) -> Offer | None:
    return db.session.scalars(select(Offer).where(Offer.application_id == application.id)).first()


def propose_offer(
    actor: User,
    application: Application,
    salary: int,
    approver_id: int,
    currency: str | None = None,
    start_date: date | None = None,
    due_date: date | None = None,
    compensation_approver_id: int | None = None,
) -> Offer:
    """Record (or change) the offer terms and ask for approval.

    A salary outside the requisition's band also needs a compensation approval. Changing an
    approved offer supersedes its approvals and asks again; the application drops back to
    verbal intent until the new terms are approved.
    """
    if application.stage not in (Stage.VERBAL_INTENT, Stage.OFFER_APPROVED):
        raise GuardrailRefused("Offer terms are recorded once the application is at verbal intent.")
    if not isinstance(salary, int) or not 0 < salary <= 100_000_000:
        raise ValidationFailed(
            "Enter the salary as a whole number above zero.",
            {"salary": ["A whole number above zero."]},
        )
    if currency is not None and not is_currency(currency):
        raise ValidationFailed(
            "Please correct these fields: currency.", {"currency": [CURRENCY_MESSAGE]}
        )
    requisition = application.requisition
    offer = offer_for(application)
    before = snapshot(offer) if offer else None
    if offer is None:
        offer = Offer(
            application_id=application.id,
            salary=salary,
            currency=currency or requisition.currency,
            start_date=start_date,
        )
        db.session.add(offer)
    elif offer.status == OfferStatus.EXTENDED:
        raise GuardrailRefused("This offer was already sent in writing; it cannot be changed here.")
    else:
        for approval in offer.approvals:
            if approval.decision in (Decision.PENDING, Decision.APPROVED):
                approval.decision = Decision.SUPERSEDED
        offer.salary, offer.start_date = salary, start_date
        offer.currency = currency or offer.currency
    offer.status = OfferStatus.PENDING_APPROVAL
    db.session.flush()
    request_approval(actor, requisition, ApprovalKind.OFFER, approver_id, due_date, offer=offer)
    if not requisition.salary_in_band(salary):
        request_approval(
            actor,
            requisition,
            ApprovalKind.COMPENSATION,
            compensation_approver_id or approver_id,
            due_date,
            offer=offer,
        )
    if application.stage == Stage.OFFER_APPROVED:
        change_stage(
            actor,
            application,
            Stage.VERBAL_INTENT,
            note="Offer terms changed: approval requested again.",
        )
    record_change(
        actor, "offer.propose" if before is None else "offer.change", offer, before=before
    )
    return offer


def mark_extended(application: Application) -> None:
    """Record that the approved offer went out in writing."""
    offer = offer_for(application)
    if offer is not None and offer.status == OfferStatus.APPROVED:
        offer.status = OfferStatus.EXTENDED


def pending_offer_approvals(offer: Offer) -> list[Approval]:
    return [a for a in offer.approvals if a.decision == Decision.PENDING]
