"""Message pages: the template pages: list, create, edit with live preview, versions, retire."""

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from hiretrack.auth.access import (
    get_application,
    visible_applications,
)
from hiretrack.candidates.models import Application, Candidate
from hiretrack.error_pages import problem
from hiretrack.errors import DomainError, ValidationFailed
from hiretrack.extensions import db
from hiretrack.formatting import parse_day
from hiretrack.messages import services
from hiretrack.messages import templates as template_service
from hiretrack.messages.blueprint import bp
from hiretrack.messages.forms import (
    ActiveForm,
    RestoreForm,
    TemplateForm,
)
from hiretrack.messages.models import (
    CATEGORY_LABELS,
    EmailTemplate,
    TemplateCategory,
)
from hiretrack.messages.rendering import TEMPLATE_VARIABLES, render_email, sample_context
from hiretrack.messages.routes.preview import render_preview
from hiretrack.messages.wording import example_subject
from hiretrack.requisitions.models import Requisition
from hiretrack.web import FORM_REJECTED, run_service

PREVIEW_APPLICATIONS = 50


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


def _editor_page(form: TemplateForm, template: EmailTemplate | None, status: int = 200):
    """Render the template editor with its preview and the variable catalogue."""
    choices = _preview_applications()
    chosen = _chosen_preview_application(choices)
    rendered, preview_errors = None, {}
    if form.subject.data and form.body.data:
        rendered, preview_errors = render_preview(
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
        examples={template.id: example_subject(template) for template in items},
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
    rendered, preview_errors = render_preview(
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
        # Typed as the pages show dates ("11 Dec 2026") or year-month-day.
        promised = parse_day(promised) if isinstance(promised, str) else None
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
    return jsonify(
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        warnings=list(rendered.warnings),
    )


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
