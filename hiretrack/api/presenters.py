"""Turn model objects into response shapes, a page at a time, in a fixed number of queries.

Each list endpoint loads its rows with the eager-loading options defined here, and derived figures
(cadence, open holds) come from one batch query per page, never one query per row.
"""

from collections.abc import Sequence
from datetime import date

from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload

from hiretrack.api import schemas
from hiretrack.approvals.models import Approval
from hiretrack.cadence.queries import cadence_for
from hiretrack.candidates.models import Application
from hiretrack.candidates.stages import allowed_next_stages
from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.holds.models import Hold
from hiretrack.holds.queries import open_holds_for_applications
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
    statement: Select, query: schemas.PageQuery, present, total: int | None = None
) -> dict:
    """Run one page of `statement` and present its rows: {"items", "page", "per_page", "total"}.

    Pass `total` when it is known without counting the rows (e.g. from the cadence tally).
    """
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
    }


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
                    "open_holds": [
                        {
                            "id": item.id,
                            "reason": item.reason,
                            "summary": item.summary,
                            "expected_clear_date": item.expected_clear_date,
                            "overdue": item.is_overdue(today),
                        }
                        for item in blocking.get(row.id, [])
                    ],
                    "allowed_next_stages": allowed_next_stages(row.stage),
                }
            )
        )
    return presented


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
