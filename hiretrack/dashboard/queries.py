"""The dashboard's figures, each computed by the database so the page costs the same at any size."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import BindParameter, Integer, Select, bindparam, case, func, select

from hiretrack.approvals.models import Approval, Decision
from hiretrack.auth.access import (
    editable_requisitions,
    visible_applications,
    visible_holds,
    visible_requisitions,
)
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
from hiretrack.holds.queries import oldest_open_hold_id
from hiretrack.messages.models import (
    Draft,
    DraftStatus,
    OutboxEmail,
    OutboxStatus,
    TemplateCategory,
)
from hiretrack.requisitions.models import Requisition
from hiretrack.requisitions.services import closure_pending_condition
from hiretrack.web import PER_PAGE, Page, page_number

#: Deliveries the manager must look at: refused for good (at once or by a later bounce report),
#: or possibly sent and never confirmed.
FAILED_STATUSES = (
    OutboxStatus.FAILED.value,
    OutboxStatus.BOUNCED.value,
    OutboxStatus.UNCONFIRMED.value,
)

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
    drafts_waiting: int

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


def _failed_count(application_id):
    return (
        select(func.count(OutboxEmail.id))
        .where(
            OutboxEmail.application_id == application_id,
            OutboxEmail.status.in_(FAILED_STATUSES),
        )
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


#: The cadence statuses counted on the page's rows (on track is the rest).
COUNTED_STATUSES = (CadenceStatus.GHOSTED, CadenceStatus.OVERDUE, CadenceStatus.DUE)


@dataclass(frozen=True)
class DashboardStatements:
    """The dashboard's statements for one role and day.

    - `pages`, per status filter: one page of rows, each also carrying the counts per cadence
      status over all the user's waiting applications (window functions), so cadence is
      computed once per request, not once for the counters and again for the page;
    - `status_counts`: those counts alone, for when the page has no row to carry them;
    - `other_counters`: holds, closure pending, failed deliveries, approvals and drafts.
    """

    pages: dict[str | None, Select]
    status_counts: Select
    other_counters: Select


def dashboard_statements(user: User, today: date | None = None) -> DashboardStatements:
    """The statements behind the user's dashboard, built once per process, role and day."""
    key = (cadence_key(today), user.role)
    return memoized_statement("dashboard", key, lambda: _build_statements(Viewer(user.role), today))


def _build_statements(viewer: Viewer, today: date | None) -> DashboardStatements:
    query, columns = waiting_query(viewer, today)
    counted = query.add_columns(
        columns.urgency.label("urgency"),
        func.count().over().label("count_waiting"),
        *(
            func.sum(case((columns.status == status.value, 1), else_=0))
            .over()
            .label(f"count_{status.value}")
            for status in COUNTED_STATUSES
        ),
    ).subquery("waiting")
    pages = {}
    for name in (None, *STATUS_FILTERS):
        chosen = select(counted)
        if name is not None:
            chosen = chosen.where(counted.c.status.in_([s.value for s in STATUS_FILTERS[name]]))
        page = (
            chosen.order_by(*_urgency_order(counted))
            .limit(bindparam("page_limit"))
            .offset(bindparam("page_offset"))
            .subquery("page")
        )
        # Failed deliveries and the blocking hold are looked up for the page's rows only.
        pages[name] = select(
            page,
            _failed_count(page.c.application_id).label("failed_deliveries"),
            oldest_open_hold_id(page.c.application_id, page.c.requisition_id).label("hold_id"),
        ).order_by(*_urgency_order(page))
    statuses = query.with_only_columns(columns.status.label("status")).subquery()
    status_counts = select(
        func.count(),
        *(
            func.coalesce(func.sum(case((statuses.c.status == status.value, 1), else_=0)), 0)
            for status in COUNTED_STATUSES
        ),
    ).select_from(statuses)
    return DashboardStatements(pages, status_counts, other_counters_query(viewer))


def _urgency_order(rows) -> tuple:
    """Most urgent first; then the earliest due, the longest silent; id to break ties."""
    return (
        rows.c.urgency,
        rows.c.next_update_due.is_(None),
        rows.c.next_update_due,
        rows.c.business_days_silent.desc(),
        rows.c.application_id,
    )


