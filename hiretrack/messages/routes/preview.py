"""Message pages: render unsaved wording for a page: the template editor, compose and draft review."""

from datetime import date

from flask_login import current_user

from hiretrack.auth.access import get_application
from hiretrack.errors import ValidationFailed
from hiretrack.messages import templates as template_service
from hiretrack.messages.rendering import render_email, sample_context


def render_preview(
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
