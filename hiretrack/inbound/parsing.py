"""Read one received message: its headers, its new text, its attachments, what kind it is.

Pure functions over bytes, with no database: `read_message` parses with the standard library's
`email` package and `policy.default`, and returns plain values. Nothing from the message is ever
rendered as HTML: an HTML body is reduced to text here (scripts, styles and images dropped, no
URL kept), and the text is what the rest of HireTrack stores and shows, escaped like any text.
"""

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from email.utils import getaddresses, parsedate_to_datetime
from enum import StrEnum
from html.parser import HTMLParser

#: The most header bytes read from a message that is not read whole.
MAX_HEADER_BYTES = 64 * 1024
#: The longest new text kept from one message; the rest is cut with a marker.
MAX_TEXT_LENGTH = 20_000
MAX_ATTACHMENTS_LISTED = 50
TRUNCATED = "\n[… the rest of this message was not kept]"

_MESSAGE_ID = re.compile(r"<[^<>\s]{1,250}>")
#: Control characters other than tab and newline cannot be stored (PostgreSQL refuses NUL).
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Automatic(StrEnum):
    """What a message is before matching: the candidate writing, a robot, or a delivery report."""

    PERSON = "person"
    AUTO_REPLY = "auto_reply"
    FAILED = "failed"
    DELAYED = "delayed"
    REPORT_OTHER = "report_other"  # a delivery report that is neither (e.g. "delivered")


@dataclass(frozen=True)
class Attachment:
    name: str
    size: int
    content_type: str

    def as_dict(self) -> dict:
        return {"name": self.name, "size": self.size, "content_type": self.content_type}


@dataclass(frozen=True)
class DeliveryReport:
    """The first recipient block of an RFC 3464 delivery status notification that matters."""

    action: str  # failed | delayed | delivered | relayed | expanded
    status: str  # e.g. 5.1.1
    recipient: str
    diagnostic: str
    original_message_id: str | None

    @property
    def permanent(self) -> bool:
        return self.action == "failed" or self.status.startswith("5")


@dataclass(frozen=True)
class ReadMessage:
    """What HireTrack keeps of one received message, and what matching and classifying need."""

    fingerprint: str
    size: int
    message_id: str
    from_address: str
    from_name: str
    subject: str
    sent_at: datetime | None
    recipients: tuple[str, ...]
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    automatic: Automatic
    automatic_reason: str
    text: str
    attachments: tuple[Attachment, ...] = ()
    report: DeliveryReport | None = None
    problems: tuple[str, ...] = field(default_factory=tuple)


def clean_text(text: str) -> str:
    """Text safe to store and show: line ends normalised, control characters removed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _UNSTORABLE.sub("", text)
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cs")


def _one_line(value: object, limit: int) -> str:
    text = " ".join(clean_text(str(value or "")).split())
    return text[:limit]


def _header(message: Message, name: str) -> str:
    """A header's decoded text, or "" when it is missing or cannot be read."""
    try:
        value = message.get(name)
    except Exception:  # a malformed header can make the header registry raise
        return ""
    return str(value) if value is not None else ""


def _message_ids(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_MESSAGE_ID.findall(value or "")))


def _addresses(message: Message, *names: str) -> list[tuple[str, str]]:
    values = []
    for name in names:
        try:
            values += [str(value) for value in message.get_all(name) or []]
        except Exception:
            continue
    return [
        (_one_line(display, 200), address.strip().lower()[:254])
        for display, address in getaddresses(values)
        if "@" in address
    ]


def fingerprint_for(message_id: str, raw: bytes) -> str:
    """The key that makes a message recorded once: its Message-ID, else its exact bytes."""
    if message_id:
        return hashlib.sha256(b"message-id:" + message_id.encode("utf-8", "replace")).hexdigest()
    return hashlib.sha256(b"raw:" + raw).hexdigest()


def _sent_at(message: Message) -> datetime | None:
    try:
        moment = parsedate_to_datetime(_header(message, "Date"))
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


# --- Automatic answers (RFC 3834 and the usual out-of-office markers) ------------------------------

_AUTO_SUBJECT = re.compile(
    r"^\s*(?:auto(?:matic)?[\s-]*(?:reply|response|antwort)|autoreply|auto:|out of (?:the )?office"
    r"|abwesenheit|réponse automatique|respuesta automática|fuera de la oficina"
    r"|risposta automatica|automatisch antwoord|afwezig|frånvaro|ooo\b|away from (?:the )?office"
    r"|on vacation|vacation reply|i am (?:currently )?out of)",
    re.IGNORECASE,
)
_SYSTEM_SENDER = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.I)


