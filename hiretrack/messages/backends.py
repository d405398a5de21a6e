"""Turn an outbox row into MIME bytes and hand them to the configured mail transport.

The delivery worker (`hiretrack.messages.delivery`) owns the outbox states; a backend only sends
one message and says, by the exception it raises, whether trying again could help. Backends are
chosen by `HIRETRACK_MAIL_BACKEND`: `smtp`, `file` (the demo default), `console`, and `memory`
(a list on the app, for tests that cannot run a real server).
"""

import logging
import os
import re
import smtplib
import ssl
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from email.errors import MessageError
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import SMTP
from email.policy import default as default_policy
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from flask import Flask

from hiretrack.messages.headers import (
    HeaderInjectionError,
    check_address_header,
    check_header_value,
)
from hiretrack.messages.models import OutboxEmail

logger = logging.getLogger(__name__)

#: The only top-level headers a built message may have: anything else means a value smuggled in
#: an extra header, whatever encoding trick the email package let through.
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
        "content-transfer-encoding",
    }
)


@dataclass(frozen=True)
class Envelope:
    """One message ready for any transport: the SMTP envelope and the exact bytes to send."""

    outbox_id: int
    message_id: str
    sender: str
    recipient: str
    content: bytes


class DeliveryFailure(Exception):
    """A message was not delivered; `permanent` says whether trying again could ever help."""

    permanent = False


class TemporaryFailure(DeliveryFailure):
    """Try again later: the server was busy, unreachable or dropped the connection."""


class BackendUnavailable(TemporaryFailure):
    """The transport itself is down (cannot connect, log in or write): stop the batch early."""


class PermanentFailure(DeliveryFailure):
    """Never retry as is: the server refused the message (5xx) or the message is invalid."""

    permanent = True


class InvalidMessage(ValueError):
    """The built message does not say what the outbox row says (an injected or mangled header)."""


def _check_row_headers(outbox: OutboxEmail) -> None:
    """Check every header value again: a row may have been edited since it was rendered."""
    check_address_header(outbox.from_address, "From")
    check_address_header(outbox.to_address, "To")
    check_header_value(outbox.to_name, "To")
    if outbox.reply_to:
        check_address_header(outbox.reply_to, "Reply-To")
    check_header_value(outbox.subject, "Subject")
    check_header_value(outbox.message_id, "Message-ID")


def build_message(outbox: OutboxEmail) -> EmailMessage:
    """Build the MIME message for a row: plain text with an HTML alternative."""
    _check_row_headers(outbox)
    message = EmailMessage(policy=SMTP)
    message["From"] = outbox.from_address
    message["To"] = formataddr((outbox.to_name, outbox.to_address))
    if outbox.reply_to:
        message["Reply-To"] = outbox.reply_to
    message["Subject"] = outbox.subject
    # The time the message was ready, not of this attempt: a retry then sends identical bytes.
    message["Date"] = format_datetime(outbox.send_after or outbox.created_at)
    message["Message-ID"] = outbox.message_id
    message.set_content(outbox.body_text)
    message.add_alternative(outbox.body_html, subtype="html")
    return message


def _check_serialised(content: bytes, outbox: OutboxEmail) -> None:
    """Parse the bytes back and refuse them unless they carry exactly the row's headers."""
    parsed = BytesParser(policy=default_policy).parsebytes(content, headersonly=True)
    names = [name.lower() for name in parsed]
    unexpected = sorted({name for name in names if name not in ALLOWED_HEADERS})
    if unexpected or len(names) != len(set(names)):
        raise InvalidMessage(f"the built message has unexpected headers: {unexpected or names}")
    if parsed["Message-ID"] != outbox.message_id:
        raise InvalidMessage("the built message has a different Message-ID than the outbox row")
    recipients = [address.addr_spec for address in parsed["To"].addresses]
    if recipients != [outbox.to_address]:
        raise InvalidMessage(f"the To header names {recipients}, not {outbox.to_address}")


def build_envelope(outbox: OutboxEmail) -> Envelope:
    """Build and check the bytes for a row; a bad header is a permanent failure, never a send."""
    try:
        message = build_message(outbox)
        content = message.as_bytes()
        _check_serialised(content, outbox)
    except (HeaderInjectionError, MessageError, ValueError) as error:
        raise PermanentFailure(f"The message cannot be sent as it is: {error}") from error
    return Envelope(
        outbox_id=outbox.id,
        message_id=outbox.message_id,
        sender=parseaddr(outbox.from_address)[1],
        recipient=outbox.to_address,
        content=content,
    )


class MailBackend:
    """A transport used for one batch: `with backend:` closes whatever it opened."""

    def send(self, envelope: Envelope) -> None:
        """Deliver one message or raise a DeliveryFailure saying whether to retry."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the transport's resources; nothing to do for most backends."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _reply_text(text: bytes | str) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)


def _refusal(code: int, text: bytes | str, stage: str) -> DeliveryFailure:
    """Classify an SMTP reply: 5xx is the server's final word, anything else may pass later."""
    message = f"The mail server refused the message at {stage}: {code} {_reply_text(text)}"
    return PermanentFailure(message) if 500 <= code < 600 else TemporaryFailure(message)


