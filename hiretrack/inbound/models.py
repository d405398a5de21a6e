"""Mail that came back: replies, automatic answers, delivery reports, and what matched nothing."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hiretrack.database import utcnow
from hiretrack.extensions import db


class InboundKind(StrEnum):
    """What a received message is (the `kind` of `GET /api/v1/inbound`)."""

    REPLY = "reply"  # the candidate speaking: the manager owes an answer
    AUTO_REPLY = "auto_reply"  # an out-of-office or other automatic answer: not contact
    BOUNCE = "bounce"  # a permanent delivery failure: the candidate was not informed
    DELAY = "delay"  # a delivery delayed report: recorded only
    UNMATCHED = "unmatched"  # nothing matched: waits on the "Unmatched mail" page


KIND_LABELS = {
    InboundKind.REPLY: "Reply",
    InboundKind.AUTO_REPLY: "Automatic answer",
    InboundKind.BOUNCE: "Bounce",
    InboundKind.DELAY: "Delivery delayed",
    InboundKind.UNMATCHED: "Unmatched",
}


class InboundStatus(StrEnum):
    """Where a received message stands."""

    RECORDED = "recorded"  # matched and applied when it arrived
    OPEN = "open"  # unmatched: a recruiter or admin must attach or discard it
    ATTACHED = "attached"  # unmatched at first, attached to an application by a person
    DISCARDED = "discarded"  # unmatched, judged irrelevant by a person


class MatchedBy(StrEnum):
    """How a message was tied to an application."""

    TOKEN = "token"  # the reply token in the plus-addressed tracking address
    IN_REPLY_TO = "in_reply_to"  # In-Reply-To names one of our Message-IDs
    REFERENCES = "references"  # References names one of our Message-IDs
    ORIGINAL_MESSAGE = "original_message"  # a delivery report quoting our Message-ID
    SENDER = "sender"  # the sender is a candidate with exactly one open application
    PERSON = "person"  # attached by a recruiter or admin on the Unmatched mail page


class InboundMessage(db.Model):
    """One received message, stored as its new text and a few headers, never as raw MIME.

    `fingerprint` (a hash of the Message-ID, or of the bytes when there is none) is unique, so
    the same message fetched twice, by two workers or through both doors, is recorded once.
    """

    __table_args__ = (
        Index("ix_inbound_message_received", "received_at", "id"),
        Index("ix_inbound_message_status_received", "status", "received_at"),
        Index("ix_inbound_message_application", "application_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(10))  # imap | api
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("application.id"))
    # The email of ours it answers or reports on, when known.
    outbox_email_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_email.id"), index=True)
    # The inbound contact it became (replies to open applications only).
    touchpoint_id: Mapped[int | None] = mapped_column(ForeignKey("touchpoint.id"))
    matched_by: Mapped[str | None] = mapped_column(String(20))
    # Whether it counted as the candidate's contact (made the application due).
    counted: Mapped[bool] = mapped_column(default=False)
    from_address: Mapped[str] = mapped_column(String(254), default="")
    from_name: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(String(300), default="")
    message_id: Mapped[str] = mapped_column(String(300), default="")
    sent_at: Mapped[datetime | None]  # the Date header, when it parses
    size_bytes: Mapped[int] = mapped_column(default=0)
    # The new text only: quoted history and signature removed, HTML reduced to text.
    body_text: Mapped[str] = mapped_column(Text, default="")
    # [{"name", "size", "content_type"}]: attachments are never stored, only described.
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Why it looks automatic (an Auto-Submitted header, an out-of-office subject ...); "" if not.
    automatic_reason: Mapped[str] = mapped_column(String(200), default="")
    # Why it was recorded the way it was (closed application, unknown token, too large ...).
    note: Mapped[str] = mapped_column(Text, default="")
    # Delivery reports: the recipient, its status code (5.1.1) and the remote server's words.
    report_recipient: Mapped[str | None] = mapped_column(String(254))
    report_status: Mapped[str | None] = mapped_column(String(20))
    report_diagnostic: Mapped[str | None] = mapped_column(Text)
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    handled_at: Mapped[datetime | None]

    application: Mapped["Application | None"] = relationship()  # noqa: F821
    outbox_email: Mapped["OutboxEmail | None"] = relationship()  # noqa: F821

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[InboundKind(self.kind)]
