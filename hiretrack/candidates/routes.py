"""Candidate pages: search, one person's single timeline, and the forms a manager uses every day."""

from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import joinedload

from hiretrack.auth.access import (
    editable_requisitions,
    get_application,
    get_candidate,
    get_requisition,
    require_role,
    visible_applications,
    visible_candidates,
)
from hiretrack.cadence.queries import cadence_for, cadence_query
from hiretrack.candidates import services
from hiretrack.candidates.forms import (
    ApplyForm,
    CandidateFilterForm,
    CandidateForm,
    NewCandidateForm,
    OfferForm,
    TouchpointForm,
    stage_form_for,
)
from hiretrack.candidates.models import (
    CHANNEL_LABELS,
    Application,
    Candidate,
    StageChange,
    Touchpoint,
)
from hiretrack.candidates.stages import CLOSED_OUTCOMES, LABELS, Stage
from hiretrack.extensions import db
from hiretrack.holds.models import Hold
from hiretrack.holds.queries import hold_stops
from hiretrack.inbound.queries import messages_for_applications
from hiretrack.messages.models import OutboxEmail, TemplateCategory
from hiretrack.offers import services as offers
from hiretrack.offers.models import Offer
from hiretrack.requisitions.models import CLOSED_REQUISITION_STATUSES, Requisition
from hiretrack.sorting import requested_sort, sort_clauses
from hiretrack.submissions import submitted_once
from hiretrack.web import (
    FORM_REJECTED,
    as_choices,
    paginate,
    paginate_list,
    run_service,
    today,
    user_choices,
    version_of,
)

bp = Blueprint("candidates", __name__, url_prefix="/candidates")

MANAGING_ROLES = ("manager", "recruiter", "admin")

#: The closure email for each closed outcome (an offer declined has none: record how it ended).
CLOSURE_CATEGORIES = {
    Stage.NOT_SELECTED: TemplateCategory.CLOSURE_NOT_SELECTED,
    Stage.WITHDRAWN: TemplateCategory.CLOSURE_WITHDRAWN,
    Stage.POSITION_CANCELLED: TemplateCategory.CLOSURE_CANCELLED,
}

#: The candidate list's sortable columns (?sort=name, ?sort=-email).
CANDIDATE_SORTS = {"name": func.lower(Candidate.name), "email": func.lower(Candidate.email)}

#: Service error keys that belong to a differently named field of the stage form.
STAGE_FIELD_NAMES = {"note": "closure_note", "channel": "closure_channel"}


def _open_requisition_choices():
    """Requisitions the user may add candidates to: theirs (or all, for recruiters), not closed."""
    rows = db.session.execute(
        select(Requisition.id, Requisition.title)
        .where(
            editable_requisitions(current_user),
            Requisition.status.not_in([s.value for s in CLOSED_REQUISITION_STATUSES]),
        )
        .order_by(Requisition.title, Requisition.id)
    )
    return [(requisition_id, title) for requisition_id, title in rows]


