"""The approval-hold report: every hold, what it costs the candidates it strands, subtotalled.

Built as named steps: the cadence status of candidates on held requisitions
(`stranded_status`), one row per hold and candidate it strands (`stranded`), the figures per
hold (`per_hold`), the holds with their ages (`hold_rows`, a common table expression), and the
tables read from it in one statement (`Sections`).
"""

from datetime import date, timedelta

from sqlalchemy import and_, case, func, literal, or_, select, true
from sqlalchemy.orm import aliased

from hiretrack.admin.models import Department
from hiretrack.auth.access import report_holds
from hiretrack.auth.models import User
from hiretrack.cadence.queries import CadenceStatus, cadence_query
from hiretrack.candidates.models import Application
from hiretrack.candidates.stages import Stage
from hiretrack.database import utcnow
from hiretrack.holds.models import REASON_LABELS, Hold
from hiretrack.holds.queries import hold_stops
from hiretrack.reports.conditions import (
    count_if,
    department_condition,
    happened_within,
    start_of,
    today_literal,
    total,
)
from hiretrack.reports.sql import CalendarLookup, Sections, later_of
from hiretrack.reports.tables import Chart, Column, Kind, Report, ReportFilters
from hiretrack.requisitions.models import Requisition
from hiretrack.sqltypes import as_utc_date

TITLE = "Approval holds"

#: Written offers and verbal promises: the candidates most exposed to a stalled approval.
WRITTEN_OFFER_STAGES = (Stage.OFFER_EXTENDED.value, Stage.ACCEPTED.value)
VERBAL_STAGES = (Stage.VERBAL_INTENT.value, Stage.OFFER_APPROVED.value)

#: Hold age buckets in business days: (column key, heading, upper bound or None).
AGE_BUCKETS = (
    ("age_0_5", "0–5 business days", 5),
    ("age_6_10", "6–10 business days", 10),
    ("age_11_20", "11–20 business days", 20),
    ("age_21_plus", "21+ business days", None),
)

HOLD_STATE_LABELS = {
    "overdue": "Overdue: past its expected clear date",
    "open": "Open",
    "cleared": "Cleared",
    "cancelled": "Cancelled",
}
REASONS = {reason.value: label for reason, label in REASON_LABELS.items()}

REASON = Column("reason", "Reason", Kind.CODE, REASONS)
OWNER = Column("owner", "Owner")
FIGURES = (
    Column("stranded", "Candidates stranded", Kind.INT),
    Column("overdue", "Of them overdue", Kind.INT),
    Column("ghosted", "Of them ghosted", Kind.INT),
    Column("written_offer", "At written offer", Kind.INT),
    Column("verbal", "At verbal intent", Kind.INT),
    Column("candidate_days", "Candidate-days", Kind.INT),
)
SUBTOTAL_COLUMNS = (
    Column("holds", "Holds", Kind.INT),
    Column("overdue_holds", "Holds past expected date", Kind.INT),
    *FIGURES,
)
HOLD_COLUMNS = (
    Column("hold_id", "Hold id", Kind.INT, on_page=False),
    Column("summary", "What is blocking", link=("holds.detail", "hold_id", "hold_id")),
    Column("requisition_id", "Requisition id", Kind.INT, on_page=False),
    Column(
        "requisition",
        "Requisition",
        link=("requisitions.detail", "requisition_id", "requisition_id"),
    ),
    OWNER,
    REASON,
    Column("state", "State", Kind.CODE, HOLD_STATE_LABELS),
    FIGURES[-1],
    *FIGURES[:-1],
    Column("age_business_days", "Age (business days)", Kind.INT),
    Column("business_days_past_expected", "Business days past expected", Kind.INT),
    Column("opened_on", "Opened", Kind.DATE),
    Column("expected_clear_on", "Expected to clear", Kind.DATE),
    Column("resolved_on", "Resolved", Kind.DATE),
    Column("department", "Department"),
)
AGE_BUCKET_COLUMNS = (
    REASON,
    *[Column(key, label, Kind.INT) for key, label, _ in AGE_BUCKETS],
    Column("holds", "Holds", Kind.INT),
)


