"""Hold pages: place a hold, see what it strands, change its expected date, resolve it."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select, true
from sqlalchemy.orm import joinedload

from hiretrack.admin.services import effective_settings
from hiretrack.auth.access import (
    editable_requisitions,
    get_hold,
    get_requisition,
    visible_holds,
)
from hiretrack.auth.models import User
from hiretrack.cadence.calendar import business_days_between
from hiretrack.cadence.queries import cadence_for
from hiretrack.candidates.models import Application
from hiretrack.errors import DomainError
from hiretrack.extensions import db
from hiretrack.formatting import plural
from hiretrack.holds import services
from hiretrack.holds.forms import EditHoldForm, PlaceHoldForm, ResolveHoldForm
from hiretrack.holds.models import Hold
from hiretrack.holds.queries import stranded_applications, stranded_count
from hiretrack.requisitions.models import Requisition
from hiretrack.requisitions.services import open_applications
from hiretrack.sorting import requested_sort, reverse_order, sort_clauses
from hiretrack.submissions import submitted_once
from hiretrack.web import (
    FORM_REJECTED,
    as_choices,
    paginate,
    run_service,
    today,
    user_choices,
)

bp = Blueprint("holds", __name__)

#: Service error keys that name a different form field.
FIELD_NAMES = {"owner_id": "owner_name"}


def _may_send_drafts(hold: Hold) -> bool:
    """Whether the signed-in user may review and send the drafts of this hold's requisition."""
    return bool(
        db.session.scalar(
            select(true()).where(
                Requisition.id == hold.requisition_id, editable_requisitions(current_user)
            )
        )
    )


def _after_change(hold: Hold, drafts: list) -> str:
    """Where to go once a hold changed: its drafts for whoever may send them, else the hold.

    A hold's owner may be an approver, who cannot open the drafts (they are the manager's to
    send); the hold's page is theirs to see, and the manager is told of the drafts waiting.
    """
    if not _may_send_drafts(hold):
        return url_for("holds.detail", hold_id=hold.id)
    if drafts:
        return url_for("messages.drafts", hold_id=hold.id)
    return url_for("requisitions.detail", requisition_id=hold.requisition_id)


@bp.get("/holds")
@login_required
def index():
    """List the holds the user may see: open ones first, the oldest on top."""
    state = request.args.get("state", "open")
    stranded = stranded_count()
    query = (
        select(Hold, Requisition.title, stranded)
        .join(Requisition, Requisition.id == Hold.requisition_id)
        .options(joinedload(Hold.owner))
        .where(visible_holds(current_user))
    )
    if state == "open":
        query = query.where(Hold.resolved_at.is_(None))
    elif state == "resolved":
        query = query.where(Hold.resolved_at.is_not(None))
    else:
        state = "all"
    sortable = _sortable_hold_columns(stranded)
    sort = requested_sort(sortable)
    default = [Hold.resolved_at.is_not(None), Hold.opened_at, Hold.id]
    page = paginate(query.order_by(*sort_clauses(sort, sortable, default)), scalars=False)
    holidays = effective_settings().holidays
    ages = {
        hold.id: business_days_between(
            hold.opened_at.date(),
            hold.resolved_at.date() if hold.resolved_at else today(),
            holidays,
        )
        for hold, _, _ in page.items
    }
    return render_template(
        "holds/index.html", page=page, state=state, ages=ages, today=today(), sort=sort
    )


def _sortable_hold_columns(stranded) -> dict:
    """The holds list's sortable columns; the owner is a user's name or a typed-in one."""
    owner = func.coalesce(
        select(User.name).where(User.id == Hold.owner_id).correlate(Hold).scalar_subquery(),
        Hold.owner_name,
    )
    return {
        "summary": func.lower(Hold.summary),
        "requisition": func.lower(Requisition.title),
        "owner": func.lower(owner),
        "age": reverse_order(Hold.opened_at),  # the youngest hold was placed last
        "expected": Hold.expected_clear_date,
        "stranded": stranded,
    }


def _place_form(requisition: Requisition) -> PlaceHoldForm:
    form = PlaceHoldForm()
    form.owner_id.choices = user_choices(include_none="Not a user (type a name below)")
    form.application_id.choices = as_choices(
        [(None, "The whole requisition: every open candidate")]
        + [
            (application.id, f"Only {application.candidate.name}")
            for application in open_applications(requisition)
        ]
    )
    return form