def automatic_reason(message: Message) -> str | None:
    """Why this message is an automatic answer, or None if a person seems to have written it."""
    auto_submitted = _header(message, "Auto-Submitted").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return f"Auto-Submitted: {auto_submitted[:40]}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if _header(message, name).strip():
            return f"{name} header"
    if _header(message, "X-Auto-Response-Suppress").strip().lower() in ("all", "oof"):
        return "X-Auto-Response-Suppress (an Exchange automatic reply)"
    precedence = _header(message, "Precedence").strip().lower()
    if precedence in ("auto_reply", "bulk", "junk", "list"):
        return f"Precedence: {precedence}"
    if _header(message, "Feedback-Type").strip():
        return "an abuse or feedback report"
    if _header(message, "Return-Path").strip() == "<>":
        return "an empty Return-Path (sent by a mail system)"
    _, sender = (_addresses(message, "From") or [("", "")])[0]
    if _SYSTEM_SENDER.match(sender):
        return "sent by a mail system"
    subject = _header(message, "Subject")
    if _AUTO_SUBJECT.match(subject):
        return f"subject {subject[:60]!r}"
    return None


# --- Delivery status notifications (RFC 3464) -------------------------------------------------------


def _report_blocks(part: Message) -> list[Message]:
    """The field blocks of a message/delivery-status part (per message, then per recipient)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    text = payload if isinstance(payload, str) else ""
    blocks = [block for block in re.split(r"\r?\n\s*\r?\n", text.strip()) if block.strip()]
    return [message_from_bytes(block.encode("utf-8", "replace") + b"\n\n") for block in blocks]


def _address_field(value: str) -> str:
    """`rfc822; someone@example.org` -> someone@example.org."""
    return _one_line(value.partition(";")[2] or value, 254).strip("<>").lower()


def _original_message_id(report: Message) -> str | None:
    for part in report.walk():
        content_type = part.get_content_type()
        if content_type == "text/rfc822-headers":
            raw = part.get_payload(decode=True) or b""
            headers = BytesHeaderParser(policy=policy.default).parsebytes(raw)
            found = _message_ids(_header(headers, "Message-ID"))
            if found:
                return found[0]
        elif content_type in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            if isinstance(inner, Message):
                found = _message_ids(_header(inner, "Message-ID"))
                if found:
                    return found[0]
    return None


def delivery_report(message: Message) -> DeliveryReport | None:
    """Read a `multipart/report; report-type=delivery-status` message, or None if it is not one."""
    if message.get_content_type() != "multipart/report":
        return None
    if (message.get_param("report-type") or "").lower() != "delivery-status":
        return None
    status_part = next(
        (
            part
            for part in message.walk()
            if part.get_content_type()
            in ("message/delivery-status", "message/global-delivery-status")
        ),
        None,
    )
    if status_part is None:
        return None
    recipients = []
    for block in _report_blocks(status_part)[1:] or _report_blocks(status_part):
        action = _header(block, "Action").strip().lower()
        if action:
            recipients.append(block)
    if not recipients:
        return None
    # A failure matters most, then a delay; we send to one recipient, so there is usually one.
    order = {"failed": 0, "delayed": 1}
    block = min(recipients, key=lambda b: order.get(_header(b, "Action").strip().lower(), 2))
    recipient = _header(block, "Final-Recipient") or _header(block, "Original-Recipient")
    return DeliveryReport(
        action=_header(block, "Action").strip().lower()[:20],
        status=_one_line(_header(block, "Status"), 20),
        recipient=_address_field(recipient),
        diagnostic=_one_line(_header(block, "Diagnostic-Code").partition(";")[2], 2000)
        or _one_line(_header(block, "Diagnostic-Code"), 2000),
        original_message_id=_original_message_id(message),
    )


# --- HTML to text ---------------------------------------------------------------------------------

#: Elements whose content is never text a person wrote (and may be active content).
_SKIPPED = frozenset(
    {"script", "style", "head", "title", "noscript", "template", "svg", "math", "iframe", "object"}
)
_BLOCK = frozenset(
    {
        "p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "table",
        "ul", "ol", "pre", "section", "article", "header", "footer", "address", "dd", "dt",
    }
)  # fmt: skip
_VOID = frozenset(
    {"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed", "source", "wbr"}
)


class _TextExtractor(HTMLParser):
    """Collect the visible text of an HTML body; blockquotes become "> " quoted lines.

    Images, links' targets and every attribute are dropped: nothing remote survives.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skipping = 0
        self.quote_depth = 0
        self.preformatted = 0

    def _break(self) -> None:
        text = "".join(self.current)
        self.current = []
        prefix = "> " * self.quote_depth
        for line in text.split("\n"):
            line = line if self.preformatted else " ".join(line.split())
            self.lines.append(prefix + line if line else prefix.rstrip())

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _SKIPPED:
            if tag not in _VOID:
                self.skipping += 1
            return
        if tag == "blockquote":
            self._break()
            self.quote_depth += 1
        elif tag in _BLOCK:
            self._break()
        if tag == "pre":
            self.preformatted += 1

    def handle_startendtag(self, tag: str, attrs) -> None:
        if tag in _BLOCK:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self.skipping = max(0, self.skipping - 1)
            return
        if tag == "blockquote":
            self._break()
            self.quote_depth = max(0, self.quote_depth - 1)
        elif tag in _BLOCK:
            self._break()
        if tag == "pre":
            self.preformatted = max(0, self.preformatted - 1)

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.current.append(data if self.preformatted else data.replace("\n", " "))

    def text(self) -> str:
        self._break()
        return "\n".join(self.lines)


