"""Compose and send candidate messages: one rendering path, one send path, for web, API and CLI.

Every send writes the touchpoint and the outbox row in the caller's transaction; delivery
happens later, in `hiretrack outbox deliver`, never inside a web request.
"""

from dataclasses import dataclass
from datetime import date, datetime
from email.utils import formataddr, make_msgid
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import or_, select

from hiretrack.admin.services import effective_settings
from hiretrack.auth.models import User
from hiretrack.cadence.calendar import add_business_days
from hiretrack.candidates.models import Application, Channel, Direction, Touchpoint
from hiretrack.candidates.services import change_stage, log_touchpoint
from hiretrack.candidates.stages import LABELS, OFFER_SENDABLE_STAGES, Stage, check_transition
from hiretrack.database import utcnow
from hiretrack.errors import GuardrailRefused, NotFound, ValidationFailed
from hiretrack.extensions import db
from hiretrack.formatting import long_date
from hiretrack.holds.models import Hold
from hiretrack.messages.headers import HeaderInjectionError, check_header_value
from hiretrack.messages.models import (
    CLOSURE_OUTCOMES,
    Draft,
    DraftStatus,
    EmailTemplate,
    OutboxEmail,
    OutboxStatus,
    TemplateCategory,
)
from hiretrack.messages.rendering import RenderedEmail, TemplateError, plain_context, render_email

OFFER_CATEGORIES = frozenset({TemplateCategory.OFFER_COVER})


@dataclass
class SentMessage:
    """What one send produced: the touchpoint, its outbox row, and the stage change if any."""

    touchpoint: Touchpoint
    outbox: OutboxEmail


def usable_templates(user: User, category: str | None = None) -> list[EmailTemplate]:
    """Shared templates plus the user's own variants, optionally of one category."""
    query = select(EmailTemplate).where(
        EmailTemplate.is_active.is_(True),
        or_(EmailTemplate.owner_id.is_(None), EmailTemplate.owner_id == user.id),
    )
    if category:
        query = query.where(EmailTemplate.category == category)
    return list(db.session.scalars(query.order_by(EmailTemplate.category, EmailTemplate.name)))


def choose_template(user: User, category: str) -> EmailTemplate:
    """The template to use for a category: the user's own variant first, else the shared one."""
    candidates = usable_templates(user, category)
    if not candidates:
        raise NotFound(f"There is no active '{category}' template. Ask a recruiter to add one.")
    own = [t for t in candidates if t.owner_id == user.id]
    return (own or candidates)[0]


def get_template(user: User, slug: str) -> EmailTemplate:
    """Load a template the user may use, by slug."""
    template = db.session.scalars(select(EmailTemplate).where(EmailTemplate.slug == slug)).first()
    if template is None or (template.owner_id not in (None, user.id) and not user.sees_everything):
        raise NotFound(f"No template '{slug}'.")
    return template


def default_promise(
    application: Application, template: EmailTemplate, today: date | None = None
) -> date | None:
    """The "next update" date a message promises by default: the template's days, capped by cadence."""
    if template.category in CLOSURE_OUTCOMES or not application.is_open:
        return None
    settings = effective_settings()
    cadence = application.requisition.cadence_business_days or settings.cadence_business_days
    days = min(template.promise_business_days or cadence, cadence)
    return add_business_days(today or utcnow().date(), days, settings.holidays)


def build_context(
    application: Application,
    *,
    hold: Hold | None = None,
    promised_next_update: date | None = None,
    status_link: str = "",
) -> dict:
    """The allow-listed plain values a template may use; never ORM objects."""
    from hiretrack.holds.services import open_holds_for_application

    candidate, requisition = application.candidate, application.requisition
    manager = requisition.manager
    if hold is None:
        holds = open_holds_for_application(application)
        hold = holds[0] if holds else None
    return plain_context(
        {
            "candidate": {
                "name": candidate.name,
                "first_name": candidate.first_name,
                "email": candidate.email or "",
            },
            "application": {
                "stage_label": LABELS[Stage(application.stage)],
                "applied_on": long_date(application.opened_at.date()),
            },
            "requisition": {"title": requisition.title, "department": requisition.department.name},
            "manager": {"name": manager.name, "email": manager.email, "phone": manager.phone or ""},
            "company": {"name": effective_settings().company_name},
            "hold": {
                "public_reason": hold.public_reason,
                "expected_clear_date": long_date(hold.expected_clear_date) or None,
            }
            if hold
            else None,
            "next_update_date": long_date(promised_next_update),
            "status_link": status_link,
            "today": long_date(utcnow().date()),
        }
    )


