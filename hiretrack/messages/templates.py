"""Manage email templates: the shared set, managers' personal variants, and their versions.

Recruiters and admins own the shared set (owner_id None). A manager keeps personal variants
(owner_id = the manager), which `services.choose_template` prefers over the shared one. Approvers
do not edit templates. Every save is validated first (a broken template is never stored),
writes a numbered EmailTemplateVersion and an audit entry, so any earlier wording can come back.
"""

import re
from datetime import date

from sqlalchemy import func, or_, select

from hiretrack.audit.services import record_change, snapshot
from hiretrack.auth.models import Role, User
from hiretrack.candidates.models import Application
from hiretrack.candidates.services import check_version
from hiretrack.errors import GuardrailRefused, NotFound, PermissionDenied, ValidationFailed
from hiretrack.extensions import db
from hiretrack.messages.context import promise_date, render_for
from hiretrack.messages.models import (
    CLOSURE_OUTCOMES,
    EmailTemplate,
    EmailTemplateVersion,
    TemplateCategory,
)
from hiretrack.messages.rendering import RenderedEmail, TemplateProblem, validate_template

SLUG_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_NAME = 120
MAX_SLUG = 80
MAX_SUBJECT = 300
MAX_BODY = 20_000
MAX_CHANGE_NOTE = 300
MAX_PROMISE_DAYS = 60

#: Roles that may keep personal variants; recruiters and admins also own the shared set.
TEMPLATE_EDITOR_ROLES = (Role.MANAGER, Role.RECRUITER, Role.ADMIN)
SHARED_OWNER_ROLES = (Role.RECRUITER, Role.ADMIN)

#: The fields a version records, which a restore brings back.
CONTENT_FIELDS = ("name", "category", "subject", "body", "promise_business_days")


def may_use_templates(user: User) -> bool:
    """Managers, recruiters and admins write to candidates; approvers do not."""
    return user.role in TEMPLATE_EDITOR_ROLES


def _require_template_user(user: User) -> None:
    if not may_use_templates(user):
        raise PermissionDenied("Email templates are kept by managers, recruiters and admins.")


def can_edit(user: User, template: EmailTemplate) -> bool:
    """Shared templates are the recruiters' and admins'; a personal variant is its owner's."""
    if template.owner_id is None:
        return user.role in SHARED_OWNER_ROLES
    return template.owner_id == user.id and may_use_templates(user)


def list_templates(user: User, include_inactive: bool = True) -> list[EmailTemplate]:
    """The shared templates and the user's own variants, by category then name."""
    _require_template_user(user)
    query = select(EmailTemplate).where(
        or_(EmailTemplate.owner_id.is_(None), EmailTemplate.owner_id == user.id)
    )
    if not include_inactive:
        query = query.where(EmailTemplate.is_active.is_(True))
    return list(
        db.session.scalars(
            query.order_by(
                EmailTemplate.category,
                EmailTemplate.owner_id.is_(None),
                EmailTemplate.name,
            )
        )
    )


def get_template(user: User, slug: str, *, for_edit: bool = False) -> EmailTemplate:
    """Load a template the user may read (shared or their own), or change with for_edit."""
    _require_template_user(user)
    template = None
    if isinstance(slug, str) and len(slug) <= MAX_SLUG:
        template = db.session.scalars(
            select(EmailTemplate).where(EmailTemplate.slug == slug)
        ).first()
    if template is None or template.owner_id not in (None, user.id):
        raise NotFound(f"There is no template called '{slug}'.")
    if for_edit and not can_edit(user, template):
        raise PermissionDenied(
            "Shared templates are kept by recruiters and admins. Make your own version of it "
            "instead: it will be used for your candidates."
        )
    return template


def template_versions(template: EmailTemplate) -> list[EmailTemplateVersion]:
    """Every saved version of a template, newest first."""
    return list(
        db.session.scalars(
            select(EmailTemplateVersion)
            .where(EmailTemplateVersion.template_id == template.id)
            .order_by(EmailTemplateVersion.number.desc())
        )
    )


def problem_messages(problems: list[TemplateProblem]) -> dict[str, list[str]]:
    """Group template problems by field as "line N: message", the way the editor shows them."""
    errors: dict[str, list[str]] = {}
    for problem in problems:
        text = f"line {problem.line}: {problem.message}" if problem.line else problem.message
        errors.setdefault(problem.field or "body", []).append(text)
    return errors


def check_sources(subject: str, body: str) -> None:
    """Raise ValidationFailed, with line numbers, when a subject or body cannot be used."""
    problems = validate_template(subject, body)
    if problems:
        errors = problem_messages(problems)
        first = next(iter(errors.values()))[0]
        count = sum(len(messages) for messages in errors.values())
        more = f" (and {count - 1} more)" if count > 1 else ""
        raise ValidationFailed(f"The template was not saved: {first}{more}", errors)


