"""The closure ledger: applications closed in the period, and whether each candidate was told."""

from datetime import date

from sqlalchemy import and_, case, func, literal, or_, select, true
from sqlalchemy.orm import aliased

from hiretrack.admin.models import Department
from hiretrack.auth.access import report_requisitions
from hiretrack.auth.models import User
from hiretrack.candidates.models import Application, Candidate, Channel, Touchpoint
from hiretrack.candidates.stages import CLOSED_OUTCOMES, LABELS
from hiretrack.database import utcnow
from hiretrack.messages.models import OutboxEmail, OutboxStatus
from hiretrack.reports.conditions import (
    department_condition,
    happened_within,
    ready_calendar,
    total,
)
from hiretrack.reports.sql import CalendarLookup, Sections, percentiles, ratio_percent
from hiretrack.reports.tables import Chart, Column, Kind, Report, ReportFilters, Table
from hiretrack.requisitions.models import Requisition
from hiretrack.sqltypes import as_utc_date
from hiretrack.status.models import UpdateFeedback

TITLE = "Closure ledger"

OUTCOMES = {stage.value: LABELS[stage] for stage in CLOSED_OUTCOMES}
CLOSURE_STATES = {
    "delivered": "Delivered",
    OutboxStatus.SCHEDULED.value: "Email scheduled, not yet delivered",
    OutboxStatus.QUEUED.value: "Email queued, not yet delivered",
    OutboxStatus.SENDING.value: "Email being sent, not yet confirmed",
    OutboxStatus.FAILED.value: "Email delivery failed",
    OutboxStatus.BOUNCED.value: "Email bounced",
    OutboxStatus.UNCONFIRMED.value: "Email delivery unconfirmed",
    OutboxStatus.CANCELLED.value: "Email cancelled",
    OutboxStatus.WITHDRAWN.value: "Email withdrawn (no longer true when due)",
    "none": "No closure recorded",
}
CHANNELS = {channel.value: channel.value.capitalize() for channel in Channel}

OUTCOME = Column("outcome", "Outcome", Kind.CODE, OUTCOMES)
SUMMARY_COLUMNS = (
    Column("closed", "Applications closed", Kind.INT),
    Column("delivered", "With delivered closure", Kind.INT),
    Column("delivered_percent", "Share with delivered closure (%)", Kind.PERCENT),
    Column(
        "median_business_days_to_closure",
        "Median business days, last interview to closure",
        Kind.DECIMAL,
    ),
    Column("ghosted_at_some_point", "Ghosted at some point", Kind.INT),
    Column("feedback_answers", "Feedback answers", Kind.INT),
    Column("useful_percent", "Found our updates useful (%)", Kind.PERCENT),
)
LEDGER_COLUMNS = (
    Column("application_id", "Application id", Kind.INT, on_page=False),
    Column("candidate_id", "Candidate id", Kind.INT, on_page=False),
    Column("candidate", "Candidate", link=("candidates.detail", "candidate_id", "candidate_id")),
    Column("requisition", "Requisition"),
    Column("department", "Department"),
    OUTCOME,
    Column("closed_at", "Closed on", Kind.DATETIME),
    Column("closure_delivered", "Closure delivered", Kind.BOOL),
    Column("closure_state", "Closure message", Kind.CODE, CLOSURE_STATES),
    Column("channel", "Closure channel", Kind.CODE, CHANNELS),
    Column("closed_by", "Closure sent or recorded by"),
    Column("delivered_at", "Delivered", Kind.DATETIME),
    Column("business_days_to_closure", "Business days, last interview to closure", Kind.INT),
    Column("was_ghosted", "Was ghosted", Kind.BOOL),
    Column("feedback_answers", "Feedback answers", Kind.INT),
    Column("feedback_useful", "Said updates were useful", Kind.INT),
)


