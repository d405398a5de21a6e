"""JSON API v1: drafts awaiting review and the outbox."""

from sqlalchemy import select

from hiretrack.api import presenters as present
from hiretrack.api import schemas as s
from hiretrack.api.blueprint import HIRING_ROLES, api
from hiretrack.auth import access
from hiretrack.auth.models import User
from hiretrack.candidates.models import Application
from hiretrack.errors import NotFound, PermissionDenied, ValidationFailed
from hiretrack.extensions import db
from hiretrack.messages import after_delivery
from hiretrack.messages.drafts import reviewable_applications, send_drafts
from hiretrack.messages.models import Draft, OutboxEmail

DraftPage = s.page_of(s.DraftOut)
OutboxPage = s.page_of(s.OutboxOut)


@api.operation(
    "GET",
    "/drafts",
    summary="List drafts",
    tag="Messages",
    response=DraftPage,
    query=s.DraftQuery,
)
def list_drafts(user: User, query: s.DraftQuery):
    """List drafts awaiting review (or `status=sent|discarded`), e.g. the ones a hold prepared."""
    access.require_draft_reviewer(user)
    statement = (
        select(Draft)
        .join(Application, Draft.application_id == Application.id)
        .where(reviewable_applications(user), Draft.status == query.status)
        .options(*present.DRAFT_LOADING)
        .order_by(Draft.id)
    )
    if query.hold_id is not None:
        statement = statement.where(Draft.hold_id == query.hold_id)
    if query.requisition_id is not None:
        statement = statement.where(Application.requisition_id == query.requisition_id)
    return DraftPage.model_validate(present.paginate(statement, query, present.drafts))


@api.operation(
    "POST",
    "/drafts/send",
    summary="Send drafts, all or none",
    tag="Messages",
    response=s.DraftsSent,
    body=s.DraftSend,
)
def send_reviewed_drafts(user: User, body: s.DraftSend):
    """Send the drafts together; if any one cannot be sent, none is, and 422 says which."""
    access.require_draft_reviewer(user)
    ids = list(dict.fromkeys(body.ids))
    found = {
        draft.id: draft
        for draft in db.session.scalars(
            select(Draft).where(Draft.id.in_(ids)).options(*present.DRAFT_LOADING)
        )
    }
    refused: dict[str, list[str]] = {}
    for draft_id in ids:
        draft = found.get(draft_id)
        try:
            if draft is None:
                raise NotFound("No such draft.")
            access.get_application(user, draft.application_id, for_edit=True)
        except (NotFound, PermissionDenied) as error:
            refused[str(draft_id)] = [error.message]
    if refused:
        raise ValidationFailed("Nothing was sent: some drafts cannot be sent by you.", refused)
    drafts = [found[draft_id] for draft_id in ids]
    sent = send_drafts(user, drafts)
    db.session.flush()
    results = [
        s.DraftSent(
            draft_id=draft.id,
            status=draft.status,
            application_id=draft.application_id,
            application_stage=draft.application.stage,
            touchpoint_id=message.touchpoint.id,
            outbox_id=message.outbox.id,
            outbox_status=message.outbox.status,
        )
        for draft, message in zip(drafts, sent, strict=True)
    ]
    db.session.commit()
    return s.DraftsSent(sent=len(results), results=results)


def _outbox_scope(user: User):
    """Outbox rows this user may see: those of visible applications (all, for recruiters)."""
    access.require_role(user, *HIRING_ROLES)
    if access.can_manage_all(user):
        return select(OutboxEmail)
    return (
        select(OutboxEmail)
        .outerjoin(Application, OutboxEmail.application_id == Application.id)
        .where(access.visible_applications(user))
    )


@api.operation(
    "GET",
    "/outbox",
    summary="List outbox emails",
    tag="Messages",
    response=OutboxPage,
    query=s.OutboxQuery,
)
def list_outbox(user: User, query: s.OutboxQuery):
    """List emails waiting, sent or failed, newest first."""
    statement = _outbox_scope(user).order_by(OutboxEmail.created_at.desc(), OutboxEmail.id.desc())
    if query.status is not None:
        statement = statement.where(OutboxEmail.status == query.status)
    if query.application_id is not None:
        statement = statement.where(OutboxEmail.application_id == query.application_id)
    # Everyone's mail: count a capped number of rows, not the whole outbox on every request.
    return OutboxPage.model_validate(
        present.paginate(statement, query, present.outboxes, capped=access.can_manage_all(user))
    )


@api.operation(
    "POST",
    "/outbox/<int:outbox_id>/retry",
    summary="Re-queue a failed email",
    tag="Messages",
    response=s.OutboxOut,
)
def retry_outbox(user: User, outbox_id: int):
    """Queue a failed email again, to the candidate's current address (after a typo was fixed)."""
    outbox = db.session.scalars(_outbox_scope(user).where(OutboxEmail.id == outbox_id)).first()
    if outbox is None:
        raise NotFound("No such outbox email.")
    if outbox.application_id is not None:
        access.get_application(user, outbox.application_id, for_edit=True)
    after_delivery.requeue(outbox, user)
    db.session.commit()
    return present.outbox(outbox)