@bp.get("/")
@login_required
def index():
    """List the candidates the user may see, searchable by name or email, filtered by stage and cadence."""
    filters = CandidateFilterForm(request.args)
    filters.validate()
    query = select(Candidate).where(visible_candidates(current_user))
    text = (filters.q.data or "").strip().lower() if not filters.q.errors else ""
    if text:
        query = query.where(
            or_(
                func.lower(Candidate.name).contains(text, autoescape=True),
                func.lower(Candidate.email).contains(text, autoescape=True),
            )
        )
    if filters.stage.data and not filters.stage.errors:
        query = query.where(
            Candidate.id.in_(
                select(Application.candidate_id).where(
                    Application.stage == filters.stage.data, visible_applications(current_user)
                )
            )
        )
    if filters.cadence.data and not filters.cadence.errors:
        cadence, columns = cadence_query(today())
        query = query.where(
            Candidate.id.in_(
                cadence.with_only_columns(Application.candidate_id).where(
                    columns.status == filters.cadence.data, visible_applications(current_user)
                )
            )
        )
    sort = requested_sort(CANDIDATE_SORTS)
    page = paginate(
        query.order_by(
            *sort_clauses(sort, CANDIDATE_SORTS, [func.lower(Candidate.name), Candidate.id])
        )
    )
    applications = {}
    if page.items:
        for application in db.session.scalars(
            select(Application)
            .options(joinedload(Application.requisition))
            .where(
                Application.candidate_id.in_([c.id for c in page.items]),
                visible_applications(current_user),
            )
            .order_by(Application.opened_at)
        ):
            applications.setdefault(application.candidate_id, []).append(application)
    cadence_figures = cadence_for(
        [a.id for listed in applications.values() for a in listed if a.is_open], today()
    )
    return render_template(
        "candidates/index.html",
        page=page,
        filters=filters,
        applications=applications,
        cadence=cadence_figures,
        can_create=current_user.role in MANAGING_ROLES,
        sort=sort,
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
@submitted_once
def new():
    """Add a candidate and, optionally, apply them to one of your requisitions in the same step."""
    require_role(current_user, *MANAGING_ROLES)
    form = NewCandidateForm()
    form.requisition_id.choices = as_choices([(None, "Not yet")] + _open_requisition_choices())
    if not form.is_submitted():
        wanted = request.args.get("requisition_id", type=int)
        if wanted in {choice.value for choice in form.requisition_id.choices}:
            form.requisition_id.data = wanted
    del form.version
    if form.validate_on_submit():

        def add():
            candidate = services.create_candidate(
                current_user, form.name.data, form.email.data, form.phone.data
            )
            if form.requisition_id.data is not None:
                requisition = get_requisition(current_user, form.requisition_id.data, for_edit=True)
                services.apply_to_requisition(current_user, candidate, requisition, form.stage.data)
            return candidate

        ok, candidate = run_service(form, add)
        if ok:
            db.session.commit()
            flash(f"{candidate.name} added.", "success")
            return redirect(url_for("candidates.detail", candidate_id=candidate.id))
    status = FORM_REJECTED if form.is_submitted() else 200
    return render_template("candidates/new.html", form=form), status


@dataclass(frozen=True)
class TimelineEvent:
    """One line of a candidate's timeline."""

    at: datetime
    kind: str  # stage | contact | email | hold
    title: str
    requisition: str
    detail: str = ""
    outbox_status: str | None = None
    withdrawn_reason: str | None = None
    is_closure: bool = False
    promised: object = None
    by: str = ""


def _timeline(applications: list[Application]) -> list[TimelineEvent]:
    """Merge stage changes, touchpoints (emails with their delivery status) and holds, newest first."""
    if not applications:
        return []
    by_id = {a.id: a for a in applications}
    titles = {a.id: a.requisition.title for a in applications}
    events: list[TimelineEvent] = []
    for change in db.session.scalars(
        select(StageChange)
        .options(joinedload(StageChange.changed_by))
        .where(StageChange.application_id.in_(by_id))
    ):
        label = LABELS[Stage(change.to_stage)]
        title = (
            f"Applied, starting at {label}"
            if change.from_stage is None
            else f"Stage: {LABELS[Stage(change.from_stage)]} → {label}"
        )
        events.append(
            TimelineEvent(
                change.changed_at,
                "stage",
                title,
                titles[change.application_id],
                change.note,
                by=change.changed_by.name if change.changed_by else "HireTrack",
            )
        )
    for touchpoint, outbox_status, withdrawn_reason in db.session.execute(
        select(Touchpoint, OutboxEmail.status, OutboxEmail.withdrawn_reason)
        .outerjoin(OutboxEmail, OutboxEmail.id == Touchpoint.outbox_email_id)
        .options(joinedload(Touchpoint.created_by))
        .where(Touchpoint.application_id.in_(by_id))
    ):
        channel = CHANNEL_LABELS.get(touchpoint.channel, touchpoint.channel)
        direction = (
            "from the candidate" if touchpoint.direction == "inbound" else "to the candidate"
        )
        events.append(
            TimelineEvent(
                touchpoint.created_at,
                "email" if outbox_status else "contact",
                f"{channel} {direction}",
                titles[touchpoint.application_id],
                touchpoint.note,
                outbox_status=outbox_status,
                withdrawn_reason=withdrawn_reason,
                is_closure=touchpoint.is_closure,
                promised=touchpoint.promised_next_update,
                by=touchpoint.created_by.name if touchpoint.created_by else "HireTrack",
            )
        )
    stops_one_of_theirs = exists().where(
        Application.id.in_(list(by_id)), hold_stops(Application.id, Application.requisition_id)
    )
    for hold in db.session.scalars(select(Hold).where(stops_one_of_theirs)):
        title = next(
            t for a_id, t in titles.items() if by_id[a_id].requisition_id == hold.requisition_id
        )
        events.append(TimelineEvent(hold.opened_at, "hold", f"Hold placed: {hold.summary}", title))
        if hold.resolved_at:
            events.append(
                TimelineEvent(
                    hold.resolved_at,
                    "hold",
                    f"Hold {hold.outcome}: {hold.summary}",
                    title,
                    hold.resolution_note,
                )
            )
    return sorted(events, key=lambda event: event.at, reverse=True)


@bp.get("/<int:candidate_id>")
@login_required
def detail(candidate_id: int):
    """Show a candidate: each application with its cadence and offer state, and one merged timeline."""
    candidate = get_candidate(current_user, candidate_id)
    applications = list(
        db.session.scalars(
            select(Application)
            .options(joinedload(Application.requisition))
            .where(Application.candidate_id == candidate.id, visible_applications(current_user))
            .order_by(Application.closed_at.is_not(None), Application.opened_at)
        )
    )
    ids = [a.id for a in applications]
    offers = (
        {
            o.application_id: o
            for o in db.session.scalars(select(Offer).where(Offer.application_id.in_(ids)))
        }
        if ids
        else {}
    )
    holds = {}
    if ids:
        for hold in db.session.scalars(
            select(Hold).where(
                Hold.requisition_id.in_({a.requisition_id for a in applications}),
                Hold.resolved_at.is_(None),
            )
        ):
            for application in applications:
                if application.requisition_id == hold.requisition_id and hold.application_id in (
                    None,
                    application.id,
                ):
                    holds.setdefault(application.id, []).append(hold)
    editable = {
        requisition_id
        for (requisition_id,) in db.session.execute(
            select(Requisition.id).where(
                Requisition.id.in_({a.requisition_id for a in applications}),
                editable_requisitions(current_user),
            )
        )
    }
    timeline = paginate_list(_timeline(applications), param="timeline_page")
    return render_template(
        "candidates/detail.html",
        candidate=candidate,
        applications=applications,
        cadence=cadence_for([a.id for a in applications if a.is_open], today()),
        offers=offers,
        holds=holds,
        editable=editable,
        timeline=timeline,
        received=messages_for_applications(ids),
        can_edit_candidate=current_user.role != "approver",
        can_apply=current_user.role in MANAGING_ROLES and candidate.anonymised_at is None,
        closure_categories=CLOSURE_CATEGORIES,
        today=today(),
    )


@bp.route("/<int:candidate_id>/edit", methods=["GET", "POST"])
@login_required
def edit(candidate_id: int):
    """Correct a candidate's name, email or phone."""
    candidate = get_candidate(current_user, candidate_id, for_edit=True)
    form = CandidateForm(obj=candidate)
    if form.validate_on_submit():
        ok, _ = run_service(
            form,
            lambda: services.update_candidate(
                current_user,
                candidate,
                expected_version=version_of(form),
                name=form.name.data,
                email=form.email.data,
                phone=form.phone.data,
            ),
        )
        if ok:
            db.session.commit()
            flash("Candidate saved.", "success")
            return redirect(url_for("candidates.detail", candidate_id=candidate.id))
    status = FORM_REJECTED if form.is_submitted() else 200
    return render_template("candidates/edit.html", form=form, candidate=candidate), status


@bp.route("/<int:candidate_id>/apply", methods=["GET", "POST"])
@login_required
@submitted_once
def apply(candidate_id: int):
    """Start a candidacy for this person on one of your open requisitions."""
    require_role(current_user, *MANAGING_ROLES)
    candidate = get_candidate(current_user, candidate_id, for_edit=True)
    form = ApplyForm()
    form.requisition_id.choices = as_choices([(None, "Choose…")] + _open_requisition_choices())
    if form.validate_on_submit():

        def apply_now():
            requisition = get_requisition(current_user, form.requisition_id.data, for_edit=True)
            return services.apply_to_requisition(
                current_user, candidate, requisition, form.stage.data
            )

        ok, application = run_service(form, apply_now)
        if ok:
            db.session.commit()
            flash(f"{candidate.name} applied to {application.requisition.title}.", "success")
            return redirect(url_for("candidates.detail", candidate_id=candidate.id))
    status = FORM_REJECTED if form.is_submitted() else 200
    return render_template("candidates/apply.html", form=form, candidate=candidate), status


@bp.route("/applications/<int:application_id>/stage", methods=["GET", "POST"])
@login_required
@submitted_once
def change_stage(application_id: int):
    """Move an application on; closing it needs closure: the closure email, or a recorded contact."""
    application = get_application(current_user, application_id, for_edit=True)
    form = stage_form_for(application.stage)
    if not form.is_submitted():
        form.version.data = application.version
        wanted = request.args.get("to")
        if wanted in {choice.value for choice in form.target.choices}:
            form.target.data = wanted
    if form.validate_on_submit():
        target = Stage(form.target.data)
        closing = target in CLOSED_OUTCOMES
        if closing and form.closure_method.data == "email":
            category = CLOSURE_CATEGORIES.get(target)
            if category:
                flash(
                    "Review and send the closure email: sending it closes the application.",
                    "info",
                )
                return redirect(
                    url_for(
                        "messages.compose", application_id=application.id, category=category.value
                    )
                )
            form.closure_method.errors = list(form.closure_method.errors) + [
                "There is no closure email for this outcome here: record how you told them."
            ]
        else:
            closure = (
                services.ClosureNote(form.closure_channel.data, form.closure_note.data or "")
                if closing
                else None
            )
            ok, _ = run_service(
                form,
                lambda: services.change_stage(
                    current_user,
                    application,
                    target,
                    note=form.note.data or "",
                    closure=closure,
                    expected_version=version_of(form),
                ),
                STAGE_FIELD_NAMES,
            )
            if ok:
                db.session.commit()
                flash(f"Stage changed to {LABELS[target]}.", "success")
                return redirect(url_for("candidates.detail", candidate_id=application.candidate_id))
    application = get_application(current_user, application_id, for_edit=True)
    status = FORM_REJECTED if form.is_submitted() else 200
    return render_template(
        "candidates/stage.html",
        form=form,
        application=application,
        closed_outcomes=[s.value for s in CLOSED_OUTCOMES],
    ), status


@bp.route("/applications/<int:application_id>/contact", methods=["GET", "POST"])
@login_required
@submitted_once
def log_contact(application_id: int):
    """Log a call, a meeting or the candidate's own contact, with the next update it promised."""
    application = get_application(current_user, application_id, for_edit=True)
    form = TouchpointForm()
    if form.validate_on_submit():
        ok, _ = run_service(
            form,
            lambda: services.log_touchpoint(
                current_user,
                application,
                direction=form.direction.data,
                channel=form.channel.data,
                note=form.note.data or "",
                promised_next_update=form.promised_next_update.data,
            ),
        )
        if ok:
            db.session.commit()
            flash("Contact logged.", "success")
            return redirect(url_for("candidates.detail", candidate_id=application.candidate_id))
    status = FORM_REJECTED if form.is_submitted() else 200
    return render_template("candidates/contact.html", form=form, application=application), status


@bp.route("/applications/<int:application_id>/offer", methods=["GET", "POST"])
@login_required
@submitted_once
def offer(application_id: int):
    """Record the offer terms and ask for sign-off: verbal intent is not an offer until it is written."""
    application = get_application(current_user, application_id, for_edit=True)
    current = offers.offer_for(application)
    form = OfferForm(obj=current)
    form.approver_id.choices = as_choices([(None, "Choose…")]) + user_choices()
    form.compensation_approver_id.choices = user_choices(include_none="Same as the offer approver")
    if form.validate_on_submit():
        ok, _ = run_service(
            form,
            lambda: offers.propose_offer(
                current_user,
                application,
                form.salary.data,
                form.approver_id.data,
                currency=(form.currency.data or "").strip().upper() or None,
                start_date=form.start_date.data,
                due_date=form.due_date.data,
                compensation_approver_id=form.compensation_approver_id.data,
            ),
        )
        if ok:
            db.session.commit()
            flash(
                "Offer terms recorded and sent for approval. There is still no written offer: "
                "it goes out once every approval is in.",
                "success",
            )
            return redirect(url_for("candidates.detail", candidate_id=application.candidate_id))
    application = get_application(current_user, application_id, for_edit=True)
    status = FORM_REJECTED if form.is_submitted() else 200
    return render_template(
        "candidates/offer.html", form=form, application=application, offer=current
    ), status