def closure_report(user: User, filters: ReportFilters, today: date | None = None) -> Report:
    """Applications closed in the period, by outcome, and whether each candidate got closure.

    A closure counts as delivered when a closure email was sent (status 'sent', not only queued)
    or a closure was recorded another way (a call, a meeting). Days to closure run from the last
    interview (else the application's opening) to the closing, in business days.

    Two statements: the ledger, streamed (as long as the period makes it), and the summaries by
    outcome and in total, both from one pass over the closed applications' few columns they
    need (sharing the ledger itself would cost more: it is wide, and cheap to recompute).
    """
    today = today or utcnow().date()
    ready_calendar(today)
    closed_in_period = and_(
        Application.stage.in_(list(OUTCOMES)),
        Application.closed_at.is_not(None),
        happened_within(Application.closed_at, filters),
    )
    closed = and_(closed_in_period, report_requisitions(user), department_condition(filters))
    days, figures = _closure_figures()
    ledger = _ledger(closed, _chosen_closure(closed_in_period), days, figures)
    sections = _summaries(_closed_applications(closed, days, figures))
    return Report(
        name="closure",
        title=TITLE,
        summary=(
            "Every application closed in the period, and whether the candidate was actually "
            "told: a closure email counts once it was delivered, not when it was queued."
        ),
        filters=filters,
        today=today,
        tables=(
            Table(
                "applications",
                "Applications closed in the period",
                LEDGER_COLUMNS,
                ledger.order_by(Application.closed_at.desc(), Application.id.desc()),
                paged=True,
            ),
            sections.table("by_outcome", "By outcome", (OUTCOME, *SUMMARY_COLUMNS)),
            sections.table("totals", "Totals", SUMMARY_COLUMNS, single_row=True),
        ),
        chart=Chart(
            "by_outcome",
            "Closures and delivered closure messages, by outcome",
            "For each outcome, how many applications closed in the period and how many of "
            "those candidates were sent or told their closure.",
            group="outcome",
            bars=("closed", "delivered"),
            unit=("application", "applications"),
        ),
        period_note="Applications closed in the period (hires are not in the ledger: they "
        "got an offer, not a closure).",
    )


def _closure_delivered(touchpoint, email):
    """SQL condition: a closure touchpoint reached the candidate (its email was sent, or it was
    given another way and recorded)."""
    return or_(touchpoint.outbox_email_id.is_(None), email.status == OutboxStatus.SENT.value)


def _chosen_closure(closed_in_period):
    """Step 1, `chosen_closure`: the closure touchpoint each ledger row reports.

    The first delivered one, else the first made. Chosen per application in a derived table of
    application alone (SQLite flattens it into the ledger), then joined by its key: joined on
    the choice itself, PostgreSQL hashed the whole touchpoint table to find 6,000 rows.
    """
    candidate_touchpoint = aliased(Touchpoint, name="candidate_closure")
    candidate_email = aliased(OutboxEmail, name="candidate_closure_email")
    candidate_delivered = _closure_delivered(candidate_touchpoint, candidate_email)
    chosen_touchpoint = (
        select(candidate_touchpoint.id)
        .outerjoin(candidate_email, candidate_email.id == candidate_touchpoint.outbox_email_id)
        .where(
            candidate_touchpoint.application_id == Application.id,
            candidate_touchpoint.is_closure.is_(True),
        )
        .order_by(
            case((candidate_delivered, 0), else_=1),
            func.coalesce(
                case(
                    (
                        candidate_delivered,
                        func.coalesce(candidate_email.sent_at, candidate_touchpoint.occurred_at),
                    )
                ),
                candidate_touchpoint.created_at,
            ),
            candidate_touchpoint.id,
        )
        .limit(1)
        .correlate(Application)
        .scalar_subquery()
    )
    return (
        select(Application.id.label("application_id"), chosen_touchpoint.label("touchpoint_id"))
        .where(closed_in_period)
        .subquery("chosen_closure")
    )


def _closure_figures() -> tuple[CalendarLookup, tuple]:
    """The figures both the ledger and the summaries show for each closed application."""
    days = CalendarLookup()
    days.day(
        "last_interview",
        func.coalesce(Application.last_interview_on, as_utc_date(Application.opened_at)),
    )
    days.day("closed", as_utc_date(Application.closed_at))
    business_days_to_closure = days.between("last_interview", "closed").label(
        "business_days_to_closure"
    )
    was_ghosted = case((Application.was_ghosted.is_(True), 1), else_=0).label("was_ghosted")
    # At most one answer per application (a unique key): a join, not a count.
    feedback_answers = case((UpdateFeedback.id.is_not(None), 1), else_=0).label("feedback_answers")
    feedback_useful = case((UpdateFeedback.useful.is_(True), 1), else_=0).label("feedback_useful")
    return days, (business_days_to_closure, was_ghosted, feedback_answers, feedback_useful)


