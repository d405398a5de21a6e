"""Turn an outbox row into MIME bytes and hand them to the configured mail transport.

The delivery worker (`hiretrack.messages.delivery`) owns the outbox states; a backend only sends
one message and says, by the exception it raises, whether trying again could help. Backends are
chosen by `HIRETRACK_MAIL_BACKEND`: `smtp`, `file` (the demo default), `console`, and `memory`
(a list on the app, for tests that cannot run a real server).

The bytes are written and checked by `hiretrack.messages.mime`; `build_envelope` adds the SMTP
envelope's bare addresses.
"""

import contextlib
import logging
import os
import re
import smtplib
import ssl
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.errors import MessageError
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from flask import Flask

from hiretrack.messages.headers import (
    HeaderInjectionError,
    envelope_address,
    parse_address_header,
)
from hiretrack.messages.mime import build_message, check_serialised, message_fields
from hiretrack.messages.models import OutboxRow

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Envelope:
    """One message ready for any transport: the SMTP envelope and the exact bytes to send.

    `sender` and `recipient` are bare addresses (addr-specs), checked when the envelope was built.
    """

    outbox_id: int
    message_id: str
    sender: str
    recipient: str
    content: bytes
    smtputf8: bool = False  # an address is not ASCII: only a relay offering SMTPUTF8 takes it


class DeliveryFailure(Exception):
    """A message was not delivered; `permanent` says whether trying again could ever help."""

    permanent = False


class TemporaryFailure(DeliveryFailure):
    """Try again later: the server was busy, unreachable or dropped the connection."""


class BackendUnavailable(DeliveryFailure):
    """The transport itself cannot be used (cannot connect, log in or write): stop the batch.

    Temporary: the row tried is retried later, the others keep their turn.
    """


class LoginRefused(BackendUnavailable):
    """The server answered the configured login with a 5xx: a wrong username or password.

    Retrying cannot help until someone changes the settings, so the row tried fails with the
    server's answer, the batch stops (the other rows keep their turn) and a worker loop ends.
    """

    permanent = True


class PermanentFailure(DeliveryFailure):
    """Never retry as is: the server refused the message (5xx) or the message is invalid."""

    permanent = True


def build_envelope(outbox: OutboxRow) -> Envelope:
    """Build and check the bytes for a row; a bad header is a permanent failure, never a send."""
    message = message_fields(outbox)
    try:
        content = build_message(message)
        check_serialised(content, message)
        sender = parse_address_header(message.from_address, "From")[0][1]
        recipient = envelope_address(message.to_address, "To")
    except (HeaderInjectionError, MessageError, ValueError) as error:
        raise PermanentFailure(f"The message cannot be sent as it is: {error}") from error
    return Envelope(
        outbox_id=message.id,
        message_id=message.message_id,
        sender=sender,
        recipient=recipient,
        content=content,
        smtputf8=not content.partition(b"\r\n\r\n")[0].isascii(),
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


def _close(connection: smtplib.SMTP | None) -> None:
    """Close a connection that failed while being set up."""
    if connection is not None:
        connection.close()


def _reply_text(text: bytes | str) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)


def _refusal(code: int, text: bytes | str, stage: str) -> DeliveryFailure:
    """Classify an SMTP reply: 5xx is the server's final word, anything else may pass later."""
    message = f"The mail server refused the message at {stage}: {code} {_reply_text(text)}"
    return PermanentFailure(message) if 500 <= code < 600 else TemporaryFailure(message)


#: A connection that carried a message this recently is reused without a NOOP first: servers
#: close idle connections after minutes, and a send on a connection that did close fails as a
#: temporary failure, retried later like any dropped connection.
NOOP_AFTER_IDLE_SECONDS = 5.0


def _smtp_transaction(connection: smtplib.SMTP, envelope: Envelope) -> None:
    """Send one message in one SMTP transaction, raising smtplib's exceptions as its `sendmail`
    does for one recipient.

    `sendmail` parses both addresses again for every message (`smtplib.quoteaddr`); the
    envelope's are bare addresses, checked when it was built (docs/delivery.md has the figures).
    """
    connection.ehlo_or_helo_if_needed()
    options = ""
    if envelope.smtputf8:
        if not (connection.does_esmtp and connection.has_extn("smtputf8")):
            raise smtplib.SMTPNotSupportedError("SMTPUTF8 not supported by server")
        connection.command_encoding = "utf-8"
        options += " SMTPUTF8"
    if connection.does_esmtp and connection.has_extn("size"):
        options += f" SIZE={len(envelope.content)}"
    code, reply = connection.docmd("mail", f"FROM:<{envelope.sender}>{options}")
    if code != 250:
        _abandon_transaction(connection, code)
        raise smtplib.SMTPSenderRefused(code, reply, envelope.sender)
    code, reply = connection.docmd("rcpt", f"TO:<{envelope.recipient}>")
    if code not in (250, 251):
        _abandon_transaction(connection, code)
        raise smtplib.SMTPRecipientsRefused({envelope.recipient: (code, reply)})
    code, reply = connection.data(envelope.content)
    if code != 250:
        _abandon_transaction(connection, code)
        raise smtplib.SMTPDataError(code, reply)