def html_to_text(html: str) -> str:
    """The visible text of an HTML body, blank lines collapsed."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except (AssertionError, ValueError):  # HTMLParser on badly broken markup
        pass
    text = extractor.text()
    return re.sub(r"\n(?:[ >]*\n){2,}", "\n\n", text).strip()


# --- The new text of a reply ----------------------------------------------------------------------

_ATTRIBUTION = re.compile(
    r"^\s*(?:on|le|am|el|il|op|em|den|på|w dniu|dnia)\b.{0,300}?"
    r"(?:wrote|a écrit|schrieb|escribió|ha scritto|schreef|escreveu|skrev|napisał)\s*:?\s*$",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(
    r"^\s*(?:-{2,}\s*(?:original message|forwarded message|ursprüngliche nachricht|"
    r"message d'origine|mensaje original|messaggio originale|oorspronkelijk bericht)\s*-{2,}"
    r"|_{10,}|-{10,})\s*$",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(r"^\s*\*?(?:from|de|von|van|da|från)\s*\*?\s*:", re.IGNORECASE)
_HEADER_NEXT = re.compile(
    r"^\s*\*?(?:sent|date|to|subject|envoyé|gesendet|datum|enviado|fecha|inviato|verzonden|"
    r"skickat|an|à|para|objet|betreff|asunto)\s*\*?\s*:",
    re.IGNORECASE,
)
_SIGNATURE = re.compile(r"^(?:-- ?|—)$")
_MOBILE_SIGNATURE = re.compile(
    r"^\s*(?:sent from my \S+.*|get outlook for \S+|sent from (?:outlook|mail|yahoo mail)\b.*|"
    r"von meinem \S+ gesendet|envoyé de mon \S+|enviado desde mi \S+|inviato da \S+)\s*$",
    re.IGNORECASE,
)


def _quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _is_attribution(lines: list[str], index: int) -> int:
    """How many lines the attribution starting here spans ("On ... wrote:" may wrap), or 0."""
    line = lines[index]
    if _ATTRIBUTION.match(line):
        return 1
    if index + 1 < len(lines) and _ATTRIBUTION.match(f"{line} {lines[index + 1]}"):
        return 2
    return 0


def _outlook_header(lines: list[str], index: int) -> bool:
    """A "From: ... / Sent: ... / To: ... / Subject: ..." block that starts the quoted original."""
    if not _HEADER_FROM.match(lines[index]):
        return False
    following = [line for line in lines[index + 1 : index + 6] if line.strip()]
    return sum(1 for line in following[:4] if _HEADER_NEXT.match(line)) >= 2


def new_text(text: str) -> str:
    """The part of a reply its writer just wrote: quoted history and signature removed.

    Top-posted replies are cut at the quoted original ("On ... wrote:", "-----Original
    Message-----", an Outlook "From:/Sent:" block); quoted lines ("> ...") are removed wherever
    they are, so bottom-posted and inline answers keep their own words; a signature after
    "-- " and "Sent from my phone" lines go too.
    """
    lines = clean_text(text).split("\n")
    kept: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        span = _is_attribution(lines, index)
        if span:
            rest = [candidate for candidate in lines[index + span :] if candidate.strip()]
            if rest and _quoted(rest[0]):
                index += span  # the quote below it is dropped line by line
                continue
            break  # an unquoted original follows: everything from here is history
        if _SEPARATOR.match(line) or _outlook_header(lines, index):
            break
        if _SIGNATURE.match(line.rstrip()) or (
            line.strip() == "--" and index + 1 < len(lines) and lines[index + 1].strip()
        ):
            # The signature runs to the next quoted block (or the end).
            index += 1
            while index < len(lines) and not _quoted(lines[index]):
                index += 1
            continue
        if not _quoted(line) and not _MOBILE_SIGNATURE.match(line):
            kept.append(line.rstrip())
        index += 1
    result = "\n".join(kept)
    return re.sub(r"\n{3,}", "\n\n", result).strip()


# --- Bodies and attachments -----------------------------------------------------------------------


def _part_text(part: EmailMessage) -> str:
    """A text part's content; an unknown or wrong charset is read as UTF-8 with replacements."""
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, ValueError, AssertionError):
        raw = part.get_payload(decode=True) or b""
        content = raw.decode("utf-8", "replace")
    return content if isinstance(content, str) else ""


