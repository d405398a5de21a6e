"""Message pages: compose one message from a template, then send or schedule it."""

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from hiretrack.auth.access import get_application
from hiretrack.candidates.models import Application
from hiretrack.errors import NotFound, ValidationFailed
from hiretrack.extensions import db
from hiretrack.formatting import local_datetime, user_timezone
from hiretrack.messages import services
from hiretrack.messages.blueprint import bp
from hiretrack.messages.context import default_promise
from hiretrack.messages.forms import ComposeForm
from hiretrack.messages.models import (
    CLOSURE_OUTCOMES,
    EmailTemplate,
    OutboxStatus,
    TemplateCategory,
)
from hiretrack.messages.routes.preview import render_preview
from hiretrack.messages.wording import check_promise_is_worded, editable_wording, source_for
from hiretrack.submissions import submitted_once
from hiretrack.web import FORM_REJECTED, run_service

#: Service error keys that name a different compose form field.
COMPOSE_FIELDS = {"promised_next_update": "promised_next_update", "send_when": "send_when"}


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
    """The candidate's page, where the sent message shows in the timeline."""
    return url_for("candidates.detail", candidate_id=application.candidate_id)


@bp.route("/applications/<int:application_id>/compose", methods=["GET", "POST"])
@submitted_once
def compose(application_id: int):
    """Write one message from a template: edit it for this candidate, promise a date, send or schedule."""
    application = get_application(current_user, application_id, for_edit=True)
    template = _compose_template(application)
    form = ComposeForm()
    closing = template.category in CLOSURE_OUTCOMES
    if not form.is_submitted():
        form.template.data = template.slug
        form.promised_next_update.data = default_promise(application, template)
        try:
            # The message as it will be sent, in plain words: never the template's source.
            wording = editable_wording(application, template, form.promised_next_update.data)
            form.subject.data, form.body.data = wording.subject, wording.body
        except ValidationFailed as error:
            form.form_errors.append(
                f"The template “{template.name}” cannot be written for this candidate: "
                f"{error.message} Choose another template, or ask its owner to fix it."
            )
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
    rendered, preview_errors = render_preview(
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
    said = default_promise(application, template)
    try:
        shown = editable_wording(application, template, said)
    except ValidationFailed:
        shown = None  # the page showed no wording of its own: what was posted is the message
    subject = source_for(form.subject.data, shown and shown.subject, template.subject)
    body = source_for(form.body.data, shown and shown.body, template.body)
    if body != template.body and template.category not in CLOSURE_OUTCOMES:
        check_promise_is_worded(form.body.data, said, form.promised_next_update.data)
    return services.send_message(
        current_user,
        application,
        template,
        subject=subject,
        body=body,
        promised_next_update=form.promised_next_update.data,
        send_at=send_at,
    )
