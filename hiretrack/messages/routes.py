"""Message pages: templates with live preview and versions, compose, drafts review, the outbox.

Views parse the form, call `messages.services` / `messages.templates` (which own every rule),
flash and redirect. Objects are loaded through `hiretrack.auth.access`, so another manager's
application, requisition or hold is a 404.
"""

from datetime import date

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from hiretrack.auth.access import (
    get_application,
    get_hold,
    get_requisition,
    require_role,
    visible_applications,
)
from hiretrack.auth.redirects import safe_next_url
from hiretrack.candidates.models import Application, Candidate
from hiretrack.error_pages import problem
from hiretrack.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from hiretrack.extensions import db
from hiretrack.formatting import local_datetime, user_timezone
from hiretrack.messages import delivery, services
from hiretrack.messages import templates as template_service
from hiretrack.messages.forms import (
    ActiveForm,
    ButtonForm,
    ComposeForm,
    DraftForm,
    PrepareDraftsForm,
    RestoreForm,
    SendDraftsForm,
    TemplateForm,
)
from hiretrack.messages.models import (
    CATEGORY_LABELS,
    CLOSURE_OUTCOMES,
    EmailTemplate,
    OutboxEmail,
    OutboxStatus,
    TemplateCategory,
)
from hiretrack.messages.rendering import TEMPLATE_VARIABLES, render_email, sample_context
from hiretrack.requisitions.models import Requisition
from hiretrack.web import FORM_REJECTED, feature_url, paginate, run_service

bp = Blueprint("messages", __name__)

WRITER_ROLES = ("manager", "recruiter", "admin")
PREVIEW_APPLICATIONS = 50
FAILED_SHOWN = 50

#: Service error keys that name a different compose form field.
COMPOSE_FIELDS = {"promised_next_update": "promised_next_update", "send_when": "send_when"}


@bp.before_request
@login_required
def require_writer():
    """Every page here writes to candidates or edits their emails: approvers have no access."""
    try:
        require_role(current_user, *WRITER_ROLES)
    except PermissionDenied as error:
        if request.is_json:  # the live preview reads JSON answers
            return problem(error.status, error.title, error.message)
        raise
    return None


# --- Templates ---------------------------------------------------------------------------------


def _preview_applications() -> list[tuple[int, str]]:
    """Open applications the user may see, newest first, to preview a template against."""
    rows = db.session.execute(
        select(Application.id, Candidate.name, Requisition.title)
        .join(Candidate, Candidate.id == Application.candidate_id)
        .join(Requisition, Requisition.id == Application.requisition_id)
        .where(visible_applications(current_user), Application.closed_at.is_(None))
        .order_by(Application.id.desc())
        .limit(PREVIEW_APPLICATIONS)
    )
    return [(app_id, f"{name} — {title}") for app_id, name, title in rows]


def _chosen_preview_application(choices: list[tuple[int, str]]) -> int | None:
    """The application the preview shows: the one asked for if it is in the list, else the first."""
    wanted = request.values.get("preview_application", type=int)
    ids = [app_id for app_id, _ in choices]
    if wanted in ids:
        return wanted
    return ids[0] if ids else None


def _render_preview(
    application_id: int | None,
    subject: str,
    body: str,
    *,
    category: str | None = None,
    promise_business_days: int | None = None,
    promised_next_update: date | None = None,
):
    """Render unsaved wording for the page: (rendered, errors); sample values without an application."""
    try:
        if application_id is None:
            template_service.check_sources(subject, body)
            return render_email(subject, body, sample_context()), {}
        application = get_application(current_user, application_id)
        return template_service.preview(
            current_user,
            application,
            subject,
            body,
            category=category,
            promise_business_days=promise_business_days,
            promised_next_update=promised_next_update,
        ), {}
    except ValidationFailed as error:
        return None, error.errors or {"body": [error.message]}


def _editor_page(form: TemplateForm, template: EmailTemplate | None, status: int = 200):
    """Render the template editor with its preview and the variable catalogue."""
    choices = _preview_applications()
    chosen = _chosen_preview_application(choices)
    rendered, preview_errors = None, {}
    if form.subject.data and form.body.data:
        rendered, preview_errors = _render_preview(
            chosen,
            form.subject.data,
            form.body.data,
            category=form.category.data,
            promise_business_days=form.promise_business_days.data,
        )
    return render_template(
        "messages/template_form.html",
        form=form,
        template=template,
        preview_choices=choices,
        preview_chosen=chosen,
        rendered=rendered,
        preview_errors=preview_errors,
        variables=TEMPLATE_VARIABLES,
        can_share=current_user.role in template_service.SHARED_OWNER_ROLES,
    ), status


