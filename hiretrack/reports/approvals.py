"""The approval bottleneck report: per approver, what is pending and how long decisions take."""

from datetime import date

from sqlalchemy import and_, case, func, or_, select, true

from hiretrack.approvals.models import Approval, Decision
from hiretrack.auth.access import report_approvals
from hiretrack.auth.models import User
from hiretrack.database import utcnow
from hiretrack.reports.conditions import (
    department_condition,
    happened_within,
    ready_calendar,
    total,
)
from hiretrack.reports.sql import business_days_between, hours_between, percentiles
from hiretrack.reports.tables import Chart, Column, Kind, Report, ReportFilters, Table
from hiretrack.requisitions.models import Requisition
from hiretrack.sqltypes import as_utc_date

TITLE = "Approval bottlenecks"

FIGURES = (
    Column("pending", "Pending", Kind.INT),
    Column("past_due", "Pending past due", Kind.INT),
    Column("oldest_pending_business_days", "Oldest pending (business days)", Kind.INT),
    Column("decided", "Decided in period", Kind.INT),
    Column("median_hours", "Median hours to decide", Kind.DECIMAL),
    Column("p90_hours", "90th percentile hours to decide", Kind.DECIMAL),
)


def approvals_report(user: User, filters: ReportFilters, today: date | None = None) -> Report:
    """Per approver: decisions pending and past due, and how long decisions took in the period.

    Times to decide are hours from the request to the decision, for decisions made in the
    period; the median and 90th percentile are continuous percentiles computed in SQL.
    """
    today = today or utcnow().date()
    ready_calendar(today)
    rows = _approval_rows(user, filters, today)
    approvers, totals = _per_approver_and_totals(rows)
    return Report(
        name="approvals",
        title=TITLE,
        summary=(
            "Who holds the decisions that hold up offers: what is pending and past due now, "
            "and how long decisions in the period took (hours from request to decision)."
        ),
        filters=filters,
        today=today,
        tables=(
            Table(
                "approvers",
                "Approvers, most past due first",
                (
                    Column("approver_id", "Approver id", Kind.INT, on_page=False),
                    Column("approver", "Approver"),
                    *FIGURES,
                ),
                approvers,
            ),
            Table("totals", "Totals", FIGURES, totals, single_row=True),
        ),
        chart=Chart(
            "approvers",
            "Pending approvals per approver",
            "For each approver, the approvals pending now and how many of those are past due.",
            group="approver",
            bars=("pending", "past_due"),
            unit=("approval", "approvals"),
        ),
        period_note="Pending figures are as of today; decision times cover decisions made in "
        "the period.",
    )


def _approval_rows(user: User, filters: ReportFilters, today: date):
    """Step 1, `approval_rows`: each approval pending now or decided in the period, flagged."""
    pending = Approval.decision == Decision.PENDING.value
    decided = and_(
        Approval.decision.in_([Decision.APPROVED.value, Decision.REJECTED.value]),
        Approval.decided_at.is_not(None),
        happened_within(Approval.decided_at, filters),
    )
    return (
        select(
            Approval.approver_id.label("approver_id"),
            User.name.label("approver_name"),
            case((pending, 1), else_=0).label("is_pending"),
            case((and_(pending, Approval.due_date < today), 1), else_=0).label("is_past_due"),
            case(
                (pending, business_days_between(as_utc_date(Approval.created_at), today)),
                else_=None,
            ).label("pending_business_days"),
            case((decided, 1), else_=0).label("is_decided"),
            case((decided, hours_between(Approval.created_at, Approval.decided_at))).label("hours"),
        )
        .join(Requisition, Requisition.id == Approval.requisition_id)
        .join(User, User.id == Approval.approver_id)
        .where(report_approvals(user), department_condition(filters), or_(pending, decided))
        .subquery("approval_rows")
    )


def _per_approver_and_totals(rows):
    """Step 2: the counts and decision-time percentiles per approver, and over everyone."""
    fractions = {"median_hours": 0.5, "p90_hours": 0.9}
    per_approver = percentiles(rows, "hours", fractions, group_by=["approver_id"]).subquery(
        "approver_percentiles"
    )
    overall = percentiles(rows, "hours", fractions).subquery("overall_percentiles")

    def counts():
        return (
            total(rows.c.is_pending).label("pending"),
            total(rows.c.is_past_due).label("past_due"),
            func.max(rows.c.pending_business_days).label("oldest_pending_business_days"),
            total(rows.c.is_decided).label("decided"),
        )

    grouped = (
        select(rows.c.approver_id, rows.c.approver_name.label("approver"), *counts())
        .group_by(rows.c.approver_id, rows.c.approver_name)
        .subquery("per_approver")
    )
    approvers = (
        select(grouped, per_approver.c.median_hours, per_approver.c.p90_hours)
        .outerjoin(per_approver, per_approver.c.approver_id == grouped.c.approver_id)
        .order_by(
            grouped.c.past_due.desc(),
            grouped.c.pending.desc(),
            grouped.c.approver,
            grouped.c.approver_id,
        )
    )
    totals_counts = select(*counts()).subquery("approval_totals")
    totals = select(totals_counts, overall.c.median_hours, overall.c.p90_hours).join(
        overall, true()
    )
    return approvers, totals
