"""Compose and send candidate messages: one rendering path, one send path, for web, API and CLI.

Every send writes the touchpoint and the outbox row in the caller's transaction; delivery
happens later, in `hiretrack outbox deliver`, never inside a web request.
"""

import base64
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from email.utils import formataddr
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, or_, select

from hiretrack.admin.services import effective_settings
from hiretrack.audit.services import record_change
from hiretrack.auth.access import (
    can_manage_all,
    editable_requisitions,
    get_application,
    visible_applications,
)
from hiretrack.auth.models import User
from hiretrack.cadence.calendar import add_business_days
from hiretrack.candidates.models import Application, Channel, Direction, Touchpoint
from hiretrack.candidates.services import change_stage, log_touchpoint
from hiretrack.candidates.stages import LABELS, OFFER_SENDABLE_STAGES, Stage, check_transition
from hiretrack.database import utcnow
from hiretrack.errors import DomainError, GuardrailRefused, NotFound, ValidationFailed
from hiretrack.extensions import db
from hiretrack.formatting import long_date
from hiretrack.holds.models import Hold
from hiretrack.holds.queries import open_holds_for_application
from hiretrack.messages.context import default_promise, render_for
from hiretrack.messages.models import (
    CLOSURE_OUTCOMES,
    Draft,
    DraftStatus,
    EmailTemplate,
    OutboxEmail,
    OutboxStatus,
    TemplateCategory,
)
from hiretrack.messages.outbox import queue_email
from hiretrack.messages.rendering import RenderedEmail
from hiretrack.messages.templates import check_sources
from hiretrack.offers.services import mark_extended
from hiretrack.requisitions.models import Requisition
from hiretrack.requisitions.services import open_applications
from hiretrack.status.links import issue_link

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


def new_reply_token() -> str:
    """A per-message token for the tracking address: 120 random bits in lower-case base32.

    Lower case because some mail servers fold the local part of an address.
    """
    return base64.b32encode(secrets.token_bytes(15)).decode("ascii").lower()


def reply_to_header(manager: User, reply_token: str | None) -> str:
    """The manager, and with HIRETRACK_REPLY_ADDRESS its plus-addressed copy for this message.

    A reply then reaches the manager's own mailbox at once, and HireTrack's too.
    """
    header = formataddr((manager.name, manager.email))
    reply_address = current_app.config.get("REPLY_ADDRESS")
    if reply_address and reply_token:
        local, _, domain = reply_address.rpartition("@")
        header += f", {local}+{reply_token}@{domain}"
    return header


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
    actor_label: str | None = None,
) -> SentMessage:
    """Queue one templated email to the candidate, with its touchpoint, in one transaction.

    A closure template closes the application (now, or when a scheduled send is released); a
    written offer cover moves an approved offer to "written offer extended". `actor_label`
    names who really asked in the audit log (e.g. the candidate, on their status page).
    """
    outcome = _check_guardrails(application, template)
    now = utcnow()
    if send_at is not None and send_at <= now:
        send_at = None
    if outcome is not None:
        promised_next_update = None
    elif promised_next_update is None:
        promised_next_update = default_promise(application, template)
    status_link = issue_link(application)
    rendered = render_for(
        application,
        subject if subject is not None else template.subject,
        body if body is not None else template.body,
        hold=hold,
        promised_next_update=promised_next_update,
        status_link=status_link,
    )
    manager = application.requisition.manager
    reply_token = new_reply_token() if current_app.config.get("REPLY_ADDRESS") else None
    outbox = queue_email(
        to_address=application.candidate.email,
        to_name=application.candidate.name,
        subject=rendered.subject,
        body_text=rendered.text,
        body_html=rendered.html,
        reply_to=reply_to_header(manager, reply_token),
        reply_token=reply_token,
        application=application,
        template=template,
        created_by=actor,
        send_at=send_at,
    )
    touchpoint = log_touchpoint(
        actor,
        application,
        direction=Direction.OUTBOUND,
        channel=Channel.EMAIL,
        note=f"Email: {rendered.subject}",
        promised_next_update=promised_next_update,
        is_closure=outcome is not None,
        outbox_email_id=outbox.id,
        actor_label=actor_label,
    )
    if send_at is None:
        _apply_send_effects(actor, application, template, touchpoint, actor_label=actor_label)
    return SentMessage(touchpoint, outbox)


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


@dataclass
class DraftReview:
    """One draft as the manager reviews it: the rendered email, or why it cannot be sent."""

    draft: Draft
    rendered: RenderedEmail | None
    problem: str | None


def review_draft(draft: Draft, today: date | None = None) -> DraftReview:
    """Render a draft and run every check its sending would run."""
    try:
        if draft.status != DraftStatus.PENDING:
            raise GuardrailRefused(f"This draft was already {draft.status}.")
        _check_guardrails(draft.application, draft.template)
        if draft.promised_next_update and draft.promised_next_update < (today or utcnow().date()):
            raise ValidationFailed(
                f"The promised next update ({long_date(draft.promised_next_update)}) has passed; "
                "edit the draft to promise a new date."
            )
        rendered = render_for(
            draft.application,
            draft_subject(draft),
            draft_body(draft),
            hold=draft.hold,
            promised_next_update=draft.promised_next_update,
        )
    except DomainError as error:
        return DraftReview(draft, None, _located_message(error))
    return DraftReview(draft, rendered, None)


