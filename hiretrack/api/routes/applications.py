"""JSON API v1: applications: stage changes, touchpoints, templated emails and offers."""

from datetime import date

from sqlalchemy import Select, select

from hiretrack.api import presenters as present
from hiretrack.api import schemas as s
from hiretrack.api.blueprint import api
from hiretrack.auth import access
from hiretrack.auth.models import User
from hiretrack.cadence.queries import cadence_key, cadence_query, status_conditions
from hiretrack.cadence.tally import organisation_count
from hiretrack.candidates.models import Application, Touchpoint
from hiretrack.candidates.services import (
    ClosureNote,
    apply_to_requisition,
    change_stage,
    log_touchpoint,
)
from hiretrack.database import memoized_statement, utcnow
from hiretrack.errors import NotFound
from hiretrack.extensions import db
from hiretrack.messages.services import get_template, send_message
from hiretrack.offers.services import offer_for, propose_offer

ApplicationPage = s.page_of(s.ApplicationOut)
TouchpointPage = s.page_of(s.TouchpointOut)


@api.operation(
    "GET",
    "/applications",
    summary="List applications",
    tag="Applications",
    response=ApplicationPage,
    query=s.ApplicationQuery,
)
def list_applications(user: User, query: s.ApplicationQuery):
    """List applications you may see, with cadence; `cadence` filters open ones in the database."""
    total = None
    if query.cadence is not None and access.can_manage_all(user) and _no_filter_but_cadence(query):
        # The whole organisation's count per status, from the tally: counting the rows grows
        # with the company's open applications.
        total = organisation_count(query.cadence)
    # Otherwise, for those who see everything, a capped count (the table grows with the company).
    page = present.application_page(
        _list_statements(user, query),
        query,
        user.id,
        total=total,
        capped=access.can_manage_all(user),
    )
    return ApplicationPage.model_validate(page)


def _list_statements(user: User, query: s.ApplicationQuery) -> present.ListStatements:
    """The list's statements, with the user's id a bound parameter (`access.Viewer`).

    Built once per process, day, role and status for the usual calls (no filter but the
    status): building and walking them again cost the manager's overdue list 0.8 ms a call.
    """
    viewer = access.Viewer(user.role)
    filters = (query.requisition_id, query.candidate_id, query.stage, query.open)
    if filters != (None, None, None, None):
        return present.list_statements(_list_statement(viewer, query, utcnow().date()))
    key = (cadence_key(), user.role, query.cadence)
    return memoized_statement(
        "api_applications",
        key,
        lambda: present.list_statements(_list_statement(viewer, query, key[0][0])),
    )


def _list_statement(viewer: access.Viewer, query: s.ApplicationQuery, today: date) -> Select:
    if query.cadence is not None:
        statement, _ = cadence_query(today, scoped=not access.can_manage_all(viewer))
        # The status as ranges on the stored dates, so an index over open applications serves
        # it; scoped on the joined requisition too, PostgreSQL starts from the user's
        # requisitions (see docs/benchmarks.md).
        statement = statement.where(
            status_conditions(today)[query.cadence], access.visible_requisitions(viewer)
        )
    else:
        statement = select(Application)
    statement = statement.where(access.visible_applications(viewer)).order_by(
        access.scoped_order(viewer, Application.id)
    )
    if query.requisition_id is not None:
        statement = statement.where(Application.requisition_id == query.requisition_id)
    if query.candidate_id is not None:
        statement = statement.where(Application.candidate_id == query.candidate_id)
    if query.stage is not None:
        statement = statement.where(Application.stage == query.stage)
    if query.open is True:
        statement = statement.where(Application.closed_at.is_(None))
    elif query.open is False:
        statement = statement.where(Application.closed_at.is_not(None))
    return statement


def _no_filter_but_cadence(query: s.ApplicationQuery) -> bool:
    return (query.requisition_id, query.candidate_id, query.stage) == (None, None, None) and (
        query.open is not False
    )


@api.operation(
    "POST",
    "/applications",
    summary="Start an application",
    tag="Applications",
    response=s.ApplicationOut,
    status=201,
    body=s.ApplicationCreate,
)
def add_application(user: User, body: s.ApplicationCreate):
    """Start a candidacy on an open requisition, at interviewing or final round."""
    candidate = access.get_candidate(user, body.candidate_id)
    requisition = access.get_requisition(user, body.requisition_id, for_edit=True)
    application = apply_to_requisition(user, candidate, requisition, body.stage)
    db.session.commit()
    return present.application(application)


