"""Email templates with their versions, drafts awaiting review, and the outbox of emails to send."""

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Row, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hiretrack.auth.models import User
from hiretrack.candidates.stages import Stage
from hiretrack.database import utcnow
from hiretrack.extensions import db


class TemplateCategory(StrEnum):
    ACKNOWLEDGEMENT = "acknowledgement"
    DELAY = "delay"
    HOLD_NOTICE = "hold_notice"
    CHECK_IN = "check_in"
    MOVING_FORWARD = "moving_forward"
    OFFER_COVER = "offer_cover"
    CLOSURE_CANCELLED = "closure_cancelled"
    CLOSURE_NOT_SELECTED = "closure_not_selected"
    CLOSURE_WITHDRAWN = "closure_withdrawn"


CATEGORY_LABELS = {
    TemplateCategory.ACKNOWLEDGEMENT: "Acknowledgement",
    TemplateCategory.DELAY: "Delay: approval pending",
    TemplateCategory.HOLD_NOTICE: "Hold notice",
    TemplateCategory.CHECK_IN: "Still waiting: check-in",
    TemplateCategory.MOVING_FORWARD: "Good news: moving forward",
    TemplateCategory.OFFER_COVER: "Written offer cover",
    TemplateCategory.CLOSURE_CANCELLED: "Closure: position cancelled",
    TemplateCategory.CLOSURE_NOT_SELECTED: "Closure: not selected",
    TemplateCategory.CLOSURE_WITHDRAWN: "Closure: withdrawn",
}

#: Sending a template of these categories closes the application to the matching outcome.
CLOSURE_OUTCOMES = {
    TemplateCategory.CLOSURE_CANCELLED: Stage.POSITION_CANCELLED,
    TemplateCategory.CLOSURE_NOT_SELECTED: Stage.NOT_SELECTED,
    TemplateCategory.CLOSURE_WITHDRAWN: Stage.WITHDRAWN,
}


