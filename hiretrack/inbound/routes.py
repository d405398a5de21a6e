"""The "Unmatched mail" page: mail that matched no application, for a recruiter or admin to
attach to the right application or discard. Nothing that comes in is dropped silently."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from hiretrack.auth.access import get_application, require_role
from hiretrack.errors import DomainError, NotFound
from hiretrack.extensions import db
from hiretrack.inbound import services
from hiretrack.inbound.models import InboundStatus
from hiretrack.inbound.queries import SORTING_ROLES, attach_candidates, unmatched_query
from hiretrack.messages.forms import ButtonForm
from hiretrack.web import paginate

bp = Blueprint("inbound", __name__, url_prefix="/inbox")

STATUS_FILTERS = (InboundStatus.OPEN, InboundStatus.ATTACHED, InboundStatus.DISCARDED)


@bp.before_request
@login_required
def require_sorting_role():
    """Every page here is for recruiters and admins only."""
    require_role(current_user, *SORTING_ROLES)


@bp.get("/unmatched")
def unmatched():
    """List unmatched mail waiting for a person (or, with ?status=, what was done with it)."""
    status = request.args.get("status", InboundStatus.OPEN)
    if status not in STATUS_FILTERS:
        status = InboundStatus.OPEN
    page = paginate(unmatched_query(status))
    return render_template(
        "inbound/unmatched.html", page=page, status=status, statuses=STATUS_FILTERS
    )


@bp.get("/<int:message_id>")
def detail(message_id: int):
    """Show one received message as text, with the applications it could be attached to."""
    message = services.get_message(message_id)
    search = request.args.get("q", "")
    choices = attach_candidates(message, search) if message.status == InboundStatus.OPEN else []
    return render_template(
        "inbound/detail.html",
        message=message,
        search=search,
        choices=choices,
        form=ButtonForm(),
    )


def _action(message_id: int, action, done: str):
    """Run attach or discard behind a CSRF-checked button, then go back to the list."""
    message = services.get_message(message_id)
    form = ButtonForm()
    if not form.validate_on_submit():
        flash("The form expired; try again.", "error")
        return redirect(url_for("inbound.detail", message_id=message_id))
    try:
        action(message)
    except NotFound:
        raise
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("inbound.detail", message_id=message_id))
    db.session.commit()
    flash(done, "success")
    return redirect(url_for("inbound.unmatched"))


@bp.post("/<int:message_id>/attach")
def attach(message_id: int):
    """Attach an unmatched message to the chosen application; a reply then counts as contact."""
    value = request.form.get("application_id", "")
    if not value.isdigit() or not 0 < int(value) < 2**31:
        raise NotFound("No such application.")
    application_id = int(value)
    application = get_application(current_user, application_id)
    return _action(
        message_id,
        lambda message: services.attach(current_user, message, application),
        f"Attached to {application.candidate.name}'s application "
        f"for {application.requisition.title}.",
    )


@bp.post("/<int:message_id>/discard")
def discard(message_id: int):
    """Discard an unmatched message that concerns no application; its text is removed."""
    return _action(
        message_id,
        lambda message: services.discard(current_user, message),
        "Discarded; its text was removed.",
    )
