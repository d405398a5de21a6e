"""JSON API v1: email templates: list, add, read, change, preview."""

from hiretrack.api import presenters as present
from hiretrack.api import schemas as s
from hiretrack.api.blueprint import api
from hiretrack.auth import access
from hiretrack.auth.models import User
from hiretrack.candidates.services import check_version
from hiretrack.extensions import db
from hiretrack.messages import templates
from hiretrack.messages.models import EmailTemplate

TemplatePage = s.page_of(s.TemplateOut)


def _template(row: EmailTemplate) -> s.TemplateOut:
    return s.TemplateOut.model_validate(
        {**present.columns(row), "personal": row.owner_id is not None}
    )


def _template_detail(row: EmailTemplate) -> s.TemplateDetail:
    return s.TemplateDetail.model_validate(
        {
            **_template(row).model_dump(),
            "versions": [
                s.TemplateVersionOut.model_validate(version)
                for version in templates.template_versions(row)
            ],
        }
    )


@api.operation(
    "GET",
    "/templates",
    summary="List email templates",
    tag="Templates",
    response=TemplatePage,
    query=s.TemplateQuery,
)
def list_templates(user: User, query: s.TemplateQuery):
    """List the shared templates and your personal variants, by category."""
    rows = templates.list_templates(user)
    if query.category is not None:
        rows = [row for row in rows if row.category == query.category]
    if query.active is not None:
        rows = [row for row in rows if row.is_active == query.active]
    start = (query.page - 1) * query.per_page
    return TemplatePage(
        items=[_template(row) for row in rows[start : start + query.per_page]],
        page=query.page,
        per_page=query.per_page,
        total=len(rows),
    )


@api.operation(
    "POST",
    "/templates",
    summary="Add an email template",
    tag="Templates",
    response=s.TemplateDetail,
    status=201,
    body=s.TemplateCreate,
)
def add_template(user: User, body: s.TemplateCreate):
    """Add a shared template (recruiters, admins) or a personal variant; broken ones are refused."""
    template = templates.create_template(user, **body.model_dump())
    db.session.commit()
    return _template_detail(template)


@api.operation(
    "GET",
    "/templates/<slug>",
    summary="Get an email template",
    tag="Templates",
    response=s.TemplateDetail,
)
def get_email_template(user: User, slug: str):
    """Read a template with its version history."""
    return _template_detail(templates.get_template(user, slug))


@api.operation(
    "PATCH",
    "/templates/<slug>",
    summary="Change an email template",
    tag="Templates",
    response=s.TemplateDetail,
    body=s.TemplateUpdate,
)
def patch_template(user: User, slug: str, body: s.TemplateUpdate):
    """Save new wording as a new version, restore an old version, or retire the template."""
    template = templates.get_template(user, slug, for_edit=True)
    changes = body.model_dump(exclude_unset=True)
    check_version(template, changes.pop("version", None))
    change_note = changes.pop("change_note", "") or ""
    active = changes.pop("is_active", None)
    restore = changes.pop("restore_version", None)
    if restore is not None:
        templates.restore_version(user, template, restore)
    if changes:
        templates.update_template(user, template, None, change_note=change_note, **changes)
    if active is not None:
        templates.set_active(user, template, active)
    db.session.commit()
    return _template_detail(template)


@api.operation(
    "POST",
    "/templates/preview",
    summary="Preview wording for an application",
    tag="Templates",
    response=s.TemplatePreviewOut,
    body=s.TemplatePreviewIn,
)
def preview_template(user: User, body: s.TemplatePreviewIn):
    """Render unsaved wording for a real application; problems answer 422 with line numbers."""
    application = access.get_application(user, body.application_id)
    rendered = templates.preview(
        user,
        application,
        body.subject,
        body.body,
        category=body.category,
        promise_business_days=body.promise_business_days,
        promised_next_update=body.promised_next_update,
    )
    return s.TemplatePreviewOut(
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        warnings=list(rendered.warnings),
    )
