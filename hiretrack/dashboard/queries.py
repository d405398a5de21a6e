"""The dashboard's figures, each computed by the database so the page costs the same at any size."""

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Select, case, func, or_, select

from hiretrack.approvals.models import Approval, Decision
from hiretrack.auth.access import visible_applications, visible_holds, visible_requisitions
from hiretrack.auth.models import User
from hiretrack.cadence.queries import CadenceColumns, CadenceStatus, _as_date, cadence_query
from hiretrack.candidates.models import Application, Candidate
from hiretrack.candidates.stages import LABELS, Stage
from hiretrack.extensions import db
from hiretrack.holds.models import Hold
from hiretrack.messages.models import OutboxEmail, OutboxStatus, TemplateCategory
from hiretrack.requisitions.models import Requisition
from hiretrack.requisitions.services import closure_pending_condition
from hiretrack.web import Page, paginate

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


def waiting_query(user: User, today: date | None = None) -> tuple[Select, CadenceColumns]:
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


def counters(user: User, query: Select, columns: CadenceColumns) -> Counters:
    """Every counter in two queries: one over the cadence figures, one of scalar subqueries."""
    figures = query.order_by(None).with_only_columns(columns.status.label("status")).subquery()
    by_status = db.session.execute(
        select(
            func.count(),
            *(
                func.coalesce(func.sum(case((figures.c.status == status.value, 1), else_=0)), 0)
                for status in (CadenceStatus.GHOSTED, CadenceStatus.OVERDUE, CadenceStatus.DUE)
            ),
        ).select_from(figures)
    ).one()
    open_holds = (
        select(func.count(Hold.id))
        .where(Hold.resolved_at.is_(None), visible_holds(user))
        .scalar_subquery()
    )
    closure_pending = (
        select(func.count(Application.id))
        .join(Requisition, Requisition.id == Application.requisition_id)
        .where(closure_pending_condition(), visible_requisitions(user))
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
    others = db.session.execute(select(open_holds, closure_pending, failed, approvals)).one()
    return Counters(
        waiting=int(by_status[0]),
        ghosted=int(by_status[1]),
        overdue=int(by_status[2]),
        due=int(by_status[3]),
        open_holds=int(others[0]),
        closure_pending=int(others[1]),
        failed_deliveries=int(others[2]),
        approvals_waiting=int(others[3]),
    )


def waiting_page(
    user: User, query: Select, columns: CadenceColumns, status_filter: str | None = None
) -> Page:
    """One page of waiting applications, with their blocking holds, in a fixed number of queries."""
    if status_filter in STATUS_FILTERS:
        query = query.where(columns.status.in_([s.value for s in STATUS_FILTERS[status_filter]]))
    page = paginate(query, scalars=False)
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
                next_update_due=_as_date(row[7]),
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
