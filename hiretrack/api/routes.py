"""JSON API v1: the manager's web forms, for ATS exports, HR systems and scripts.

Every view is thin: the wrapper in `operations` has already authenticated the caller and
validated the request; the view loads objects through `hiretrack.auth.access` (another user's
object is 404), calls the same service as the web form, commits, and presents the result.
"""

import secrets
from importlib import import_module
from importlib.util import find_spec

from flask import Blueprint, Response, current_app, jsonify, stream_with_context
from sqlalchemy import func, select

from hiretrack.admin.models import Department
from hiretrack.admin.services import create_department
from hiretrack.api import presenters as present
from hiretrack.api import problems
from hiretrack.api import schemas as s
from hiretrack.api.operations import Api
from hiretrack.approvals.models import Approval
from hiretrack.approvals.services import decide, request_approval
from hiretrack.audit.services import record_change
from hiretrack.auth import access
from hiretrack.auth.models import Role, User
from hiretrack.auth.services import create_user
from hiretrack.cadence.queries import cadence_query
from hiretrack.candidates.models import Application, Candidate, Touchpoint
from hiretrack.candidates.privacy import anonymise_candidate, export_candidate
from hiretrack.candidates.services import (
    ClosureNote,
    apply_to_requisition,
    change_stage,
    check_version,
    create_candidate,
    log_touchpoint,
    update_candidate,
)
from hiretrack.database import utcnow
from hiretrack.errors import NotFound, PermissionDenied, ValidationFailed
from hiretrack.extensions import db
from hiretrack.holds.models import Hold
from hiretrack.holds.services import place_hold, resolve_hold
from hiretrack.messages import delivery, templates
from hiretrack.messages.models import Draft, EmailTemplate, OutboxEmail
from hiretrack.messages.services import get_template, send_drafts, send_message
from hiretrack.offers.services import offer_for, propose_offer
from hiretrack.requisitions.models import Requisition, RequisitionStatus
from hiretrack.requisitions.services import (
    close_requisition,
    create_requisition,
    submit_for_approval,
    update_requisition,
)

bp = Blueprint("api", __name__, url_prefix="/api/v1")
api = Api(bp)
problems.register(bp)

#: Roles that hire: they create candidates and requisitions and write to candidates.
HIRING_ROLES = (Role.MANAGER, Role.RECRUITER, Role.ADMIN)
#: Roles that handle data protection requests (exports and anonymisation).
PRIVACY_ROLES = (Role.RECRUITER, Role.ADMIN)

UserPage = s.page_of(s.UserOut)
DepartmentPage = s.page_of(s.DepartmentOut)
RequisitionPage = s.page_of(s.RequisitionOut)
ApprovalPage = s.page_of(s.ApprovalOut)
HoldPage = s.page_of(s.HoldOut)
DraftPage = s.page_of(s.DraftOut)
CandidatePage = s.page_of(s.CandidateOut)
ApplicationPage = s.page_of(s.ApplicationOut)
TouchpointPage = s.page_of(s.TouchpointOut)
OutboxPage = s.page_of(s.OutboxOut)


# --- The document and the caller -----------------------------------------------------------------


@api.operation(
    "GET",
    "/openapi.json",
    summary="This API's OpenAPI 3.1 document",
    tag="Meta",
    response=None,
    public=True,
)
def openapi_document(user):
    """Serve the OpenAPI document, generated from the schemas that validate requests."""
    from hiretrack.api.openapi import openapi_document as build

    cache = current_app.extensions.setdefault("hiretrack_openapi", {})
    if "document" not in cache:
        cache["document"] = build(api)
    return jsonify(cache["document"])


@api.operation("GET", "/me", summary="The user the token acts as", tag="Meta", response=s.UserOut)
def me(user: User):
    """Say whose token this is and what role they have."""
    return s.UserOut.model_validate(user)


# --- Departments and users -----------------------------------------------------------------------


@api.operation(
    "GET",
    "/departments",
    summary="List departments",
    tag="Admin",
    response=DepartmentPage,
    query=s.PageQuery,
)
def list_departments(user: User, query: s.PageQuery):
    """List every department, by name."""
    statement = select(Department).order_by(Department.name, Department.id)
    return DepartmentPage.model_validate(present.paginate(statement, query, lambda rows: rows))


