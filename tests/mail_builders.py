"""Build the mail that comes back: a candidate's reply to one of our messages, an out-of-office
answer, a delivery status notification (RFC 3464), each as the raw bytes a mail server hands on."""

from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses, make_msgid

from hiretrack.database import utcnow


def reply_to(
    original: EmailMessage,
    text: str,
    *,
    sender: str,
    html: str | None = None,
    attachments: tuple[tuple[str, bytes, str], ...] = (),
    quote: bool = True,
    headers: dict[str, str] | None = None,
) -> bytes:
    """A reply as a mail client writes it: to the Reply-To, threaded, quoting the original."""
    reply = EmailMessage()
    reply["From"] = sender
    reply_to_header = original["Reply-To"] or original["From"]
    reply["To"] = ", ".join(address for _, address in getaddresses([str(reply_to_header)]))
    reply["Subject"] = f"Re: {original['Subject']}"
    reply["Date"] = format_datetime(utcnow())
    reply["Message-ID"] = make_msgid(domain="example.org")
    reply["In-Reply-To"] = original["Message-ID"]
    reply["References"] = original["Message-ID"]
    for name, value in (headers or {}).items():
        reply[name] = value
    body = text
    if quote:
        quoted = "\n".join(f"> {line}" for line in _original_text(original).splitlines())
        body += f"\n\nOn {original['Date']}, {original['From']} wrote:\n{quoted}\n"
    reply.set_content(body)
    if html is not None:
        reply.add_alternative(html, subtype="html")
    for name, content, content_type in attachments:
        maintype, _, subtype = content_type.partition("/")
        reply.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    return reply.as_bytes(policy=SMTP)


def _original_text(original: EmailMessage) -> str:
    body = original.get_body(preferencelist=("plain",))
    return body.get_content() if body is not None else ""


def out_of_office(original: EmailMessage, *, sender: str) -> bytes:
    """An automatic out-of-office answer (RFC 3834), addressed like a reply."""
    answer = EmailMessage()
    answer["From"] = sender
    answer["To"] = original["Reply-To"] or original["From"]
    answer["Subject"] = f"Automatic reply: {original['Subject']}"
    answer["Date"] = format_datetime(utcnow())
    answer["Message-ID"] = make_msgid(domain="example.org")
    answer["In-Reply-To"] = original["Message-ID"]
    answer["Auto-Submitted"] = "auto-replied"
    answer.set_content("I am out of the office until Monday and will answer then.")
    return answer.as_bytes(policy=SMTP)


def delivery_status(
    original_message_id: str,
    recipient: str,
    *,
    action: str,
    status: str,
    diagnostic: str,
    to: str = "hiring@acme.example",
) -> bytes:
    """A multipart/report delivery status notification about one of our messages."""
    report = EmailMessage()
    report["From"] = "Mail Delivery System <MAILER-DAEMON@mx.example.org>"
    report["To"] = to
    report["Subject"] = (
        "Undelivered Mail Returned to Sender" if action == "failed" else "Delayed Mail"
    )
    report["Date"] = format_datetime(utcnow())
    report["Message-ID"] = make_msgid(domain="mx.example.org")
    report["Auto-Submitted"] = "auto-replied"
    raw = (
        f"Reporting-MTA: dns; mx.example.org\n\n"
        f"Final-Recipient: rfc822; {recipient}\n"
        f"Original-Recipient: rfc822; {recipient}\n"
        f"Action: {action}\n"
        f"Status: {status}\n"
        f"Diagnostic-Code: smtp; {diagnostic}\n"
    )
    headers = (
        f"Message-ID: {original_message_id}\nFrom: Acme Hiring <hiring@acme.example>\n"
        f"To: {recipient}\nSubject: An update from Acme\n"
    )
    return _report_bytes(report, raw, headers)


def _report_bytes(report: EmailMessage, status_fields: str, original_headers: str) -> bytes:
    """Assemble the three parts of RFC 3464 by hand: the email package has no builder for them."""
    boundary = "=_report_boundary_42"
    head = "".join(
        f"{name}: {value}\r\n"
        for name, value in report.items()
        if name.lower() not in ("content-type", "content-transfer-encoding", "mime-version")
    )
    human = "Your message could not be delivered. The details are attached.\r\n"
    parts = [
        f"--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{human}",
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        + status_fields.replace("\n", "\r\n"),
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        + original_headers.replace("\n", "\r\n"),
    ]
    return (
        head
        + "MIME-Version: 1.0\r\n"
        + f'Content-Type: multipart/report; report-type=delivery-status;\r\n boundary="{boundary}"\r\n'
        + "\r\n"
        + "\r\n".join(parts)
        + f"\r\n--{boundary}--\r\n"
    ).encode("ascii")