@bp.route("/requisitions/<int:requisition_id>/holds/new", methods=["GET", "POST"])
@login_required
@submitted_once
def place(requisition_id: int):
    """Put a requisition (or one candidate) on hold and prepare a hold notice for each candidate."""
    requisition = get_requisition(current_user, requisition_id, for_edit=True)
    form = _place_form(requisition)
    if form.validate_on_submit():
        application = None
        if form.application_id.data is not None:
            application = db.session.get(Application, form.application_id.data)
        ok, result = run_service(
            form,
            lambda: services.place_hold(
                current_user, requisition, application=application, **form.values()
            ),
            FIELD_NAMES,
        )
        if ok:
            db.session.commit()
            count = len(result.drafts)
            flash(
                f"Hold placed. {plural(count, 'hold notice draft')} {'is' if count == 1 else 'are'} "
                "ready for your review: "
                "nothing is sent until you confirm.",
                "success",
            )
            return redirect(_after_change(result.hold, result.drafts))
    status = FORM_REJECTED if form.is_submitted() else 200
    return render_template("holds/place.html", form=form, requisition=requisition), status


def _detail_page(hold: Hold, edit_form=None, resolve_form=None, status: int = 200):
    """Render a hold with its stranded candidates and the forms to change or resolve it."""
    stranded = stranded_applications(hold) if hold.is_open else []
    may_change = _may_change(hold)
    if edit_form is None and may_change and hold.is_open:
        edit_form = EditHoldForm(obj=hold, formdata=None, prefix="edit")
    if edit_form is not None:
        edit_form.owner_id.choices = user_choices(include_none="Not a user (type a name below)")
    if resolve_form is None and may_change and hold.is_open:
        resolve_form = ResolveHoldForm(formdata=None, version=hold.version, prefix="resolve")
    age = business_days_between(
        hold.opened_at.date(),
        hold.resolved_at.date() if hold.resolved_at else today(),
        effective_settings().holidays,
    )
    return render_template(
        "holds/detail.html",
        hold=hold,
        stranded=stranded,
        cadence=cadence_for([a.id for a in stranded], today()),
        edit_form=edit_form,
        resolve_form=resolve_form,
        age=age,
        today=today(),
        may_send_drafts=_may_send_drafts(hold),
    ), status


def _may_change(hold: Hold) -> bool:
    try:
        get_hold(current_user, hold.id, for_edit=True)
    except DomainError:
        return False
    return True


@bp.get("/holds/<int:hold_id>")
@login_required
def detail(hold_id: int):
    """Show a hold: who owns it, how old it is, and which candidates it strands."""
    return _detail_page(get_hold(current_user, hold_id))


@bp.post("/holds/<int:hold_id>/edit")
@login_required
def edit(hold_id: int):
    """Change a hold, e.g. push out its expected clear date (candidates are owed word of it)."""
    hold = get_hold(current_user, hold_id, for_edit=True)
    form = EditHoldForm(prefix="edit")
    form.owner_id.choices = user_choices(include_none="Not a user (type a name below)")
    if form.validate_on_submit():
        values = form.values()
        ok, _ = run_service(
            form,
            lambda: services.update_hold(
                current_user, hold, expected_version=form.version.data or None, **values
            ),
            FIELD_NAMES,
        )
        if ok:
            db.session.commit()
            flash("Hold updated.", "success")
            return redirect(url_for("holds.detail", hold_id=hold.id))
    hold = get_hold(current_user, hold_id)
    return _detail_page(hold, edit_form=form, status=FORM_REJECTED)


@bp.post("/holds/<int:hold_id>/resolve")
@login_required
@submitted_once
def resolve(hold_id: int):
    """Clear or cancel a hold and prepare each stranded candidate's next message."""
    hold = get_hold(current_user, hold_id, for_edit=True)
    form = ResolveHoldForm(prefix="resolve")
    if form.validate_on_submit():
        ok, result = run_service(
            form,
            lambda: services.resolve_hold(
                current_user,
                hold,
                form.outcome.data,
                form.note.data or "",
                expected_version=form.version.data or None,
                public_cancellation_reason=form.public_cancellation_reason.data or "",
            ),
        )
        if ok:
            db.session.commit()
            kind = "moving-forward" if result.hold.outcome == "cleared" else "closure"
            who = (
                "your review"
                if _may_send_drafts(result.hold)
                else f"{result.hold.requisition.manager.name} to review and send (they see them "
                "on their dashboard and in their next digest)"
            )
            count = len(result.drafts)
            flash(
                f"Hold {result.hold.outcome}. {plural(count, kind + ' draft')} "
                f"{'is' if count == 1 else 'are'} ready for {who}.",
                "success",
            )
            return redirect(_after_change(result.hold, result.drafts))
    hold = get_hold(current_user, hold_id)
    return _detail_page(hold, resolve_form=form, status=FORM_REJECTED)