class EmailTemplate(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    category: Mapped[str] = mapped_column(String(30), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    promise_business_days: Mapped[int | None]
    # None: shared template owned by recruiters; set: a manager's personal variant.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    current_version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    owner: Mapped[User | None] = relationship()
    versions: Mapped[list["EmailTemplateVersion"]] = relationship(
        back_populates="template", order_by="EmailTemplateVersion.number.desc()"
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def category_label(self) -> str:
        return CATEGORY_LABELS[TemplateCategory(self.category)]


class EmailTemplateVersion(db.Model):
    __table_args__ = (UniqueConstraint("template_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("email_template.id"))
    number: Mapped[int]
    name: Mapped[str] = mapped_column(String(120))
    category: Mapped[str] = mapped_column(String(30))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    promise_business_days: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    change_note: Mapped[str] = mapped_column(String(300), default="")

    template: Mapped[EmailTemplate] = relationship(back_populates="versions")
    created_by: Mapped[User | None] = relationship()


class DraftStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DISCARDED = "discarded"


class Draft(db.Model):
    """A personalised message prepared for review (e.g. by a hold), sent only on confirmation."""

    __table_args__ = (Index("ix_draft_status_application", "status", "application_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"))
    template_id: Mapped[int] = mapped_column(ForeignKey("email_template.id"))
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("hold.id"), index=True)
    subject: Mapped[str | None] = mapped_column(String(300))  # None: render from the template
    body: Mapped[str | None] = mapped_column(Text)
    promised_next_update: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(20), default=DraftStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    sent_at: Mapped[datetime | None]
    outbox_email_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_email.id"))

    application: Mapped["Application"] = relationship()  # noqa: F821
    template: Mapped[EmailTemplate] = relationship()
    hold: Mapped["Hold | None"] = relationship()  # noqa: F821


class OutboxStatus(StrEnum):
    SCHEDULED = "scheduled"  # waits for send_after; can still be cancelled
    QUEUED = "queued"
    SENDING = "sending"  # claimed by a worker; the SMTP conversation may be under way
    SENT = "sent"
    FAILED = "failed"  # permanent failure, shown to the manager
    UNCONFIRMED = (
        "unconfirmed"  # a worker died mid-send: it may have gone out; never resent blindly
    )
    CANCELLED = "cancelled"
    BOUNCED = "bounced"  # accepted by the relay, then refused by the recipient's server (a DSN)
    # What it said was no longer true when it was due to go out (messages/premise.py): never sent.
    WITHDRAWN = "withdrawn"


#: Deliveries a person must look at: refused for good, bounced later, or possibly never sent.
FAILED_STATUSES = (OutboxStatus.FAILED, OutboxStatus.BOUNCED, OutboxStatus.UNCONFIRMED)


class OutboxEmail(db.Model):
    """One email to one recipient, sent by the delivery worker, never inside a web request."""

    # Every send changes a row's status twice (claimed, then sent), and PostgreSQL writes an
    # entry in each of the table's indexes for each change, except in a partial index whose
    # condition the new row does not meet. So on PostgreSQL the two indexes that serve only some
    # statuses hold only those rows: a send adds 6 index entries per change instead of 8. Their
    # queries name the status in their SQL text (not as a bound parameter), which PostgreSQL
    # needs to use a partial index in a plan it keeps. SQLite keeps full indexes.
    __table_args__ = (
        # The queue, in the order claims take it: a bulk send's messages share one
        # next_attempt_at, and without the id a claim sorted all of them for its LIMIT.
        Index(
            "ix_outbox_email_status_next_attempt",
            "status",
            "next_attempt_at",
            "id",
            postgresql_where=text(f"status = '{OutboxStatus.QUEUED.value}'"),
        ),
        # An application's messages; of one kind, newest first: the delivery check's "a newer
        # message of the same kind replaced it" (messages.premise).
        Index("ix_outbox_email_application_kind", "application_id", "category", "id"),
        # The outbox list, newest first (all of it, or one status), read in index order.
        Index("ix_outbox_email_created", "created_at", "id"),
        Index("ix_outbox_email_status_created", "status", "created_at", "id"),
        # The dashboard's failed deliveries, counted from the index alone.
        Index(
            "ix_outbox_email_status_application",
            "status",
            "application_id",
            postgresql_where=text(
                "status IN (" + ", ".join(f"'{status.value}'" for status in FAILED_STATUSES) + ")"
            ),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("application.id"))
    # Staff emails (reminder digests, question notices) have a user recipient instead.
    recipient_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    template_id: Mapped[int | None] = mapped_column(ForeignKey("email_template.id"))
    category: Mapped[str | None] = mapped_column(String(30))
    to_address: Mapped[str] = mapped_column(String(254))
    to_name: Mapped[str] = mapped_column(String(200), default="")
    from_address: Mapped[str] = mapped_column(String(254))
    # The manager, and with HIRETRACK_REPLY_ADDRESS the plus-addressed tracking address too.
    reply_to: Mapped[str | None] = mapped_column(String(1000))
    # Ties a reply (sent to replies+<token>@...) back to this message; candidate emails only.
    reply_token: Mapped[str | None] = mapped_column(String(32), unique=True)
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=OutboxStatus.QUEUED)
    send_after: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # What a candidate message was written for, checked again when it is due to go out: the hold
    # it speaks of and the application's stage then (its kind is `category`).
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("hold.id"))
    written_at_stage: Mapped[str | None] = mapped_column(String(30))
    withdrawn_at: Mapped[datetime | None]
    withdrawn_reason: Mapped[str | None] = mapped_column(String(500))

    application: Mapped["Application | None"] = relationship()  # noqa: F821


#: An outbox row as the delivery worker reads it: the entity, or a plain row of the table's
#: columns (what a claim returns), whose attributes have the same names.
OutboxRow = OutboxEmail | Row
