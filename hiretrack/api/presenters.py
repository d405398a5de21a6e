"""Turn model objects into response shapes, a page at a time, in a fixed number of queries.

Each list endpoint loads its rows with the eager-loading options defined here, and derived figures
(cadence, open holds) come from one batch query per page, never one query per row.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Integer, Select, and_, bindparam, case, func, literal, select
from sqlalchemy.orm import joinedload

from hiretrack.api import schemas
from hiretrack.approvals.models import Approval
from hiretrack.cadence.queries import as_date, cadence_for, cadence_query, is_open
from hiretrack.candidates.models import Application, Candidate
from hiretrack.candidates.stages import FINAL_STAGES, LABELS, allowed_next_stages
from hiretrack.database import plain_rows, utcnow
from hiretrack.extensions import db
from hiretrack.holds.models import Hold, clear_date_passed
from hiretrack.holds.queries import hold_stops, open_holds_for_applications
from hiretrack.messages.models import Draft
from hiretrack.offers.models import Offer
from hiretrack.requisitions.models import Requisition

REQUISITION_LOADING = (joinedload(Requisition.department), joinedload(Requisition.manager))
APPROVAL_LOADING = (joinedload(Approval.approver),)
HOLD_LOADING = (joinedload(Hold.owner),)
DRAFT_LOADING = (
    joinedload(Draft.template),
    joinedload(Draft.application).joinedload(Application.candidate),
)
APPLICATION_LOADING = (joinedload(Application.candidate), joinedload(Application.requisition))


def paginate(
    statement: Select,
    query: schemas.PageQuery,
    present,
    total: int | None = None,
    capped: bool = False,
) -> dict:
    """Run one page of `statement` and present its rows: {"items", "page", "per_page", "total",
    "total_capped"}.

    Pass `total` when it is known without counting the rows (e.g. from the cadence tally), or
    `capped` to count at most TOTAL_COUNT_LIMIT rows past the page's first (lists of the whole
    organisation, whose tables grow with the company).
    """
    total_capped = False
    if total is None and capped:
        total, total_capped = _capped_count(_capped_count_statement(statement), query, {})
    result = db.paginate(
        statement,
        page=query.page,
        per_page=query.per_page,
        max_per_page=schemas.MAX_PER_PAGE,
        error_out=False,
        count=total is None,
    )
    return {
        "items": present(list(result.items)),
        "page": query.page,
        "per_page": query.per_page,
        "total": (result.total or 0) if total is None else total,
        "total_capped": total_capped,
    }


def _capped_count_statement(statement: Select) -> Select:
    """Count the rows of `statement`, at most `count_limit` of them (a bound parameter)."""
    # A constant for each row: a subquery of whole rows reads their columns too.
    rows = statement.with_only_columns(literal(1), maintain_column_froms=True).order_by(None)
    return select(func.count()).select_from(rows.limit(bindparam("count_limit")).subquery())


def _capped_count(count: Select, query: schemas.PageQuery, parameters: dict) -> tuple[int, bool]:
    """(total, capped): the rows counted up to TOTAL_COUNT_LIMIT past the page's first."""
    limit = (query.page - 1) * query.per_page + schemas.TOTAL_COUNT_LIMIT
    counted = db.session.scalar(count, {**parameters, "count_limit": limit + 1})
    return min(counted, limit), counted > limit


def requisition(row: Requisition) -> schemas.RequisitionOut:
    return schemas.RequisitionOut.model_validate(
        {
            **columns(row),
            "department_name": row.department.name,
            "manager_name": row.manager.name,
        }
    )


def requisitions(rows: Sequence[Requisition]) -> list[schemas.RequisitionOut]:
    return [requisition(row) for row in rows]


def approval(row: Approval) -> schemas.ApprovalOut:
    return schemas.ApprovalOut.model_validate({**columns(row), "approver_name": row.approver.name})


def approvals(rows: Sequence[Approval]) -> list[schemas.ApprovalOut]:
    return [approval(row) for row in rows]


def hold_status(row: Hold, today: date) -> schemas.HoldStatus:
    if not row.is_open:
        return schemas.HoldStatus.RESOLVED
    return schemas.HoldStatus.OVERDUE if row.is_overdue(today) else schemas.HoldStatus.OPEN


def hold(row: Hold, today: date | None = None) -> schemas.HoldOut:
    today = today or utcnow().date()
    return schemas.HoldOut.model_validate(
        {**columns(row), "owner_name": row.owner_label, "status": hold_status(row, today)}
    )


def holds(rows: Sequence[Hold]) -> list[schemas.HoldOut]:
    today = utcnow().date()
    return [hold(row, today) for row in rows]


def draft(row: Draft) -> schemas.DraftOut:
    return schemas.DraftOut.model_validate(
        {
            **columns(row),
            "candidate_id": row.application.candidate_id,
            "candidate_name": row.application.candidate.name,
            "template": row.template.slug,
            "category": row.template.category,
            "outbox_id": row.outbox_email_id,
        }
    )