@api.operation(
    "POST",
    "/departments",
    summary="Add a department (admin)",
    tag="Admin",
    response=s.DepartmentOut,
    status=201,
    body=s.DepartmentCreate,
)
def add_department(user: User, body: s.DepartmentCreate):
    """Add a department; names are unique, ignoring case."""
    access.require_role(user, Role.ADMIN)
    department = create_department(user, body.name)
    db.session.commit()
    return s.DepartmentOut.model_validate(department)


@api.operation(
    "GET",
    "/users",
    summary="List users (admin)",
    tag="Admin",
    response=UserPage,
    query=s.UserQuery,
)
def list_users(user: User, query: s.UserQuery):
    """List staff users, optionally of one role."""
    access.require_role(user, Role.ADMIN)
    statement = select(User).order_by(User.id)
    if query.role is not None:
        statement = statement.where(User.role == query.role)
    return UserPage.model_validate(present.paginate(statement, query, lambda rows: rows))


@api.operation(
    "POST",
    "/users",
    summary="Add a user (admin)",
    tag="Admin",
    response=s.UserCreated,
    status=201,
    body=s.UserCreate,
)
def add_user(user: User, body: s.UserCreate):
    """Add a staff user; without a password, one is generated and shown once in the answer."""
    access.require_role(user, Role.ADMIN)
    generated = None if body.password else secrets.token_urlsafe(18)
    created = create_user(
        body.email,
        body.name,
        body.role,
        body.password or generated,
        actor=user,
        phone=body.phone or "",
    )
    db.session.commit()
    return s.UserCreated.model_validate(
        {**s.UserOut.model_validate(created).model_dump(), "initial_password": generated}
    )


# --- Requisitions --------------------------------------------------------------------------------


@api.operation(
    "GET",
    "/requisitions",
    summary="List requisitions",
    tag="Requisitions",
    response=RequisitionPage,
    query=s.RequisitionQuery,
)
def list_requisitions(user: User, query: s.RequisitionQuery):
    """List the requisitions you may see (a manager: their own), newest first."""
    statement = (
        select(Requisition)
        .where(access.visible_requisitions(user))
        .options(*present.REQUISITION_LOADING)
        .order_by(Requisition.id.desc())
    )
    if query.status is not None:
        statement = statement.where(Requisition.status == query.status)
    if query.department_id is not None:
        statement = statement.where(Requisition.department_id == query.department_id)
    return RequisitionPage.model_validate(present.paginate(statement, query, present.requisitions))


@api.operation(
    "POST",
    "/requisitions",
    summary="Create a requisition",
    tag="Requisitions",
    response=s.RequisitionOut,
    status=201,
    body=s.RequisitionCreate,
)
def add_requisition(user: User, body: s.RequisitionCreate):
    """Create a requisition as `draft` (to submit for approval) or `open`."""
    access.require_role(user, *HIRING_ROLES)
    values = body.model_dump(exclude_none=True)
    requisition = create_requisition(user, **values)
    db.session.commit()
    return present.requisition(requisition)


@api.operation(
    "GET",
    "/requisitions/<int:requisition_id>",
    summary="Get a requisition",
    tag="Requisitions",
    response=s.RequisitionOut,
)
def get_requisition(user: User, requisition_id: int):
    """Read one requisition you may see."""
    return present.requisition(access.get_requisition(user, requisition_id))


@api.operation(
    "PATCH",
    "/requisitions/<int:requisition_id>",
    summary="Change a requisition",
    tag="Requisitions",
    response=s.RequisitionOut,
    body=s.RequisitionUpdate,
)
def patch_requisition(user: User, requisition_id: int, body: s.RequisitionUpdate):
    """Edit details, or move the lifecycle on with `status` (submit for approval, close)."""
    requisition = access.get_requisition(user, requisition_id, for_edit=True)
    changes = body.model_dump(exclude_unset=True)
    check_version(requisition, changes.pop("version", None))
    status = changes.pop("status", None)
    if changes:
        update_requisition(user, requisition, **changes)
    if status == RequisitionStatus.PENDING_APPROVAL:
        submit_for_approval(user, requisition)
    elif status is not None:
        close_requisition(user, requisition, status)
    db.session.commit()
    return present.requisition(requisition)


