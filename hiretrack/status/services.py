"""What the candidate sees and can do on their status page (the links are in `status.links`).

The page shows the candidate only candidate-facing words: the stage's
CANDIDATE_LABELS, a hold's public reason, our contact person and the subjects of the emails we
sent; never internal stage names, hold notes, approvers or touchpoint notes. See
docs/status-page.md.
"""

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from email.utils import formataddr

from sqlalchemy import select

from hiretrack.admin.services import effective_settings
from hiretrack.audit.services import record_change
from hiretrack.cadence.queries import cadence_for
from hiretrack.candidates.models import Application, Channel, Direction, Touchpoint
from hiretrack.candidates.services import log_touchpoint
from hiretrack.candidates.stages import CANDIDATE_LABELS, Stage
from hiretrack.database import utcnow
from hiretrack.errors import GuardrailRefused, ValidationFailed
from hiretrack.extensions import db
from hiretrack.holds.queries import open_holds_for_application
from hiretrack.messages.headers import (
    HeaderInjectionError,
    check_address_header,
)
from hiretrack.messages.models import OutboxEmail
from hiretrack.messages.outbox import queue_staff_email
from hiretrack.messages.services import choose_template, send_message
from hiretrack.status.models import UpdateFeedback
from hiretrack.urls import external_url

#: How the audit log names what a candidate did on their page (they have no user account).
CANDIDATE_ACTOR = "candidate (status page)"
MAX_QUESTION_LENGTH = 2000
#: The most sent emails the page lists (newest first).
HISTORY_LIMIT = 50

WITHDRAWAL_REASONS = {
    "accepted_other_offer": "I accepted another offer",
    "other": "I want to withdraw for another reason",
}


# --- What the page shows ------------------------------------------------------------------------


@dataclass(frozen=True)
class SentEmail:
    """One email we sent the candidate, as the history on their page lists it."""

    sent_at: datetime
    subject: str


@dataclass(frozen=True)
class StatusPage:
    """Everything the status page shows, as plain values: nothing internal can leak through."""

    role: str
    company: str
    status: str
    is_open: bool
    status_since: datetime
    hold_reasons: list[str]
    next_update: date | None
    next_update_late: bool
    contact_name: str
    contact_email: str
    sent_emails: list[SentEmail]
    feedback: bool | None


def next_update_date(application: Application, today: date) -> date | None:
    """The date we promised our next update, else the date the cadence says one is due."""
    if not application.is_open:
        return None
    if application.promised_next_update is not None:
        return application.promised_next_update

    cadence = cadence_for([application.id], today).get(application.id)
    return cadence.next_update_due if cadence else None


def sent_emails(application: Application) -> list[SentEmail]:
    """The emails that reached the candidate, newest first (scheduled or queued ones not yet)."""
    rows = db.session.execute(
        select(Touchpoint.occurred_at, OutboxEmail.subject)
        .join(OutboxEmail, OutboxEmail.id == Touchpoint.outbox_email_id)
        .where(
            Touchpoint.application_id == application.id,
            Touchpoint.direction == Direction.OUTBOUND,
            Touchpoint.channel == Channel.EMAIL,
            Touchpoint.occurred_at.is_not(None),
        )
        .order_by(Touchpoint.occurred_at.desc(), Touchpoint.id.desc())
        .limit(HISTORY_LIMIT)
    )
    return [SentEmail(sent_at, subject) for sent_at, subject in rows]


def current_feedback(application: Application) -> bool | None:
    """The candidate's answer to "were our updates useful?", or None if they have not said."""
    return db.session.scalar(
        select(UpdateFeedback.useful)
        .where(UpdateFeedback.application_id == application.id)
        .order_by(UpdateFeedback.id.desc())
        .limit(1)
    )


def status_page(application: Application, today: date | None = None) -> StatusPage:
    """Gather what the candidate may see about their application, in candidate-facing words."""
    today = today or utcnow().date()
    requisition = application.requisition
    manager = requisition.manager
    next_update = next_update_date(application, today)
    holds = open_holds_for_application(application) if application.is_open else []
    return StatusPage(
        role=requisition.title,
        company=effective_settings().company_name,
        status=CANDIDATE_LABELS[Stage(application.stage)],
        is_open=application.is_open,
        status_since=application.closed_at or application.stage_entered_at,
        hold_reasons=[h.public_reason.strip() for h in holds if (h.public_reason or "").strip()],
        next_update=next_update,
        next_update_late=next_update is not None and next_update < today,
        contact_name=manager.name,
        contact_email=manager.email,
        sent_emails=sent_emails(application),
        feedback=current_feedback(application),
    )


# --- What the candidate can do ------------------------------------------------------------------