def _abandon_transaction(connection: smtplib.SMTP, code: int) -> None:
    """End a refused transaction as `sendmail` does: hang up after a 421, reset otherwise."""
    if code == 421:
        connection.close()
        return
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        connection.rset()


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
        ca_file: str | None = None,
        smtputf8: bool = False,
    ) -> None:
        self.host, self.port = host, port
        self.smtputf8 = smtputf8
        self.username, self.password = username, password
        self.security, self.timeout = security, timeout
        self.ca_file = ca_file
        self._connection: smtplib.SMTP | None = None
        # time.monotonic() when the connection last worked; None: check it before the next use.
        self._last_success: float | None = None

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
            ca_file=config["SMTP_CA_FILE"],
            smtputf8=bool(config.get("SMTP_SMTPUTF8")),
        )

    def _tls_context(self) -> ssl.SSLContext:
        """Verify the server's certificate and name: with the system's CAs, or SMTP_CA_FILE's."""
        return ssl.create_default_context(cafile=self.ca_file)

    def _connect(self) -> smtplib.SMTP:
        """Open, secure and authenticate a connection; any problem means the server is unusable."""
        connection: smtplib.SMTP | None = None
        server = f"the mail server {self.host}:{self.port}"
        try:
            if self.security == "ssl":
                connection = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=self._tls_context()
                )
            else:
                connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                if self.security == "starttls":
                    connection.starttls(context=self._tls_context())
            if self.username:
                connection.login(self.username, self.password or "")
            return connection
        except smtplib.SMTPAuthenticationError as error:
            _close(connection)
            answer = f"{error.smtp_code} {_reply_text(error.smtp_error)}"
            if 500 <= error.smtp_code < 600:
                raise LoginRefused(
                    f"{server.capitalize()} refused the login: {answer}. Check "
                    "HIRETRACK_SMTP_USERNAME and HIRETRACK_SMTP_PASSWORD, restart the delivery "
                    "workers, then send this message again."
                ) from error
            raise BackendUnavailable(
                f"{server.capitalize()} could not log in now: {answer}"
            ) from error
        except ssl.SSLCertVerificationError as error:
            _close(connection)
            raise BackendUnavailable(
                f"Cannot use {server}: its TLS certificate is not trusted "
                f"({error.verify_message}). If the relay's certificate comes from a private CA, "
                "set HIRETRACK_SMTP_CA_FILE to that CA's certificate."
            ) from error
        except OSError as error:  # smtplib's and ssl's exceptions are OSErrors too
            _close(connection)
            raise BackendUnavailable(f"Cannot use {server}: {error}") from error

    def _is_alive(self, connection: smtplib.SMTP) -> bool:
        """Ask a reused connection whether it still works (servers close idle ones)."""
        try:
            return connection.noop()[0] == 250
        except OSError:
            return False

    def _recently_used(self) -> bool:
        return (
            self._last_success is not None
            and time.monotonic() - self._last_success < NOOP_AFTER_IDLE_SECONDS
        )

    def _ready_connection(self) -> smtplib.SMTP:
        """Reuse the open connection while it works; reconnect after a drop."""
        connection = self._connection
        if connection is not None and not self._recently_used() and not self._is_alive(connection):
            self._drop()
        if self._connection is None:
            self._connection = self._connect()
        return self._connection

    def _drop(self) -> None:
        """Forget a connection that failed, so the next message opens a fresh one."""
        self._last_success = None
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def send(self, envelope: Envelope) -> None:
        """Send one message in its own SMTP transaction and classify any refusal."""
        connection = self._ready_connection()
        # Until this send succeeds the connection is suspect: a refusal can come with a hang-up
        # (smtplib closes the connection on a 421), so the next message checks it first.
        self._last_success = None
        if envelope.smtputf8 and not self.smtputf8:
            raise PermanentFailure(
                f"The address {envelope.recipient} is not ASCII: only a relay with SMTPUTF8 can "
                "deliver it, and HIRETRACK_SMTP_SMTPUTF8 is off. Correct the address."
            )
        try:
            _smtp_transaction(connection, envelope)
        except smtplib.SMTPNotSupportedError as error:
            raise PermanentFailure(
                f"The mail relay does not offer SMTPUTF8, needed for {envelope.recipient}; "
                "turn HIRETRACK_SMTP_SMTPUTF8 off or use a relay that offers it."
            ) from error
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
        self._last_success = time.monotonic()

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
