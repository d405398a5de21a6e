"""Candidates (people), their applications (candidacies), stage history and touchpoints."""

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hiretrack.auth.models import User
from hiretrack.candidates.stages import FINAL_STAGES, LABELS, Stage
from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.requisitions.models import Requisition


class Candidate(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    anonymised_at: Mapped[datetime | None]
    # Set when the recipient's server refused an email to this address for good (a bounce);
    # cleared when the address changes.
    email_bounced_at: Mapped[datetime | None]
    email_bounce_reason: Mapped[str | None] = mapped_column(String(500))
    version: Mapped[int] = mapped_column(default=1)

    applications: Mapped[list["Application"]] = relationship(back_populates="candidate")

    __mapper_args__ = {"version_id_col": version}

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name and self.name.split() else ""


class Application(db.Model):
    """One candidate's candidacy for one requisition.

    The contact columns (last_contact_at and friends) are kept current by the touchpoint service in
    the same transaction as each touchpoint, so cadence queries read one row per application
    instead of aggregating the touchpoint history.
    """

    __table_args__ = (
        UniqueConstraint("candidate_id", "requisition_id"),
        Index("ix_application_requisition_closed", "requisition_id", "closed_at"),
        Index("ix_application_closed_stage", "closed_at", "stage"),
        # The stored cadence dates behind "closed_at IS NULL" (open applications): the dashboard's
        # order within a status, the ghosted, and the API's id order, each with the other dates
        # a status needs, so pages and counts per status read an index alone. Not partial
        # indexes: SQLite prefers ix_application_closed_stage to a partial one and then reads
        # every open row; a closed_at prefix it takes for what it is.
        Index(
            "ix_application_open_due",
            "closed_at",
            "next_update_due",
            "silent_since",
            "id",
            "ghosted_on",
            "due_from",
        ),
        Index("ix_application_open_ghosted", "closed_at", "ghosted_on"),
        Index(
            "ix_application_open_id", "closed_at", "id", "next_update_due", "ghosted_on", "due_from"
        ),
        # The same orders for PostgreSQL, which cannot read an order from an index led by
        # closed_at (IS NULL is no equality to it): it walked the primary key past 295,000
        # closed applications for the API's first page of overdue ones (41 ms at 400,000).
        Index(
            "ix_application_open_by_id",
            "id",
            "next_update_due",
            "ghosted_on",
            "due_from",
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
        Index(
            "ix_application_open_by_due",
            "next_update_due",
            "silent_since",
            "id",
            "ghosted_on",
            "due_from",
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidate.id"), index=True)
    requisition_id: Mapped[int] = mapped_column(ForeignKey("requisition.id"))
    stage: Mapped[str] = mapped_column(String(30), default=Stage.INTERVIEWING)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    stage_entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_interview_on: Mapped[date | None]
    closed_at: Mapped[datetime | None]
    # Last outbound contact that reached the candidate (delivered email, call, meeting).
    last_contact_at: Mapped[datetime | None]
    # Last time the candidate reached out to us.
    last_inbound_at: Mapped[datetime | None]
    # The next update we promised in our last outbound contact.
    promised_next_update: Mapped[date | None]
    # Set when something happened that the candidate must hear about (e.g. a hold was placed).
    update_requested_at: Mapped[datetime | None]
    # Stored cadence dates (see hiretrack.cadence.stored): computed when something happens, so a
    # status is a comparison with today. None once the application is closed.
    # The tallied ones load their old value when set, for the cadence tally's change.
    next_update_due: Mapped[date | None] = mapped_column(active_history=True)
    due_from: Mapped[date | None]
    ghosted_on: Mapped[date | None] = mapped_column(active_history=True)
    silent_since: Mapped[date | None] = mapped_column(active_history=True)
    # Ever silent past twice the cadence: kept for the closure ledger once the application closes.
    was_ghosted: Mapped[bool] = mapped_column(default=False)
    version: Mapped[int] = mapped_column(default=1)

    candidate: Mapped[Candidate] = relationship(back_populates="applications")
    requisition: Mapped[Requisition] = relationship()
    stage_changes: Mapped[list["StageChange"]] = relationship(
        back_populates="application", order_by="StageChange.changed_at"
    )
    touchpoints: Mapped[list["Touchpoint"]] = relationship(
        back_populates="application", order_by="Touchpoint.created_at"
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_open(self) -> bool:
        return self.stage not in FINAL_STAGES

    @property
    def stage_label(self) -> str:
        return LABELS[Stage(self.stage)]


class StageChange(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), index=True)
    from_stage: Mapped[str | None] = mapped_column(String(30))
    to_stage: Mapped[str] = mapped_column(String(30))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    note: Mapped[str] = mapped_column(Text, default="")

    application: Mapped[Application] = relationship(back_populates="stage_changes")
    changed_by: Mapped[User | None] = relationship()


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Channel(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    MEETING = "meeting"
    OTHER = "other"


#: How each contact channel is named on the pages.
CHANNEL_LABELS = {
    Channel.PHONE: "Phone call",
    Channel.MEETING: "Meeting (in person or video)",
    Channel.EMAIL: "Email",
    Channel.OTHER: "Other",
}


class Touchpoint(db.Model):
    """A contact with the candidate, either way; outbound email counts once it is delivered."""

    __table_args__ = (
        Index("ix_touchpoint_application_created", "application_id", "created_at"),
        # Partial indexes: each holds the few rows one query looks for among a million. Their
        # conditions are written as the queries compile them, so each database can use them.
        # The closure ledger finds each application's closure touchpoints, and which to report
        # (delivered first, then the earliest) from the index alone.
        Index(
            "ix_touchpoint_closure_application",
            "application_id",
            "outbox_email_id",
            "occurred_at",
            "created_at",
            sqlite_where=text("is_closure IS 1"),
            postgresql_where=text("is_closure IS true"),
        ),
        # The reminders run finds outbound promises not yet recorded as broken.
        Index(
            "ix_touchpoint_pending_promise",
            "promised_next_update",
            sqlite_where=text("promise_broken_on IS NULL AND direction = 'outbound'"),
            postgresql_where=text("promise_broken_on IS NULL AND direction = 'outbound'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"))
    direction: Mapped[str] = mapped_column(String(10))
    channel: Mapped[str] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(Text, default="")
    promised_next_update: Mapped[date | None]
    is_closure: Mapped[bool] = mapped_column(default=False)
    outbox_email_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_email.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When it reached the candidate: at once for a call, on delivery for an email.
    occurred_at: Mapped[datetime | None]
    # Set by the reminders run when the promised date passed with no contact.
    promise_broken_on: Mapped[date | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    application: Mapped[Application] = relationship(back_populates="touchpoints")
    created_by: Mapped[User | None] = relationship()
    outbox_email: Mapped["OutboxEmail | None"] = relationship()  # noqa: F821