@api.operation(
    "POST",
    "/requisitions/<int:requisition_id>/approvals",
    summary="Ask for an approval",
    tag="Approvals",
    response=s.ApprovalOut,
    status=201,
    body=s.ApprovalCreate,
)
def add_approval(user: User, requisition_id: int, body: s.ApprovalCreate):
    """Add a step (budget, headcount, compensation, offer) to a requisition's approval chain."""
    requisition = access.get_requisition(user, requisition_id, for_edit=True)
    approval = request_approval(
        user, requisition, body.kind, body.approver_id, due_date=body.due_date
    )
    db.session.commit()
    return present.approval(approval)


# --- Approvals -----------------------------------------------------------------------------------


@api.operation(
    "GET",
    "/approvals",
    summary="List approvals",
    tag="Approvals",
    response=ApprovalPage,
    query=s.ApprovalQuery,
)
def list_approvals(user: User, query: s.ApprovalQuery):
    """List approvals you may see (an approver: the ones assigned to them), oldest due first."""
    statement = (
        select(Approval)
        .where(access.visible_approvals(user))
        .options(*present.APPROVAL_LOADING)
        .order_by(Approval.due_date.is_(None), Approval.due_date, Approval.id)
    )
    if query.decision is not None:
        statement = statement.where(Approval.decision == query.decision)
    if query.requisition_id is not None:
        statement = statement.where(Approval.requisition_id == query.requisition_id)
    return ApprovalPage.model_validate(present.paginate(statement, query, present.approvals))


@api.operation(
    "GET",
    "/approvals/<int:approval_id>",
    summary="Get an approval",
    tag="Approvals",
    response=s.ApprovalOut,
)
def get_approval(user: User, approval_id: int):
    """Read one approval you may see."""
    return present.approval(access.get_approval(user, approval_id))


@api.operation(
    "POST",
    "/approvals/<int:approval_id>/decision",
    summary="Decide an approval",
    tag="Approvals",
    response=s.ApprovalOut,
    body=s.ApprovalDecisionIn,
)
def decide_approval(user: User, approval_id: int, body: s.ApprovalDecisionIn):
    """Approve or reject; a fully approved requisition opens, an approved offer may go out."""
    approval = access.get_approval(user, approval_id, for_decision=True)
    decide(user, approval, body.decision, body.note, expected_version=body.version)
    db.session.commit()
    return present.approval(approval)


# --- Holds ---------------------------------------------------------------------------------------


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
    result = resolve_hold(user, hold, body.outcome, body.note, expected_version=body.version)
    return _hold_with_drafts(result)


# --- Candidates ----------------------------------------------------------------------------------


@api.operation(
    "GET",
    "/candidates",
    summary="List candidates",
    tag="Candidates",
    response=CandidatePage,
    query=s.CandidateQuery,
)
def list_candidates(user: User, query: s.CandidateQuery):
    """List candidates you may see, newest first; `email` finds one by address."""
    statement = (
        select(Candidate).where(access.visible_candidates(user)).order_by(Candidate.id.desc())
    )
    if query.email:
        statement = statement.where(func.lower(Candidate.email) == query.email.strip().lower())
    return CandidatePage.model_validate(present.paginate(statement, query, lambda rows: rows))


@api.operation(
    "POST",
    "/candidates",
    summary="Add a candidate",
    tag="Candidates",
    response=s.CandidateOut,
    status=201,
    body=s.CandidateCreate,
)
def add_candidate(user: User, body: s.CandidateCreate):
    """Add a person; the email address is checked now, not when we first write to them."""
    access.require_role(user, *HIRING_ROLES)
    candidate = create_candidate(user, body.name, body.email, body.phone)
    db.session.commit()
    return s.CandidateOut.model_validate(candidate)


@api.operation(
    "GET",
    "/candidates/<int:candidate_id>",
    summary="Get a candidate",
    tag="Candidates",
    response=s.CandidateOut,
)
def get_candidate(user: User, candidate_id: int):
    """Read one candidate you may see."""
    return s.CandidateOut.model_validate(access.get_candidate(user, candidate_id))