def holds_report(user: User, filters: ReportFilters, today: date | None = None) -> Report:
    """Every open hold (and, with a period, those resolved in it) with what it costs candidates.

    For each hold: age and lateness in business days, candidates stranded (open applications on
    the requisition, or the one application), how many of those are overdue or ghosted, at a
    written offer or a verbal promise, and candidate-days: the business days each stranded
    candidate has waited since the later of the hold's opening and their application's. Sorted
    by candidate-days, the costliest hold first; subtotalled by owner and by reason.

    One statement computes every table: the holds with their figures once, as a common table
    expression, then the holds, the subtotals, the age buckets and the totals over it.
    """
    today = today or utcnow().date()
    statuses = _stranded_statuses(today)
    in_report = and_(report_holds(user), department_condition(filters), _in_period(filters))
    per_hold = _per_hold(_stranded(statuses, in_report, today))
    sections = _sections(_hold_rows(per_hold, in_report, today).cte("hold_rows"))
    return Report(
        name="holds",
        title=TITLE,
        summary=(
            "What each stalled approval costs the candidates waiting on it. Candidate-days add "
            "up the business days every stranded candidate has waited since the hold (or their "
            "application, if later) opened."
        ),
        filters=filters,
        today=today,
        tables=(
            sections.table("holds", "Holds, costliest first", HOLD_COLUMNS, paged=True),
            sections.table("by_owner", "Subtotals by owner", (OWNER, *SUBTOTAL_COLUMNS)),
            sections.table("by_reason", "Subtotals by reason", (REASON, *SUBTOTAL_COLUMNS)),
            sections.table("age_buckets", "Hold age by reason", AGE_BUCKET_COLUMNS),
            sections.table("totals", "Totals", SUBTOTAL_COLUMNS, single_row=True),
        ),
        chart=Chart(
            "age_buckets",
            "Hold age in business days, by reason",
            "For each reason, how many holds have been open 0–5, 6–10, 11–20 and 21 or more "
            "business days.",
            group="reason",
            bars=tuple(key for key, _, _ in AGE_BUCKETS),
            unit=("hold", "holds"),
        ),
        period_note=(
            "Holds open at any time in the period, with their figures to today or their resolution."
            if filters.has_period
            else "Open holds only: choose a period to include resolved ones."
        ),
    )


def _is_open():
    return Hold.resolved_at.is_(None)


def _in_period(filters: ReportFilters):
    """SQL condition: open holds, or with a period, the holds open at any time in it."""
    is_open = _is_open()
    if not filters.has_period:
        return is_open
    # Opened by the period's end, resolved after its start.
    opened_by_end = (
        Hold.opened_at < start_of(filters.date_to + timedelta(days=1))
        if filters.date_to
        else true()
    )
    resolved_in_period = happened_within(Hold.resolved_at, filters)
    return and_(opened_by_end, or_(is_open, resolved_in_period))


def _stranded_statuses(today: date):
    """Step 1, `stranded_status`: today's cadence status of every open application on a
    requisition with an open hold.

    In one set (not looked up per stranded candidate), so each is computed once and PostgreSQL
    can hash-join calendar_day rather than probe it a dozen times per candidate.
    """
    cadence, cadence_columns = cadence_query(today)
    held_requisitions = select(Hold.requisition_id).where(Hold.resolved_at.is_(None))
    return (
        cadence.with_only_columns(
            Application.id.label("application_id"),
            cadence_columns.status.label("status"),
        )
        .where(Application.requisition_id.in_(held_requisitions))
        .cte("stranded_status")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )


def _stranded(statuses, in_report, today: date):
    """Step 2, `stranded`: one row per (hold, application it strands), with the business days
    that candidate waited, and (for open holds) their cadence status and stage."""
    is_open = _is_open()
    stranded = aliased(Application, name="stranded_application")
    strands = and_(
        hold_stops(stranded.id, stranded.requisition_id),
        or_(
            and_(is_open, stranded.closed_at.is_(None)),
            and_(
                Hold.resolved_at.is_not(None),
                stranded.opened_at < Hold.resolved_at,
                or_(stranded.closed_at.is_(None), stranded.closed_at > Hold.opened_at),
            ),
        ),
    )
    waited_until = case(
        (is_open, today_literal(today)),
        else_=as_utc_date(
            case(
                (
                    and_(
                        stranded.closed_at.is_not(None),
                        stranded.closed_at < Hold.resolved_at,
                    ),
                    stranded.closed_at,
                ),
                else_=Hold.resolved_at,
            )
        ),
    )
    waited_since = as_utc_date(later_of(Hold.opened_at, stranded.opened_at))
    waits = CalendarLookup()
    waits.day("waited_since", waited_since)
    waits.day("waited_until", waited_until)
    return waits.joined(
        select(
            Hold.id.label("hold_id"),
            waits.between("waited_since", "waited_until").label("waited"),
            case((is_open, statuses.c.status)).label("status"),
            stranded.stage,
        )
        .select_from(Hold)
        .join(Requisition, Requisition.id == Hold.requisition_id)
        .join(stranded, strands)
        .outerjoin(statuses, statuses.c.application_id == stranded.id)
        .where(in_report)
    ).subquery("stranded")


