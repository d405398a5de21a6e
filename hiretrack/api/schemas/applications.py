"""API v1 shapes: candidates, applications, touchpoints, emails and offers."""

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field

from hiretrack.api.schemas.base import (
    INT_MAX,
    Currency,
    Id,
    MultiLineText,
    Note,
    Output,
    PageQuery,
    RequestBody,
    Slug,
    Text,
    UtcDatetime,
    Version,
)
from hiretrack.api.schemas.holds import HoldBrief
from hiretrack.api.schemas.requisitions import ApprovalOut
from hiretrack.cadence.queries import CadenceStatus
from hiretrack.candidates.models import Channel, Direction
from hiretrack.candidates.stages import Stage
from hiretrack.messages.models import OutboxStatus
from hiretrack.offers.models import OfferStatus


class CandidateOut(Output):
    id: int
    name: str
    email: str | None = Field(description="Null once the candidate's data was anonymised.")
    phone: str | None
    created_at: datetime
    anonymised_at: datetime | None
    version: int


class CandidateCreate(RequestBody):
    name: Text(200, 1)
    email: Text(254, 1)
    phone: Text(40) | None = None


class CandidateUpdate(RequestBody):
    """Only the fields you send change."""

    name: Text(200, 1) = None
    email: Text(254, 1) = None
    phone: Text(40) | None = None
    version: Version = None


class CandidateQuery(PageQuery):
    email: Text(254) | None = Field(default=None, description="Exact address, any case.")


class CandidateAnonymise(RequestBody):
    """Why the candidate's data is removed: a fixed list, so the audit log holds no free text."""

    reason: Literal["candidate_request", "retention", "other"] = Field(
        default="candidate_request",
        description="candidate_request (they asked), retention (the period passed) or other.",
    )


class ApplicationOut(Output):
    """One candidate's candidacy for one requisition, with where it stands on cadence."""

    id: int
    candidate_id: int
    candidate_name: str
    requisition_id: int
    requisition_title: str
    stage: Stage
    stage_label: str
    open: bool
    opened_at: datetime
    stage_entered_at: datetime
    closed_at: datetime | None
    last_contact_at: datetime | None = Field(
        description="Last outbound contact that reached the candidate."
    )
    last_inbound_at: datetime | None
    promised_next_update: date | None
    cadence: CadenceStatus | None = Field(description="Null once the application is closed.")
    next_update_due: date | None
    business_days_silent: int | None
    open_holds: list[HoldBrief]
    allowed_next_stages: list[Stage]
    version: int


class ApplicationCreate(RequestBody):
    candidate_id: Id
    requisition_id: Id
    stage: Stage = Field(
        default=Stage.INTERVIEWING,
        description="A new application starts at `interviewing` or `final_round`.",
    )


class ApplicationQuery(PageQuery):
    requisition_id: Id | None = None
    candidate_id: Id | None = None
    stage: Stage | None = None
    cadence: CadenceStatus | None = Field(
        default=None, description="Only open applications have a cadence status."
    )
    open: bool | None = None


class ClosureIn(RequestBody):
    """How the candidate was told, for a closure given outside email (e.g. a phone call)."""

    channel: Channel
    note: MultiLineText(5000, 1)


class TransitionIn(RequestBody):
    to: Stage
    note: Note = ""
    closure: ClosureIn | None = Field(
        default=None,
        description="Needed to close without a closure email: how the candidate was told.",
    )
    version: Version = None


class TouchpointOut(Output):
    id: int
    application_id: int
    direction: Direction
    channel: Channel
    note: str
    promised_next_update: date | None
    is_closure: bool
    outbox_id: int | None
    created_at: datetime
    occurred_at: datetime | None = Field(
        description="When it reached the candidate: at once for a call, on delivery for an email."
    )
    created_by_id: int | None


class TouchpointCreate(RequestBody):
    direction: Direction
    channel: Channel
    note: Note = ""
    promised_next_update: date | None = None


class OutboxOut(Output):
    """One email to one recipient, sent later by the delivery worker."""

    id: int
    application_id: int | None
    template_id: int | None
    category: str | None
    to_address: str
    to_name: str
    subject: str
    status: OutboxStatus
    send_after: datetime | None
    next_attempt_at: datetime
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    created_at: datetime
    message_id: str
    hold_id: int | None = Field(description="The hold the message speaks of, if any.")
    written_at_stage: str | None = Field(
        description="The application's stage when the message was written."
    )
    withdrawn_at: datetime | None = Field(
        description="When delivery found the message no longer true and withdrew it."
    )
    withdrawn_reason: str | None = Field(description="Why it was withdrawn, in plain words.")


class OutboxQuery(PageQuery):
    status: OutboxStatus | None = None
    application_id: Id | None = None


class MessageSend(RequestBody):
    template: Slug = Field(description="The template's slug.")
    subject: Text(1000) | None = Field(default=None, description="Replace the subject.")
    body: MultiLineText(20000) | None = Field(default=None, description="Replace the body.")
    promised_next_update: date | None = None
    send_at: UtcDatetime | None = Field(
        default=None, description="Schedule for later; it can be cancelled until it goes out."
    )


class MessageSent(Output):
    touchpoint: TouchpointOut
    outbox: OutboxOut
    application: ApplicationOut


class OfferOut(Output):
    id: int
    application_id: int
    salary: int
    currency: str
    start_date: date | None
    status: OfferStatus
    created_at: datetime
    version: int
    approvals: list[ApprovalOut]


class OfferPropose(RequestBody):
    salary: Annotated[int, Field(ge=1, le=INT_MAX)]
    approver_id: Id
    currency: Currency | None = None
    start_date: date | None = None
    due_date: date | None = None
    compensation_approver_id: Id | None = Field(
        default=None, description="Asked when the salary is outside the band (default: approver)."
    )
