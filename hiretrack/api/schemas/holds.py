"""API v1 shapes: holds and the drafts they prepare."""

from datetime import date, datetime
from enum import StrEnum

from pydantic import Field

from hiretrack.api.schemas.base import (
    Id,
    MultiLineText,
    Note,
    Output,
    PageQuery,
    RequestBody,
    Text,
    Version,
)
from hiretrack.candidates.stages import Stage
from hiretrack.holds.models import HoldOutcome, HoldReason
from hiretrack.messages.models import DraftStatus, OutboxStatus, TemplateCategory


class HoldStatus(StrEnum):
    OPEN = "open"
    OVERDUE = "overdue"
    RESOLVED = "resolved"


class HoldOut(Output):
    """Something stopping an offer from going out, with its owner and expected clear date."""

    id: int
    requisition_id: int
    application_id: int | None
    reason: HoldReason
    summary: str
    public_reason: str = Field(description="The only words about the hold a candidate sees.")
    internal_notes: str
    owner_id: int | None
    owner_name: str = Field(description="The owning user's name, or the name given for the owner.")
    opened_at: datetime
    expected_clear_date: date | None
    resolved_at: datetime | None
    outcome: HoldOutcome | None
    resolution_note: str
    public_cancellation_reason: str = Field(
        description="What candidates are told about a cancellation."
    )
    status: HoldStatus
    version: int


class HoldBrief(Output):
    """A hold as listed on an application it blocks."""

    id: int
    reason: HoldReason
    summary: str
    expected_clear_date: date | None
    overdue: bool


class HoldCreate(RequestBody):
    reason: HoldReason
    summary: Text(300, 1) = Field(description="For your team; candidates never see it.")
    public_reason: MultiLineText(300) = Field(
        default="", description="What candidates may be told."
    )
    owner_id: Id | None = Field(default=None, description="The user who owns the hold, or ...")
    owner_name: Text(200) | None = Field(
        default=None, description="... a name for an owner outside HireTrack ('Head office')."
    )
    expected_clear_date: date | None = None
    internal_notes: Note = ""


class HoldResolve(RequestBody):
    outcome: HoldOutcome
    note: Note = ""
    public_cancellation_reason: Text(300) = Field(
        default="",
        description="When cancelled: what the closures may tell candidates about the ending "
        "(the hold's public reason described a wait and is not reused).",
    )
    version: Version = None


class HoldQuery(PageQuery):
    status: HoldStatus | None = None
    requisition_id: Id | None = None


class DraftOut(Output):
    """A personalised message prepared for review; nothing is sent until it is confirmed."""

    id: int
    application_id: int
    candidate_id: int
    candidate_name: str
    template: str = Field(description="The template's slug.")
    category: TemplateCategory
    hold_id: int | None
    subject: str | None = Field(description="An edited subject, or null to use the template's.")
    body: str | None = Field(description="An edited body, or null to use the template's.")
    promised_next_update: date | None
    status: DraftStatus
    created_at: datetime
    sent_at: datetime | None
    outbox_id: int | None


class HoldWithDrafts(Output):
    """A hold and the drafts its placing or resolving prepared, one per stranded candidate."""

    hold: HoldOut
    drafts: list[DraftOut]


class DraftQuery(PageQuery):
    status: DraftStatus = DraftStatus.PENDING
    hold_id: Id | None = None
    requisition_id: Id | None = None


class DraftSend(RequestBody):
    ids: list[Id] = Field(min_length=1, max_length=500)


class DraftSent(Output):
    draft_id: int
    status: DraftStatus
    application_id: int
    application_stage: Stage
    touchpoint_id: int
    outbox_id: int
    outbox_status: OutboxStatus


class DraftsSent(Output):
    """Every draft was sent (a failing draft stops the whole batch with 422 instead)."""

    sent: int
    results: list[DraftSent]
