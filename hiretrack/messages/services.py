"""Compose and send candidate messages: one rendering path, one send path, for web, API and CLI.

Every send writes the touchpoint and the outbox row in the caller's transaction; delivery
happens later, in `hiretrack outbox deliver`, never inside a web request.
"""

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from email.utils import formataddr
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, or_, select, update

from hiretrack.admin.services import effective_settings
from hiretrack.auth.access import (
    can_manage_all,
    get_application,
    visible_applications,
)
from hiretrack.auth.models import User
from hiretrack.cadence.calendar import business_days_after
from hiretrack.candidates.models import Application, Channel, Direction, Touchpoint
from hiretrack.candidates.services import change_stage, log_touchpoint
from hiretrack.candidates.stages import LABELS, OFFER_SENDABLE_STAGES, Stage, check_transition
from hiretrack.database import utcnow
from hiretrack.errors import DomainError, GuardrailRefused, NotFound, ValidationFailed
from hiretrack.extensions import db
from hiretrack.holds.models import Hold
from hiretrack.holds.queries import open_holds_for_application, open_holds_for_applications
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
from hiretrack.offers.services import mark_extended
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


def check_guardrails(application: Application, template: EmailTemplate) -> Stage | None:
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
    outcome = check_guardrails(application, template)
    now = utcnow()
    if send_at is not None and send_at <= now:
        send_at = None
    if outcome is not None:
        promised_next_update = None
    elif promised_next_update is None:
        # Counted from the day it goes out: a scheduled message must not arrive late already.
        promised_next_update = default_promise(
            application, template, send_at.date() if send_at else None
        )
    elif send_at is not None and promised_next_update < send_at.date():
        raise ValidationFailed(
            "The promised next update falls before the message goes out; promise a later date.",
            {"promised_next_update": ["Must be on or after the day it is sent."]},
        )
    if hold is None:
        # The hold the wording speaks of is recorded with the email, to check it at delivery.
        holds = open_holds_for_application(application)
        hold = holds[0] if holds else None
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
        hold=hold,
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
    drop_waiting_drafts_of_kind(application, template)
    if send_at is None:
        _apply_send_effects(actor, application, template, touchpoint, actor_label=actor_label)
    return SentMessage(touchpoint, outbox)


def drop_waiting_drafts_of_kind(application: Application, template: EmailTemplate) -> int:
    """Discard the candidate's waiting drafts of the kind just queued: sending one later would
    tell them the same news twice (e.g. the hold notice prepared when the hold was placed, after
    the manager wrote one from the compose page). Conditional, as a discard, so a send racing it
    wins; returns how many were dropped."""
    same_kind = select(EmailTemplate.id).where(EmailTemplate.category == template.category)
    return db.session.execute(
        update(Draft)
        .where(
            Draft.application_id == application.id,
            Draft.status == DraftStatus.PENDING,
            Draft.template_id.in_(same_kind),
        )
        .values(status=DraftStatus.DISCARDED)
        .execution_options(synchronize_session="fetch")
    ).rowcount


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
            check_guardrails(application, template)
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
        check_guardrails(application, template)
    except DomainError as error:
        return error.message
    return None


def suggested_category(application: Application) -> TemplateCategory:
    """The message this candidate most likely needs next, for the compose page's default."""
    return suggested_categories([application])[application.id]


def suggested_categories(applications: Sequence[Application]) -> dict[int, TemplateCategory]:
    """`suggested_category` for many applications in two queries, whatever their number.

    The bulk review page asks this for up to 200 applications at once.
    """
    held = open_holds_for_applications(applications)
    suggestions: dict[int, TemplateCategory] = {}
    undecided: list[int] = []
    for application in applications:
        if application.stage == Stage.OFFER_APPROVED:
            suggestions[application.id] = TemplateCategory.OFFER_COVER
        elif held.get(application.id):
            suggestions[application.id] = (
                TemplateCategory.HOLD_NOTICE
                if application.update_requested_at is not None
                else TemplateCategory.CHECK_IN
            )
        elif application.stage == Stage.VERBAL_INTENT:
            suggestions[application.id] = TemplateCategory.DELAY
        else:
            undecided.append(application.id)
    if undecided:
        contacted = set(
            db.session.scalars(
                select(Touchpoint.application_id)
                .where(
                    Touchpoint.application_id.in_(undecided),
                    Touchpoint.direction == Direction.OUTBOUND,
                )
                .distinct()
            )
        )
        for application_id in undecided:
            suggestions[application_id] = (
                TemplateCategory.CHECK_IN
                if application_id in contacted
                else TemplateCategory.ACKNOWLEDGEMENT
            )
    return suggestions


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
        day = business_days_after(local_today, business_days, effective_settings().holidays)
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