@bp.get("/templates")
def templates():
    """List the shared templates and the user's own variants, by category."""
    items = template_service.list_templates(current_user)
    grouped = [
        (category, label, [t for t in items if t.category == category])
        for category, label in CATEGORY_LABELS.items()
    ]
    in_use = {
        category: services.choose_template(current_user, category).id
        for category, _, group in grouped
        if any(t.is_active for t in group)
    }
    return render_template(
        "messages/templates.html",
        grouped=grouped,
        in_use=in_use,
        can_share=current_user.role in template_service.SHARED_OWNER_ROLES,
    )


@bp.route("/templates/new", methods=["GET", "POST"])
def new_template():
    """Add a shared template (recruiters, admins) or a personal variant, optionally copying one."""
    form = TemplateForm()
    can_share = current_user.role in template_service.SHARED_OWNER_ROLES
    if not form.is_submitted():
        source_slug = request.args.get("from")
        if source_slug:
            source = template_service.get_template(current_user, source_slug)
            form.process(
                data={
                    "name": f"{source.name} (my version)",
                    "slug": f"{source.slug}-{current_user.id}",
                    "category": source.category,
                    "subject": source.subject,
                    "body": source.body,
                    "promise_business_days": source.promise_business_days,
                    "personal": True,
                }
            )
        else:
            form.category.data = request.args.get("category", TemplateCategory.CHECK_IN.value)
            form.personal.data = not can_share
    if not can_share:
        form.personal.data = True
    if form.submit.data and form.validate_on_submit():
        saved, template = run_service(
            form,
            lambda: template_service.create_template(
                current_user,
                name=form.name.data,
                slug=form.slug.data,
                category=form.category.data,
                subject=form.subject.data,
                body=form.body.data,
                promise_business_days=form.promise_business_days.data,
                personal=bool(form.personal.data),
                change_note=form.change_note.data,
            ),
        )
        if saved:
            db.session.commit()
            flash(f"Template '{template.name}' saved as version 1.", "success")
            return redirect(url_for("messages.edit_template", slug=template.slug))
    status = FORM_REJECTED if form.errors or form.form_errors else 200
    return _editor_page(form, None, status)


@bp.get("/templates/<slug>")
def template_detail(slug: str):
    """Show one template read-only, with its preview; shared ones can be copied as your own."""
    template = template_service.get_template(current_user, slug)
    choices = _preview_applications()
    chosen = _chosen_preview_application(choices)
    rendered, preview_errors = _render_preview(
        chosen,
        template.subject,
        template.body,
        category=template.category,
        promise_business_days=template.promise_business_days,
    )
    return render_template(
        "messages/template_detail.html",
        template=template,
        can_edit=template_service.can_edit(current_user, template),
        preview_choices=choices,
        preview_chosen=chosen,
        rendered=rendered,
        preview_errors=preview_errors,
        variables=TEMPLATE_VARIABLES,
        active_form=ActiveForm(expected_version=template.version),
    )


