"""The dashboard's figures, each computed by the database so the page costs the same at any size."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import BindParameter, Integer, Select, bindparam, case, func, or_, select

from hiretrack.approvals.models import Approval, Decision
from hiretrack.auth.access import visible_applications, visible_holds, visible_requisitions
from hiretrack.auth.models import User
from hiretrack.cadence.queries import (
    CadenceColumns,
    CadenceStatus,
    as_date,
    cadence_key,
    cadence_query,
)
from hiretrack.candidates.models import Application, Candidate
from hiretrack.candidates.stages import LABELS, Stage
from hiretrack.database import memoized_statement
from hiretrack.extensions import db
from hiretrack.holds.models import Hold
from hiretrack.messages.models import OutboxEmail, OutboxStatus, TemplateCategory
from hiretrack.requisitions.models import Requisition
from hiretrack.requisitions.services import closure_pending_condition
from hiretrack.web import PER_PAGE, Page, page_number

#: Deliveries the manager must look at: refused for good, or possibly sent and never confirmed.
FAILED_STATUSES = (OutboxStatus.FAILED.value, OutboxStatus.UNCONFIRMED.value)

#: Dashboard filters: the name in the URL and the cadence statuses it shows.
STATUS_FILTERS = {
    "attention": (CadenceStatus.GHOSTED, CadenceStatus.OVERDUE),
    "ghosted": (CadenceStatus.GHOSTED,),
    "overdue": (CadenceStatus.OVERDUE,),
    "due": (CadenceStatus.DUE,),
    "on_track": (CadenceStatus.ON_TRACK,),
}


@dataclass(frozen=True)
class Counters:
    """The numbers at the top of the dashboard."""

    waiting: int
    ghosted: int
    overdue: int
    due: int
    open_holds: int
    closure_pending: int
    failed_deliveries: int
    approvals_waiting: int

    @property
    def needs_attention(self) -> int:
        return self.ghosted + self.overdue

    def count(self, statuses: tuple[CadenceStatus, ...]) -> int:
        """How many waiting applications have one of these cadence statuses."""
        per_status = {
            CadenceStatus.GHOSTED: self.ghosted,
            CadenceStatus.OVERDUE: self.overdue,
            CadenceStatus.DUE: self.due,
            CadenceStatus.ON_TRACK: self.waiting - self.ghosted - self.overdue - self.due,
        }
        return sum(per_status[status] for status in statuses)


@dataclass(frozen=True)
class WaitingRow:
    """One open application on the dashboard, with everything the row shows."""

    application_id: int
    candidate_id: int
    candidate_name: str
    requisition_id: int
    requisition_title: str
    stage: str
    status: CadenceStatus
    next_update_due: date | None
    business_days_silent: int
    last_contact_at: datetime | None
    failed_deliveries: int
    hold: Hold | None
    suggested_category: str
    can_send: bool

    @property
    def stage_label(self) -> str:
        return LABELS[Stage(self.stage)]


def _blocking_hold_id():
    """Correlated subquery: the oldest open hold stopping this application (its own or its requisition's)."""
    return (
        select(Hold.id)
        .where(
            Hold.requisition_id == Application.requisition_id,
            Hold.resolved_at.is_(None),
            or_(Hold.application_id.is_(None), Hold.application_id == Application.id),
        )
        .order_by(Hold.opened_at, Hold.id)
        .limit(1)
        .correlate(Application)
        .scalar_subquery()
    )


def _failed_count():
    return (
        select(func.count(OutboxEmail.id))
        .where(
            OutboxEmail.application_id == Application.id, OutboxEmail.status.in_(FAILED_STATUSES)
        )
        .correlate(Application)
        .scalar_subquery()
    )


@dataclass(frozen=True)
class Viewer:
    """Stands in for a user while building statements shared by everyone of one role.

    The access rules only read a user's role and id; with the id a bound parameter, one
    statement serves every manager (say), and SQLAlchemy's compiled-statement cache is hit
    without rebuilding or re-walking the statement on each request.
    """

    role: str
    id: BindParameter = field(default_factory=lambda: bindparam("viewer_id", type_=Integer))


@dataclass(frozen=True)
class DashboardStatements:
    """The dashboard's statements for one role and day: the counters, and the page per filter."""

    counters: Select
    pages: dict[str | None, Select]


def dashboard_statements(user: User, today: date | None = None) -> DashboardStatements:
    """The statements behind the user's dashboard, built once per process, role and day."""
    key = (cadence_key(today), user.role)
    return memoized_statement("dashboard", key, lambda: _build_statements(Viewer(user.role), today))


def _build_statements(viewer: Viewer, today: date | None) -> DashboardStatements:
    query, columns = waiting_query(viewer, today)
    pages = {None: query}
    for name, statuses in STATUS_FILTERS.items():
        pages[name] = query.where(columns.status.in_([s.value for s in statuses]))
    paged = {
        name: page.limit(bindparam("page_limit")).offset(bindparam("page_offset"))
        for name, page in pages.items()
    }
    return DashboardStatements(counters_query(viewer, query, columns), paged)


def waiting_query(user: User | Viewer, today: date | None = None) -> tuple[Select, CadenceColumns]:
    """The user's open applications with cadence figures, most urgent first."""
    query, columns = cadence_query(today)
    query = (
        query.join(Candidate, Candidate.id == Application.candidate_id)
        # Both forms of the scope, on purpose: the condition on the joined requisition lets
        # PostgreSQL start from the user's requisitions (instead of computing cadence for every
        # open application), the IN list lets SQLite do the same. See docs/benchmarks.md.
        .where(visible_requisitions(user), visible_applications(user))
        .with_only_columns(
            Application.id,
            Candidate.id,
            Candidate.name,
            Requisition.id,
            Requisition.title,
            Application.stage,
            columns.status,
            columns.next_update_due,
            columns.business_days_silent,
            Application.last_contact_at,
            _failed_count(),
            _blocking_hold_id(),
            Requisition.manager_id,
        )
        .order_by(
            columns.urgency,
            columns.next_update_due.is_(None),
            columns.next_update_due,
            columns.business_days_silent.desc(),
            Application.id,
        )
    )
    return query, columns


def counters_query(user: User | Viewer, query: Select, columns: CadenceColumns) -> Select:
    """Every counter in one statement: counts over the cadence figures, and scalar subqueries."""
    figures = query.order_by(None).with_only_columns(columns.status.label("status")).subquery()
    per_status = (
        func.coalesce(func.sum(case((figures.c.status == status.value, 1), else_=0)), 0)
        for status in (CadenceStatus.GHOSTED, CadenceStatus.OVERDUE, CadenceStatus.DUE)
    )
    open_holds = (
        select(func.count(Hold.id))
        .where(Hold.resolved_at.is_(None), visible_holds(user))
        .scalar_subquery()
    )
    closure_pending = (
        select(func.count(Application.id))
        .join(Requisition, Requisition.id == Application.requisition_id)
        # Both scopes, as in waiting_query: the IN list makes SQLite start from the user's
        # requisitions instead of every open application (13 ms to 1 ms at 100,000).
        .where(closure_pending_condition(), visible_requisitions(user), visible_applications(user))
        .scalar_subquery()
    )
    failed = (
        select(func.count(OutboxEmail.id))
        .join(Application, Application.id == OutboxEmail.application_id)
        .where(OutboxEmail.status.in_(FAILED_STATUSES), visible_applications(user))
        .scalar_subquery()
    )
    approvals = (
        select(func.count(Approval.id))
        .where(Approval.approver_id == user.id, Approval.decision == Decision.PENDING.value)
        .scalar_subquery()
    )
    return select(
        func.count(), *per_status, open_holds, closure_pending, failed, approvals
    ).select_from(figures)


def counters(user: User, statements: DashboardStatements) -> Counters:
    """The dashboard's counters for this user."""
    row = db.session.execute(statements.counters, {"viewer_id": user.id}).one()
    return Counters(*(int(value or 0) for value in row))


def waiting_page(
    user: User,
    statements: DashboardStatements,
    figures: Counters,
    status_filter: str | None = None,
) -> Page:
    """One page of waiting applications, with their blocking holds, in a fixed number of queries.

    The counters already say how many rows the filter matches, so they are not counted again.
    """
    if status_filter not in STATUS_FILTERS:
        status_filter = None
    total = figures.count(STATUS_FILTERS[status_filter]) if status_filter else figures.waiting
    pages = max(1, -(-total // PER_PAGE))
    number = min(page_number(), pages)  # past the end (an old link): the last page
    items = db.session.execute(
        statements.pages[status_filter],
        {
            "viewer_id": user.id,
            "page_limit": PER_PAGE,
            "page_offset": (number - 1) * PER_PAGE,
        },
    ).all()
    page = Page(items=items, page=number, per_page=PER_PAGE, total=total)
    hold_ids = {row[11] for row in page.items if row[11] is not None}
    holds = (
        {hold.id: hold for hold in db.session.scalars(select(Hold).where(Hold.id.in_(hold_ids)))}
        if hold_ids
        else {}
    )
    application_ids = [row[0] for row in page.items if row[11] is not None]
    last_notice = {}
    if application_ids:
        last_notice = dict(
            db.session.execute(
                select(OutboxEmail.application_id, func.max(OutboxEmail.created_at))
                .where(
                    OutboxEmail.application_id.in_(application_ids),
                    OutboxEmail.category == TemplateCategory.HOLD_NOTICE.value,
                    OutboxEmail.status != OutboxStatus.CANCELLED.value,
                )
                .group_by(OutboxEmail.application_id)
            ).all()
        )
    rows = []
    for row in page.items:
        hold = holds.get(row[11])
        notice_at = last_notice.get(row[0])
        if notice_at is not None and notice_at.tzinfo is None:
            notice_at = notice_at.replace(tzinfo=UTC)
        needs_notice = hold is not None and (notice_at is None or notice_at < hold.opened_at)
        rows.append(
            WaitingRow(
                application_id=row[0],
                candidate_id=row[1],
                candidate_name=row[2],
                requisition_id=row[3],
                requisition_title=row[4],
                stage=row[5],
                status=CadenceStatus(row[6]),
                next_update_due=as_date(row[7]),
                business_days_silent=int(row[8] or 0),
                last_contact_at=row[9],
                failed_deliveries=int(row[10] or 0),
                hold=hold,
                suggested_category=(
                    TemplateCategory.HOLD_NOTICE if needs_notice else TemplateCategory.CHECK_IN
                ).value,
                can_send=user.sees_everything or row[12] == user.id,
            )
        )
    page.items = rows
    return page