@api.operation(
    "GET",
    "/applications/<int:application_id>",
    summary="Get an application",
    tag="Applications",
    response=s.ApplicationOut,
)
def get_application(user: User, application_id: int):
    """Read one application with its stage, cadence and open holds."""
    return present.application(access.get_application(user, application_id))


@api.operation(
    "POST",
    "/applications/<int:application_id>/transitions",
    summary="Change stage",
    tag="Applications",
    response=s.ApplicationOut,
    body=s.TransitionIn,
)
def transition(user: User, application_id: int, body: s.TransitionIn):
    """Move an application to another stage; closing needs closure (an email, or `closure`)."""
    application = access.get_application(user, application_id, for_edit=True)
    closure = ClosureNote(body.closure.channel, body.closure.note) if body.closure else None
    change_stage(
        user, application, body.to, note=body.note, closure=closure, expected_version=body.version
    )
    db.session.commit()
    return present.application(application)


@api.operation(
    "GET",
    "/applications/<int:application_id>/touchpoints",
    summary="List touchpoints",
    tag="Applications",
    response=TouchpointPage,
    query=s.PageQuery,
)
def list_touchpoints(user: User, application_id: int, query: s.PageQuery):
    """List every contact with the candidate on this application, newest first."""
    application = access.get_application(user, application_id)
    statement = (
        select(Touchpoint)
        .where(Touchpoint.application_id == application.id)
        .order_by(Touchpoint.created_at.desc(), Touchpoint.id.desc())
    )
    return TouchpointPage.model_validate(present.paginate(statement, query, present.touchpoints))


@api.operation(
    "POST",
    "/applications/<int:application_id>/touchpoints",
    summary="Record a contact",
    tag="Applications",
    response=s.TouchpointOut,
    status=201,
    body=s.TouchpointCreate,
)
def add_touchpoint(user: User, application_id: int, body: s.TouchpointCreate):
    """Record a call, meeting or message either way; an outbound one restarts the cadence."""
    application = access.get_application(user, application_id, for_edit=True)
    touchpoint = log_touchpoint(
        user,
        application,
        direction=body.direction,
        channel=body.channel,
        note=body.note,
        promised_next_update=body.promised_next_update,
    )
    db.session.commit()
    return present.touchpoint(touchpoint)


@api.operation(
    "POST",
    "/applications/<int:application_id>/messages",
    summary="Send a templated email",
    tag="Messages",
    response=s.MessageSent,
    status=201,
    body=s.MessageSend,
)
def send(user: User, application_id: int, body: s.MessageSend):
    """Queue a templated email (now or at `send_at`) with its touchpoint; guardrails answer 409."""
    application = access.get_application(user, application_id, for_edit=True)
    template = get_template(user, body.template)
    sent = send_message(
        user,
        application,
        template,
        subject=body.subject,
        body=body.body,
        promised_next_update=body.promised_next_update,
        send_at=body.send_at,
    )
    db.session.commit()
    return s.MessageSent(
        touchpoint=present.touchpoint(sent.touchpoint),
        outbox=present.outbox(sent.outbox),
        application=present.application(application),
    )


@api.operation(
    "GET",
    "/applications/<int:application_id>/offer",
    summary="Get the offer",
    tag="Offers",
    response=s.OfferOut,
)
def get_offer(user: User, application_id: int):
    """Read the offer terms recorded for this application and their approvals."""
    application = access.get_application(user, application_id)
    offer = offer_for(application)
    if offer is None:
        raise NotFound("No offer has been recorded for this application.")
    return present.offer(offer)


@api.operation(
    "POST",
    "/applications/<int:application_id>/offer",
    summary="Propose offer terms",
    tag="Offers",
    response=s.OfferOut,
    status=201,
    body=s.OfferPropose,
)
def propose(user: User, application_id: int, body: s.OfferPropose):
    """Record (or change) the offer terms and ask for approval; no offer goes out before it."""
    application = access.get_application(user, application_id, for_edit=True)
    offer = propose_offer(user, application, **body.model_dump())
    db.session.commit()
    return present.offer(offer)
