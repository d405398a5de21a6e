"""Requisition pages: the list, one requisition with its chain, holds and candidates, and its forms."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import case, exists, func, select, true
from sqlalchemy.orm import aliased, joinedload

from hiretrack.admin.models import Department
from hiretrack.admin.services import effective_settings, list_departments
from hiretrack.approvals.models import Approval
from hiretrack.auth.access import (
    editable_requisitions,
    get_requisition,
    require_role,
    visible_applications,
    visible_approvals,
    visible_holds,
    visible_requisitions,
)
from hiretrack.auth.models import User
from hiretrack.cadence.calendar import business_days_between
from hiretrack.cadence.queries import cadence_for
from hiretrack.candidates.models import Application, Candidate
from hiretrack.candidates.services import check_version
from hiretrack.extensions import db
from hiretrack.holds.models import Hold
from hiretrack.messages.models import CLOSURE_OUTCOMES, Draft, DraftStatus, EmailTemplate
from hiretrack.offers.models import Offer
from hiretrack.requisitions import services
from hiretrack.requisitions.closure_pending import closure_pending_condition
from hiretrack.requisitions.forms import (
    CloseRequisitionForm,
    RequisitionFilterForm,
    RequisitionForm,
    SubmitForApprovalForm,
)
from hiretrack.requisitions.models import Requisition
from hiretrack.sorting import requested_sort, sort_clauses
from hiretrack.submissions import submitted_once
from hiretrack.web import (
    FORM_REJECTED,
    as_choices,
    paginate,
    run_service,
    today,
    user_choices,
    version_of,
)

bp = Blueprint("requisitions", __name__, url_prefix="/requisitions")

MANAGING_ROLES = ("manager", "recruiter", "admin")


def can_edit(requisition: Requisition) -> bool:
    """Whether the signed-in user may change this requisition (the access rule, asked of the database)."""
    return bool(
        db.session.scalar(
            select(true()).where(
                Requisition.id == requisition.id, editable_requisitions(current_user)
            )
        )
    )


def _department_choices(include_any: bool = False):
    choices = [(d.id, d.name) for d in list_departments()]
    return as_choices(
        ([(None, "Any department")] if include_any else [(None, "Choose…")]) + choices
    )


def _prepare_form(form: RequisitionForm, *, creating: bool) -> RequisitionForm:
    form.department_id.choices = _department_choices()
    if current_user.sees_everything:
        form.manager_id.choices = user_choices(MANAGING_ROLES)
        if form.manager_id.data is None and not form.is_submitted():
            form.manager_id.data = current_user.id
    else:
        del form.manager_id
    if not creating:
        del form.status
    return form


def _list_figures():
    """Per-requisition counts for the list: open candidates, open and overdue holds, closure owed."""
    open_applications = (
        select(func.count(Application.id))
        .where(Application.requisition_id == Requisition.id, Application.closed_at.is_(None))
        .correlate(Requisition)
        .scalar_subquery()
    )
    open_holds = (
        select(func.count(Hold.id))
        .where(Hold.requisition_id == Requisition.id, Hold.resolved_at.is_(None))
        .correlate(Requisition)
        .scalar_subquery()
    )
    overdue_holds = (
        select(func.count(Hold.id))
        .where(
            Hold.requisition_id == Requisition.id,
            Hold.resolved_at.is_(None),
            Hold.expected_clear_date < today(),
        )
        .correlate(Requisition)
        .scalar_subquery()
    )
    closure_pending = (
        select(func.count(Application.id))
        .where(Application.requisition_id == Requisition.id, closure_pending_condition())
        .correlate(Requisition)
        .scalar_subquery()
    )
    return open_applications, open_holds, overdue_holds, closure_pending


@bp.get("/")
@login_required
def index():
    """List the requisitions the user may see, filtered by department, status and open holds."""
    filters = RequisitionFilterForm(request.args)
    filters.department.choices = _department_choices(include_any=True)
    filters.validate()
    open_applications, open_holds, overdue_holds, closure_pending = _list_figures()
    manager = aliased(User)
    query = (
        select(
            Requisition,
            Department.name,
            manager.name,
            open_applications,
            open_holds,
            overdue_holds,
            closure_pending,
        )
        .join(Department, Department.id == Requisition.department_id)
        .join(manager, manager.id == Requisition.manager_id)
        .where(visible_requisitions(current_user))
    )
    if filters.department.data and not filters.department.errors:
        query = query.where(Requisition.department_id == filters.department.data)
    if filters.status.data and not filters.status.errors:
        query = query.where(Requisition.status == filters.status.data)
    has_hold = exists().where(Hold.requisition_id == Requisition.id, Hold.resolved_at.is_(None))
    if filters.hold.data == "yes":
        query = query.where(has_hold)
    elif filters.hold.data == "no":
        query = query.where(~has_hold)
    if filters.closure_pending.data == "yes":
        query = query.where(
            exists().where(
                Application.requisition_id == Requisition.id,
                closure_pending_condition(),
            )
        )
    if filters.q.data and not filters.q.errors:
        query = query.where(
            func.lower(Requisition.title).contains(filters.q.data.strip().lower(), autoescape=True)
        )
    closed_last = case((Requisition.status.in_(("filled", "cancelled")), 1), else_=0)
    sortable = {
        "title": func.lower(Requisition.title),
        "department": func.lower(Department.name),
        "manager": func.lower(manager.name),
        "status": Requisition.status,
        "candidates": open_applications,
        "holds": open_holds,
        "closure": closure_pending,
    }
    sort = requested_sort(sortable)
    default = [closed_last, Requisition.updated_at.desc(), Requisition.id.desc()]
    page = paginate(query.order_by(*sort_clauses(sort, sortable, default)), scalars=False)
    return render_template(
        "requisitions/index.html",
        page=page,
        filters=filters,
        can_create=current_user.role in MANAGING_ROLES,
        sort=sort,
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
@submitted_once
def new():
    """Create a requisition: as a draft that needs approval, or already open."""
    require_role(current_user, *MANAGING_ROLES)
    form = _prepare_form(RequisitionForm(), creating=True)
    if form.validate_on_submit():
        ok, requisition = run_service(
            form,
            lambda: services.create_requisition(
                current_user, **form.values(), status=form.status.data
            ),
        )
        if ok:
            db.session.commit()
            flash(f"Requisition '{requisition.title}' created.", "success")
            return redirect(url_for("requisitions.detail", requisition_id=requisition.id))
    status = FORM_REJECTED if form.is_submitted() else 200
    return render_template("requisitions/form.html", form=form, requisition=None), status


@bp.get("/<int:requisition_id>")
@login_required
def detail(requisition_id: int):
    """Show a requisition: approval chain, holds, candidates with their cadence, closure pending."""
    requisition = get_requisition(current_user, requisition_id)
    approvals = list(
        db.session.scalars(
            select(Approval)
            .options(joinedload(Approval.approver))
            .where(Approval.requisition_id == requisition.id, visible_approvals(current_user))
            .order_by(Approval.created_at, Approval.id)
        )
    )
    holds = list(
        db.session.scalars(
            select(Hold)
            .options(joinedload(Hold.owner), joinedload(Hold.application))
            .where(Hold.requisition_id == requisition.id, visible_holds(current_user))
            .order_by(Hold.resolved_at.is_not(None), Hold.opened_at.desc())
        )
    )
    settings = effective_settings()
    hold_ages = {
        hold.id: business_days_between(
            hold.opened_at.date(),
            (hold.resolved_at.date() if hold.resolved_at else today()),
            settings.holidays,
        )
        for hold in holds
    }
    applications = paginate(
        select(Application)
        .join(Candidate, Candidate.id == Application.candidate_id)
        .options(joinedload(Application.candidate))
        .where(Application.requisition_id == requisition.id, visible_applications(current_user))
        .order_by(Application.closed_at.is_not(None), Candidate.name, Application.id)
    )
    cadence = cadence_for([a.id for a in applications.items], today())
    pending_drafts = db.session.scalar(
        select(func.count(Draft.id))
        .join(Application, Application.id == Draft.application_id)
        .where(
            Application.requisition_id == requisition.id,
            Draft.status == DraftStatus.PENDING.value,
        )
    )
    offer_approvals = [a for a in approvals if a.offer_id is not None]
    offer_candidates = {}
    if offer_approvals:
        offer_candidates = dict(
            db.session.execute(
                select(Offer.id, Candidate.name)
                .join(Application, Application.id == Offer.application_id)
                .join(Candidate, Candidate.id == Application.candidate_id)
                .where(Offer.id.in_({a.offer_id for a in offer_approvals}))
            ).all()
        )
    return render_template(
        "requisitions/detail.html",
        requisition=requisition,
        chain=[a for a in approvals if a.offer_id is None],
        offer_approvals=offer_approvals,
        offer_candidates=offer_candidates,
        holds=holds,
        hold_ages=hold_ages,
        applications=applications,
        cadence=cadence,
        closure_pending=services.closure_pending_count(requisition),
        pending_drafts=pending_drafts or 0,
        can_edit=can_edit(requisition),
        submit_form=SubmitForApprovalForm(),
        today=today(),
    )


@bp.route("/<int:requisition_id>/edit", methods=["GET", "POST"])
@login_required
def edit(requisition_id: int):
    """Change a requisition's details; someone else's edit in between is refused, not overwritten."""
    requisition = get_requisition(current_user, requisition_id, for_edit=True)
    form = _prepare_form(RequisitionForm(obj=requisition), creating=False)
    if form.validate_on_submit():
        ok, _ = run_service(
            form,
            lambda: services.update_requisition(
                current_user, requisition, expected_version=version_of(form), **form.values()
            ),
        )
        if ok:
            db.session.commit()
            flash("Requisition saved.", "success")
            return redirect(url_for("requisitions.detail", requisition_id=requisition.id))
    status = FORM_REJECTED if form.is_submitted() else 200
    return render_template("requisitions/form.html", form=form, requisition=requisition), status


@bp.post("/<int:requisition_id>/submit")
@login_required
@submitted_once
def submit(requisition_id: int):
    """Send a draft requisition to its approvers."""
    requisition = get_requisition(current_user, requisition_id, for_edit=True)
    form = SubmitForApprovalForm()
    if form.validate_on_submit():
        services.submit_for_approval(current_user, requisition)
        db.session.commit()
        flash("Submitted for approval: the approvers now see it under My approvals.", "success")
    return redirect(url_for("requisitions.detail", requisition_id=requisition.id))


@bp.route("/<int:requisition_id>/close", methods=["GET", "POST"])
@login_required
@submitted_once
def close(requisition_id: int):
    """Close a requisition as filled or cancelled, once every other candidate has had closure."""
    requisition = get_requisition(current_user, requisition_id, for_edit=True)
    form = CloseRequisitionForm(obj=None)
    if not form.is_submitted():
        form.version.data = requisition.version
    if form.validate_on_submit():

        def close_it():
            check_version(requisition, version_of(form))
            services.close_requisition(current_user, requisition, form.status.data)

        ok, _ = run_service(form, close_it)
        if ok:
            db.session.commit()
            flash(f"Requisition closed as {requisition.status}.", "success")
            return redirect(url_for("requisitions.detail", requisition_id=requisition.id))
    waiting = services.open_applications(requisition)
    status = FORM_REJECTED if form.is_submitted() else 200
    closure_drafts = db.session.scalar(
        select(func.count(Draft.id))
        .join(EmailTemplate, EmailTemplate.id == Draft.template_id)
        .where(
            Draft.application_id.in_([application.id for application in waiting]),
            Draft.status == DraftStatus.PENDING.value,
            EmailTemplate.category.in_([category.value for category in CLOSURE_OUTCOMES]),
        )
    )
    return render_template(
        "requisitions/close.html",
        form=form,
        requisition=requisition,
        waiting=waiting,
        closure_drafts=closure_drafts,
    ), status
