"""The MIME bytes of an outbox row, written directly, and the check that reads them back.

The bytes are written here rather than by `email.message.EmailMessage`, whose header registry
parses every value on assignment and took most of a delivery worker's time: every message has
the same shape (a few headers, then a text part and an HTML alternative), and the standard
library still encodes what needs it (`email.header.Header` for non-ASCII header text,
`binascii.b2a_qp` for bodies that are not plain ASCII). The header block that comes out is then
checked on its own, the way a receiving parser reads it. `backends.build_envelope` uses both.
"""

import binascii
import re
import secrets
from email.header import Header
from email.utils import format_datetime, formataddr

from hiretrack.messages.headers import (
    check_address_header,
    check_header_value,
    decoded_header_text,
    parse_address_header,
)
from hiretrack.messages.models import OutboxRow

#: The only top-level headers a built message may have: anything else means a value smuggled in
#: an extra header, whatever encoding trick let it through.
ALLOWED_HEADERS = frozenset(
    {
        "from",
        "to",
        "reply-to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
    }
)

#: RFC 5322 asks for header lines of at most 78 characters; longer values are folded.
MAX_HEADER_LINE = 78

_HEADER_CONTROL_CHARACTER = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


class InvalidMessage(ValueError):
    """The built message does not say what the outbox row says (an injected or mangled header)."""


def _check_row_headers(outbox: OutboxRow) -> None:
    """Check every header value again: a row may have been edited since it was rendered."""
    check_address_header(outbox.from_address, "From")
    check_address_header(outbox.to_address, "To")
    check_header_value(outbox.to_name, "To")
    if outbox.reply_to:
        check_address_header(outbox.reply_to, "Reply-To")
    check_header_value(outbox.subject, "Subject")
    check_header_value(outbox.message_id, "Message-ID")


def _text_header(name: str, value: str) -> str:
    """A header line for free text: short ASCII as is, the rest folded and RFC 2047 encoded."""
    if value.isascii() and len(name) + 2 + len(value) <= MAX_HEADER_LINE:
        return f"{name}: {value}"
    charset = "us-ascii" if value.isascii() else "utf-8"
    encoded = Header(value, charset, header_name=name).encode(linesep="\r\n")
    return f"{name}: {encoded}"


def _mailbox(display_name: str, address: str, field: str) -> str:
    """One `Name <address>` for an address header, the name quoted or encoded as it needs.

    A non-ASCII address goes in as UTF-8 (RFC 6532); the envelope then asks for SMTPUTF8.
    """
    if not display_name:
        return address
    if display_name.isascii():
        # formataddr quotes the name as it needs, but refuses a non-ASCII address: add it after.
        quoted_name = formataddr((display_name, "a@a")).rpartition(" <")[0]
        return f"{quoted_name} <{address}>"
    encoded = Header(display_name, "utf-8", header_name=field).encode(linesep="\r\n")
    return f"{encoded} <{address}>"


def _address_header(name: str, value: str) -> str:
    """A header line for an address list, built from what the address parser understood."""
    mailboxes = [_mailbox(*pair, name) for pair in parse_address_header(value, name)]
    return f"{name}: {', '.join(mailboxes)}"


#: RFC 5322's hard limit on a line, without its CRLF.
MAX_LINE_LENGTH = 998


def _short_lines(text: str) -> bool:
    return len(text) <= MAX_LINE_LENGTH or max(map(len, text.split("\n"))) <= MAX_LINE_LENGTH


def _body_part(subtype: str, text: str) -> bytes:
    """One text part with CRLF line ends: 7bit when it is short-lined ASCII, else quoted-printable."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.isascii() and "\0" not in text and _short_lines(text):
        encoding, content = "7bit", text.replace("\n", "\r\n").encode("ascii")
    else:
        encoding = "quoted-printable"
        content = binascii.b2a_qp(text.replace("\n", "\r\n").encode("utf-8"), istext=True)
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    ).encode("ascii") + content


def build_message(outbox: OutboxRow) -> bytes:
    """Build the MIME bytes for a row: plain text with an HTML alternative."""
    _check_row_headers(outbox)
    text, html = outbox.body_text, outbox.body_html
    boundary = f"=_hiretrack_{secrets.token_hex(16)}"
    while boundary in text or boundary in html:  # as good as impossible, but then never ambiguous
        boundary = f"=_hiretrack_{secrets.token_hex(16)}"
    headers = [
        _address_header("From", outbox.from_address),
        f"To: {_mailbox(outbox.to_name, outbox.to_address, 'To')}",
    ]
    if outbox.reply_to:
        headers.append(_address_header("Reply-To", outbox.reply_to))
    headers += [
        _text_header("Subject", outbox.subject),
        # The time the message was ready, not of this attempt: a retry then sends the same Date.
        f"Date: {format_datetime(outbox.send_after or outbox.created_at)}",
        f"Message-ID: {outbox.message_id}",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"',
        "",
        "This is a multi-part message in MIME format.",
    ]
    delimiter = f"\r\n--{boundary}\r\n".encode("ascii")
    return b"".join(
        (
            # UTF-8 only where an address is not ASCII (sent with SMTPUTF8, RFC 6532).
            "\r\n".join(headers).encode("utf-8"),
            delimiter,
            _body_part("plain", text),
            delimiter,
            _body_part("html", html),
            f"\r\n--{boundary}--\r\n".encode("ascii"),
        )
    )


def _header_fields(head: str) -> list[tuple[str, str]]:
    """Split a header block into (lowercase name, unfolded value) as a receiving parser would."""
    fields: list[list[str]] = []
    for line in head.split("\r\n"):
        if _HEADER_CONTROL_CHARACTER.search(line):
            raise InvalidMessage("the built message has a control character in its headers")
        if line[:1] in (" ", "\t") and fields:
            fields[-1][1] += line
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise InvalidMessage(f"the built message has a header line without a name: {line!r}")
        fields.append([name.lower(), value])
    return [(name, value.strip()) for name, value in fields]


def check_serialised(content: bytes, outbox: OutboxRow) -> None:
    """Read the bytes' headers back and refuse them unless they carry exactly the row's headers.

    This does not rely on the value checks: each encoded word is decoded, and a line break it
    decodes to is read as the start of another header, as Python 3.11.7's email package would
    write it (CVE-2024-6923).
    """
    head, separator, _ = content.partition(b"\r\n\r\n")
    if not separator:
        raise InvalidMessage("the built message has no body")
    fields = _header_fields(head.decode("utf-8"))
    names = []
    for name, value in fields:
        names.append(name)
        if "=?" in value:
            lines = decoded_header_text(value, name).splitlines()
            names += [line.partition(":")[0].strip().lower() for line in lines[1:]]
    unexpected = sorted({name for name in names if name not in ALLOWED_HEADERS})
    if unexpected or len(names) != len(set(names)):
        raise InvalidMessage(f"the built message has unexpected headers: {unexpected or names}")
    values = dict(fields)
    if values.get("message-id") != outbox.message_id:
        raise InvalidMessage("the built message has a different Message-ID than the outbox row")
    recipient = values.get("to", "")
    if recipient != outbox.to_address and not recipient.endswith(f" <{outbox.to_address}>"):
        raise InvalidMessage(f"the To header names {recipient}, not {outbox.to_address}")