class SMTPBackend(MailBackend):
    """Send through an SMTP server, reusing one connection for the whole batch."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        security: str = "none",
        timeout: float = 30.0,
    ) -> None:
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.security, self.timeout = security, timeout
        self._connection: smtplib.SMTP | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        """Build the backend from the `SMTP_*` settings."""
        return cls(
            config["SMTP_HOST"],
            int(config["SMTP_PORT"]),
            username=config["SMTP_USERNAME"],
            password=config["SMTP_PASSWORD"],
            security=config["SMTP_SECURITY"],
            timeout=float(config["SMTP_TIMEOUT"]),
        )

    def _connect(self) -> smtplib.SMTP:
        """Open, secure and authenticate a connection; any problem means the server is unusable."""
        connection: smtplib.SMTP | None = None
        try:
            if self.security == "ssl":
                context = ssl.create_default_context()
                connection = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=context
                )
            else:
                connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                if self.security == "starttls":
                    connection.starttls(context=ssl.create_default_context())
            if self.username:
                connection.login(self.username, self.password or "")
        except OSError as error:  # smtplib's and ssl's exceptions are OSErrors too
            if connection is not None:
                connection.close()
            raise BackendUnavailable(
                f"Cannot use the mail server {self.host}:{self.port}: {error}"
            ) from error
        return connection

    def _is_alive(self, connection: smtplib.SMTP) -> bool:
        """Ask a reused connection whether it still works (servers close idle ones)."""
        try:
            return connection.noop()[0] == 250
        except OSError:
            return False

    def _ready_connection(self) -> smtplib.SMTP:
        """Reuse the open connection while it works; reconnect after a drop."""
        if self._connection is not None and not self._is_alive(self._connection):
            self._drop()
        if self._connection is None:
            self._connection = self._connect()
        return self._connection

    def _drop(self) -> None:
        """Forget a connection that failed, so the next message opens a fresh one."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def send(self, envelope: Envelope) -> None:
        """Send one message in its own SMTP transaction and classify any refusal."""
        connection = self._ready_connection()
        try:
            connection.sendmail(envelope.sender, [envelope.recipient], envelope.content)
        except smtplib.SMTPRecipientsRefused as error:
            code, text = next(iter(error.recipients.values()))
            raise _refusal(code, text, "RCPT TO") from error
        except smtplib.SMTPSenderRefused as error:
            raise _refusal(error.smtp_code, error.smtp_error, "MAIL FROM") from error
        except smtplib.SMTPDataError as error:
            raise _refusal(error.smtp_code, error.smtp_error, "DATA") from error
        except smtplib.SMTPResponseException as error:
            self._drop()
            raise _refusal(error.smtp_code, error.smtp_error, "the SMTP dialogue") from error
        except OSError as error:  # SMTPServerDisconnected, timeouts, resets
            self._drop()
            raise TemporaryFailure(
                f"The connection to the mail server was lost: {error}"
            ) from error

    def close(self) -> None:
        """Say goodbye politely; a server that already hung up is fine too."""
        if self._connection is None:
            return
        try:
            self._connection.quit()
        except OSError:
            self._connection.close()
        self._connection = None


def eml_filename(envelope: Envelope) -> str:
    """Name a file after the row and its Message-ID, so delivering again overwrites it."""
    safe_id = re.sub(r"[^A-Za-z0-9._@-]", "_", envelope.message_id.strip("<>"))[:150]
    return f"{envelope.outbox_id:08d}-{safe_id}.eml"


class FileBackend(MailBackend):
    """Write one .eml file per message: the demo default, readable by any mail client."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, envelope: Envelope) -> None:
        """Write the file atomically: a reader never sees half a message."""
        target = self.directory / eml_filename(envelope)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(envelope.content)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as error:
            raise BackendUnavailable(f"Cannot write {target}: {error}") from error


class ConsoleBackend(MailBackend):
    """Print each message to standard output, for development."""

    def send(self, envelope: Envelope) -> None:
        """Print the message as it would go over the wire."""
        text = envelope.content.decode("utf-8", "replace").replace("\r\n", "\n")
        # sys.stdout is looked up on each send so that captured output (tests, CLI runner) works.
        sys.stdout.write(f"{'-' * 30} outbox #{envelope.outbox_id} {'-' * 30}\n{text}\n")
        sys.stdout.flush()


class MemoryBackend(MailBackend):
    """Append each message to a list on the app; for tests that cannot run a real server."""

    def __init__(self, sent: list[Envelope]) -> None:
        self.sent = sent

    def send(self, envelope: Envelope) -> None:
        """Keep the message for the test to inspect."""
        self.sent.append(envelope)


#: Where the memory backend keeps what it sent: `app.extensions[SENT_MAIL_KEY]`.
SENT_MAIL_KEY = "hiretrack.sent_mail"


def mail_file_dir(app: Flask) -> Path:
    """The file backend's folder: MAIL_FILE_DIR, or <instance>/outbox-mail."""
    configured = app.config.get("MAIL_FILE_DIR")
    return Path(configured) if configured else Path(app.instance_path) / "outbox-mail"


def backend_for(app: Flask) -> MailBackend:
    """The backend HIRETRACK_MAIL_BACKEND names, configured from the app's settings."""
    name = app.config["MAIL_BACKEND"]
    if name == "smtp":
        return SMTPBackend.from_config(app.config)
    if name == "file":
        return FileBackend(mail_file_dir(app))
    if name == "console":
        return ConsoleBackend()
    if name == "memory":
        return MemoryBackend(app.extensions.setdefault(SENT_MAIL_KEY, []))
    raise ValueError(f"Unknown mail backend {name!r}: use smtp, file, console or memory.")
