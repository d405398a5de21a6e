"""Queue an email: the one door through which every email, to a candidate or to staff, enters.

`queue_email` is the only code that creates OutboxEmail rows; it gives each its Message-ID
(`new_message_id`, in the sender's domain) and writes it in the caller's transaction.
Delivery happens later, in `hiretrack outbox deliver` (`messages.delivery`), never inside a
web request. Candidate messages reach it through `messages.services.send_message` (guardrails,
rendering, touchpoint); staff notifications and digests through `queue_staff_email`.
"""

from datetime import datetime
from email.utils import make_msgid, parseaddr
from typing import Any

from flask import current_app

from hiretrack.admin.services import effective_settings
from hiretrack.auth.models import User
from hiretrack.candidates.models import Application
from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.holds.models import Hold
from hiretrack.messages.headers import check_header_value, header_safe_text
from hiretrack.messages.models import EmailTemplate, OutboxEmail, OutboxStatus

#: The Message-ID domain when the sender address has none (it always has one once validated).
FALLBACK_DOMAIN = "hiretrack.local"
#: Characters `OutboxEmail.subject` holds.
SUBJECT_MAX_LENGTH = 300


def new_message_id(from_address: str) -> str:
    """A new, globally unique Message-ID in the sender's domain, e.g. `<…@acme.example>`.

    RFC 5322 asks for a domain the sender controls; the From address's is one, where the
    address HireTrack is served at may be an internal host name.
    """
    _, at, domain = parseaddr(from_address)[1].rpartition("@")
    return make_msgid(domain=domain if at and domain else FALLBACK_DOMAIN)


def queue_email(
    *,
    to_address: str,
    to_name: str,
    subject: str,
    body_text: str,
    body_html: str,
    reply_to: str | None = None,
    reply_token: str | None = None,
    application: Application | None = None,
    recipient: User | None = None,
    template: EmailTemplate | None = None,
    created_by: User | None = None,
    send_at: datetime | None = None,
    hold: Hold | None = None,
) -> OutboxEmail:
    """Queue one email for the delivery worker, in the caller's transaction, and return its row.

    `application` ties an email to the candidate it is written to; `recipient` ties a staff
    email to the user it is for (delivery uses their current address). `reply_token` is the
    per-message token of the tracking address in `reply_to`, which matches a reply to this
    email. With `send_at`, the email waits, scheduled, until then. The sender is the
    organisation's current sender address.

    A candidate email records what it was written for (its kind, the application's stage, the
    `hold` it speaks of), so delivery can check it is still true (`messages.premise`).
    """
    check_header_value(subject, "Subject")
    from_address = effective_settings().mail_from
    outbox = OutboxEmail(
        application=application,
        recipient_user_id=recipient.id if recipient is not None else None,
        template_id=template.id if template is not None else None,
        category=template.category if template is not None else None,
        to_address=to_address,
        to_name=to_name,
        from_address=from_address,
        reply_to=reply_to,
        reply_token=reply_token,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        message_id=new_message_id(from_address),
        status=OutboxStatus.SCHEDULED if send_at else OutboxStatus.QUEUED,
        send_after=send_at,
        next_attempt_at=send_at or utcnow(),
        created_by_id=created_by.id if created_by is not None else None,
        hold_id=hold.id if hold is not None else None,
        written_at_stage=application.stage if application is not None else None,
    )
    db.session.add(outbox)
    db.session.flush()
    return outbox


def queue_staff_email(
    recipient: User,
    *,
    subject: str,
    template: str,
    context: dict[str, Any],
    reply_to: str | None = None,
) -> OutboxEmail:
    """Queue an email to a HireTrack user, rendered from the page templates `template`.txt/.html.

    Staff emails are HireTrack's own wording (not the sandboxed candidate templates), so they
    render with the app's Jinja environment; their links come from `hiretrack.urls`. Their
    subject quotes stored text (a candidate's name, a role), which may hold a control character
    a header cannot carry, or be long: it is made safe rather than refused (whitespace runs made
    one space), then cut to the column's length, so the notice still goes out.
    """
    environment = current_app.jinja_env
    return queue_email(
        to_address=recipient.email,
        to_name=header_safe_text(recipient.name),
        subject=header_safe_text(subject)[:SUBJECT_MAX_LENGTH],
        body_text=environment.get_template(f"{template}.txt").render(context),
        body_html=environment.get_template(f"{template}.html").render(context),
        reply_to=reply_to,
        recipient=recipient,
    )