def render_for(
    application: Application,
    subject_source: str,
    body_source: str,
    *,
    hold: Hold | None = None,
    promised_next_update: date | None = None,
    status_link: str = "",
) -> RenderedEmail:
    """Render a message for one application, with header values checked after rendering."""
    context = build_context(
        application,
        hold=hold,
        promised_next_update=promised_next_update,
        status_link=status_link or f"{current_app.config['BASE_URL']}/status/…",
    )
    rendered = render_email(subject_source, body_source, context)
    try:
        check_header_value(rendered.subject, "Subject")
    except HeaderInjectionError as error:
        raise ValidationFailed(str(error), {"subject": [str(error)]}) from None
    return rendered


def _check_guardrails(application: Application, template: EmailTemplate) -> Stage | None:
    """Refuse messages that would mislead the candidate; return the closing stage, if any."""
    if not application.is_open:
        raise GuardrailRefused("This application is closed; it receives no further messages.")
    if application.candidate.email is None:
        raise GuardrailRefused("This candidate has no email address (their data was anonymised).")
    category = TemplateCategory(template.category)
    if category in OFFER_CATEGORIES and application.stage not in OFFER_SENDABLE_STAGES:
        raise GuardrailRefused(
            "No offer until it is in writing: an offer can be sent only after it is approved "
            f"(this application is at '{LABELS[Stage(application.stage)]}')."
        )
    outcome = CLOSURE_OUTCOMES.get(category)
    if outcome is not None:
        check_transition(application.stage, outcome)
    return outcome


def _message_id() -> str:
    host = urlsplit(current_app.config["BASE_URL"]).hostname or "hiretrack.local"
    return make_msgid(domain=host)


def send_message(
    actor: User,
    application: Application,
    template: EmailTemplate,
    *,
    subject: str | None = None,
    body: str | None = None,
    promised_next_update: date | None = None,
    send_at: datetime | None = None,
    hold: Hold | None = None,
) -> SentMessage:
    """Queue one templated email to the candidate, with its touchpoint, in one transaction.

    A closure template closes the application (now, or when a scheduled send is released); a
    written offer cover moves an approved offer to "written offer extended".
    """
    outcome = _check_guardrails(application, template)
    now = utcnow()
    if send_at is not None and send_at <= now:
        send_at = None
    if outcome is not None:
        promised_next_update = None
    elif promised_next_update is None:
        promised_next_update = default_promise(application, template)
    status_link = _issue_status_link(application)
    rendered = render_for(
        application,
        subject if subject is not None else template.subject,
        body if body is not None else template.body,
        hold=hold,
        promised_next_update=promised_next_update,
        status_link=status_link,
    )
    settings = effective_settings()
    manager = application.requisition.manager
    outbox = OutboxEmail(
        application=application,
        template_id=template.id,
        category=template.category,
        to_address=application.candidate.email,
        to_name=application.candidate.name,
        from_address=settings.mail_from,
        reply_to=formataddr((manager.name, manager.email)),
        subject=rendered.subject,
        body_text=rendered.text,
        body_html=rendered.html,
        message_id=_message_id(),
        status=OutboxStatus.SCHEDULED if send_at else OutboxStatus.QUEUED,
        send_after=send_at,
        next_attempt_at=send_at or now,
        created_by_id=actor.id,
    )
    db.session.add(outbox)
    db.session.flush()
    touchpoint = log_touchpoint(
        actor,
        application,
        direction=Direction.OUTBOUND,
        channel=Channel.EMAIL,
        note=f"Email: {rendered.subject}",
        promised_next_update=promised_next_update,
        is_closure=outcome is not None,
        outbox_email_id=outbox.id,
    )
    if send_at is None:
        _apply_send_effects(actor, application, template, touchpoint)
    return SentMessage(touchpoint, outbox)


def _issue_status_link(application: Application) -> str:
    from hiretrack.status.services import issue_link

    return issue_link(application)


def _apply_send_effects(
    actor: User | None,
    application: Application,
    template: EmailTemplate,
    touchpoint: Touchpoint,
    actor_label: str | None = None,
) -> None:
    """What sending a category means for the application: closure closes, offer cover extends."""
    category = TemplateCategory(template.category)
    outcome = CLOSURE_OUTCOMES.get(category)
    if outcome is not None:
        change_stage(
            actor,
            application,
            outcome,
            closure_touchpoint=touchpoint,
            note=f"Closure sent: {template.name}",
            actor_label=actor_label,
        )
    elif category in OFFER_CATEGORIES and application.stage == Stage.OFFER_APPROVED:
        from hiretrack.offers.services import mark_extended

        change_stage(
            actor,
            application,
            Stage.OFFER_EXTENDED,
            note="Written offer sent.",
            actor_label=actor_label,
        )
        mark_extended(application)