def _per_hold(pairs):
    """Step 3, `per_hold`: each hold's stranded candidates, counted by status and stage."""
    return (
        select(
            pairs.c.hold_id,
            func.count().label("stranded"),
            func.sum(pairs.c.waited).label("candidate_days"),
            count_if(pairs.c.status == CadenceStatus.OVERDUE.value).label("overdue"),
            count_if(pairs.c.status == CadenceStatus.GHOSTED.value).label("ghosted"),
            count_if(pairs.c.stage.in_(WRITTEN_OFFER_STAGES)).label("written_offer"),
            count_if(pairs.c.stage.in_(VERBAL_STAGES)).label("verbal"),
        )
        .group_by(pairs.c.hold_id)
        .subquery("per_hold")
    )


def _hold_rows(per_hold, in_report, today: date):
    """Step 4, `hold_rows`: each hold in the report with its ages, state and figures."""
    is_open = _is_open()

    def now_only(column):
        """Present-tense figures (cadence status, stage) describe open holds only."""
        return case((is_open, func.coalesce(column, 0)), else_=None)

    ages = CalendarLookup()
    ages.day("opened", as_utc_date(Hold.opened_at))
    ages.day("hold_end", case((is_open, today_literal(today)), else_=as_utc_date(Hold.resolved_at)))
    ages.day("expected", Hold.expected_clear_date)
    state = case(
        (Hold.resolved_at.is_not(None), Hold.outcome),
        (Hold.expected_clear_date < today, literal("overdue")),
        else_=literal("open"),
    )
    return ages.joined(
        select(
            Hold.id.label("hold_id"),
            Hold.summary.label("summary"),
            Requisition.id.label("requisition_id"),
            Requisition.title.label("requisition"),
            Department.name.label("department"),
            Hold.reason.label("reason"),
            Hold.owner_id.label("owner_id"),
            func.coalesce(User.name, Hold.owner_name, "Unassigned").label("owner"),
            state.label("state"),
            as_utc_date(Hold.opened_at).label("opened_on"),
            Hold.expected_clear_date.label("expected_clear_on"),
            as_utc_date(Hold.resolved_at).label("resolved_on"),
            ages.between("opened", "hold_end").label("age_business_days"),
            case(
                (Hold.expected_clear_date.is_(None), None),
                else_=ages.between("expected", "hold_end"),
            ).label("business_days_past_expected"),
            func.coalesce(per_hold.c.stranded, 0).label("stranded"),
            now_only(per_hold.c.overdue).label("overdue"),
            now_only(per_hold.c.ghosted).label("ghosted"),
            now_only(per_hold.c.written_offer).label("written_offer"),
            now_only(per_hold.c.verbal).label("verbal"),
            func.coalesce(per_hold.c.candidate_days, 0).label("candidate_days"),
        )
        .select_from(Hold)
        .join(Requisition, Requisition.id == Hold.requisition_id)
        .join(Department, Department.id == Requisition.department_id)
        .outerjoin(User, User.id == Hold.owner_id)
        .outerjoin(per_hold, per_hold.c.hold_id == Hold.id)
        .where(in_report)
    )


def _sections(base) -> Sections:
    """Step 5: the holds, subtotals by owner and reason, age buckets and totals, in one statement."""

    def subtotals():
        return (
            func.count().label("holds"),
            count_if(base.c.state == "overdue").label("overdue_holds"),
            total(base.c.stranded).label("stranded"),
            total(base.c.overdue).label("overdue"),
            total(base.c.ghosted).label("ghosted"),
            total(base.c.written_offer).label("written_offer"),
            total(base.c.verbal).label("verbal"),
            total(base.c.candidate_days).label("candidate_days"),
        )

    candidate_days_desc = func.coalesce(func.sum(base.c.candidate_days), 0).desc()
    by_owner = select(base.c.owner, *subtotals()).group_by(base.c.owner_id, base.c.owner)
    by_reason = select(base.c.reason, *subtotals()).group_by(base.c.reason)
    totals = select(*subtotals())
    bucket = case(
        *[
            (base.c.age_business_days <= bound, literal(key))
            for key, _, bound in AGE_BUCKETS
            if bound is not None
        ],
        else_=literal(AGE_BUCKETS[-1][0]),
    )
    buckets = select(
        base.c.reason,
        *[count_if(bucket == key).label(key) for key, _, _ in AGE_BUCKETS],
        func.count().label("holds"),
    ).group_by(base.c.reason)
    return Sections(
        {
            "holds": (
                select(*[column for column in base.c if column.key != "owner_id"]),
                (base.c.candidate_days.desc(), base.c.age_business_days.desc(), base.c.hold_id),
            ),
            "by_owner": (by_owner, (candidate_days_desc, base.c.owner)),
            "by_reason": (by_reason, (candidate_days_desc, base.c.reason)),
            "age_buckets": (buckets, (base.c.reason,)),
            "totals": (totals, ()),
        }
    )