@api.operation(
    "PATCH",
    "/candidates/<int:candidate_id>",
    summary="Change a candidate",
    tag="Candidates",
    response=s.CandidateOut,
    body=s.CandidateUpdate,
)
def patch_candidate(user: User, candidate_id: int, body: s.CandidateUpdate):
    """Correct a candidate's name, email or phone (e.g. a typo that made an email bounce)."""
    candidate = access.get_candidate(user, candidate_id, for_edit=True)
    changes = body.model_dump(exclude_unset=True)
    version = changes.pop("version", None)
    update_candidate(user, candidate, expected_version=version, **changes)
    db.session.commit()
    return s.CandidateOut.model_validate(candidate)


@api.operation(
    "POST",
    "/candidates/<int:candidate_id>/anonymise",
    summary="Anonymise a candidate (recruiter, admin)",
    tag="Candidates",
    response=s.CandidateOut,
    body=s.CandidateAnonymise,
)
def candidate_anonymise(user: User, candidate_id: int, body: s.CandidateAnonymise):
    """Remove everything that identifies the candidate for good, keeping the report figures.

    Refused (409) while any of their applications is open: close each with closure first.
    """
    access.require_role(user, *PRIVACY_ROLES)
    candidate = access.get_candidate(user, candidate_id, for_edit=True)
    anonymise_candidate(user, candidate, body.reason)
    db.session.commit()
    return s.CandidateOut.model_validate(access.get_candidate(user, candidate_id))


@api.operation(
    "GET",
    "/candidates/<int:candidate_id>/export",
    summary="Everything held about a candidate (recruiter, admin)",
    tag="Candidates",
    response=None,
)
def candidate_export(user: User, candidate_id: int):
    """Export everything held about a candidate, for a subject access request (audited).

    The candidate, applications, stage changes, contacts, emails, drafts, holds (category and
    public reason), offers, status links, feedback and the audit entries about them.
    """
    access.require_role(user, *PRIVACY_ROLES)
    candidate = access.get_candidate(user, candidate_id)
    document = export_candidate(candidate)
    record_change(user, "candidate.export", candidate, after={"format": "api"})
    db.session.commit()
    return jsonify(document)