def _clean_text(value, field: str, maximum: int, errors: dict, *, single_line: bool) -> str:
    text = value if isinstance(value, str) else ""
    text = " ".join(text.split()) if single_line else text.replace("\r\n", "\n").strip() + "\n"
    if not text.strip():
        errors[field] = ["Required."]
    elif len(text) > maximum:
        errors[field] = [f"At most {maximum:,} characters."]
    return text


def _clean_promise(value, errors: dict) -> int | None:
    if value in (None, ""):
        return None
    try:
        days = int(value)
    except (TypeError, ValueError):
        days = 0
    if isinstance(value, bool) or not 1 <= days <= MAX_PROMISE_DAYS:
        errors["promise_business_days"] = [f"A whole number from 1 to {MAX_PROMISE_DAYS}."]
        return None
    return days


def _clean_category(value, errors: dict) -> str:
    try:
        return TemplateCategory(value).value
    except ValueError:
        errors["category"] = ["One of " + ", ".join(c.value for c in TemplateCategory) + "."]
        return ""


def _clean_slug(value, errors: dict, template_id: int | None = None) -> str:
    slug = value.strip().lower() if isinstance(value, str) else ""
    if not slug:
        errors["slug"] = ["Required."]
    elif len(slug) > MAX_SLUG or not SLUG_PATTERN.fullmatch(slug):
        errors["slug"] = [
            f"Use lowercase letters, digits and single hyphens (e.g. delay-finance), at most "
            f"{MAX_SLUG} characters."
        ]
    else:
        taken = db.session.scalars(select(EmailTemplate).where(EmailTemplate.slug == slug)).first()
        if taken is not None and taken.id != template_id:
            errors["slug"] = [f"'{slug}' is already used by another template."]
    return slug


def _clean_content(values: dict, errors: dict) -> dict:
    """Check the fields every version records; problems go into errors by field."""
    cleaned = {
        "name": _clean_text(values["name"], "name", MAX_NAME, errors, single_line=True),
        "category": _clean_category(values["category"], errors),
        "subject": _clean_text(values["subject"], "subject", MAX_SUBJECT, errors, single_line=True),
        "body": _clean_text(values["body"], "body", MAX_BODY, errors, single_line=False),
        "promise_business_days": _clean_promise(values["promise_business_days"], errors),
    }
    if "subject" not in errors and "body" not in errors:
        try:
            check_sources(cleaned["subject"], cleaned["body"])
        except ValidationFailed as failure:
            errors.update(failure.errors)
    return cleaned


def _clean_change_note(note, errors: dict) -> str:
    note = " ".join(note.split()) if isinstance(note, str) else ""
    if len(note) > MAX_CHANGE_NOTE:
        errors["change_note"] = [f"At most {MAX_CHANGE_NOTE} characters."]
    return note


def _raise_if_any(errors: dict) -> None:
    if errors:
        field, messages = next(iter(errors.items()))
        raise ValidationFailed(f"The template was not saved: {field}: {messages[0]}", errors)


def _add_version(actor: User, template: EmailTemplate, number: int, note: str) -> None:
    db.session.add(
        EmailTemplateVersion(
            template=template,
            number=number,
            created_by_id=actor.id,
            change_note=note,
            **{field: getattr(template, field) for field in CONTENT_FIELDS},
        )
    )


def _check_category_still_covered(template: EmailTemplate, leaving_category: str) -> None:
    """Every category keeps at least one active shared template, so sending never dead-ends."""
    if template.owner_id is not None or not template.is_active:
        return
    others = db.session.scalar(
        select(func.count())
        .select_from(EmailTemplate)
        .where(
            EmailTemplate.category == leaving_category,
            EmailTemplate.owner_id.is_(None),
            EmailTemplate.is_active.is_(True),
            EmailTemplate.id != template.id,
        )
    )
    if not others:
        raise GuardrailRefused(
            f"'{template.name}' is the only shared {TemplateCategory(leaving_category).value} "
            "template; add another one for that category first."
        )


