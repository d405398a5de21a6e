"""Bulk actions: the lists' one form leads to one review page, which confirms all or nothing."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from hiretrack.auth.redirects import safe_next_url
from hiretrack.bulk import services
from hiretrack.bulk.forms import ACTIONS, BulkReviewForm, BulkSelectForm, BulkSendForm
from hiretrack.errors import DomainError, ValidationFailed
from hiretrack.extensions import db
from hiretrack.formatting import plural
from hiretrack.messages import drafts as draft_service
from hiretrack.submissions import submitted_once
from hiretrack.web import FORM_REJECTED, show_errors

bp = Blueprint("bulk", __name__, url_prefix="/bulk")

#: Service error keys that name a differently called field of the review form.
REVIEW_FIELDS = {"channel": "channel", "note": "note", "closure_method": "closure_method"}


def _back(value: str | None) -> str:
    return safe_next_url(value) or url_for("dashboard.index")


@bp.post("/review")
@login_required
def review():
    """Show what the chosen action will do to the ticked applications, with its details to fill."""
    form = BulkSelectForm()
    back = _back(form.back.data)
    if not form.validate_on_submit():
        flash("The form expired or was altered; select the applications again.", "error")
        return redirect(back)
    try:
        applications = services.selected_applications(
            current_user, request.form.getlist("application_id")
        )
    except ValidationFailed as error:
        flash(error.message, "error")
        return redirect(back)
    details = BulkReviewForm(
        formdata=None,
        action=form.action.data,
        application_ids=",".join(str(a.id) for a in applications),
        back=back,
        category=services.shared_suggestion(applications).value,
    )
    return _render_review(details, applications)


def _render_review(form: BulkReviewForm, applications, status: int = 200):
    return render_template(
        "bulk/review.html",
        form=form,
        action=form.action.data,
        action_label=ACTIONS.get(form.action.data, ""),
        applications=applications,
        back=_back(form.back.data),
    ), status


@bp.post("/apply")
@login_required
@submitted_once
def apply():
    """Do the reviewed action to every selected application, in one transaction, or to none."""
    form = BulkReviewForm()
    back = _back(form.back.data)
    valid = form.validate_on_submit()
    if form.action.data not in ACTIONS or "csrf_token" in form.errors:
        flash("The form expired or was altered; select the applications again.", "error")
        return redirect(back)
    try:
        applications = services.selected_applications(
            current_user, (form.application_ids.data or "").split(",")
        )
    except ValidationFailed as error:
        flash(error.message, "error")
        return redirect(back)
    if not valid:
        return _render_review(form, applications, FORM_REJECTED)
    try:
        outcome = _carry_out(form, applications)
    except DomainError as error:
        db.session.rollback()
        show_errors(form, error, REVIEW_FIELDS)
        applications = services.selected_applications(
            current_user, form.application_ids.data.split(",")
        )  # loaded again: the rollback expired them
        return _render_review(form, applications, FORM_REJECTED)
    db.session.commit()
    if isinstance(outcome, tuple):  # drafts prepared: review them on the same page
        drafts, skipped = outcome
        if skipped:
            flash(
                "Skipped (a draft already waits for them; send or discard it first): "
                + ", ".join(skipped)
                + ".",
                "info",
            )
        if not drafts:  # every one already has a draft: show those, not the list they left
            return redirect(url_for("messages.drafts"))
        return redirect(url_for("bulk.drafts", ids=",".join(str(d.id) for d in drafts), back=back))
    flash(outcome, "success")
    return redirect(back)


def _carry_out(form: BulkReviewForm, applications):
    """Run the chosen action; returns a message, or (drafts, skipped names) for the send path."""
    action, count = form.action.data, len(applications)
    if action == "send":
        return services.prepare_bulk_drafts(current_user, applications, form.category.data)
    if action == "log_call":
        services.log_calls(
            current_user,
            applications,
            note=form.note.data or "",
            promised_next_update=form.promised_next_update.data,
            channel=form.channel.data,
        )
        return f"Contact logged with {plural(count, 'candidate')}."
    if action == "move":
        if not form.target.data:
            raise ValidationFailed("Choose the new stage.", {"target": ["Choose the new stage."]})
        services.move_stages(current_user, applications, form.target.data, form.note.data or "")
        return f"{plural(count, 'application')} moved."
    if not form.outcome.data or not form.closure_method.data:
        raise ValidationFailed(
            "Closing needs closure: choose how the applications end and how the candidates "
            "hear about it.",
            {"closure_method": ["Choose how they hear about it."]},
        )
    if form.closure_method.data == "email":
        return services.prepare_closure_drafts(current_user, applications, form.outcome.data)
    services.close_with_recorded_closure(
        current_user,
        applications,
        form.outcome.data,
        channel=form.channel.data,
        note=form.note.data or "",
    )
    return f"{plural(count, 'application')} closed, with closure recorded."


@bp.get("/drafts")
@login_required
def drafts():
    """The review page for a bulk send: every prepared draft rendered, then one all-or-nothing send."""
    back = _back(request.args.get("back"))
    pending = draft_service.pending_drafts(current_user)
    try:
        chosen = services.drafts_by_id(current_user, request.args.get("ids", ""), pending)
    except ValidationFailed as error:
        flash(error.message, "error")
        return redirect(back)
    reviews = [draft_service.review_draft(draft) for draft in chosen]
    send_form = BulkSendForm(
        formdata=None, draft_ids=",".join(str(d.id) for d in chosen), back=back
    )
    return render_template(
        "bulk/review.html",
        action="send",
        action_label=ACTIONS["send"],
        reviews=reviews,
        problems=sum(1 for review in reviews if review.problem),
        send_form=send_form,
        back=back,
    )


@bp.post("/drafts/send")
@login_required
@submitted_once
def send_drafts():
    """Send the reviewed drafts all together: one that fails its checks stops them all."""
    form = BulkSendForm()
    back = _back(form.back.data)
    here = url_for("bulk.drafts", ids=form.draft_ids.data or "", back=back)
    if not form.validate_on_submit():
        flash("The form expired; review the drafts again.", "error")
        return redirect(here)
    try:
        chosen = services.drafts_by_id(
            current_user, form.draft_ids.data or "", draft_service.pending_drafts(current_user)
        )
        sent = draft_service.send_drafts(current_user, chosen)
    except ValidationFailed as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(here)
    db.session.commit()
    flash(f"{plural(len(sent), 'message')} queued for delivery.", "success")
    return redirect(back)