def body_text(message: EmailMessage) -> str:
    """The message's text: its text/plain body, else its HTML body reduced to text."""
    try:
        body = message.get_body(preferencelist=("plain", "html"))
    except Exception:  # a deeply broken structure
        body = None
    if body is None:
        return ""
    text = _part_text(body)
    if body.get_content_type() == "text/html":
        return html_to_text(text)
    return text


def _safe_filename(name: str) -> str:
    name = _one_line(name, 200).replace("/", "_").replace("\\", "_")
    return name or "(unnamed)"


def attachments(message: EmailMessage) -> tuple[Attachment, ...]:
    """Each attachment's name, decoded size and type; their content is never kept."""
    found = []
    try:
        parts = list(message.iter_attachments()) if message.is_multipart() else []
    except Exception:
        parts = []
    # iter_attachments only looks one level down; walk finds attachments nested in alternatives.
    seen = {id(part) for part in parts}
    for part in message.walk():
        if id(part) not in seen and part.get_filename() and not part.is_multipart():
            parts.append(part)
            seen.add(id(part))
    for part in parts:
        if part.is_multipart():
            continue
        try:
            payload = part.get_payload(decode=True)
        except Exception:
            payload = None
        size = len(payload) if isinstance(payload, bytes) else 0
        found.append(
            Attachment(
                name=_safe_filename(part.get_filename() or ""),
                size=size,
                content_type=_one_line(part.get_content_type(), 100),
            )
        )
        if len(found) >= MAX_ATTACHMENTS_LISTED:
            break
    return tuple(found)


def limit_text(text: str, limit: int = MAX_TEXT_LENGTH) -> str:
    """Cut a long text, saying so, rather than store megabytes of it."""
    return text if len(text) <= limit else text[:limit].rstrip() + TRUNCATED


def header_section(raw: bytes) -> bytes:
    """The header section of a message (at most MAX_HEADER_BYTES of it)."""
    head = raw[:MAX_HEADER_BYTES]
    end = re.search(rb"\r?\n\r?\n", head)
    return head[: end.end()] if end else head


def read_message(raw: bytes) -> ReadMessage:
    """Parse one raw RFC 5322 message into the values HireTrack keeps and acts on.

    A structure nested too deeply to walk is read by its headers only, and says so.
    """
    try:
        message = message_from_bytes(raw, policy=policy.default)
        return _read(message, raw, len(raw), full=True)
    except RecursionError:
        headers = read_headers(header_section(raw), len(raw))
        problem = "Its MIME structure is nested too deeply to read: only its headers were read."
        return replace(
            headers, fingerprint=fingerprint_for(headers.message_id, raw), problems=(problem,)
        )


def read_headers(header_bytes: bytes, size: int) -> ReadMessage:
    """Parse only a message's headers: for one too large to read, so that it is still recorded."""
    message = BytesHeaderParser(policy=policy.default).parsebytes(header_bytes)
    return _read(message, header_bytes, size, full=False)


def _read(message: EmailMessage, raw: bytes, size: int, *, full: bool) -> ReadMessage:
    message_id = (_message_ids(_header(message, "Message-ID")) or ("",))[0]
    senders = _addresses(message, "From")
    from_name, from_address = senders[0] if senders else ("", "")
    recipients = tuple(
        address
        for _, address in _addresses(
            message, "To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To"
        )
    )
    report = delivery_report(message) if full else None
    if report is not None:
        if report.permanent:
            automatic, reason = Automatic.FAILED, f"delivery failed ({report.status})"
        elif report.action == "delayed" or report.status.startswith("4"):
            automatic, reason = Automatic.DELAYED, f"delivery delayed ({report.status})"
        else:
            automatic, reason = Automatic.REPORT_OTHER, f"delivery report: {report.action}"
    else:
        why = automatic_reason(message)
        automatic, reason = (Automatic.AUTO_REPLY, why) if why else (Automatic.PERSON, "")
    text, listed = "", ()
    if full:
        text = new_text(body_text(message))
        listed = attachments(message)
    return ReadMessage(
        fingerprint=fingerprint_for(message_id, raw),
        size=size,
        message_id=message_id[:300],
        from_address=from_address,
        from_name=from_name,
        subject=_one_line(_header(message, "Subject"), 300),
        sent_at=_sent_at(message),
        recipients=recipients,
        in_reply_to=_message_ids(_header(message, "In-Reply-To")),
        references=_message_ids(_header(message, "References")),
        automatic=automatic,
        automatic_reason=reason,
        text=limit_text(text),
        attachments=listed,
        report=report,
    )
