"""The four reports, one query function each: every figure is computed by the database.

Each function returns a `Report` whose tables hold SQL queries (GROUP BY, window functions);
nothing here loops over rows to compute a figure. The page, the CSV and JSON exports and the
CLI all run the same queries, within the same access scope, so they always agree.

Business days come from the calendar_day table (see hiretrack/cadence/business_calendar.py);
cadence statuses come from `hiretrack.cadence.queries.cadence_query`, the one definition of
"overdue" and "ghosted". See docs/reports.md for what each figure means.
"""

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import (
    Date,
    Integer,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.orm import aliased

from hiretrack.admin.models import Department
from hiretrack.admin.services import effective_settings
from hiretrack.approvals.models import Approval, Decision
from hiretrack.auth.access import report_approvals, report_holds, report_requisitions
from hiretrack.auth.models import User
from hiretrack.cadence.business_calendar import YEARS_BACK, ensure_calendar
from hiretrack.cadence.queries import CADENCE_LABELS, CadenceStatus, cadence_query
from hiretrack.candidates.models import Application, Candidate, Channel, Touchpoint
from hiretrack.candidates.stages import CLOSED_OUTCOMES, LABELS, Stage
from hiretrack.database import utcnow
from hiretrack.errors import ValidationFailed
from hiretrack.extensions import db
from hiretrack.holds.forms import REASON_LABELS
from hiretrack.holds.models import Hold
from hiretrack.messages.models import OutboxEmail, OutboxStatus
from hiretrack.reports.sql import (
    CalendarLookup,
    Sections,
    business_days_between,
    hours_between,
    later_of,
    percentiles,
    ratio_percent,
)
from hiretrack.reports.tables import Chart, Column, Kind, Report, ReportFilters, Table
from hiretrack.requisitions.models import Requisition
from hiretrack.sqltypes import as_utc_date
from hiretrack.status.models import UpdateFeedback

#: Reports over a period cover the last 30 days unless told otherwise.
DEFAULT_PERIOD_DAYS = 30

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
OUTCOMES = {stage.value: LABELS[stage] for stage in CLOSED_OUTCOMES}
CLOSURE_STATES = {
    "delivered": "Delivered",
    OutboxStatus.SCHEDULED.value: "Email scheduled, not yet delivered",
    OutboxStatus.QUEUED.value: "Email queued, not yet delivered",
    OutboxStatus.SENDING.value: "Email being sent, not yet confirmed",
    OutboxStatus.FAILED.value: "Email delivery failed",
    OutboxStatus.UNCONFIRMED.value: "Email delivery unconfirmed",
    OutboxStatus.CANCELLED.value: "Email cancelled",
    "none": "No closure recorded",
}
CHANNELS = {channel.value: channel.value.capitalize() for channel in Channel}

REPORTS = {
    "holds": "Approval holds",
    "approvals": "Approval bottlenecks",
    "cadence": "Candidate cadence",
    "closure": "Closure ledger",
}


# --- Filters -------------------------------------------------------------------------------------


def parse_filters(
    values: Mapping[str, str | None], today: date | None = None, *, default_period: bool = True
) -> ReportFilters:
    """Read the period (`from`, `to`, ISO dates) and `department` (an id) a report should cover.

    With default_period, a missing period means the last DEFAULT_PERIOD_DAYS days; without it
    (the hold report) no period means "open holds only". Raises ValidationFailed per field.
    """
    today = today or utcnow().date()
    earliest, latest = date(today.year - YEARS_BACK, 1, 1), today + timedelta(days=366)
    errors: dict[str, list[str]] = {}
    parsed: dict[str, date | None] = {}
    for name in ("from", "to"):
        raw = (values.get(name) or "").strip()
        parsed[name] = None
        if not raw:
            continue
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            errors[name] = [f"'{raw[:40]}' is not a date: use year-month-day, e.g. 2026-03-02."]
            continue
        if not earliest <= day <= latest:
            errors[name] = [
                f"Choose a date between {earliest.isoformat()} and {latest.isoformat()}."
            ]
            continue
        parsed[name] = day
    date_from, date_to = parsed["from"], parsed["to"]
    if date_from and date_to and date_from > date_to:
        errors["to"] = ["The end of the period is before its start."]
    department_id, department_name = None, None
    raw_department = (values.get("department") or "").strip()
    if raw_department:
        try:
            department_id = int(raw_department)
        except ValueError:
            department_id = None
        department_name = (
            db.session.scalar(select(Department.name).where(Department.id == department_id))
            if department_id is not None and 0 < department_id < 2**31
            else None
        )
        if department_name is None:
            errors["department"] = ["Unknown department: choose one from the list."]
    if errors:
        raise ValidationFailed("Please correct the report filters.", errors)
    if default_period:
        if date_to is None:
            date_to = max(today, date_from) if date_from else today
        if date_from is None:
            date_from = date_to - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    return ReportFilters(date_from, date_to, department_id, department_name)


def department_choices(user: User) -> list[tuple[int, str]]:
    """The departments whose figures the user may see, for the filter's list."""
    in_scope = select(Requisition.department_id).where(report_requisitions(user))
    rows = db.session.execute(
        select(Department.id, Department.name)
        .where(Department.id.in_(in_scope))
        .order_by(Department.name)
    )
    return [(department_id, name) for department_id, name in rows]


def _department_condition(filters: ReportFilters):
    if filters.department_id is None:
        return true()
    return Requisition.department_id == filters.department_id


def _within(day, filters: ReportFilters):
    """SQL condition: a date column falls inside the report's period."""
    conditions = []
    if filters.date_from is not None:
        conditions.append(day >= filters.date_from)
    if filters.date_to is not None:
        conditions.append(day <= filters.date_to)
    return and_(true(), *conditions)


def _start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _happened_within(moment, filters: ReportFilters):
    """SQL condition: a timestamp falls on a (UTC) day of the report's period.

    Compared as timestamps, not dates, so indexes apply and the planner estimates well.
    """
    conditions = []
    if filters.date_from is not None:
        conditions.append(moment >= _start_of(filters.date_from))
    if filters.date_to is not None:
        conditions.append(moment < _start_of(filters.date_to + timedelta(days=1)))
    return and_(true(), *conditions)


def _count_if(condition) -> object:
    """SQL aggregate: how many rows meet condition (0, never NULL, on no rows)."""
    return _total(case((condition, 1), else_=0))


def _total(value) -> object:
    """SQL aggregate: the sum of value, 0 (not NULL) when there are no rows."""
    return func.coalesce(func.sum(value), 0)


def _today(day: date):
    return literal(day, Date())


def _ready_calendar(today: date) -> None:
    """Make sure calendar_day covers today, so business-day figures can be computed in SQL."""
    ensure_calendar(effective_settings().holidays, today)


# --- Approval holds ------------------------------------------------------------------------------


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
    cadence, cadence_columns = cadence_query(today)
    stranded = aliased(Application, name="stranded_application")
    # Today's cadence status of every open application on a requisition with an open hold, in
    # one set (not looked up per stranded candidate), so each is computed once and PostgreSQL
    # can hash-join calendar_day rather than probe it a dozen times per candidate.
    held_requisitions = select(Hold.requisition_id).where(Hold.resolved_at.is_(None))
    statuses = (
        cadence.with_only_columns(
            Application.id.label("application_id"),
            cadence_columns.status.label("status"),
        )
        .where(Application.requisition_id.in_(held_requisitions))
        .cte("stranded_status")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )

    is_open = Hold.resolved_at.is_(None)
    hold_end = case((is_open, _today(today)), else_=as_utc_date(Hold.resolved_at))
    if not filters.has_period:
        period = is_open
    else:
        # Holds open at any time in the period: opened by its end, resolved after its start.
        opened_by_end = (
            Hold.opened_at < _start_of(filters.date_to + timedelta(days=1))
            if filters.date_to
            else true()
        )
        resolved_in_period = _happened_within(Hold.resolved_at, filters)
        period = and_(opened_by_end, or_(is_open, resolved_in_period))
    in_report = and_(report_holds(user), _department_condition(filters), period)

    # One row per (hold, application it strands), with the business days that candidate waited.
    strands = and_(
        stranded.requisition_id == Hold.requisition_id,
        or_(Hold.application_id.is_(None), Hold.application_id == stranded.id),
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
        (is_open, _today(today)),
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
    pairs = waits.joined(
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
    per_hold = (
        select(
            pairs.c.hold_id,
            func.count().label("stranded"),
            func.sum(pairs.c.waited).label("candidate_days"),
            _count_if(pairs.c.status == CadenceStatus.OVERDUE.value).label("overdue"),
            _count_if(pairs.c.status == CadenceStatus.GHOSTED.value).label("ghosted"),
            _count_if(pairs.c.stage.in_(WRITTEN_OFFER_STAGES)).label("written_offer"),
            _count_if(pairs.c.stage.in_(VERBAL_STAGES)).label("verbal"),
        )
        .group_by(pairs.c.hold_id)
        .subquery("per_hold")
    )

    def now_only(column):
        """Present-tense figures (cadence status, stage) describe open holds only."""
        return case((is_open, func.coalesce(column, 0)), else_=None)

    ages = CalendarLookup()
    ages.day("opened", as_utc_date(Hold.opened_at))
    ages.day("hold_end", hold_end)
    ages.day("expected", Hold.expected_clear_date)
    state = case(
        (Hold.resolved_at.is_not(None), Hold.outcome),
        (Hold.expected_clear_date < today, literal("overdue")),
        else_=literal("open"),
    )
    hold_rows = ages.joined(
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
    base = hold_rows.cte("hold_rows")

    def subtotals():
        return (
            func.count().label("holds"),
            _count_if(base.c.state == "overdue").label("overdue_holds"),
            _total(base.c.stranded).label("stranded"),
            _total(base.c.overdue).label("overdue"),
            _total(base.c.ghosted).label("ghosted"),
            _total(base.c.written_offer).label("written_offer"),
            _total(base.c.verbal).label("verbal"),
            _total(base.c.candidate_days).label("candidate_days"),
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
        *[_count_if(bucket == key).label(key) for key, _, _ in AGE_BUCKETS],
        func.count().label("holds"),
    ).group_by(base.c.reason)
    sections = Sections(
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

    reason = Column("reason", "Reason", Kind.CODE, REASONS)
    owner = Column("owner", "Owner")
    figures = (
        Column("stranded", "Candidates stranded", Kind.INT),
        Column("overdue", "Of them overdue", Kind.INT),
        Column("ghosted", "Of them ghosted", Kind.INT),
        Column("written_offer", "At written offer", Kind.INT),
        Column("verbal", "At verbal intent", Kind.INT),
        Column("candidate_days", "Candidate-days", Kind.INT),
    )
    subtotal_columns = (
        Column("holds", "Holds", Kind.INT),
        Column("overdue_holds", "Holds past expected date", Kind.INT),
        *figures,
    )
    detail = sections.table(
        "holds",
        "Holds, costliest first",
        (
            Column("hold_id", "Hold id", Kind.INT, on_page=False),
            Column("summary", "What is blocking", link=("holds.detail", "hold_id", "hold_id")),
            Column("requisition_id", "Requisition id", Kind.INT, on_page=False),
            Column(
                "requisition",
                "Requisition",
                link=("requisitions.detail", "requisition_id", "requisition_id"),
            ),
            owner,
            reason,
            Column("state", "State", Kind.CODE, HOLD_STATE_LABELS),
            figures[-1],
            *figures[:-1],
            Column("age_business_days", "Age (business days)", Kind.INT),
            Column("business_days_past_expected", "Business days past expected", Kind.INT),
            Column("opened_on", "Opened", Kind.DATE),
            Column("expected_clear_on", "Expected to clear", Kind.DATE),
            Column("resolved_on", "Resolved", Kind.DATE),
            Column("department", "Department"),
        ),
        paged=True,
    )
    return Report(
        name="holds",
        title=REPORTS["holds"],
        summary=(
            "What each stalled approval costs the candidates waiting on it. Candidate-days add "
            "up the business days every stranded candidate has waited since the hold (or their "
            "application, if later) opened."
        ),
        filters=filters,
        today=today,
        tables=(
            detail,
            sections.table("by_owner", "Subtotals by owner", (owner, *subtotal_columns)),
            sections.table("by_reason", "Subtotals by reason", (reason, *subtotal_columns)),
            sections.table(
                "age_buckets",
                "Hold age by reason",
                (
                    reason,
                    *[Column(key, label, Kind.INT) for key, label, _ in AGE_BUCKETS],
                    Column("holds", "Holds", Kind.INT),
                ),
            ),
            sections.table("totals", "Totals", subtotal_columns, single_row=True),
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


# --- Approval bottlenecks ------------------------------------------------------------------------


def approvals_report(user: User, filters: ReportFilters, today: date | None = None) -> Report:
    """Per approver: decisions pending and past due, and how long decisions took in the period.

    Times to decide are hours from the request to the decision, for decisions made in the
    period; the median and 90th percentile are continuous percentiles computed in SQL.
    """
    today = today or utcnow().date()
    _ready_calendar(today)
    pending = Approval.decision == Decision.PENDING.value
    decided = and_(
        Approval.decision.in_([Decision.APPROVED.value, Decision.REJECTED.value]),
        Approval.decided_at.is_not(None),
        _happened_within(Approval.decided_at, filters),
    )
    rows = (
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
        .where(report_approvals(user), _department_condition(filters), or_(pending, decided))
        .subquery("approval_rows")
    )
    fractions = {"median_hours": 0.5, "p90_hours": 0.9}
    per_approver = percentiles(rows, "hours", fractions, group_by=["approver_id"]).subquery(
        "approver_percentiles"
    )
    overall = percentiles(rows, "hours", fractions).subquery("overall_percentiles")

    def counts():
        return (
            _total(rows.c.is_pending).label("pending"),
            _total(rows.c.is_past_due).label("past_due"),
            func.max(rows.c.pending_business_days).label("oldest_pending_business_days"),
            _total(rows.c.is_decided).label("decided"),
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
    figures = (
        Column("pending", "Pending", Kind.INT),
        Column("past_due", "Pending past due", Kind.INT),
        Column("oldest_pending_business_days", "Oldest pending (business days)", Kind.INT),
        Column("decided", "Decided in period", Kind.INT),
        Column("median_hours", "Median hours to decide", Kind.DECIMAL),
        Column("p90_hours", "90th percentile hours to decide", Kind.DECIMAL),
    )
    return Report(
        name="approvals",
        title=REPORTS["approvals"],
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
                    *figures,
                ),
                approvers,
            ),
            Table("totals", "Totals", figures, totals, single_row=True),
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


# --- Candidate cadence ---------------------------------------------------------------------------


def cadence_report(user: User, filters: ReportFilters, today: date | None = None) -> Report:
    """Per manager and department: open applications by cadence status, and broken promises.

    Statuses are today's, from `cadence_query`; broken promises are touchpoints whose promised
    update date passed unkept, recorded (promise_broken_on) within the period.
    """
    today = today or utcnow().date()
    cadence, columns = cadence_query(today)
    scope = and_(report_requisitions(user), _department_condition(filters))
    zero = literal(0, Integer)
    status_rows = cadence.with_only_columns(
        Requisition.manager_id.label("manager_id"),
        Requisition.department_id.label("department_id"),
        *[
            case((columns.status == status.value, 1), else_=0).label(status.value)
            for status in CadenceStatus
        ],
        zero.label("broken_promises"),
    ).where(scope)
    broken_rows = (
        select(
            Requisition.manager_id,
            Requisition.department_id,
            *[zero.label(status.value) for status in CadenceStatus],
            literal(1, Integer).label("broken_promises"),
        )
        .select_from(Touchpoint)
        .join(Application, Application.id == Touchpoint.application_id)
        .join(Requisition, Requisition.id == Application.requisition_id)
        .where(
            scope,
            Touchpoint.promise_broken_on.is_not(None),
            _within(Touchpoint.promise_broken_on, filters),
        )
    )
    combined = union_all(status_rows, broken_rows).subquery("cadence_rows")
    status_keys = [status.value for status in CadenceStatus]

    def sums():
        return (
            _total(
                combined.c[CadenceStatus.ON_TRACK.value]
                + combined.c[CadenceStatus.DUE.value]
                + combined.c[CadenceStatus.OVERDUE.value]
                + combined.c[CadenceStatus.GHOSTED.value]
            ).label("open_applications"),
            *[_total(combined.c[key]).label(key) for key in reversed(status_keys)],
            _total(combined.c.broken_promises).label("broken_promises"),
        )

    attention = (
        func.sum(combined.c[CadenceStatus.GHOSTED.value])
        + func.sum(combined.c[CadenceStatus.OVERDUE.value])
    ).desc()
    managers = (
        select(User.name.label("manager"), Department.name.label("department"), *sums())
        .select_from(combined)
        .join(User, User.id == combined.c.manager_id)
        .join(Department, Department.id == combined.c.department_id)
        .group_by(combined.c.manager_id, User.name, combined.c.department_id, Department.name)
        .order_by(attention, User.name, Department.name)
    )
    departments = (
        select(Department.name.label("department"), *sums())
        .select_from(combined)
        .join(Department, Department.id == combined.c.department_id)
        .group_by(combined.c.department_id, Department.name)
        .order_by(attention, Department.name)
    )
    totals = select(*sums())
    figures = (
        Column("open_applications", "Open applications", Kind.INT),
        *[
            Column(status.value, CADENCE_LABELS[status], Kind.INT)
            for status in reversed(CadenceStatus)
        ],
        Column("broken_promises", "Broken promises in period", Kind.INT),
    )
    manager = Column("manager", "Manager")
    department = Column("department", "Department")
    return Report(
        name="cadence",
        title=REPORTS["cadence"],
        summary=(
            "Whether waiting candidates hear from us on time: open applications by cadence "
            "status today, and the promised updates that were broken in the period."
        ),
        filters=filters,
        today=today,
        tables=(
            Table(
                "managers", "By manager and department", (manager, department, *figures), managers
            ),
            Table("departments", "By department", (department, *figures), departments),
            Table("totals", "Totals", figures, totals, single_row=True),
        ),
        chart=Chart(
            "departments",
            "Open applications by cadence status, per department",
            "For each department, how many open applications are on track, due, overdue and "
            "ghosted, and the promises broken in the period.",
            group="department",
            bars=(*reversed(status_keys), "broken_promises"),
        ),
        period_note="Statuses are as of today; broken promises are those recorded in the period.",
    )


# --- Closure ledger ------------------------------------------------------------------------------


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
    _ready_calendar(today)
    closed_in_period = and_(
        Application.stage.in_(list(OUTCOMES)),
        Application.closed_at.is_not(None),
        _happened_within(Application.closed_at, filters),
    )
    closed = and_(closed_in_period, report_requisitions(user), _department_condition(filters))
    # The closure touchpoint each row reports: the first delivered one, else the first made.
    # Chosen per application in a derived table of application alone (SQLite flattens it into
    # the ledger), then joined by its key: joined on the choice itself, PostgreSQL hashed the
    # whole touchpoint table to find 6,000 rows.
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
    chosen = (
        select(Application.id.label("application_id"), chosen_touchpoint.label("touchpoint_id"))
        .where(closed_in_period)
        .subquery("chosen_closure")
    )
    closure = aliased(Touchpoint, name="closure_touchpoint")
    closure_email = aliased(OutboxEmail, name="closure_email")
    closure_sender = aliased(User, name="closure_sender")
    is_delivered = and_(closure.id.is_not(None), _closure_delivered(closure, closure_email))
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
    ledger = days.joined(
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
            business_days_to_closure,
            was_ghosted,
            feedback_answers,
            feedback_useful,
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
    # The summaries need only whether closure was delivered, not which touchpoint or by whom.
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
    base = days.joined(
        select(
            Application.stage.label("outcome"),
            case((delivered_closure, 1), else_=0).label("closure_delivered"),
            business_days_to_closure,
            was_ghosted,
            feedback_answers,
            feedback_useful,
        )
        .join(Requisition, Requisition.id == Application.requisition_id)
        .outerjoin(UpdateFeedback, UpdateFeedback.application_id == Application.id)
        .where(closed)
    ).cte("closed_applications")
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
            _total(base.c.closure_delivered).label("delivered"),
            ratio_percent(_total(base.c.closure_delivered), func.count()).label(
                "delivered_percent"
            ),
            _total(base.c.was_ghosted).label("ghosted_at_some_point"),
            _total(base.c.feedback_answers).label("feedback_answers"),
            ratio_percent(_total(base.c.feedback_useful), func.sum(base.c.feedback_answers)).label(
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
    sections = Sections(
        {
            "by_outcome": (by_outcome, (grouped.c.closed.desc(), grouped.c.outcome)),
            "totals": (totals, ()),
        }
    )
    outcome = Column("outcome", "Outcome", Kind.CODE, OUTCOMES)
    summary_columns = (
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
    detail = Table(
        "applications",
        "Applications closed in the period",
        (
            Column("application_id", "Application id", Kind.INT, on_page=False),
            Column("candidate_id", "Candidate id", Kind.INT, on_page=False),
            Column(
                "candidate",
                "Candidate",
                link=("candidates.detail", "candidate_id", "candidate_id"),
            ),
            Column("requisition", "Requisition"),
            Column("department", "Department"),
            outcome,
            Column("closed_at", "Closed on", Kind.DATETIME),
            Column("closure_delivered", "Closure delivered", Kind.BOOL),
            Column("closure_state", "Closure message", Kind.CODE, CLOSURE_STATES),
            Column("channel", "Closure channel", Kind.CODE, CHANNELS),
            Column("closed_by", "Closure sent or recorded by"),
            Column("delivered_at", "Delivered", Kind.DATETIME),
            Column(
                "business_days_to_closure", "Business days, last interview to closure", Kind.INT
            ),
            Column("was_ghosted", "Was ghosted", Kind.BOOL),
            Column("feedback_answers", "Feedback answers", Kind.INT),
            Column("feedback_useful", "Said updates were useful", Kind.INT),
        ),
        ledger.order_by(Application.closed_at.desc(), Application.id.desc()),
        paged=True,
    )
    return Report(
        name="closure",
        title=REPORTS["closure"],
        summary=(
            "Every application closed in the period, and whether the candidate was actually "
            "told: a closure email counts once it was delivered, not when it was queued."
        ),
        filters=filters,
        today=today,
        tables=(
            detail,
            sections.table("by_outcome", "By outcome", (outcome, *summary_columns)),
            sections.table("totals", "Totals", summary_columns, single_row=True),
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


REPORT_FUNCTIONS = {
    "holds": holds_report,
    "approvals": approvals_report,
    "cadence": cadence_report,
    "closure": closure_report,
}


def build_report(
    name: str, user: User, values: Mapping[str, str | None], today: date | None = None
) -> Report:
    """Parse the filters and build the named report for this user (the one door for all callers)."""
    today = today or utcnow().date()
    filters = parse_filters(values, today, default_period=name != "holds")
    if filters.department_id is not None and filters.department_id not in dict(
        department_choices(user)
    ):
        # Outside the user's scope: answered like a department that does not exist.
        raise ValidationFailed(
            "Please correct the report filters.",
            {"department": ["Unknown department: choose one from the list."]},
        )
    report = REPORT_FUNCTIONS[name](user, filters, today)
    # After building: building may fill the calendar and commit, which ends SET LOCAL.
    _tune_postgresql()
    return report


def _tune_postgresql() -> None:
    """Plan this transaction's report queries for what they do: read every row, once.

    JIT off: the business-day joins can make the planner over-estimate row counts by orders of
    magnitude, so it would JIT-compile queries that then run in milliseconds. And
    cursor_tuple_fraction 1: the exports stream rows through a server-side cursor, for which
    PostgreSQL by default plans to return the first tenth of the rows fast, which for the closure
    ledger chose nested loops that took ten times as long over all of them.
    """
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL jit = off"))
        db.session.execute(text("SET LOCAL cursor_tuple_fraction = 1"))


__all__ = [
    "AGE_BUCKETS",
    "REPORTS",
    "approvals_report",
    "build_report",
    "cadence_report",
    "closure_report",
    "department_choices",
    "holds_report",
    "parse_filters",
]