@bp.route("/templates/<slug>/edit", methods=["GET", "POST"])
def edit_template(slug: str):
    """Edit a template: saving validates it and records a new version with your note."""
    template = template_service.get_template(current_user, slug, for_edit=True)
    form = TemplateForm(obj=template if request.method == "GET" else None)
    if request.method == "GET":
        form.expected_version.data = template.version
        form.personal.data = template.owner_id is not None
    if form.submit.data and form.validate_on_submit():
        before = template.current_version
        saved, template = run_service(
            form,
            lambda: template_service.update_template(
                current_user,
                template,
                _int_or_none(form.expected_version.data),
                change_note=form.change_note.data,
                name=form.name.data,
                slug=form.slug.data,
                category=form.category.data,
                subject=form.subject.data,
                body=form.body.data,
                promise_business_days=form.promise_business_days.data,
            ),
        )
        if saved:
            if template.current_version == before:
                flash("Nothing changed, so no new version was saved.", "info")
            else:
                db.session.commit()
                flash(f"Saved as version {template.current_version}.", "success")
            return redirect(url_for("messages.edit_template", slug=template.slug))
        template = template_service.get_template(current_user, slug, for_edit=True)
    status = FORM_REJECTED if form.errors or form.form_errors else 200
    return _editor_page(form, template, status)


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@bp.post("/templates/preview")
def preview_template():
    """Render unsaved wording against one of the user's applications, for the live preview (JSON)."""
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return problem(400, "Bad request", "Send the preview as a JSON object.")
    subject, body = payload.get("subject"), payload.get("body")
    application_id = payload.get("application_id")
    category = payload.get("category") if isinstance(payload.get("category"), str) else None
    try:
        promise_days = _int_or_none(payload.get("promise_business_days"))
        promised = payload.get("promised_next_update") or None
        promised = date.fromisoformat(promised) if isinstance(promised, str) else None
    except ValueError:
        return problem(422, "Validation failed", "The promised date is not a date.")
    if not isinstance(subject, str) or not isinstance(body, str):
        return problem(
            422,
            "Validation failed",
            "Give the subject and the body as text.",
            errors={"subject": ["Required."], "body": ["Required."]},
        )
    try:
        if application_id in (None, ""):
            template_service.check_sources(subject, body)
            rendered = render_email(subject, body, sample_context())
        else:
            application = get_application(current_user, application_id)
            rendered = template_service.preview(
                current_user,
                application,
                subject,
                body,
                category=category,
                promise_business_days=promise_days,
                promised_next_update=promised,
            )
    except ValidationFailed as error:
        db.session.rollback()
        return problem(422, error.title, error.message, errors=error.errors)
    except DomainError as error:
        db.session.rollback()
        return problem(error.status, error.title, error.message)
    db.session.rollback()  # a preview never writes
    return jsonify(subject=rendered.subject, text=rendered.text, html=rendered.html)


@bp.get("/templates/<slug>/versions")
def template_versions(slug: str):
    """List a template's versions (who, when, why), each restorable by its editors."""
    template = template_service.get_template(current_user, slug)
    return render_template(
        "messages/versions.html",
        template=template,
        versions=template_service.template_versions(template),
        can_edit=template_service.can_edit(current_user, template),
    )


@bp.post("/templates/<slug>/versions/<int:number>/restore")
def restore_version(slug: str, number: int):
    """Bring back an earlier version's wording as a new version."""
    template = template_service.get_template(current_user, slug, for_edit=True)
    form = RestoreForm()
    if not form.validate_on_submit():
        flash("The form expired; reload the page and try again.", "error")
        return redirect(url_for("messages.template_versions", slug=slug))
    template_service.restore_version(
        current_user, template, number, _int_or_none(form.expected_version.data)
    )
    db.session.commit()
    flash(f"Version {number} restored as version {template.current_version}.", "success")
    return redirect(url_for("messages.template_versions", slug=template.slug))


@bp.post("/templates/<slug>/active")
def set_template_active(slug: str):
    """Retire a template (no longer chosen for sending) or bring it back."""
    template = template_service.get_template(current_user, slug, for_edit=True)
    form = ActiveForm()
    if not form.validate_on_submit():
        flash("The form expired; reload the page and try again.", "error")
        return redirect(url_for("messages.template_detail", slug=slug))
    active = request.form.get("active") == "1"
    template_service.set_active(
        current_user, template, active, _int_or_none(form.expected_version.data)
    )
    db.session.commit()
    flash(f"'{template.name}' is {'in use again' if active else 'retired'}.", "success")
    return redirect(url_for("messages.template_detail", slug=slug))


# --- Compose one message -----------------------------------------------------------------------


def _compose_template(application: Application) -> EmailTemplate:
    """The template asked for (by slug or category), else the one suggested for this application."""
    slug = request.values.get("template")
    if slug:
        template = services.get_template(current_user, slug)
        if not template.is_active:
            raise NotFound(f"The template '{template.name}' is retired.")
        return template
    category = request.args.get("category") or services.suggested_category(application)
    try:
        category = TemplateCategory(category)
    except ValueError:
        raise NotFound(f"There is no message category '{category}'.") from None
    return services.choose_template(current_user, category)


def _after_send(application: Application) -> str:
    """The candidate's page when this build has it, else where the user came from."""
    return (
        feature_url("candidates.detail", candidate_id=application.candidate_id)
        or safe_next_url(request.args.get("next"))
        or url_for("messages.outbox")
    )


