"""Mail that came back in the demo: a candidate's question, an out-of-office, a bounce, a stranger.

Each answers a check-in really composed by the send service; the mail goes in through
`hiretrack.inbound.services.receive`, the path the IMAP fetcher and the API use. The story's
clock dates each check-in after the candidacy's last event, and each answer after its check-in.
"""

import secrets
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from sqlalchemy import select

from hiretrack.candidates.models import Application, Touchpoint
from hiretrack.candidates.services import record_delivery
from hiretrack.database import utcnow
from hiretrack.demo.story import StoryClock, latest_event
from hiretrack.extensions import db
from hiretrack.inbound.services import receive
from hiretrack.messages.models import OutboxEmail, OutboxStatus
from hiretrack.messages.services import choose_template, send_message
from hiretrack.requisitions.models import Requisition

QUESTION = (
    "Hi,\n\nThanks for the update. I have another offer and need to answer them by Friday: "
    "can you tell me by then where things stand?\n\nBest regards"
)


def _sent_check_in(clock: StoryClock, application: Application, days_ago: int) -> OutboxEmail:
    """A check-in to the candidate, delivered `days_ago` (as the worker would have recorded it)."""
    manager = application.requisition.manager
    sent_at = clock.at(days_ago, after=latest_event(application))
    sent = send_message(manager, application, choose_template(manager, "check_in"))
    sent.outbox.status, sent.outbox.sent_at = OutboxStatus.SENT, sent_at
    sent.outbox.created_at = sent.touchpoint.created_at = sent_at
    record_delivery(sent.touchpoint, sent_at)
    return sent.outbox


def _their_message_id(domain: str) -> str:
    """A Message-ID as the candidate's (or their mail server's) mail client would make it."""
    return f"<{secrets.token_hex(12)}@{domain}>"


def _answer(outbox: OutboxEmail, sender: str, subject: str, text: str, **headers: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = outbox.reply_to or outbox.from_address
    message["Subject"] = subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = _their_message_id("example.org")
    message["In-Reply-To"] = outbox.message_id
    message["References"] = outbox.message_id
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(text)
    return message.as_bytes(policy=SMTP)


def _bounce(outbox: OutboxEmail) -> bytes:
    """A delivery status notification (RFC 3464): the recipient's server refused our message."""
    boundary = "demo-report"
    status = (
        "Reporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {outbox.to_address}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 Recipient address rejected: User unknown\r\n"
    )
    original = f"Message-ID: {outbox.message_id}\r\nTo: {outbox.to_address}\r\n"
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
        f"To: {outbox.from_address}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Date: {format_datetime(utcnow())}\r\nMessage-ID: {_their_message_id('mx.example.org')}\r\n"
        "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        f"\r\n--{boundary}\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n{status}"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n{original}"
        f"--{boundary}--\r\n"
    ).encode()


def _first_open(title: str, stage: str) -> Application | None:
    return db.session.scalars(
        select(Application)
        .join(Requisition, Requisition.id == Application.requisition_id)
        .where(
            Requisition.title == title,
            Application.stage == stage,
            Application.closed_at.is_(None),
        )
        .order_by(Application.id)
    ).first()


def _received(raw: bytes, received_at: datetime) -> None:
    """Receive a message as if it had arrived then; a reply counted as contact dates from then."""
    message = receive(raw, source="api", received_at=received_at).message
    if message.touchpoint_id is not None:
        db.session.get(Touchpoint, message.touchpoint_id).created_at = received_at


def seed_inbound_mail(clock: StoryClock) -> None:
    """Receive a few answers to demo check-ins; the caller commits."""
    db.session.flush()
    automatic = timedelta(minutes=1)  # out-of-office answers and bounces come at once
    asking = _first_open("Platform Engineer", "final_round")
    away = _first_open("Data Analyst", "final_round")
    mistyped = _first_open("Account Executive", "interviewing")
    if asking is not None:
        outbox = _sent_check_in(clock, asking, days_ago=2)
        reply = _answer(outbox, asking.candidate.email, f"Re: {outbox.subject}", QUESTION)
        _received(reply, clock.at(1, after=outbox.sent_at))
    if away is not None:
        outbox = _sent_check_in(clock, away, days_ago=1)
        answer = _answer(
            outbox,
            away.candidate.email,
            f"Out of office: {outbox.subject}",
            "I am on holiday until the 15th, with limited access to email.",
            Auto_Submitted="auto-replied",
        )
        _received(answer, outbox.sent_at + automatic)
    if mistyped is not None:
        outbox = _sent_check_in(clock, mistyped, days_ago=1)
        _received(_bounce(outbox), outbox.sent_at + automatic)
    stranger = EmailMessage()
    stranger["From"] = "Jordan Reyes <jordan.reyes@example.net>"
    stranger["To"] = "replies@acme.example"
    stranger["Subject"] = "Is the backend role still open?"
    stranger["Date"] = format_datetime(utcnow())
    stranger["Message-ID"] = _their_message_id("example.net")
    stranger.set_content(
        "Hello, a friend told me about the Senior Backend Engineer role. Is it open?"
    )
    _received(stranger.as_bytes(policy=SMTP), clock.at(1))