def prepare_drafts(
    actor: User, applications: list[Application], category: str, hold: Hold | None = None
) -> list[Draft]:
    """Prepare one draft per open application for the manager to review before sending."""
    drafts = []
    for application in applications:
        if not application.is_open:
            continue
        manager = application.requisition.manager
        template = choose_template(manager, category)
        draft = Draft(
            application=application,
            template=template,
            hold=hold,
            promised_next_update=default_promise(application, template),
            created_by_id=actor.id if actor else None,
        )
        db.session.add(draft)
        drafts.append(draft)
    db.session.flush()
    return drafts


@dataclass
class DraftProblem:
    draft_id: int
    candidate: str
    message: str


def check_drafts(drafts: list[Draft]) -> list[DraftProblem]:
    """Render and check every draft; an empty list means all of them can be sent."""
    problems = []
    for draft in drafts:
        try:
            if draft.status != DraftStatus.PENDING:
                raise GuardrailRefused(f"This draft was already {draft.status}.")
            _check_guardrails(draft.application, draft.template)
            render_for(
                draft.application,
                draft.subject or draft.template.subject,
                draft.body or draft.template.body,
                hold=draft.hold,
                promised_next_update=draft.promised_next_update,
            )
        except (TemplateError, GuardrailRefused, ValidationFailed) as error:
            message = getattr(error, "message", None) or str(error)
            problems.append(DraftProblem(draft.id, draft.application.candidate.name, message))
    return problems


def send_drafts(actor: User, drafts: list[Draft]) -> list[SentMessage]:
    """Send reviewed drafts all together: if any one fails its checks, none is sent."""
    if not drafts:
        raise ValidationFailed("Choose at least one draft to send.", {"ids": ["Empty."]})
    problems = check_drafts(drafts)
    if problems:
        detail = "; ".join(f"draft {p.draft_id} ({p.candidate}): {p.message}" for p in problems)
        raise ValidationFailed(
            f"Nothing was sent. Fix these drafts first: {detail}",
            {str(p.draft_id): [p.message] for p in problems},
        )
    sent = []
    for draft in drafts:
        result = send_message(
            actor,
            draft.application,
            draft.template,
            subject=draft.subject,
            body=draft.body,
            promised_next_update=draft.promised_next_update,
            hold=draft.hold,
        )
        draft.status, draft.sent_at, draft.outbox_email_id = (
            DraftStatus.SENT,
            utcnow(),
            result.outbox.id,
        )
        sent.append(result)
    return sent


def discard_draft(actor: User, draft: Draft) -> None:
    """Drop a draft the manager decided not to send."""
    if draft.status != DraftStatus.PENDING:
        raise GuardrailRefused(f"This draft was already {draft.status}.")
    draft.status = DraftStatus.DISCARDED


def cancel_scheduled(actor: User, outbox: OutboxEmail) -> None:
    """Cancel a scheduled message before it goes out; its touchpoint is removed with it."""
    if outbox.status != OutboxStatus.SCHEDULED:
        raise GuardrailRefused("Only a scheduled message that has not gone out can be cancelled.")
    outbox.status = OutboxStatus.CANCELLED
    for touchpoint in db.session.scalars(
        select(Touchpoint).where(Touchpoint.outbox_email_id == outbox.id)
    ):
        db.session.delete(touchpoint)


def release_due_scheduled(now: datetime | None = None) -> int:
    """Queue scheduled messages whose time has come, applying their effects (closure) now."""
    now = now or utcnow()
    due = list(
        db.session.scalars(
            select(OutboxEmail)
            .where(OutboxEmail.status == OutboxStatus.SCHEDULED, OutboxEmail.send_after <= now)
            .with_for_update(skip_locked=True)
        )
    )
    for outbox in due:
        touchpoint = db.session.scalars(
            select(Touchpoint).where(Touchpoint.outbox_email_id == outbox.id)
        ).first()
        application = outbox.application
        template = db.session.get(EmailTemplate, outbox.template_id) if outbox.template_id else None
        if application is None or not application.is_open or touchpoint is None or template is None:
            outbox.status, outbox.last_error = (
                OutboxStatus.CANCELLED,
                "The application closed before the scheduled time.",
            )
            continue
        try:
            _check_guardrails(application, template)
            _apply_send_effects(
                None, application, template, touchpoint, actor_label="scheduled send"
            )
        except (GuardrailRefused, ValidationFailed) as error:
            outbox.status, outbox.last_error = OutboxStatus.CANCELLED, error.message
            continue
        outbox.status, outbox.next_attempt_at = OutboxStatus.QUEUED, now
    return len(due)
