"""The dashboard's figures, each computed by the database so the page costs the same at any size."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Subquery,
    and_,
    bindparam,
    case,
    func,
    literal,
    select,
    true,
    union_all,
)

from hiretrack.approvals.models import Approval, Decision
from hiretrack.auth.access import (
    Viewer,
    can_manage_all,
    editable_requisitions,
    visible_applications,
    visible_holds,
    visible_requisitions,
)
from hiretrack.auth.models import User
from hiretrack.cadence.calendar import add_business_days
from hiretrack.cadence.queries import (
    CadenceStatus,
    as_date,
    business_days_silent_since,
    cadence_key,
    is_open,
    status_conditions,
)
from hiretrack.cadence.tally import status_counts
from hiretrack.candidates.models import Application, Candidate
from hiretrack.candidates.stages import LABELS, Stage
from hiretrack.database import memoized_statement, plain_rows
from hiretrack.extensions import db
from hiretrack.holds.models import Hold, clear_date_passed
from hiretrack.holds.queries import oldest_open_hold_id
from hiretrack.inbound.queries import SORTING_ROLES, open_unmatched_count_query
from hiretrack.messages.models import (
    FAILED_STATUSES,
    Draft,
    DraftStatus,
    OutboxEmail,
    OutboxStatus,
    TemplateCategory,
)
from hiretrack.requisitions.models import Requisition
from hiretrack.sqltypes import unindexed
from hiretrack.web import PER_PAGE, Page, page_number

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
    unmatched_mail: int  # 0 for those who do not sort it (`SORTING_ROLES`)

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


@dataclass(frozen=True, slots=True)
class BlockingHold:
    """The oldest open hold stopping a row: what the row shows of it."""

    summary: str
    opened_at: datetime
    expected_clear_date: date | None

    def is_overdue(self, today: date) -> bool:
        return clear_date_passed(self.expected_clear_date, today)


@dataclass(slots=True)
class WaitingRow:
    """One open application on the dashboard, with everything the row shows.

    Slots, not frozen: a frozen dataclass sets each field through object.__setattr__, which
    made building a page's 25 rows cost twice as much.
    """

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
    hold: BlockingHold | None
    suggested_category: str
    can_send: bool

    @property
    def stage_label(self) -> str:
        return LABELS[Stage(self.stage)]


def _failed_delivery() -> ColumnElement[bool]:
    """The SQL condition on OutboxEmail for the deliveries a manager must look at
    (`messages.models.FAILED_STATUSES`), with a bound value each.

    A plain `in_(FAILED_STATUSES)` is an expanding parameter, whose SQL SQLAlchemy rewrites on
    every execution; both dashboard statements carried one.
    """
    return OutboxEmail.status.in_([literal(status.value) for status in FAILED_STATUSES])


def _failed_count(application_id):
    return (
        select(func.count(OutboxEmail.id))
        .where(
            OutboxEmail.application_id == application_id,
            _failed_delivery(),
        )
        .scalar_subquery()
    )


#: The dashboard's order in runs that an index serves: a status, and within on track those with
#: a date due before those without. Each run is ordered by (next update due, silent since, id).
BUCKETS = (
    CadenceStatus.GHOSTED,
    CadenceStatus.OVERDUE,
    CadenceStatus.DUE,
    CadenceStatus.ON_TRACK,
    CadenceStatus.ON_TRACK,
)
UNDATED = len(BUCKETS) - 1


def bucket_conditions(today: date, next_business_day: date) -> list[ColumnElement[bool]]:
    """The SQL condition of each run in BUCKETS, on the stored cadence dates.

    The bounds on next_update_due repeat what due_from says (due from the business day before),
    so that each run is one range of the index in the order it shows. ghosted_on is checked as
    a filter (`unindexed`) while that index is read: by an index on it, PostgreSQL read and
    sorted every ghosted application for a page of 25 (statement 0.65 -> 0.32 ms of server CPU
    for the recruiter at 400,000 applications).
    """
    conditions = status_conditions(today, ghosted_on=unindexed(Application.ghosted_on))
    due = Application.next_update_due
    return [
        conditions[CadenceStatus.GHOSTED],
        conditions[CadenceStatus.OVERDUE],
        and_(conditions[CadenceStatus.DUE], due <= next_business_day),
        and_(conditions[CadenceStatus.ON_TRACK], due > next_business_day),
        and_(conditions[CadenceStatus.ON_TRACK], due.is_(None)),
    ]


@dataclass(frozen=True)
class DashboardStatements:
    """The dashboard's statements for one role and day.

    - `bucket_counts`: one row: how many waiting applications the user has, and how many in each
      run of BUCKETS but the dated on track (the rest). For those who see everything, from the
      cadence tally; for the others, a sum over their rows;
    - `page`: one page, as the union of a LIMIT/OFFSET slice of each run (the ones the page does
      not reach get LIMIT 0), each slice read in index order; failed deliveries, the blocking
      hold and (for a held row) the last hold notice are looked up for the page's rows only, in
      the same statement. When `in_one_run`, for users who see a few
      requisitions, one LIMIT/OFFSET slice of their rows sorted by run, the runs shown given as
      a range (`first_run`, `last_run`: each filter shows adjacent runs);
    - `other_counters`: holds, closure pending, failed deliveries, approvals and drafts;
    - `counters`: the two rows of counts side by side, in one statement (a round trip fewer);
    - `counters_and_page`: when `in_one_run`, the counters with the page's rows beside them
      (each row carries the counters; with no rows, one row of counters and an empty page).
      Those who see everything need the counts first: they say where the page starts in each
      run. (Reading each run's first page instead cost PostgreSQL more than the round trip.)
    """

    bucket_counts: Select
    page: Select
    other_counters: Select
    counters: Select
    counters_and_page: Select | None
    #: The viewer sees every application (recruiters, admins), not a few requisitions' worth.
    sees_everything: bool

    @property
    def in_one_run(self) -> bool:
        return not self.sees_everything


def dashboard_statements(user: User, today: date | None = None) -> DashboardStatements:
    """The statements behind the user's dashboard, built once per process, role and day."""
    key = (cadence_key(today), user.role)
    return memoized_statement(
        "dashboard", key, lambda: _build_statements(Viewer(user.role), key[0][0], key[0][1])
    )


def _bucket_counts(
    viewer: Viewer, conditions: list[ColumnElement[bool]], today: date, next_business_day: date
) -> Select:
    """The waiting applications, then the count in each run but the dated on track.

    For those who see everything, from the cadence tally (a few dozen rows, where counting the
    runs in the indexes grows with the company's open applications); for the others, a sum
    over their own rows.
    """
    if can_manage_all(viewer):
        return status_counts(today, next_business_day)
    scope = and_(is_open(True), visible_applications(viewer))
    counted = (*conditions[:3], conditions[UNDATED])
    return (
        select(
            func.count(),
            *(func.coalesce(func.sum(case((condition, 1), else_=0)), 0) for condition in counted),
        )
        .select_from(Application)
        .where(scope)
    )


def _build_statements(viewer: Viewer, today: date, holidays: str | None) -> DashboardStatements:
    next_business_day = add_business_days(today + timedelta(days=1), 0, holidays)
    conditions = bucket_conditions(today, next_business_day)
    scope = and_(is_open(not can_manage_all(viewer)), visible_applications(viewer))
    bucket_counts = _bucket_counts(viewer, conditions, today, next_business_day)
    # For a user who sees a few requisitions, read their rows and sort them, rather than walk
    # the index of every open application in order until enough of theirs turn up.
    if can_manage_all(viewer):
        rows = _runs_in_index_order(scope, conditions)
        page = _page_of(rows, rows.c.status, today)
    else:
        rows = _own_rows_in_one_run(scope, conditions)
        status = case(*((rows.c.bucket == index, run.value) for index, run in enumerate(BUCKETS)))
        page = _page_of(rows, status, today)
    others = other_counters_query(viewer)
    counted, other = bucket_counts.subquery("bucket_counts"), others.subquery("other_counters")
    counters = select(counted, other).select_from(counted.join(other, true()))  # one row each
    counters_and_page = None
    if not can_manage_all(viewer):
        # Their page needs no counts to know its slice (see `_page_parameters`).
        shown = page.subquery("shown")
        counters_and_page = (
            counters.add_columns(shown)
            .outerjoin(shown, true())
            .order_by(*(shown.c[name] for name in _PAGE_ORDER))
        )
    return DashboardStatements(
        bucket_counts,
        page,
        others,
        counters,
        counters_and_page,
        sees_everything=can_manage_all(viewer),
    )


def _page_of(rows: Subquery, status: ColumnElement[str], today: date) -> Select:
    """The page's rows (ids and order keys in `rows`) with everything each row shows.

    The candidate, requisition, failed deliveries and blocking hold are looked up for these
    rows only. Each row's blocking hold, and for a held row when its candidate was last sent
    a hold notice, come with the row: two statements fewer than loading them after the page.
    The hold's columns are read by its id, each an index lookup: joined, PostgreSQL hashed
    every hold of the company for a page of 25 rows (0.3 ms at 400,000 applications).
    """
    listed = (
        select(
            rows.c.application_id,
            rows.c.next_update_due,
            rows.c.silent_since,
            status.label("status"),
            rows.c.bucket,
            Candidate.id.label("candidate_id"),
            Candidate.name.label("candidate_name"),
            Requisition.id.label("requisition_id"),
            Requisition.title.label("requisition_title"),
            Application.stage.label("stage"),
            Application.last_contact_at.label("last_contact_at"),
            Requisition.manager_id.label("manager_id"),
            business_days_silent_since(rows.c.silent_since, today).label("business_days_silent"),
            _failed_count(rows.c.application_id).label("failed_deliveries"),
            oldest_open_hold_id(rows.c.application_id, Requisition.id).label("hold_id"),
        )
        .join(Application, Application.id == rows.c.application_id)
        .join(Requisition, Requisition.id == Application.requisition_id)
        .join(Candidate, Candidate.id == Application.candidate_id)
        # OFFSET 0 keeps the databases from merging this into the statement around it, which
        # would look the blocking hold up again wherever hold_id is named (PostgreSQL did).
        .offset(0)
        .subquery("listed")
    )

    def of_hold(column: ColumnElement) -> ColumnElement:
        return select(column).where(Hold.id == listed.c.hold_id).scalar_subquery()

    notice = case((listed.c.hold_id.is_not(None), _last_hold_notice(listed.c.application_id)))
    return select(
        listed,
        of_hold(Hold.summary).label("hold_summary"),
        of_hold(Hold.opened_at).label("hold_opened_at"),
        of_hold(Hold.expected_clear_date).label("hold_clears_by"),
        notice.label("last_hold_notice_at"),
    ).order_by(*(listed.c[name] for name in _PAGE_ORDER))


#: The page's order, by the names of its columns: the run, then as each run is ordered.
_PAGE_ORDER = ("bucket", "next_update_due", "silent_since", "application_id")
_ORDER_COLUMNS = (Application.next_update_due, Application.silent_since, Application.id)


def _page_columns(*columns: ColumnElement) -> Select:
    return select(
        Application.id.label("application_id"),
        Application.next_update_due.label("next_update_due"),
        Application.silent_since.label("silent_since"),
        *columns,
    )


def _runs_in_index_order(scope: ColumnElement[bool], conditions: list) -> Subquery:
    """The page as a slice of each run, each read in the order of an index of every open row.

    Each slice reads the index alone (ids and order keys); the rows' other columns, the
    candidate and the requisition are joined for the page's rows only, not for every row a
    slice passes over (PostgreSQL joined all 1,500 ghosted before keeping 25: 120 ms).
    """
    slices = [
        _page_columns(literal(status.value).label("status"), literal(index).label("bucket"))
        .where(scope, conditions[index])
        .order_by(*_ORDER_COLUMNS)
        .limit(bindparam(f"limit_{index}", type_=Integer, literal_execute=True))
        .offset(bindparam(f"offset_{index}", type_=Integer, literal_execute=True))
        .subquery(f"run_{index}")
        for index, status in enumerate(BUCKETS)
    ]
    return union_all(*(select(part) for part in slices)).subquery("page")


def _own_rows_in_one_run(scope: ColumnElement[bool], conditions: list) -> Subquery:
    """The page as one slice of the user's rows, sorted by run and then as each run is.

    For a user who sees a few requisitions: read their rows and sort them once, rather than
    walk the index of every open application in order until enough of theirs turn up (and
    rather than read and sort them once a run: SQLite did, 0.3 ms of the page's statement).
    The conditions of the runs exclude each other, so the first that holds names the run.
    """
    bucket = case(*((condition, index) for index, condition in enumerate(conditions)))
    return (
        _page_columns(bucket.label("bucket"))
        .where(scope, bucket.between(bindparam("first_run"), bindparam("last_run")))
        .order_by(bucket, *(func.coalesce(column, column) for column in _ORDER_COLUMNS))
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
        .subquery("page")
    )


def other_counters_query(user: User | Viewer) -> Select:
    """The counters that do not depend on cadence, in one statement of scalar subqueries.

    Rows are counted with `count(*)`, not `count(id)`: a count that names no column can be
    answered from an index alone (PostgreSQL's index-only scans of the failed deliveries'
    status index, and of a manager's open holds per requisition), where naming the id read
    each row.
    """
    open_holds = (
        select(func.count())
        .select_from(Hold)
        .where(Hold.resolved_at.is_(None), visible_holds(user))
        .scalar_subquery()
    )
    # Stored per requisition (see hiretrack.requisitions.closure_pending): its index reads only
    # the requisitions that owe something, where counting from the applications started from
    # every closed requisition.
    closure_pending = (
        select(func.coalesce(func.sum(Requisition.closure_pending), 0))
        .where(Requisition.closure_pending > 0, visible_requisitions(user))
        .scalar_subquery()
    )
    if can_manage_all(user):
        # Everyone's candidates: read the status index alone, without joining every row.
        failed = (
            select(func.count())
            .select_from(OutboxEmail)
            .where(_failed_delivery(), OutboxEmail.application_id.is_not(None))
            .scalar_subquery()
        )
    else:
        # Kept per requisition by the database (hiretrack.messages.requisition_counts): the
        # user's few requisitions, where counting from their applications read every one they
        # ever had, closed ones included, to find the few failed.
        failed = (
            select(func.coalesce(func.sum(Requisition.failed_deliveries), 0))
            .where(visible_requisitions(user))
            .scalar_subquery()
        )
    approvals = (
        select(func.count(Approval.id))
        .where(Approval.approver_id == user.id, Approval.decision == Decision.PENDING.value)
        .scalar_subquery()
    )
    # The drafts the user may review and send: what /drafts lists.
    if can_manage_all(user):
        # Everyone's drafts: the status index alone, without joining each to its requisition.
        drafts = (
            select(func.count()).select_from(Draft).where(Draft.status == DraftStatus.PENDING.value)
        )
    else:
        # Kept per requisition, as failed deliveries are.
        drafts = select(func.coalesce(func.sum(Requisition.drafts_waiting), 0)).where(
            editable_requisitions(user)
        )
    drafts = drafts.scalar_subquery()
    # Those who sort unmatched mail see how much waits (the rule: `open_unmatched_count_query`).
    if user.role in SORTING_ROLES:
        unmatched = open_unmatched_count_query().scalar_subquery()
    else:
        unmatched = literal(0)
    return select(
        open_holds, closure_pending, failed, approvals, drafts, unmatched.label("unmatched_mail")
    )


def load_dashboard(
    user: User, statements: DashboardStatements, status_filter: str | None = None
) -> tuple[Counters, Page]:
    """The counters and one page of waiting applications, in a fixed number of queries.

    For those who see a few requisitions, one: the counters with the asked-for page (one
    sorted slice of their rows) beside them. For those who see everything, two: the counts say
    which runs the page reaches, so only their slices are read. A link past the end shows the
    last page (read again for it).
    """
    if status_filter not in STATUS_FILTERS:
        status_filter = None
    shown = STATUS_FILTERS[status_filter] if status_filter else tuple(CadenceStatus)
    included = [status in shown for status in BUCKETS]
    # Plain rows only: the session's connection runs them without the ORM's execution steps.
    connection = db.session.connection()
    asked = page_number()
    items = None
    if statements.in_one_run:
        parameters = _page_parameters(user, statements, included, asked, counts=None)
        rows = connection.execute(statements.counters_and_page, parameters).all()
        row = rows[0]  # one at least: the counters, with an empty page beside them
        items = [row for row in rows if row.application_id is not None]
    else:
        row = connection.execute(statements.counters, {"viewer_id": user.id}).one()
    width = len(statements.bucket_counts.selected_columns)
    waiting, *counted = (int(value or 0) for value in row[:width])
    others = row[width : len(statements.counters.selected_columns)]
    counts = [*counted[:3], waiting - sum(counted), counted[3]]
    total = sum(count for count, wanted in zip(counts, included, strict=True) if wanted)
    number = min(asked, max(1, -(-total // PER_PAGE)))
    if items is None or number != asked:
        parameters = _page_parameters(user, statements, included, number, counts)
        items = connection.execute(statements.page, parameters).all() if total else []
    figures = Counters(sum(counts), *counts[:3], *(int(value or 0) for value in others))
    page = Page(items=items, page=number, per_page=PER_PAGE, total=total)
    return figures, _present(user, page)


def _page_parameters(
    user: User,
    statements: DashboardStatements,
    included: list[bool],
    number: int,
    counts: list[int] | None,
) -> dict[str, int]:
    """The bound values that pick page `number` of the runs `included`.

    One slice of a few requisitions' rows needs no counts: the runs shown, as a range (each
    filter's runs are adjacent in BUCKETS), and an offset (`counts` may be None). The slices
    of each run need the counts of each run, which say where the page starts in each.
    """
    parameters = {"viewer_id": user.id}
    if statements.in_one_run:
        shown_runs = [index for index, wanted in enumerate(included) if wanted]
        return parameters | {
            "first_run": shown_runs[0],
            "last_run": shown_runs[-1],
            "limit": PER_PAGE,
            "offset": (number - 1) * PER_PAGE,
        }
    start, position = (number - 1) * PER_PAGE, 0
    for index, wanted in enumerate(included):
        first = max(start, position)
        last = min(start + PER_PAGE, position + counts[index]) if wanted else first
        parameters[f"offset_{index}"] = max(0, start - position) if last > first else 0
        parameters[f"limit_{index}"] = max(0, last - first)
        position += counts[index] if wanted else 0
    return parameters


#: What counts as a hold notice sent to a row's candidate.
_HOLD_NOTICES = (
    OutboxEmail.category == TemplateCategory.HOLD_NOTICE.value,
    OutboxEmail.status != OutboxStatus.CANCELLED.value,
)


def _last_hold_notice(application_id: ColumnElement[int]) -> ColumnElement:
    """When the application's candidate was last sent a hold notice, as a column of the page."""
    return (
        select(func.max(OutboxEmail.created_at))
        .where(OutboxEmail.application_id == application_id, *_HOLD_NOTICES)
        .scalar_subquery()
    )


def _present(user: User, page: Page) -> Page:
    """Turn the page's rows into WaitingRows, with their holds and suggested messages."""
    rows = []
    for row in plain_rows(page.items):
        hold = None
        needs_notice = False
        if row["hold_id"] is not None:
            hold = BlockingHold(
                row["hold_summary"], row["hold_opened_at"], as_date(row["hold_clears_by"])
            )
            notice_at = row["last_hold_notice_at"]
            needs_notice = notice_at is None or notice_at < hold.opened_at
        rows.append(
            WaitingRow(
                application_id=row["application_id"],
                candidate_id=row["candidate_id"],
                candidate_name=row["candidate_name"],
                requisition_id=row["requisition_id"],
                requisition_title=row["requisition_title"],
                stage=row["stage"],
                status=CadenceStatus(row["status"]),
                next_update_due=as_date(row["next_update_due"]),
                business_days_silent=int(row["business_days_silent"] or 0),
                last_contact_at=row["last_contact_at"],
                failed_deliveries=int(row["failed_deliveries"] or 0),
                hold=hold,
                suggested_category=(
                    TemplateCategory.HOLD_NOTICE if needs_notice else TemplateCategory.CHECK_IN
                ).value,
                can_send=user.sees_everything or row["manager_id"] == user.id,
            )
        )
    page.items = rows
    return page