# --- Applications --------------------------------------------------------------------------------


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
    if query.cadence is not None:
        statement, columns = cadence_query()
        # Scoped on the joined requisition too, PostgreSQL starts from the user's requisitions
        # rather than computing cadence for every open application (see docs/benchmarks.md).
        statement = statement.where(
            columns.status == query.cadence.value, access.visible_requisitions(user)
        )
    else:
        statement = select(Application)
    statement = (
        statement.where(access.visible_applications(user))
        .options(*present.APPLICATION_LOADING)
        .order_by(access.scoped_order(user, Application.id))
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
    return ApplicationPage.model_validate(present.paginate(statement, query, present.applications))


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


# --- Drafts and outbox ---------------------------------------------------------------------------


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
    statement = (
        select(Draft)
        .join(Application, Draft.application_id == Application.id)
        .where(access.visible_applications(user), Draft.status == query.status)
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
    return OutboxPage.model_validate(present.paginate(statement, query, present.outboxes))


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
    delivery.requeue(outbox, user)
    db.session.commit()
    return present.outbox(outbox)


# --- Templates -----------------------------------------------------------------------------------

TemplatePage = s.page_of(s.TemplateOut)


def _template(row: EmailTemplate) -> s.TemplateOut:
    return s.TemplateOut.model_validate(
        {**present.columns(row), "personal": row.owner_id is not None}
    )


def _template_detail(row: EmailTemplate) -> s.TemplateDetail:
    return s.TemplateDetail.model_validate(
        {
            **_template(row).model_dump(),
            "versions": [
                s.TemplateVersionOut.model_validate(version)
                for version in templates.template_versions(row)
            ],
        }
    )


@api.operation(
    "GET",
    "/templates",
    summary="List email templates",
    tag="Templates",
    response=TemplatePage,
    query=s.TemplateQuery,
)
def list_templates(user: User, query: s.TemplateQuery):
    """List the shared templates and your personal variants, by category."""
    rows = templates.list_templates(user)
    if query.category is not None:
        rows = [row for row in rows if row.category == query.category]
    if query.active is not None:
        rows = [row for row in rows if row.is_active == query.active]
    start = (query.page - 1) * query.per_page
    return TemplatePage(
        items=[_template(row) for row in rows[start : start + query.per_page]],
        page=query.page,
        per_page=query.per_page,
        total=len(rows),
    )


@api.operation(
    "POST",
    "/templates",
    summary="Add an email template",
    tag="Templates",
    response=s.TemplateDetail,
    status=201,
    body=s.TemplateCreate,
)
def add_template(user: User, body: s.TemplateCreate):
    """Add a shared template (recruiters, admins) or a personal variant; broken ones are refused."""
    template = templates.create_template(user, **body.model_dump())
    db.session.commit()
    return _template_detail(template)


@api.operation(
    "GET",
    "/templates/<slug>",
    summary="Get an email template",
    tag="Templates",
    response=s.TemplateDetail,
)
def get_email_template(user: User, slug: str):
    """Read a template with its version history."""
    return _template_detail(templates.get_template(user, slug))


@api.operation(
    "PATCH",
    "/templates/<slug>",
    summary="Change an email template",
    tag="Templates",
    response=s.TemplateDetail,
    body=s.TemplateUpdate,
)
def patch_template(user: User, slug: str, body: s.TemplateUpdate):
    """Save new wording as a new version, restore an old version, or retire the template."""
    template = templates.get_template(user, slug, for_edit=True)
    changes = body.model_dump(exclude_unset=True)
    check_version(template, changes.pop("version", None))
    change_note = changes.pop("change_note", "") or ""
    active = changes.pop("is_active", None)
    restore = changes.pop("restore_version", None)
    if restore is not None:
        templates.restore_version(user, template, restore)
    if changes:
        templates.update_template(user, template, None, change_note=change_note, **changes)
    if active is not None:
        templates.set_active(user, template, active)
    db.session.commit()
    return _template_detail(template)


@api.operation(
    "POST",
    "/templates/preview",
    summary="Preview wording for an application",
    tag="Templates",
    response=s.TemplatePreviewOut,
    body=s.TemplatePreviewIn,
)
def preview_template(user: User, body: s.TemplatePreviewIn):
    """Render unsaved wording for a real application; problems answer 422 with line numbers."""
    application = access.get_application(user, body.application_id)
    rendered = templates.preview(
        user,
        application,
        body.subject,
        body.body,
        category=body.category,
        promise_business_days=body.promise_business_days,
        promised_next_update=body.promised_next_update,
    )
    return s.TemplatePreviewOut(subject=rendered.subject, text=rendered.text, html=rendered.html)


# --- Reports -------------------------------------------------------------------------------------

CSV_CONTENT = {"text/csv": {"schema": {"type": "string"}}}


def _report_view(name: s.ReportName, reports, exports):
    """A view answering one report as JSON, or streamed as CSV."""

    def view(user: User, query: s.ReportQuery):
        values = {
            "from": query.date_from.isoformat() if query.date_from else None,
            "to": query.date_to.isoformat() if query.date_to else None,
            "department": str(query.department) if query.department else None,
        }
        report = reports.build_report(name.value, user, values)
        if query.format == "csv":
            filename = f"hiretrack-{report.name}-{report.today.isoformat()}.csv"
            return Response(
                stream_with_context(exports.csv_chunks(report)),
                mimetype="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{filename}"'},
            )
        return Response(
            stream_with_context(exports.json_chunks(report)), mimetype="application/json"
        )

    view.__name__ = f"{name.value}_report"
    view.__doc__ = (
        f"{reports.REPORTS[name.value]}, scoped to what you may see, with the same filters as "
        "the report page (`from`, `to`, `department`); `format=csv` streams a CSV file."
    )
    return view


def register_reports() -> None:
    """Serve /reports/* through the reports feature's own queries, when that feature is present."""
    if find_spec("hiretrack.reports.services") is None:
        return  # the reports package lands on its own; its endpoints appear with it
    reports = import_module("hiretrack.reports.services")
    exports = import_module("hiretrack.reports.exports")
    for name in s.ReportName:
        api.operation(
            "GET",
            f"/reports/{name.value}",
            summary=reports.REPORTS[name.value],
            tag="Reports",
            response=s.ReportOut,
            query=s.ReportQuery,
            other_content=CSV_CONTENT,
        )(_report_view(name, reports, exports))


register_reports()