@bp.route("/applications/<int:application_id>/compose", methods=["GET", "POST"])
def compose(application_id: int):
    """Write one message from a template: edit it for this candidate, promise a date, send or schedule."""
    application = get_application(current_user, application_id, for_edit=True)
    template = _compose_template(application)
    form = ComposeForm()
    closing = template.category in CLOSURE_OUTCOMES
    if not form.is_submitted():
        form.template.data = template.slug
        form.subject.data = template.subject
        form.body.data = template.body
        form.promised_next_update.data = services.default_promise(application, template)
    status = 200
    if form.submit.data and form.validate_on_submit():
        sent, result = run_service(
            form,
            lambda: _send(application, template, form),
            COMPOSE_FIELDS,
        )
        if sent:
            db.session.commit()
            if result.outbox.status == OutboxStatus.SCHEDULED:
                flash(
                    f"Scheduled for {local_datetime(result.outbox.send_after)}. You can cancel it "
                    "from the outbox until then.",
                    "success",
                )
            else:
                flash("Queued for delivery.", "success")
            return redirect(_after_send(application))
        application = get_application(current_user, application_id, for_edit=True)
        template = services.get_template(current_user, template.slug)
    if form.errors or form.form_errors:
        status = FORM_REJECTED
    rendered, preview_errors = _render_preview(
        application.id,
        form.subject.data or "",
        form.body.data or "",
        category=template.category,
        promise_business_days=template.promise_business_days,
        promised_next_update=None if closing else form.promised_next_update.data,
    )
    return render_template(
        "messages/compose.html",
        application=application,
        template=template,
        templates=services.usable_templates(current_user),
        form=form,
        closing=closing,
        guardrail=services.guardrail_problem(application, template),
        rendered=rendered,
        preview_errors=preview_errors,
        variables=TEMPLATE_VARIABLES,
    ), status


def _send(application: Application, template: EmailTemplate, form: ComposeForm):
    """Schedule or queue the composed message through the one send path."""
    send_at = services.schedule_time(
        form.send_when.data or "now",
        on_date=form.send_on.data,
        at_time=form.send_time.data,
        business_days=form.send_in_days.data,
        timezone=user_timezone(),
    )
    return services.send_message(
        current_user,
        application,
        template,
        subject=form.subject.data,
        body=form.body.data,
        promised_next_update=form.promised_next_update.data,
        send_at=send_at,
    )


# --- Drafts ------------------------------------------------------------------------------------


def _draft_scope(values) -> tuple:
    """Read hold_id / requisition_id, loading each through the access rules (for writing)."""
    hold = requisition = None
    if values.get("hold_id"):
        hold = get_hold(current_user, values.get("hold_id"))
        get_requisition(current_user, hold.requisition_id, for_edit=True)
    if values.get("requisition_id"):
        requisition = get_requisition(current_user, values.get("requisition_id"), for_edit=True)
    return hold, requisition


def _drafts_url(hold=None, requisition=None) -> str:
    args = {}
    if hold is not None:
        args["hold_id"] = hold.id
    if requisition is not None:
        args["requisition_id"] = requisition.id
    return url_for("messages.drafts", **args)


@bp.get("/drafts")
def drafts():
    """Review pending drafts (of a hold, a requisition, or all of yours), then send them all at once."""
    hold, requisition = _draft_scope(request.args)
    pending = services.pending_drafts(
        current_user, hold=hold, requisition_id=requisition.id if requisition else None
    )
    reviews = [services.review_draft(draft) for draft in pending]
    send_form = SendDraftsForm(
        hold_id=hold.id if hold else "",
        requisition_id=requisition.id if requisition else "",
        draft_ids=",".join(str(draft.id) for draft in pending),
    )
    return render_template(
        "messages/drafts.html",
        hold=hold,
        requisition=requisition,
        reviews=reviews,
        problems=sum(1 for review in reviews if review.problem),
        send_form=send_form,
        prepare_form=PrepareDraftsForm() if requisition else None,
    )


@bp.post("/drafts/send")
def send_drafts():
    """Send every reviewed draft in one transaction: one failing draft stops them all, by name."""
    form = SendDraftsForm()
    hold, requisition = _draft_scope(request.form)
    back = _drafts_url(hold, requisition)
    if not form.validate_on_submit():
        flash("The form expired; review the drafts again.", "error")
        return redirect(back)
    pending = services.pending_drafts(
        current_user, hold=hold, requisition_id=requisition.id if requisition else None
    )
    shown = form.draft_ids.data.split(",") if form.draft_ids.data else []
    if [str(draft.id) for draft in pending] != shown:
        flash(
            "The drafts changed since you opened this page (one was added, edited away, sent or "
            "discarded). Nothing was sent: review the list again.",
            "error",
        )
        return redirect(back)
    try:
        sent = services.send_drafts(current_user, pending)
    except ValidationFailed as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(back)
    db.session.commit()
    flash(f"{len(sent)} message(s) queued for delivery.", "success")
    return redirect(back)


