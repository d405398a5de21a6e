"""JSON API v1: holds on requisitions and applications, with the drafts they prepare."""

from sqlalchemy import select

from hiretrack.api import presenters as present
from hiretrack.api import schemas as s
from hiretrack.api.blueprint import api
from hiretrack.auth import access
from hiretrack.auth.models import User
from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.holds.models import Hold
from hiretrack.holds.services import place_hold, resolve_hold

HoldPage = s.page_of(s.HoldOut)


def _hold_values(body: s.HoldCreate) -> dict:
    return body.model_dump()


def _hold_with_drafts(result) -> s.HoldWithDrafts:
    """Commit a hold change and present the hold with the drafts it prepared."""
    draft_ids = [draft.id for draft in result.drafts]
    db.session.commit()
    return s.HoldWithDrafts(hold=present.hold(result.hold), drafts=present.load_drafts(draft_ids))


@api.operation(
    "POST",
    "/requisitions/<int:requisition_id>/holds",
    summary="Put a requisition on hold",
    tag="Holds",
    response=s.HoldWithDrafts,
    status=201,
    body=s.HoldCreate,
)
def hold_requisition(user: User, requisition_id: int, body: s.HoldCreate):
    """Place a hold on a whole requisition: a hold notice is drafted for each open candidate."""
    requisition = access.get_requisition(user, requisition_id, for_edit=True)
    return _hold_with_drafts(place_hold(user, requisition, **_hold_values(body)))


@api.operation(
    "POST",
    "/applications/<int:application_id>/holds",
    summary="Put one application on hold",
    tag="Holds",
    response=s.HoldWithDrafts,
    status=201,
    body=s.HoldCreate,
)
def hold_application(user: User, application_id: int, body: s.HoldCreate):
    """Place a hold on one candidacy (a visa or background check): its hold notice is drafted."""
    application = access.get_application(user, application_id, for_edit=True)
    result = place_hold(
        user, application.requisition, application=application, **_hold_values(body)
    )
    return _hold_with_drafts(result)


@api.operation(
    "GET",
    "/holds",
    summary="List holds",
    tag="Holds",
    response=HoldPage,
    query=s.HoldQuery,
)
def list_holds(user: User, query: s.HoldQuery):
    """List holds you may see; `status=open` includes overdue ones, `overdue` only those."""
    statement = (
        select(Hold)
        .where(access.visible_holds(user))
        .options(*present.HOLD_LOADING)
        .order_by(Hold.opened_at.desc(), Hold.id.desc())
    )
    if query.requisition_id is not None:
        statement = statement.where(Hold.requisition_id == query.requisition_id)
    if query.status == s.HoldStatus.RESOLVED:
        statement = statement.where(Hold.resolved_at.is_not(None))
    elif query.status == s.HoldStatus.OPEN:
        statement = statement.where(Hold.resolved_at.is_(None))
    elif query.status == s.HoldStatus.OVERDUE:
        statement = statement.where(
            Hold.resolved_at.is_(None), Hold.expected_clear_date < utcnow().date()
        )
    return HoldPage.model_validate(present.paginate(statement, query, present.holds))


@api.operation(
    "GET",
    "/holds/<int:hold_id>",
    summary="Get a hold",
    tag="Holds",
    response=s.HoldOut,
)
def get_hold(user: User, hold_id: int):
    """Read one hold you may see."""
    return present.hold(access.get_hold(user, hold_id))


@api.operation(
    "POST",
    "/holds/<int:hold_id>/resolve",
    summary="Clear or cancel a hold",
    tag="Holds",
    response=s.HoldWithDrafts,
    body=s.HoldResolve,
)
def resolve(user: User, hold_id: int, body: s.HoldResolve):
    """Clear (moving-forward drafts) or cancel (closure drafts) a hold; its owner may too."""
    hold = access.get_hold(user, hold_id, for_edit=True)
    result = resolve_hold(
        user,
        hold,
        body.outcome,
        body.note,
        expected_version=body.version,
        public_cancellation_reason=body.public_cancellation_reason,
    )
    return _hold_with_drafts(result)