def drafts(rows: Sequence[Draft]) -> list[schemas.DraftOut]:
    return [draft(row) for row in rows]


def load_drafts(ids: list[int]) -> list[schemas.DraftOut]:
    """Present drafts by id (e.g. the ones a hold just prepared), in one query."""
    if not ids:
        return []
    rows = db.session.scalars(
        select(Draft).where(Draft.id.in_(ids)).options(*DRAFT_LOADING).order_by(Draft.id)
    ).all()
    return drafts(rows)


def applications(rows: Sequence[Application]) -> list[schemas.ApplicationOut]:
    """Present applications with cadence and open holds: two queries for the whole page."""
    rows = list(rows)
    cadence = cadence_for([row.id for row in rows if row.closed_at is None])
    blocking = open_holds_for_applications(rows)
    today = utcnow().date()
    presented = []
    for row in rows:
        figures = cadence.get(row.id)
        presented.append(
            schemas.ApplicationOut.model_validate(
                {
                    **columns(row),
                    "candidate_name": row.candidate.name,
                    "requisition_title": row.requisition.title,
                    "stage_label": row.stage_label,
                    "open": row.is_open,
                    "cadence": figures.status if figures else None,
                    "next_update_due": figures.next_update_due if figures else None,
                    "business_days_silent": figures.business_days_silent if figures else None,
                    "open_holds": _hold_briefs(blocking.get(row.id, []), today),
                    "allowed_next_stages": allowed_next_stages(row.stage),
                }
            )
        )
    return presented


@dataclass(frozen=True)
class ListStatements:
    """A list's page of rows (LIMIT and OFFSET given per call) and its count.

    `page_and_count` is the page with the count in each row (`list_total`): one statement,
    and on PostgreSQL one round trip, where the page and the count were two.
    """

    page: Select
    count: Select
    capped_count: Select
    page_and_count: Select


def list_statements(statement: Select) -> ListStatements:
    """The statements `application_page` runs for the applications `statement` selects.

    The page reads the ids `statement` picks (it lists in id order) and their columns in one
    statement; the ids' subquery is not correlated, as it names the same tables.

    On PostgreSQL, LIMIT and OFFSET are written into the SQL text when it runs
    (`literal_execute`; both are ints, from the validated `PageQuery`). As parameters,
    PostgreSQL planned the organisation-wide page on every call at 400,000 applications (0
    generic, 25 custom plans after 30 calls): a plan made without the limit assumes a tenth of
    the rows will be read. Each page size and offset is then a statement of its own, planned
    once per connection. SQLite keeps them as parameters: it plans no differently for them, and
    rendering them costs SQLAlchemy about 25 us a call.
    """
    in_text = db.engine.dialect.name == "postgresql"
    page_ids = (
        statement.with_only_columns(Application.id, maintain_column_froms=True)
        .limit(bindparam("limit", type_=Integer, literal_execute=in_text))
        .offset(bindparam("offset", type_=Integer, literal_execute=in_text))
        .correlate(None)
    )
    page = (
        _application_columns()
        .where(Application.id.in_(page_ids))
        .order_by(Application.id, Hold.opened_at, Hold.id)
    )
    count = select(func.count()).select_from(statement.order_by(None).subquery())
    return ListStatements(
        page,
        count,
        _capped_count_statement(statement),
        page.add_columns(count.correlate(None).scalar_subquery().label("list_total")),
    )


def application_page(
    statements: ListStatements,
    query: schemas.PageQuery,
    viewer_id: int,
    total: int | None = None,
    capped: bool = False,
) -> dict:
    """One page of the application list, read as plain rows: {"items", "page", "per_page", "total",
    "total_capped"}.

    What `paginate(statement, ..., applications)` gives, in fewer statements (the page's rows
    with their cadence and open holds; the count unless `total` is given) and without
    building ORM objects that are only serialised: half the list's CPU went there. An
    uncapped count is read with the page, in the same statement.
    """
    parameters = {
        "viewer_id": viewer_id,
        "limit": int(query.per_page),
        "offset": (int(query.page) - 1) * int(query.per_page),
    }
    total_capped = False
    # Plain rows: on the session's connection, without the ORM's execution and result layers.
    connection = db.session.connection()
    if total is None and not capped:
        # The count rides on the page's rows; a page past the end has none to carry it.
        rows = connection.execute(statements.page_and_count, parameters).all()
        total = rows[0].list_total if rows else None
        if total is None:
            total = connection.scalar(statements.count, {"viewer_id": viewer_id})
    else:
        rows = connection.execute(statements.page, parameters).all()
    if total is None and capped:
        total, total_capped = _capped_count(
            statements.capped_count, query, {"viewer_id": viewer_id}
        )
    return {
        "items": application_rows(rows),
        "page": query.page,
        "per_page": query.per_page,
        "total": total or 0,
        "total_capped": total_capped,
    }


