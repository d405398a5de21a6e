"""Message pages: review the drafts a hold or a requisition prepared, edit them, send them together."""

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from hiretrack.auth.access import (
    get_hold,
    get_requisition,
)
from hiretrack.errors import ValidationFailed
from hiretrack.extensions import db
from hiretrack.formatting import plural
from hiretrack.messages import drafts as draft_service
from hiretrack.messages.blueprint import WRITER_ROLES, bp
from hiretrack.messages.forms import (
    ButtonForm,
    DraftForm,
    PrepareDraftsForm,
    SendDraftsForm,
)
from hiretrack.messages.models import CLOSURE_OUTCOMES
from hiretrack.messages.routes.preview import render_preview
from hiretrack.messages.wording import check_promise_is_worded, draft_wording, source_for
from hiretrack.request_cache import remember, remembered
from hiretrack.submissions import submitted_once
from hiretrack.web import FORM_REJECTED, run_service

#: The drafts page's `kind` that lists closures only (where the close page sends people).
CLOSURES = "closure"

#: The request cache's name for the count of drafts waiting for the user's review.
DRAFTS_WAITING = "drafts_waiting"


def _draft_scope(values) -> tuple:
    """Read hold_id / requisition_id, loading each through the access rules (for writing)."""
    hold = requisition = None
    if values.get("hold_id"):
        hold = get_hold(current_user, values.get("hold_id"))
        get_requisition(current_user, hold.requisition_id, for_edit=True)
    if values.get("requisition_id"):
        requisition = get_requisition(current_user, values.get("requisition_id"), for_edit=True)
    return hold, requisition


def _drafts_url(hold=None, requisition=None, closures_only: bool = False) -> str:
    args = {}
    if hold is not None:
        args["hold_id"] = hold.id
    if requisition is not None:
        args["requisition_id"] = requisition.id
    if closures_only:
        args["kind"] = CLOSURES
    return url_for("messages.drafts", **args)


@bp.app_context_processor
def drafts_waiting_helper() -> dict:
    """`drafts_waiting()` for every page's navigation: the drafts waiting for the user's review.

    A function, so only pages that show the navigation pay for the count.
    """

    def drafts_waiting() -> int:
        if not current_user.is_authenticated or current_user.role not in WRITER_ROLES:
            return 0
        count = remembered(DRAFTS_WAITING)
        if count is None:
            count = draft_service.pending_drafts_count(current_user)
        return count

    return {"drafts_waiting": drafts_waiting}


def remember_drafts_waiting(count: int) -> None:
    """Let this request's navigation show a count of waiting drafts the page has just made.

    The dashboard counts the same drafts among its counters; the navigation then saves a query.
    """
    remember(DRAFTS_WAITING, count)


@bp.get("/drafts")
def drafts():
    """Review pending drafts (of a hold, a requisition, or all of yours), then send them all at once."""
    hold, requisition = _draft_scope(request.args)
    closures_only = request.args.get("kind") == CLOSURES
    pending = draft_service.pending_drafts(
        current_user,
        hold=hold,
        requisition_id=requisition.id if requisition else None,
        closures_only=closures_only,
    )
    reviews = draft_service.review_drafts(pending)
    send_form = SendDraftsForm(
        hold_id=hold.id if hold else "",
        requisition_id=requisition.id if requisition else "",
        kind=CLOSURES if closures_only else "",
        draft_ids=",".join(str(draft.id) for draft in pending),
    )
    return render_template(
        "messages/drafts.html",
        hold=hold,
        requisition=requisition,
        reviews=reviews,
        problems=sum(1 for review in reviews if review.problem),
        not_checked=sum(1 for review in reviews if review.not_checked),
        send_form=send_form,
        prepare_form=PrepareDraftsForm() if requisition else None,
        closures_only=closures_only,
    )


@bp.post("/drafts/send")
@submitted_once
def send_drafts():
    """Send every reviewed draft in one transaction: one failing draft stops them all, by name."""
    form = SendDraftsForm()
    hold, requisition = _draft_scope(request.form)
    closures_only = request.form.get("kind") == CLOSURES
    back = _drafts_url(hold, requisition, closures_only)
    if not form.validate_on_submit():
        flash("The form expired; review the drafts again.", "error")
        return redirect(back)
    pending = draft_service.pending_drafts(
        current_user,
        hold=hold,
        requisition_id=requisition.id if requisition else None,
        closures_only=closures_only,
    )
    shown = _shown_draft_ids(form.draft_ids.data)
    if [draft.id for draft in pending] != shown:
        if not _sent_already(shown):
            flash(
                "The drafts changed since you opened this page (one was added, edited away, "
                "sent or discarded). Nothing was sent: review the list again.",
                "error",
            )
        return redirect(back)
    try:
        sent = draft_service.send_drafts(current_user, pending)
    except ValidationFailed as error:
        db.session.rollback()
        if not _sent_already(shown):
            flash(error.message, "error")
        return redirect(back)
    db.session.commit()
    flash(f"{plural(len(sent), 'message')} queued for delivery.", "success")
    return redirect(back)