@bp.route("/drafts/<int:draft_id>/edit", methods=["GET", "POST"])
def edit_draft(draft_id: int):
    """Edit one draft's wording or promised date before the batch is sent."""
    draft = services.get_draft(current_user, draft_id)
    closing = draft.template.category in CLOSURE_OUTCOMES
    form = DraftForm()
    if not form.is_submitted():
        form.subject.data = services.draft_subject(draft)
        form.body.data = services.draft_body(draft)
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
            lambda: services.update_draft(
                current_user,
                draft,
                subject=form.subject.data,
                body=form.body.data,
                promised_next_update=form.promised_next_update.data,
            ),
        )
        if saved:
            db.session.commit()
            flash(f"Draft for {draft.application.candidate.name} saved.", "success")
            return redirect(back)
        draft = services.get_draft(current_user, draft_id)
    rendered, preview_errors = _render_preview(
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
        variables=TEMPLATE_VARIABLES,
    ), (FORM_REJECTED if form.errors or form.form_errors else 200)


@bp.post("/drafts/<int:draft_id>/discard")
def discard_draft(draft_id: int):
    """Drop one draft: that candidate gets nothing from this batch."""
    draft = services.get_draft(current_user, draft_id)
    form = ButtonForm()
    if form.validate_on_submit():
        services.discard_draft(current_user, draft)
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
    drafts_made, skipped = services.prepare_requisition_drafts(
        current_user, requisition, form.category.data
    )
    db.session.commit()
    note = (
        f" {skipped} candidate(s) already had a draft waiting and were skipped." if skipped else ""
    )
    flash(f"{len(drafts_made)} draft(s) prepared: review them, then send.{note}", "success")
    return redirect(_drafts_url(requisition=requisition))


# --- Outbox ------------------------------------------------------------------------------------


@bp.get("/outbox")
def outbox():
    """The user's messages by status, what is scheduled, and deliveries that need a person."""
    status = request.args.get("status") or None
    if status is not None and status not in {s.value for s in OutboxStatus}:
        status = None
    scheduled = list(
        db.session.scalars(
            services.outbox_query(current_user, OutboxStatus.SCHEDULED)
            .order_by(None)
            .order_by(OutboxEmail.send_after)
        )
    )
    failed = list(
        db.session.scalars(
            delivery.failed_deliveries(visible_applications(current_user)).limit(FAILED_SHOWN)
        )
    )
    return render_template(
        "messages/outbox.html",
        status=status,
        counts=services.outbox_counts(current_user),
        page=paginate(services.outbox_query(current_user, status)),
        scheduled=scheduled,
        failed=failed,
    )


def _outbox_action(outbox_id: int, action, done: str):
    """Run one outbox action (cancel, re-queue, mark sent) behind a CSRF-checked button."""
    message = services.get_outbox_email(current_user, outbox_id, for_edit=True)
    form = ButtonForm()
    if not form.validate_on_submit():
        flash("The form expired; try again.", "error")
        return redirect(url_for("messages.outbox"))
    try:
        action(message)
    except NotFound:
        raise
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(safe_next_url(request.referrer) or url_for("messages.outbox"))
    db.session.commit()
    flash(done.format(to=message.to_address), "success")
    return redirect(safe_next_url(request.referrer) or url_for("messages.outbox"))


@bp.post("/outbox/<int:outbox_id>/cancel")
def cancel_scheduled(outbox_id: int):
    """Cancel a scheduled message before it goes out."""
    return _outbox_action(
        outbox_id,
        lambda message: services.cancel_scheduled(current_user, message),
        "Scheduled message to {to} cancelled; it will not be sent.",
    )


@bp.post("/outbox/<int:outbox_id>/requeue")
def requeue(outbox_id: int):
    """Queue a failed or unconfirmed message again, to the candidate's current address."""
    return _outbox_action(
        outbox_id,
        lambda message: delivery.requeue(message, current_user),
        "Queued again for {to}.",
    )


@bp.post("/outbox/<int:outbox_id>/mark-sent")
def mark_sent(outbox_id: int):
    """Record that an unconfirmed message did reach the candidate, so it is never sent twice."""
    return _outbox_action(
        outbox_id,
        lambda message: delivery.mark_unconfirmed_as_sent(message, current_user),
        "Marked as delivered to {to}.",
    )