def clean_question(text: str | None) -> str:
    """Normalise a question to plain text (no control characters) and enforce its limits."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    # NUL and other control characters cannot be stored (PostgreSQL) or shown; tabs and
    # newlines are what a person types.
    text = "".join(
        ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs")
    ).strip()
    if not text:
        raise ValidationFailed("Please write your question.", {"question": ["Required."]})
    if len(text) > MAX_QUESTION_LENGTH:
        raise ValidationFailed(
            f"Questions are limited to {MAX_QUESTION_LENGTH:,} characters "
            f"(yours has {len(text):,}).",
            {"question": [f"At most {MAX_QUESTION_LENGTH:,} characters."]},
        )
    return text


def ask_question(application: Application, text: str | None) -> Touchpoint:
    """Record the candidate's question as an inbound contact and email it to the hiring manager.

    The inbound touchpoint makes the application due in the cadence, so the question also sits
    on the manager's dashboard until they answer.
    """
    question = clean_question(text)
    if not application.is_open:
        raise GuardrailRefused(
            "This application is closed, so questions are no longer taken here. Please email "
            "your contact instead."
        )
    touchpoint = log_touchpoint(
        None,
        application,
        direction=Direction.INBOUND,
        channel=Channel.OTHER,
        note=f"Question asked on the status page:\n{question}",
        actor_label=CANDIDATE_ACTOR,
    )
    candidate = application.candidate
    notify_manager(
        application,
        subject=f"Question from {candidate.name} about {application.requisition.title}",
        template="question",
        question=question,
    )
    return touchpoint


def withdraw(application: Application, reason: str) -> Touchpoint:
    """Close the application as withdrawn at the candidate's request, with the confirmation email.

    The confirmation is the closure: it goes through `send_message` with the manager's
    "closure_withdrawn" template, so the closure guarantee holds. Returns the closure touchpoint.
    """
    if reason not in WITHDRAWAL_REASONS:
        raise ValidationFailed(
            "Please choose why you are withdrawing.", {"reason": ["Choose one."]}
        )
    if not application.is_open:
        raise GuardrailRefused("This application is already closed.")
    manager = application.requisition.manager
    log_touchpoint(
        None,
        application,
        direction=Direction.INBOUND,
        channel=Channel.OTHER,
        note=f"Withdrew on the status page: {WITHDRAWAL_REASONS[reason]}.",
        actor_label=CANDIDATE_ACTOR,
    )
    sent = send_message(
        manager,
        application,
        choose_template(manager, "closure_withdrawn"),
        actor_label=CANDIDATE_ACTOR,
    )
    notify_manager(
        application,
        subject=f"{application.candidate.name} withdrew from {application.requisition.title}",
        template="withdrawal",
        reason=WITHDRAWAL_REASONS[reason],
    )
    return sent.touchpoint


def record_feedback(application: Application, useful: bool) -> UpdateFeedback:
    """Store the candidate's one-click "were our updates useful?"; a second click changes it."""
    # Lock the application row so two quick clicks cannot each add an answer (PostgreSQL).
    db.session.execute(
        select(Application.id).where(Application.id == application.id).with_for_update()
    )
    feedback = db.session.scalars(
        select(UpdateFeedback)
        .where(UpdateFeedback.application_id == application.id)
        .order_by(UpdateFeedback.id.desc())
        .limit(1)
    ).first()
    if feedback is None:
        feedback = UpdateFeedback(application_id=application.id, useful=useful)
        db.session.add(feedback)
    else:
        feedback.useful = useful
        feedback.created_at = utcnow()
    db.session.flush()
    record_change(
        None, "status.feedback", feedback, after={"useful": useful}, actor_label=CANDIDATE_ACTOR
    )
    return feedback


def _reply_to(name: str, email: str | None) -> str | None:
    """The candidate as a Reply-To address, or None when there is no safe one."""
    if not email:
        return None
    value = formataddr((name, email))
    try:
        return check_address_header(value, "Reply-To")
    except HeaderInjectionError:
        return None


def notify_manager(
    application: Application,
    *,
    subject: str,
    template: str,
    reply_to_candidate: bool = True,
    **values,
) -> OutboxEmail:
    """Queue a staff email to the hiring manager about what their candidate did on the page.

    Delivered by the outbox worker like every email; Reply-To is the candidate, so a quick
    answer is one reply away (the text asks the manager to log it so the cadence counts it),
    except where their address is the problem (a bounce): a reply there would bounce too.
    """
    manager = application.requisition.manager
    candidate = application.candidate
    context = {
        "manager": manager,
        "candidate_name": candidate.name,
        "role": application.requisition.title,
        "candidate_url": external_url("candidates.detail", candidate_id=candidate.id),
        "compose_url": external_url("messages.compose", application_id=application.id),
        "company": effective_settings().company_name,
        **values,
    }
    return queue_staff_email(
        manager,
        subject=subject,
        template=f"status/{template}_email",
        context=context,
        reply_to=_reply_to(candidate.name, candidate.email) if reply_to_candidate else None,
    )