def _shown_draft_ids(value: str | None) -> list[int]:
    """The draft ids the page listed when it was opened ([] for a tampered value)."""
    parts = (value or "").split(",") if value else []
    if not all(part.isdigit() and len(part) < 19 for part in parts):
        return []
    return [int(part) for part in parts]


def _sent_already(shown: list[int]) -> bool:
    """A second click of "Send all" finds its drafts sent by the first: show the same result."""
    if not draft_service.drafts_all_sent(current_user, shown):
        return False
    flash(f"{plural(len(shown), 'message')} queued for delivery.", "success")
    return True


@bp.route("/drafts/<int:draft_id>/edit", methods=["GET", "POST"])
def edit_draft(draft_id: int):
    """Edit one draft's wording or promised date before the batch is sent."""
    draft = draft_service.get_draft(current_user, draft_id)
    closing = draft.template.category in CLOSURE_OUTCOMES
    form = DraftForm()
    shown = _shown_wording(draft)
    if not form.is_submitted():
        # The message as it will be sent, in plain words: never the template's source.
        form.subject.data = shown.subject if shown else draft_service.draft_subject(draft)
        form.body.data = shown.body if shown else draft_service.draft_body(draft)
        form.promised_next_update.data = draft.promised_next_update
    back = url_for(
        "messages.drafts",
        **(
            {"hold_id": draft.hold_id}
            if draft.hold_id
            else {"requisition_id": draft.application.requisition_id}
        ),
    )
    if form.validate_on_submit():
        saved, _ = run_service(
            form,
            lambda: _save_draft(draft, form, shown),
        )
        if saved:
            db.session.commit()
            flash(f"Draft for {draft.application.candidate.name} saved.", "success")
            return redirect(back)
        draft = draft_service.get_draft(current_user, draft_id)
    rendered, preview_errors = render_preview(
        draft.application_id,
        form.subject.data or "",
        form.body.data or "",
        category=draft.template.category,
        promised_next_update=None if closing else form.promised_next_update.data,
    )
    return render_template(
        "messages/draft_form.html",
        draft=draft,
        form=form,
        closing=closing,
        back=back,
        rendered=rendered,
        preview_errors=preview_errors,
    ), (FORM_REJECTED if form.errors or form.form_errors else 200)


def _shown_wording(draft):
    """The draft in plain words, or None when it cannot be written out (the page says why)."""
    try:
        return draft_wording(draft)
    except ValidationFailed:
        return None


def _save_draft(draft, form: DraftForm, shown):
    """Save the edit: untouched words keep their source (so a new promised date reads right)."""
    subject = source_for(
        form.subject.data, shown and shown.subject, draft_service.draft_subject(draft)
    )
    body = source_for(form.body.data, shown and shown.body, draft_service.draft_body(draft))
    closing = draft.template.category in CLOSURE_OUTCOMES
    if body != draft_service.draft_body(draft) and not closing:
        check_promise_is_worded(
            form.body.data, draft.promised_next_update, form.promised_next_update.data
        )
    return draft_service.update_draft(
        current_user,
        draft,
        subject=subject,
        body=body,
        promised_next_update=form.promised_next_update.data,
    )


@bp.post("/drafts/<int:draft_id>/discard")
def discard_draft(draft_id: int):
    """Drop one draft: that candidate gets nothing from this batch."""
    draft = draft_service.get_draft(current_user, draft_id)
    form = ButtonForm()
    if form.validate_on_submit():
        draft_service.discard_draft(current_user, draft)
        db.session.commit()
        flash(f"Draft for {draft.application.candidate.name} discarded.", "success")
    else:
        flash("The form expired; try again.", "error")
    if draft.hold_id:
        return redirect(url_for("messages.drafts", hold_id=draft.hold_id))
    return redirect(url_for("messages.drafts", requisition_id=draft.application.requisition_id))


@bp.post("/requisitions/<int:requisition_id>/drafts")
def prepare_requisition_drafts(requisition_id: int):
    """Prepare one personalised draft for every open application on a requisition, for review."""
    requisition = get_requisition(current_user, requisition_id, for_edit=True)
    form = PrepareDraftsForm()
    if not form.validate_on_submit():
        flash("Choose which message to prepare.", "error")
        return redirect(_drafts_url(requisition=requisition))
    drafts_made, skipped, replaced = draft_service.prepare_requisition_drafts(
        current_user, requisition, form.category.data
    )
    db.session.commit()
    closing = form.category.data in CLOSURE_OUTCOMES
    note = ""
    if skipped:
        waiting = "a closure" if closing else "a draft"
        note += (
            f" {plural(skipped, 'candidate')} already had {waiting} waiting and "
            f"{'was' if skipped == 1 else 'were'} skipped."
        )
    if replaced:
        note += (
            f" {plural(replaced, 'waiting draft')} of another kind "
            f"{'was' if replaced == 1 else 'were'} discarded: a closure ends them."
        )
    flash(f"{plural(len(drafts_made), 'draft')} prepared: review them, then send.{note}", "success")
    return redirect(_drafts_url(requisition=requisition, closures_only=closing))
