"""A real SMTP server on loopback (aiosmtpd) that records what it accepts and injects faults.

Tests send through smtplib exactly as production does; what arrives is parsed with the `email`
package. Faults are replies a real server gives (451 busy, 421 closing, 550 unknown user) and a
connection dropped in the middle of DATA. For "server down", point the app at `free_port()`:
nothing listens there (a stopped Controller cannot be started again).

`tls_relay(ca, "starttls" | "ssl")` is a relay as production uses one: TLS with a certificate
from a throwaway CA (tests/certificates.py) and a login required (`PasswordCheck`).
"""

import socket
import ssl
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.certificates import ThrowawayCA


def free_port() -> int:
    """A loopback port nobody listens on (aiosmtpd cannot take port 0: it probes the port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class ReceivedMessage:
    """One accepted message: the SMTP envelope and the parsed content."""

    sender: str
    recipients: list[str]
    message: EmailMessage
    #: MAIL FROM's parameters, as the client sent them (`SIZE=...`, `SMTPUTF8`).
    mail_options: tuple[str, ...] = ()

    @property
    def message_id(self) -> str:
        return self.message["Message-ID"]


class RecordingHandler:
    """An aiosmtpd handler that keeps accepted messages and answers with injected faults.

    Its hooks run on the server's thread; the test thread arranges faults, so a lock guards both.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.received: list[ReceivedMessage] = []
        self._refused_recipients: dict[str, str] = {}
        self._mail_replies: deque[str] = deque()
        self._data_replies: deque[str] = deque()
        self._drops: set[str] = set()
        self.on_accept: Callable[[ReceivedMessage], None] | None = None
        #: Refuse MAIL FROM before a successful login (aiosmtpd's own `auth_required` needs
        #: `auth_require_tls`, which does not count implicit TLS as TLS).
        self.login_required = False

    def refuse_recipient(self, address: str, reply: str = "550 5.1.1 No such user") -> None:
        """Answer RCPT TO for this address with `reply`, every time."""
        with self._lock:
            self._refused_recipients[address] = reply

    def refuse_next_mail(self, reply: str = "421 4.3.2 Service shutting down") -> None:
        """Answer the next MAIL FROM with `reply`."""
        with self._lock:
            self._mail_replies.append(reply)

    def refuse_next_data(self, reply: str = "451 4.3.0 Try again later") -> None:
        """Answer the next end of DATA with `reply` instead of accepting the message."""
        with self._lock:
            self._data_replies.append(reply)

    def drop_connection_during_data(self, recipient: str) -> None:
        """Hang up, without a reply, the next time a message for `recipient` is sent."""
        with self._lock:
            self._drops.add(recipient)

    async def handle_MAIL(self, server, session, envelope, address: str, mail_options) -> str:
        if self.login_required and not session.authenticated:
            return "530 5.7.0 Authentication required"
        with self._lock:
            reply = self._mail_replies.popleft() if self._mail_replies else None
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address: str, rcpt_options) -> str:
        with self._lock:
            reply = self._refused_recipients.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        with self._lock:
            dropped = next((r for r in envelope.rcpt_tos if r in self._drops), None)
            self._drops.discard(dropped)
            reply = (
                None if dropped else (self._data_replies.popleft() if self._data_replies else None)
            )
        if dropped:
            server.transport.close()
            return "421 4.4.2 Connection dropped by the test"  # never reaches the client
        if reply:
            return reply
        received = ReceivedMessage(
            sender=envelope.mail_from,
            recipients=list(envelope.rcpt_tos),
            message=BytesParser(policy=default).parsebytes(envelope.content),
            mail_options=tuple(envelope.mail_options),
        )
        with self._lock:
            self.received.append(received)
        if self.on_accept is not None:
            self.on_accept(received)
        return "250 2.0.0 Message accepted"


class PasswordCheck:
    """An aiosmtpd authenticator that accepts one username and password, and counts attempts."""

    def __init__(self, username: str, password: str) -> None:
        self.expected = (username.encode(), password.encode())
        self.attempts: list[tuple[str, bool]] = []

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        accepted = (auth_data.login, auth_data.password) == self.expected
        self.attempts.append((auth_data.login.decode(), accepted))
        # handled=False: aiosmtpd answers a refusal itself, "535 5.7.8 Authentication credentials
        # invalid", as real servers do.
        return AuthResult(success=accepted, handled=False)


class SmtpServer:
    """An aiosmtpd Controller on a free loopback port, with its recording handler."""

    def __init__(
        self,
        handler: RecordingHandler | None = None,
        *,
        security: str = "none",
        tls_context: ssl.SSLContext | None = None,
        **server_options: Any,
    ) -> None:
        """Serve plain SMTP, or TLS (`security` "starttls" or "ssl", with the server's context).

        `server_options` go to aiosmtpd's SMTP class (e.g. authenticator, auth_require_tls).
        With STARTTLS the server refuses mail before the client has started TLS.
        """
        self.handler = handler or RecordingHandler()
        self.host = "127.0.0.1"
        self.port = free_port()
        self.security = security
        if security == "ssl":
            server_options["ssl_context"] = tls_context
        elif security == "starttls":
            server_options |= {"tls_context": tls_context, "require_starttls": True}
        self.controller = Controller(
            self.handler, hostname=self.host, port=self.port, **server_options
        )
        self.authenticator = server_options.get("authenticator")
        #: What app_config() tells the app: the login to use, the CA file to trust.
        self.login: tuple[str, str] | None = None
        self.ca_file: Path | None = None

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    @property
    def received(self) -> list[ReceivedMessage]:
        with self.handler._lock:
            return list(self.handler.received)

    def message_ids(self) -> list[str]:
        """The Message-IDs received, in order, duplicates included."""
        return [received.message_id for received in self.received]

    def app_config(self) -> dict[str, Any]:
        """Settings that make HireTrack deliver to this server."""
        return {
            "MAIL_BACKEND": "smtp",
            "SMTP_HOST": self.host,
            "SMTP_PORT": self.port,
            "SMTP_SECURITY": self.security,
            "SMTP_USERNAME": self.login[0] if self.login else None,
            "SMTP_PASSWORD": self.login[1] if self.login else None,
            "SMTP_CA_FILE": str(self.ca_file) if self.ca_file else None,
            "SMTP_TIMEOUT": 5,
        }

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


RELAY_LOGIN = ("hiretrack", "relay secret")


def tls_relay(ca: ThrowawayCA, security: str) -> SmtpServer:
    """A relay as docs/deploy.md describes: TLS (`starttls` or `ssl`), a login required.

    Its certificate, for 127.0.0.1, comes from `ca`; `app_config()` trusts that CA through
    SMTP_CA_FILE and logs in as RELAY_LOGIN. Start it with `with` or `start()`.
    """
    server = SmtpServer(
        security=security,
        tls_context=ca.server_context("127.0.0.1", "localhost"),
        authenticator=PasswordCheck(*RELAY_LOGIN),
        # aiosmtpd offers AUTH only after STARTTLS; it does not count implicit TLS as TLS.
        auth_require_tls=security == "starttls",
    )
    server.handler.login_required = True
    server.login = RELAY_LOGIN
    server.ca_file = ca.ca_file
    return server