def _located_message(error: DomainError) -> str:
    """The error's message, with the template line when a render says where it failed."""
    if isinstance(error, ValidationFailed):
        located = [message for messages in error.errors.values() for message in messages]
        if located and located[0].startswith("line "):
            return f"{error.message} ({located[0]})"
    return error.message


def draft_subject(draft: Draft) -> str:
    """The subject template this draft sends: the manager's edit, else its template's."""
    return draft.subject if draft.subject is not None else draft.template.subject


def draft_body(draft: Draft) -> str:
    """The body template this draft sends: the manager's edit, else its template's."""
    return draft.body if draft.body is not None else draft.template.body


def check_drafts(drafts: list[Draft]) -> list[DraftProblem]:
    """Render and check every draft; an empty list means all of them can be sent."""
    return [
        DraftProblem(review.draft.id, review.draft.application.candidate.name, review.problem)
        for review in map(review_draft, drafts)
        if review.problem is not None
    ]


def send_drafts(actor: User, drafts: list[Draft]) -> list[SentMessage]:
    """Send reviewed drafts all together: if any one fails its checks, none is sent.

    The caller commits once after this returns; an error part-way leaves the caller to roll
    back, so the batch is sent entirely or not at all.
    """
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
        try:
            result = send_message(
                actor,
                draft.application,
                draft.template,
                subject=draft.subject,
                body=draft.body,
                promised_next_update=draft.promised_next_update,
                hold=draft.hold,
            )
        except DomainError as error:
            name = draft.application.candidate.name
            raise ValidationFailed(
                f"Nothing was sent. Draft {draft.id} ({name}) failed: {error.message}",
                {str(draft.id): [error.message]},
            ) from error
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
        except DomainError as error:  # e.g. the application moved on: cancel, never block delivery
            outbox.status, outbox.last_error = OutboxStatus.CANCELLED, error.message
            continue
        outbox.status, outbox.next_attempt_at = OutboxStatus.QUEUED, now
    return len(due)


# --- What the web pages need: suggestions, drafts, the outbox, scheduling -----------------------


def guardrail_problem(application: Application, template: EmailTemplate) -> str | None:
    """Say why this template cannot be sent to this application now (None: it can)."""
    try:
        _check_guardrails(application, template)
    except DomainError as error:
        return error.message
    return None


def suggested_category(application: Application) -> TemplateCategory:
    """The message this candidate most likely needs next, for the compose page's default."""
    if application.stage == Stage.OFFER_APPROVED:
        return TemplateCategory.OFFER_COVER
    if open_holds_for_application(application):
        if application.update_requested_at is not None:
            return TemplateCategory.HOLD_NOTICE
        return TemplateCategory.CHECK_IN
    if application.stage == Stage.VERBAL_INTENT:
        return TemplateCategory.DELAY
    has_outbound = db.session.scalar(
        select(Touchpoint.id)
        .where(
            Touchpoint.application_id == application.id,
            Touchpoint.direction == Direction.OUTBOUND,
        )
        .limit(1)
    )
    return TemplateCategory.CHECK_IN if has_outbound else TemplateCategory.ACKNOWLEDGEMENT


def pending_drafts(
    user: User, *, hold: Hold | None = None, requisition_id: int | None = None
) -> list[Draft]:
    """Drafts waiting for review on applications the user may write to, oldest first."""
    query = (
        select(Draft)
        .join(Application, Draft.application_id == Application.id)
        .where(
            Draft.status == DraftStatus.PENDING,
            Application.requisition_id.in_(
                select(Requisition.id).where(editable_requisitions(user))
            ),
        )
        .order_by(Draft.id)
    )
    if hold is not None:
        query = query.where(Draft.hold_id == hold.id)
    if requisition_id is not None:
        query = query.where(Application.requisition_id == requisition_id)
    return list(db.session.scalars(query))


def get_draft(user: User, draft_id: int) -> Draft:
    """Load a draft on an application the user may write to."""
    draft = db.session.get(Draft, draft_id) if 0 < draft_id < 2**63 else None
    if draft is None:
        raise NotFound("No such draft.")
    get_application(user, draft.application_id, for_edit=True)
    return draft