def create_template(
    actor: User,
    name: str,
    slug: str,
    category: str,
    subject: str,
    body: str,
    promise_business_days: int | None = None,
    personal: bool = False,
    change_note: str = "",
) -> EmailTemplate:
    """Add a shared template (recruiters, admins) or a personal variant (also managers)."""
    _require_template_user(actor)
    if not personal and actor.role not in SHARED_OWNER_ROLES:
        raise PermissionDenied(
            "Only recruiters and admins add shared templates; save it as your personal variant."
        )
    errors: dict[str, list[str]] = {}
    slug = _clean_slug(slug, errors)
    cleaned = _clean_content(
        {
            "name": name,
            "category": category,
            "subject": subject,
            "body": body,
            "promise_business_days": promise_business_days,
        },
        errors,
    )
    note = _clean_change_note(change_note, errors)
    _raise_if_any(errors)
    template = EmailTemplate(
        slug=slug, owner_id=actor.id if personal else None, current_version=1, **cleaned
    )
    db.session.add(template)
    _add_version(actor, template, 1, note or "Created")
    record_change(actor, "email_template.create", template)
    return template


def update_template(
    actor: User,
    template: EmailTemplate,
    expected_version: int | None,
    change_note: str = "",
    **changes,
) -> EmailTemplate:
    """Save new wording (and name, slug, category, promise) as the next version of a template.

    Returns the template unchanged, without a new version, when nothing differs.
    """
    if not can_edit(actor, template):
        raise PermissionDenied("You cannot change this template.")
    check_version(template, expected_version)
    unknown = set(changes) - {*CONTENT_FIELDS, "slug"}
    if unknown:
        raise ValidationFailed(
            "Unknown template fields: " + ", ".join(sorted(unknown)),
            {field: ["Unknown field."] for field in sorted(unknown)},
        )
    errors: dict[str, list[str]] = {}
    current = {field: getattr(template, field) for field in CONTENT_FIELDS}
    cleaned = _clean_content(current | changes, errors)
    slug = _clean_slug(changes.get("slug", template.slug), errors, template.id)
    note = _clean_change_note(change_note, errors)
    _raise_if_any(errors)
    if cleaned == current and slug == template.slug:
        return template
    if cleaned["category"] != template.category:
        _check_category_still_covered(template, template.category)
    before = snapshot(template)
    for field, value in cleaned.items():
        setattr(template, field, value)
    template.slug = slug
    template.current_version += 1
    _add_version(actor, template, template.current_version, note or "Edited")
    record_change(actor, "email_template.update", template, before=before)
    return template


def restore_version(
    actor: User, template: EmailTemplate, number: int, expected_version: int | None = None
) -> EmailTemplate:
    """Bring back an earlier version's wording, saved as a new version (history is never lost)."""
    if not can_edit(actor, template):
        raise PermissionDenied("You cannot change this template.")
    check_version(template, expected_version)
    if not isinstance(number, int) or not 0 < number < 2**31:
        raise NotFound(f"This template has no version {number}.")
    old = db.session.scalars(
        select(EmailTemplateVersion).where(
            EmailTemplateVersion.template_id == template.id,
            EmailTemplateVersion.number == number,
        )
    ).first()
    if old is None:
        raise NotFound(f"This template has no version {number}.")
    if number == template.current_version:
        raise GuardrailRefused(f"Version {number} is already the current version.")
    return update_template(
        actor,
        template,
        None,
        change_note=f"Restored version {number}",
        **{field: getattr(old, field) for field in CONTENT_FIELDS},
    )


def set_active(
    actor: User, template: EmailTemplate, active: bool, expected_version: int | None = None
) -> EmailTemplate:
    """Retire a template (it is no longer chosen for sending) or bring it back."""
    if not can_edit(actor, template):
        raise PermissionDenied("You cannot change this template.")
    check_version(template, expected_version)
    if template.is_active == active:
        return template
    if not active:
        _check_category_still_covered(template, template.category)
    template.is_active = active
    record_change(
        actor,
        "email_template.activate" if active else "email_template.retire",
        template,
        before={"is_active": not active},
        after={"is_active": active},
    )
    return template


def preview(
    user: User,
    application: Application,
    subject: str,
    body: str,
    *,
    category: str | None = None,
    promise_business_days: int | None = None,
    promised_next_update: date | None = None,
) -> RenderedEmail:
    """Render unsaved wording for one real application, or raise ValidationFailed by line.

    The caller loads `application` through `hiretrack.auth.access`, so only applications the
    user may see can be previewed.
    """
    _require_template_user(user)
    for field, value, maximum in (("subject", subject, MAX_SUBJECT), ("body", body, MAX_BODY)):
        if not isinstance(value, str) or not value.strip():
            raise ValidationFailed(f"The {field} is empty.", {field: ["Required."]})
        if len(value) > maximum:
            raise ValidationFailed(
                f"The {field} is too long.", {field: [f"At most {maximum:,} characters."]}
            )
    check_sources(subject, body)
    if promised_next_update is None and category not in CLOSURE_OUTCOMES:
        promised_next_update = promise_date(application, promise_business_days)
    return render_for(application, subject, body, promised_next_update=promised_next_update)
