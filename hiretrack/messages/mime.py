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
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, formataddr
from functools import lru_cache
from operator import attrgetter, itemgetter
from typing import NamedTuple

from sqlalchemy import Row

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
#: The characters for which `email.utils.formataddr` quotes a display name (its `specialsre`).
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')


class InvalidMessage(ValueError):
    """The built message does not say what the outbox row says (an injected or mangled header)."""


class MessageFields(NamedTuple):
    """The columns of an outbox row that go into its message, each read once."""

    id: int
    message_id: str
    from_address: str
    to_address: str
    to_name: str
    reply_to: str | None
    subject: str
    send_after: datetime | None
    created_at: datetime
    body_text: str
    body_html: str


_read_columns = itemgetter(*MessageFields._fields)
_read_attributes = attrgetter(*MessageFields._fields)


def message_fields(outbox: OutboxRow | MessageFields) -> MessageFields:
    """The row's message columns: a claimed row's by name from its mapping, several times cheaper
    than its attributes (each looked up by name on every read), which the checks read twice."""
    if isinstance(outbox, Row):
        return MessageFields._make(_read_columns(outbox._mapping))
    return MessageFields._make(_read_attributes(outbox))


def _check_row_headers(outbox: MessageFields) -> tuple[str, str | None]:
    """Check every header value again (a row may have been edited since it was rendered); return
    the From and Reply-To lines, built from what the address parser understood.

    An address list is checked as `check_address_header` does, with the parse it may skip for a
    plain address always made (a plain address always parses: the message is built from it).
    """
    from_line = _address_line("From", outbox.from_address)
    check_address_header(outbox.to_address, "To")
    check_header_value(outbox.to_name, "To")
    reply_line = _address_line("Reply-To", outbox.reply_to) if outbox.reply_to else None
    check_header_value(outbox.subject, "Subject")
    check_header_value(outbox.message_id, "Message-ID")
    return from_line, reply_line


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
        if _SPECIALS.search(display_name) is None:  # formataddr would leave it as it is
            return f"{display_name} <{address}>"
        # formataddr quotes the name as it needs, but refuses a non-ASCII address: add it after.
        quoted_name = formataddr((display_name, "a@a")).rpartition(" <")[0]
        return f"{quoted_name} <{address}>"
    encoded = Header(display_name, "utf-8", header_name=field).encode(linesep="\r\n")
    return f"{encoded} <{address}>"


@lru_cache(maxsize=1024)
def _address_line(name: str, value: str) -> str:
    """A header line for an address list, built from what the address parser understood.

    Remembered per value, as the parse is: the organisation's sender and the managers' Reply-To
    are the same few values on every message. A value refused raises on every call (lru_cache
    keeps only what returned).
    """
    mailboxes = [_mailbox(*pair, name) for pair in parse_address_header(value, name)]
    return f"{name}: {', '.join(mailboxes)}"


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _date_header(moment: datetime) -> str:
    """`Date: ` and `email.utils.format_datetime(moment)`, written directly for a UTC time (every
    stored time is one) at a third of the cost."""
    if moment.tzinfo is not UTC:
        return f"Date: {format_datetime(moment)}"
    return (
        f"Date: {_WEEKDAYS[moment.weekday()]}, {moment.day:02d} {_MONTHS[moment.month - 1]} "
        f"{moment.year:04d} {moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} +0000"
    )


#: RFC 5322's hard limit on a line, without its CRLF.
MAX_LINE_LENGTH = 998


def _short_lines(text: str) -> bool:
    return len(text) <= MAX_LINE_LENGTH or max(map(len, text.split("\n"))) <= MAX_LINE_LENGTH


def _part_headers(subtype: str, encoding: str) -> bytes:
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    ).encode("ascii")


_SEVEN_BIT = {subtype: _part_headers(subtype, "7bit") for subtype in ("plain", "html")}


def _body_part(subtype: str, text: str) -> bytes:
    """One text part with CRLF line ends: 7bit when it is short-lined ASCII, else quoted-printable."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.isascii() and "\0" not in text and _short_lines(text):
        return _SEVEN_BIT[subtype] + text.replace("\n", "\r\n").encode("ascii")
    content = binascii.b2a_qp(text.replace("\n", "\r\n").encode("utf-8"), istext=True)
    return _part_headers(subtype, "quoted-printable") + content


def build_message(outbox: OutboxRow | MessageFields) -> bytes:
    """Build the MIME bytes for a row: plain text with an HTML alternative."""
    outbox = message_fields(outbox) if not isinstance(outbox, MessageFields) else outbox
    from_line, reply_line = _check_row_headers(outbox)
    text, html = outbox.body_text, outbox.body_html
    boundary = f"=_hiretrack_{secrets.token_hex(16)}"
    while boundary in text or boundary in html:  # as good as impossible, but then never ambiguous
        boundary = f"=_hiretrack_{secrets.token_hex(16)}"
    headers = [from_line, f"To: {_mailbox(outbox.to_name, outbox.to_address, 'To')}"]
    if reply_line:
        headers.append(reply_line)
    headers += [
        _text_header("Subject", outbox.subject),
        # The time the message was ready, not of this attempt: a retry then sends the same Date.
        _date_header(outbox.send_after or outbox.created_at),
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
    lines = head.split("\r\n")
    # Printable text has no control character: each line is searched only when some character
    # is not printable (a tab, a control character, a Unicode separator).
    search_lines = not "".join(lines).isprintable()
    fields: list[list[str]] = []
    for line in lines:
        if search_lines and _HEADER_CONTROL_CHARACTER.search(line):
            raise InvalidMessage("the built message has a control character in its headers")
        if line[:1] in (" ", "\t") and fields:
            fields[-1][1] += line
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise InvalidMessage(f"the built message has a header line without a name: {line!r}")
        fields.append([name.lower(), value])
    return [(name, value.strip()) for name, value in fields]


def check_serialised(content: bytes, outbox: OutboxRow | MessageFields) -> None:
    """Read the bytes' headers back and refuse them unless they carry exactly the row's headers.

    This does not rely on the value checks: each encoded word is decoded, and a line break it
    decodes to is read as the start of another header, as Python 3.11.7's email package would
    write it (CVE-2024-6923).
    """
    head, separator, _ = content.partition(b"\r\n\r\n")
    if not separator:
        raise InvalidMessage("the built message has no body")
    text = head.decode("utf-8")
    fields = _header_fields(text)
    names = [name for name, _ in fields]
    if "=?" in text:  # an unfolded value has an encoded word only where the header block has one
        names = []
        for name, value in fields:
            names.append(name)
            if "=?" in value:
                lines = decoded_header_text(value, name).splitlines()
                names += [line.partition(":")[0].strip().lower() for line in lines[1:]]
    if not ALLOWED_HEADERS.issuperset(names) or len(names) != len(set(names)):
        unexpected = sorted({name for name in names if name not in ALLOWED_HEADERS})
        raise InvalidMessage(f"the built message has unexpected headers: {unexpected or names}")
    values = dict(fields)
    if values.get("message-id") != outbox.message_id:
        raise InvalidMessage("the built message has a different Message-ID than the outbox row")
    recipient = values.get("to", "")
    if recipient != outbox.to_address and not recipient.endswith(f" <{outbox.to_address}>"):
        raise InvalidMessage(f"the To header names {recipient}, not {outbox.to_address}")
