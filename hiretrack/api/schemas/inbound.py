"""The shapes of inbound mail: what a received message became."""

from datetime import datetime

from pydantic import Field

from hiretrack.api.schemas.base import Id, Output, PageQuery, UtcDatetime
from hiretrack.inbound.models import InboundKind, InboundStatus, MatchedBy


class AttachmentOut(Output):
    """An attachment as HireTrack records it: described, never kept."""

    name: str
    size: int
    content_type: str


class InboundOut(Output):
    """One received message: what it was, what it matched, and its new text."""

    id: int
    kind: InboundKind
    status: InboundStatus
    application_id: int | None
    outbox_id: int | None = Field(description="The email of ours it answers or reports on.")
    touchpoint_id: int | None = Field(description="The inbound contact it became, if it counted.")
    matched_by: MatchedBy | None
    counted: bool = Field(description="Whether it counted as the candidate's contact.")
    received_at: datetime
    sent_at: datetime | None
    from_address: str
    from_name: str
    subject: str
    text: str = Field(description="The new text: quoted history and signature removed.")
    attachments: list[AttachmentOut]
    size_bytes: int
    automatic_reason: str
    note: str
    report_status: str | None
    report_diagnostic: str | None


class InboundQuery(PageQuery):
    kind: InboundKind | None = None
    application_id: Id | None = None
    since: UtcDatetime | None = Field(default=None, description="Received at or after.")