def update_draft(
    actor: User,
    draft: Draft,
    *,
    subject: str,
    body: str,
    promised_next_update: date | None,
) -> Draft:
    """Edit one draft before sending; a draft that would not render is refused, by line."""
    if draft.status != DraftStatus.PENDING:
        raise GuardrailRefused(f"This draft was already {draft.status}.")
    subject = " ".join((subject or "").split())
    body = (body or "").replace("\r\n", "\n").strip() + "\n"
    if promised_next_update is not None and promised_next_update < utcnow().date():
        raise ValidationFailed(
            "The promised next update cannot be in the past.",
            {"promised_next_update": ["Must be today or later."]},
        )
    check_sources(subject, body)
    render_for(
        draft.application,
        subject,
        body,
        hold=draft.hold,
        promised_next_update=promised_next_update,
    )
    before = {"subject": draft.subject, "body": draft.body}
    # Unedited wording keeps following the template, so a fix to the template still applies.
    draft.subject = None if subject == draft.template.subject else subject
    draft.body = None if body.strip() == draft.template.body.strip() else body
    if CLOSURE_OUTCOMES.get(TemplateCategory(draft.template.category)) is None:
        draft.promised_next_update = promised_next_update
    record_change(
        actor,
        "draft.update",
        draft,
        before=before,
        after={"subject": draft.subject, "body": draft.body},
    )
    return draft


def prepare_requisition_drafts(
    actor: User, requisition: Requisition, category: str
) -> tuple[list[Draft], int]:
    """Prepare a draft of one category for every open application on a requisition.

    Applications that already have a draft waiting are skipped (they would get two messages
    in one batch); returns the new drafts and how many were skipped.
    """
    try:
        category = TemplateCategory(category)
    except ValueError:
        raise ValidationFailed(
            "Choose which message to prepare.", {"category": ["Unknown category."]}
        ) from None
    if category in OFFER_CATEGORIES:
        raise GuardrailRefused(
            "Written offers are sent one at a time, from the candidate's page, never in bulk."
        )
    applications = open_applications(requisition)
    if not applications:
        raise GuardrailRefused("This requisition has no open applications to write to.")
    waiting = set(
        db.session.scalars(
            select(Draft.application_id).where(
                Draft.status == DraftStatus.PENDING,
                Draft.application_id.in_([a.id for a in applications]),
            )
        )
    )
    targets = [a for a in applications if a.id not in waiting]
    drafts = prepare_drafts(actor, targets, category) if targets else []
    return drafts, len(applications) - len(targets)


def get_outbox_email(user: User, outbox_id: int, *, for_edit: bool = False) -> OutboxEmail:
    """Load an outbox message about an application the user may see (or change)."""
    outbox = db.session.get(OutboxEmail, outbox_id) if 0 < outbox_id < 2**63 else None
    if outbox is None:
        raise NotFound("No such message.")
    if outbox.application_id is None:
        if not can_manage_all(user):
            raise NotFound("No such message.")
    else:
        get_application(user, outbox.application_id, for_edit=for_edit)
    return outbox


def outbox_query(user: User, status: str | None = None):
    """Outbox messages about applications the user may see, newest first, optionally by status."""
    query = (
        select(OutboxEmail)
        .outerjoin(Application, OutboxEmail.application_id == Application.id)
        .where(visible_applications(user))
        .order_by(OutboxEmail.created_at.desc(), OutboxEmail.id.desc())
    )
    if status:
        query = query.where(OutboxEmail.status == status)
    return query


def outbox_counts(user: User) -> dict[str, int]:
    """How many of the user's messages are in each status."""
    rows = db.session.execute(
        select(OutboxEmail.status, func.count())
        .outerjoin(Application, OutboxEmail.application_id == Application.id)
        .where(visible_applications(user))
        .group_by(OutboxEmail.status)
    ).all()
    return {status.value: 0 for status in OutboxStatus} | {status: count for status, count in rows}


def schedule_time(
    mode: str,
    *,
    on_date: date | None = None,
    at_time: time | None = None,
    business_days: int | None = None,
    timezone: ZoneInfo,
    now: datetime | None = None,
) -> datetime | None:
    """Turn "send now", "at this local date and time" or "in N business days" into a UTC time.

    "In N business days" means 09:00 local time on that day, when candidates read their mail.
    """
    now = now or utcnow()
    if mode == "now":
        return None
    if mode == "in_days":
        if business_days is None or not 1 <= business_days <= 60:
            raise ValidationFailed(
                "Say in how many business days (1 to 60) to send it.",
                {"send_in_days": ["A whole number from 1 to 60."]},
            )
        local_today = now.astimezone(timezone).date()
        day = add_business_days(local_today, business_days, effective_settings().holidays)
        local = datetime.combine(day, time(9, 0), tzinfo=timezone)
    elif mode == "at":
        if on_date is None or at_time is None:
            raise ValidationFailed(
                "Give the date and the time to send it.",
                {"send_on": ["Required."], "send_time": ["Required."]},
            )
        local = datetime.combine(on_date, at_time, tzinfo=timezone)
    else:
        raise ValidationFailed("Choose when to send it.", {"send_when": ["Unknown choice."]})
    when = local.astimezone(UTC)
    if when <= now:
        raise ValidationFailed(
            "That time has already passed; choose a later one or send now.",
            {"send_on": ["Must be in the future."]},
        )
    return when