def application_rows(rows: Sequence) -> list[dict]:
    """Present rows of `_application_columns` as `applications` presents ORM objects, as the
    fields of `ApplicationOut`: the page's model validates them all in one call.

    An application stopped by several open holds comes as one row per hold, in a run (the
    page's order), and is presented once with all of them.
    """
    today = utcnow().date()
    items: list[dict] = []
    for fields in plain_rows(rows):
        hold = _hold_brief_of_row(fields, today)
        if items and items[-1]["id"] == fields["id"]:
            items[-1]["open_holds"].append(hold)
            continue
        for name in _NOT_FIELDS:
            fields.pop(name, None)
        stage = fields["stage"]
        fields["open"] = stage not in FINAL_STAGES
        fields["stage_label"] = LABELS[stage]
        fields["next_update_due"] = as_date(fields["next_update_due"])
        if fields["cadence"] is not None:
            fields["business_days_silent"] = int(fields["business_days_silent"] or 0)
        fields["open_holds"] = [] if hold is None else [hold]
        fields["allowed_next_stages"] = allowed_next_stages(stage)
        items.append(fields)
    return items


def _hold_brief_of_row(fields: dict, today: date) -> dict | None:
    """The open hold a row of `_application_columns` carries (None if none)."""
    if fields["hold_id"] is None:
        return None
    return _hold_brief(
        fields["hold_id"],
        fields["hold_reason"],
        fields["hold_summary"],
        fields["hold_expected_clear_date"],
        today,
    )


def _hold_brief(
    hold_id: int, reason: str, summary: str, expected_clear_date: date | None, today: date
) -> dict:
    """An open hold as an application lists it (`HoldBrief`): overdue once its day has passed."""
    return {
        "id": hold_id,
        "reason": reason,
        "summary": summary,
        "expected_clear_date": expected_clear_date,
        "overdue": clear_date_passed(expected_clear_date, today),
    }


def _application_columns() -> Select:
    """An application's columns as the API shows them, with cadence for open ones only, and
    the open holds stopping it: a row per hold, oldest first (`open_holds_stopping`'s order).

    The holds come in the page's statement: a statement of their own cost the manager's
    overdue list a round trip and an ORM load (about a fifth of its CPU).
    """
    _, cadence = cadence_query()
    # What `cadence_for` reads: open applications only.
    open_now = is_open()
    return (
        select(
            *(Application.__table__.c[name] for name in APPLICATION_COLUMNS),
            Candidate.name.label("candidate_name"),
            Requisition.title.label("requisition_title"),
            case((open_now, cadence.status)).label("cadence"),
            case((open_now, cadence.next_update_due)).label("next_update_due"),
            case((open_now, cadence.business_days_silent)).label("business_days_silent"),
            Hold.id.label("hold_id"),
            Hold.reason.label("hold_reason"),
            Hold.summary.label("hold_summary"),
            Hold.expected_clear_date.label("hold_expected_clear_date"),
        )
        .join(Requisition, Requisition.id == Application.requisition_id)
        .join(Candidate, Candidate.id == Application.candidate_id)
        .outerjoin(
            Hold,
            and_(
                hold_stops(Application.id, Application.requisition_id),
                Hold.resolved_at.is_(None),
            ),
        )
    )


#: The application's own columns the API shows (the rest of ApplicationOut is derived).
APPLICATION_COLUMNS = (
    "id",
    "candidate_id",
    "requisition_id",
    "stage",
    "opened_at",
    "stage_entered_at",
    "closed_at",
    "last_contact_at",
    "last_inbound_at",
    "promised_next_update",
    "version",
)
#: The columns of `_application_columns` (and the page's count) that are not `ApplicationOut`'s.
_NOT_FIELDS = ("hold_id", "hold_reason", "hold_summary", "hold_expected_clear_date", "list_total")


def _hold_briefs(holds: Sequence[Hold], today: date) -> list[dict]:
    """Open holds (`open_holds_for_applications`) as an application lists them."""
    return [
        _hold_brief(item.id, item.reason, item.summary, item.expected_clear_date, today)
        for item in holds
    ]


def application(row: Application) -> schemas.ApplicationOut:
    return applications([row])[0]


def offer(row: Offer) -> schemas.OfferOut:
    approvals_of_offer = sorted(row.approvals, key=lambda item: item.id)
    return schemas.OfferOut.model_validate(
        {**columns(row), "approvals": approvals(approvals_of_offer)}
    )


def touchpoint(row) -> schemas.TouchpointOut:
    return schemas.TouchpointOut.model_validate({**columns(row), "outbox_id": row.outbox_email_id})


def touchpoints(rows) -> list[schemas.TouchpointOut]:
    return [touchpoint(row) for row in rows]


def outbox(row) -> schemas.OutboxOut:
    return schemas.OutboxOut.model_validate(row)


def outboxes(rows) -> list[schemas.OutboxOut]:
    return [outbox(row) for row in rows]


def columns(row) -> dict:
    """The row's column values by attribute name."""
    return {column.key: getattr(row, column.key) for column in row.__mapper__.column_attrs}