def _ledger(closed, chosen, days: CalendarLookup, figures: tuple):
    """Step 2, the ledger: one wide row per closed application, with its chosen closure."""
    closure = aliased(Touchpoint, name="closure_touchpoint")
    closure_email = aliased(OutboxEmail, name="closure_email")
    closure_sender = aliased(User, name="closure_sender")
    is_delivered = and_(closure.id.is_not(None), _closure_delivered(closure, closure_email))
    return days.joined(
        select(
            Application.id.label("application_id"),
            Candidate.id.label("candidate_id"),
            Candidate.name.label("candidate"),
            Requisition.title.label("requisition"),
            Department.name.label("department"),
            Application.stage.label("outcome"),
            Application.closed_at.label("closed_at"),
            case((is_delivered, 1), else_=0).label("closure_delivered"),
            case(
                (is_delivered, literal("delivered")),
                else_=func.coalesce(closure_email.status, "none"),
            ).label("closure_state"),
            case((is_delivered, closure.channel)).label("channel"),
            case((is_delivered, func.coalesce(closure_sender.name, "HireTrack"))).label(
                "closed_by"
            ),
            case((is_delivered, func.coalesce(closure_email.sent_at, closure.occurred_at))).label(
                "delivered_at"
            ),
            *figures,
        )
        .join(Candidate, Candidate.id == Application.candidate_id)
        .join(Requisition, Requisition.id == Application.requisition_id)
        .join(Department, Department.id == Requisition.department_id)
        .outerjoin(chosen, chosen.c.application_id == Application.id)
        .outerjoin(closure, closure.id == chosen.c.touchpoint_id)
        .outerjoin(closure_email, closure_email.id == closure.outbox_email_id)
        .outerjoin(closure_sender, closure_sender.id == closure.created_by_id)
        .outerjoin(UpdateFeedback, UpdateFeedback.application_id == Application.id)
        .where(closed)
    )


def _closed_applications(closed, days: CalendarLookup, figures: tuple):
    """Step 3, `closed_applications`: the few columns the summaries need, once per application.

    Only whether closure was delivered, not which touchpoint or by whom.
    """
    any_touchpoint = aliased(Touchpoint, name="any_closure")
    any_email = aliased(OutboxEmail, name="any_closure_email")
    delivered_closure = (
        select(any_touchpoint.id)
        .outerjoin(any_email, any_email.id == any_touchpoint.outbox_email_id)
        .where(
            any_touchpoint.application_id == Application.id,
            any_touchpoint.is_closure.is_(True),
            _closure_delivered(any_touchpoint, any_email),
        )
        .correlate(Application)
        .exists()
    )
    return days.joined(
        select(
            Application.stage.label("outcome"),
            case((delivered_closure, 1), else_=0).label("closure_delivered"),
            *figures,
        )
        .join(Requisition, Requisition.id == Application.requisition_id)
        .outerjoin(UpdateFeedback, UpdateFeedback.application_id == Application.id)
        .where(closed)
    ).cte("closed_applications")


def _summaries(base) -> Sections:
    """Step 4: the figures by outcome and in total, with the median days to closure."""
    median = {"median_business_days_to_closure": 0.5}
    per_outcome_median = percentiles(
        base, "business_days_to_closure", median, group_by=["outcome"]
    ).subquery("outcome_median")
    overall_median = percentiles(base, "business_days_to_closure", median).subquery(
        "overall_median"
    )

    def aggregates():
        return (
            func.count().label("closed"),
            total(base.c.closure_delivered).label("delivered"),
            ratio_percent(total(base.c.closure_delivered), func.count()).label("delivered_percent"),
            total(base.c.was_ghosted).label("ghosted_at_some_point"),
            total(base.c.feedback_answers).label("feedback_answers"),
            ratio_percent(total(base.c.feedback_useful), func.sum(base.c.feedback_answers)).label(
                "useful_percent"
            ),
        )

    grouped = select(base.c.outcome, *aggregates()).group_by(base.c.outcome).subquery("by_outcome")
    by_outcome = select(grouped, per_outcome_median.c.median_business_days_to_closure).outerjoin(
        per_outcome_median, per_outcome_median.c.outcome == grouped.c.outcome
    )
    total_counts = select(*aggregates()).subquery("closure_totals")
    totals = select(total_counts, overall_median.c.median_business_days_to_closure).join(
        overall_median, true()
    )
    return Sections(
        {
            "by_outcome": (by_outcome, (grouped.c.closed.desc(), grouped.c.outcome)),
            "totals": (totals, ()),
        }
    )
