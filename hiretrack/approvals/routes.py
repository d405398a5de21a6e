"""The approver's view: pending decisions and owned holds with what each is blocking; decide one."""

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from hiretrack.approvals import services
from hiretrack.approvals.forms import ApprovalStepForm, DecisionForm
from hiretrack.approvals.models import KIND_LABELS, Approval, Decision
from hiretrack.auth.access import get_approval, get_requisition, visible_approvals
from hiretrack.candidates.models import Application, Candidate
from hiretrack.candidates.stages import PROMISED_STAGES
from hiretrack.extensions import db
from hiretrack.holds.models import Hold
from hiretrack.holds.queries import stranded_count
from hiretrack.offers.models import Offer
from hiretrack.requisitions.models import Requisition
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

bp = Blueprint("approvals", __name__, url_prefix="/approvals")

CONFLICT = 409

PROMISED = [stage.value for stage in PROMISED_STAGES]


def _open_on_requisition(column, *, promised: bool = False):
    """Correlated count of open applications on the requisition `column` points to."""
    query = select(func.count(Application.id)).where(
        Application.requisition_id == column, Application.closed_at.is_(None)
    )
    if promised:
        query = query.where(Application.stage.in_(PROMISED))
    return query.scalar_subquery()


def _approvals_query():
    """Pending approvals with what each blocks: the requisition's candidates, or one offer's."""
    return (
        select(
            Approval,
            Requisition.title,
            Requisition.status,
            Candidate.id,
            Candidate.name,
            Application.stage,
            _open_on_requisition(Approval.requisition_id).correlate(Approval),
            _open_on_requisition(Approval.requisition_id, promised=True).correlate(Approval),
        )
        .join(Requisition, Requisition.id == Approval.requisition_id)
        .outerjoin(Offer, Offer.id == Approval.offer_id)
        .outerjoin(Application, Application.id == Offer.application_id)
        .outerjoin(Candidate, Candidate.id == Application.candidate_id)
        .options(joinedload(Approval.approver))
        .where(Approval.decision == Decision.PENDING.value)
        .order_by(Approval.due_date.is_(None), Approval.due_date, Approval.id)
    )


@bp.get("/")
@login_required
def index():
    """My approvals: decisions waiting on me, holds I own, and (for managers) what waits on others."""
    mine = paginate(
        _approvals_query().where(Approval.approver_id == current_user.id), scalars=False
    )
    holds = paginate(
        select(Hold, Requisition.title, stranded_count(), stranded_count(PROMISED_STAGES))
        .join(Requisition, Requisition.id == Hold.requisition_id)
        .where(Hold.owner_id == current_user.id, Hold.resolved_at.is_(None))
        .order_by(Hold.expected_clear_date.is_(None), Hold.expected_clear_date, Hold.opened_at),
        param="holds_page",
        scalars=False,
    )
    others = None
    if current_user.role != "approver":
        others = paginate(
            _approvals_query().where(
                Approval.approver_id != current_user.id, visible_approvals(current_user)
            ),
            param="others_page",
            scalars=False,
        )
    return render_template(
        "approvals/index.html",
        mine=mine,
        holds=holds,
        others=others,
        kinds=KIND_LABELS,
        today=today(),
    )


@bp.route("/requisitions/<int:requisition_id>/new", methods=["GET", "POST"])
@login_required
@submitted_once
def new(requisition_id: int):
    """Add a step (budget, headcount, compensation) to a requisition's approval chain."""
    requisition = get_requisition(current_user, requisition_id, for_edit=True)
    form = ApprovalStepForm()
    form.approver_id.choices = as_choices([(None, "Choose…")]) + user_choices()
    if form.validate_on_submit():
        ok, approval = run_service(
            form,
            lambda: services.request_approval(
                current_user,
                requisition,
                form.kind.data,
                form.approver_id.data,
                form.due_date.data,
            ),
        )
        if ok:
            db.session.commit()
            flash(f"Approval step added: {approval.approver.name} decides.", "success")
            return redirect(url_for("requisitions.detail", requisition_id=requisition.id))
    status = FORM_REJECTED if form.is_submitted() else 200
    return render_template("approvals/new.html", form=form, requisition=requisition), status


@bp.route("/<int:approval_id>/decide", methods=["GET", "POST"])
@login_required
@submitted_once
def decide(approval_id: int):
    """Approve or reject; the requisition opens, or the offer can go out, when its chain is complete."""
    approval = get_approval(current_user, approval_id, for_decision=True)
    form = DecisionForm()
    if not form.is_submitted():
        form.version.data = approval.version
    if approval.is_pending and form.validate_on_submit():
        ok, _ = run_service(
            form,
            lambda: services.decide(
                current_user,
                approval,
                form.decision.data,
                form.note.data or "",
                expected_version=version_of(form),
            ),
        )
        if ok:
            db.session.commit()
            flash(f"Decision recorded: {form.decision.data}.", "success")
            return redirect(url_for("approvals.index"))
    status = FORM_REJECTED if form.is_submitted() else 200
    if form.is_submitted() and not approval.is_pending:
        # Decided meanwhile, or withdrawn because its requisition or application closed: say so.
        run_service(form, lambda: services.check_decidable(approval))
        status = CONFLICT
    approval = get_approval(current_user, approval_id, for_decision=True)
    row = db.session.execute(_approvals_query().where(Approval.id == approval.id)).first()
    return render_template(
        "approvals/decide.html",
        form=form,
        approval=approval,
        row=row,
        kinds=KIND_LABELS,
        today=today(),
    ), status