def waiting_query(user: User | Viewer, today: date | None = None) -> tuple[Select, CadenceColumns]:
    """The user's open applications with their cadence figures (in no particular order)."""
    query, columns = cadence_query(today)
    query = (
        query.join(Candidate, Candidate.id == Application.candidate_id)
        # Both forms of the scope, on purpose: the condition on the joined requisition lets
        # PostgreSQL start from the user's requisitions (instead of computing cadence for every
        # open application), the IN list lets SQLite do the same. See docs/benchmarks.md.
        .where(visible_requisitions(user), visible_applications(user))
        .with_only_columns(
            Application.id.label("application_id"),
            Candidate.id.label("candidate_id"),
            Candidate.name.label("candidate_name"),
            Requisition.id.label("requisition_id"),
            Requisition.title.label("requisition_title"),
            Application.stage.label("stage"),
            columns.status.label("status"),
            columns.next_update_due.label("next_update_due"),
            columns.business_days_silent.label("business_days_silent"),
            Application.last_contact_at.label("last_contact_at"),
            Requisition.manager_id.label("manager_id"),
        )
    )
    return query, columns


def other_counters_query(user: User | Viewer) -> Select:
    """The counters that do not depend on cadence, in one statement of scalar subqueries."""
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
    # The drafts the user may review and send: what /drafts lists.
    drafts = (
        select(func.count(Draft.id))
        .join(Application, Application.id == Draft.application_id)
        .join(Requisition, Requisition.id == Application.requisition_id)
        .where(Draft.status == DraftStatus.PENDING.value, editable_requisitions(user))
        .scalar_subquery()
    )
    return select(open_holds, closure_pending, failed, approvals, drafts)


def load_dashboard(
    user: User, statements: DashboardStatements, status_filter: str | None = None
) -> tuple[Counters, Page]:
    """The counters and one page of waiting applications, in a fixed number of queries.

    Usually three: the other counters, the page (carrying the cadence counts), and the holds
    blocking the page's rows. An empty page (nobody in that status, or an old link past the
    end) needs the cadence counts on their own, and past the end the last page is fetched.
    """
    if status_filter not in STATUS_FILTERS:
        status_filter = None
    parameters = {"viewer_id": user.id, "page_limit": PER_PAGE}
    others = db.session.execute(statements.other_counters, parameters).one()
    number = page_number()

    def fetch(page: int) -> list:
        offset = {"page_offset": (page - 1) * PER_PAGE}
        return db.session.execute(statements.pages[status_filter], parameters | offset).all()

    items = fetch(number)
    if items:
        first = items[0]
        by_status = (
            first.count_waiting,
            *(getattr(first, f"count_{s.value}") for s in COUNTED_STATUSES),
        )
    else:
        by_status = db.session.execute(statements.status_counts, parameters).one()
    figures = Counters(*(int(value or 0) for value in (*by_status, *others)))
    total = figures.count(STATUS_FILTERS[status_filter]) if status_filter else figures.waiting
    last_page = max(1, -(-total // PER_PAGE))
    if not items and number > last_page:
        number = last_page
        items = fetch(number) if total else []
    page = Page(items=items, page=number, per_page=PER_PAGE, total=total)
    return figures, _present(user, page)


def _present(user: User, page: Page) -> Page:
    """Turn the page's rows into WaitingRows, with their holds and suggested messages."""
    hold_ids = {row.hold_id for row in page.items if row.hold_id is not None}
    holds = (
        {hold.id: hold for hold in db.session.scalars(select(Hold).where(Hold.id.in_(hold_ids)))}
        if hold_ids
        else {}
    )
    application_ids = [row.application_id for row in page.items if row.hold_id is not None]
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
        hold = holds.get(row.hold_id)
        notice_at = last_notice.get(row.application_id)
        if notice_at is not None and notice_at.tzinfo is None:
            notice_at = notice_at.replace(tzinfo=UTC)
        needs_notice = hold is not None and (notice_at is None or notice_at < hold.opened_at)
        rows.append(
            WaitingRow(
                application_id=row.application_id,
                candidate_id=row.candidate_id,
                candidate_name=row.candidate_name,
                requisition_id=row.requisition_id,
                requisition_title=row.requisition_title,
                stage=row.stage,
                status=CadenceStatus(row.status),
                next_update_due=as_date(row.next_update_due),
                business_days_silent=int(row.business_days_silent or 0),
                last_contact_at=row.last_contact_at,
                failed_deliveries=int(row.failed_deliveries or 0),
                hold=hold,
                suggested_category=(
                    TemplateCategory.HOLD_NOTICE if needs_notice else TemplateCategory.CHECK_IN
                ).value,
                can_send=user.sees_everything or row.manager_id == user.id,
            )
        )
    page.items = rows
    return page
