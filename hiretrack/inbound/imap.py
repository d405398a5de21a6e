"""Fetch inbound mail from an IMAP mailbox, each message once, safely beside other workers.

For each message not yet handled (without the `$HireTrack` keyword, or anything still in the
folder when handled mail is moved away) the fetcher reads it with `BODY.PEEK[]` (nothing is
marked read by the fetch), records it through `services.receive` and commits, and only then
marks it handled on the server: moved to HIRETRACK_IMAP_PROCESSED_FOLDER, or flagged
`$HireTrack` and `\\Seen`. So a worker that dies between the commit and the mark leaves the
message to be fetched again, and the record's unique fingerprint makes that second pass a no-op
(it only marks the message). Two workers on one mailbox may both read a message; the fingerprint
lets only one record it. Uses the standard library's `imaplib`.
"""

import imaplib
import logging
import re
import ssl
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from threading import Event
from typing import Any

from flask import current_app

from hiretrack.database import retry_when_ended_for_another
from hiretrack.extensions import db
from hiretrack.inbound.services import Received, max_bytes, receive

logger = logging.getLogger(__name__)

#: The keyword set on handled messages when they are not moved away.
HANDLED_KEYWORD = "$HireTrack"
#: UIDs fetched per IMAP command when asking for sizes.
SIZE_BATCH = 200


class MailboxUnavailable(Exception):
    """The IMAP server cannot be reached, refuses the login, or has no such folder."""


class MailboxSettingsRefused(MailboxUnavailable):
    """The settings cannot work until someone changes them: missing, or the login refused."""


@dataclass
class FetchReport:
    """What one pass over the mailbox did, for the CLI and the logs."""

    seen: int = 0
    recorded: int = 0
    duplicates: int = 0
    failed: int = 0
    oversized: int = 0
    by_kind: dict[str, int] | None = None

    def add_kind(self, kind: str) -> None:
        self.by_kind = self.by_kind or {}
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1

    def summary(self) -> str:
        """One line for a person or a cron mail."""
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted((self.by_kind or {}).items()))
        line = (
            f"Inbox: {self.seen} new message(s), {self.recorded} recorded"
            + (f" ({kinds})" if kinds else "")
            + f", {self.duplicates} seen before"
        )
        if self.oversized:
            line += f", {self.oversized} too large (recorded by their headers)"
        if self.failed:
            line += f", {self.failed} failed (left in the mailbox for the next run)"
        return line + "."


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    username: str
    password: str
    security: str
    folder: str
    processed_folder: str | None
    timeout: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "ImapSettings":
        """Read the `HIRETRACK_IMAP_*` settings; refuse to start without a host and a login."""
        missing = [
            f"HIRETRACK_IMAP_{name}"
            for name in ("HOST", "USERNAME", "PASSWORD")
            if not config.get(f"IMAP_{name}")
        ]
        if missing:
            raise MailboxSettingsRefused(
                f"Set {', '.join(missing)} to fetch inbound mail (see docs/inbound.md)."
            )
        return cls(
            host=str(config["IMAP_HOST"]),
            port=int(config["IMAP_PORT"]),
            username=str(config["IMAP_USERNAME"]),
            password=str(config["IMAP_PASSWORD"]),
            security=config["IMAP_SECURITY"],
            folder=config.get("IMAP_FOLDER") or "INBOX",
            processed_folder=config.get("IMAP_PROCESSED_FOLDER") or None,
            timeout=float(config.get("IMAP_TIMEOUT") or 30),
        )


def _quoted(name: str) -> str:
    """A mailbox name as an IMAP quoted string."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Mailbox:
    """One logged-in IMAP session on the configured folder."""

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        self.connection: imaplib.IMAP4 | None = None
        self.keywords = True

    def open(self) -> None:
        """Connect, secure, log in and select the folder (read-write)."""
        settings = self.settings
        try:
            if settings.security == "ssl":
                connection = imaplib.IMAP4_SSL(
                    settings.host,
                    settings.port,
                    ssl_context=ssl.create_default_context(),
                    timeout=settings.timeout,
                )
            else:
                connection = imaplib.IMAP4(settings.host, settings.port, timeout=settings.timeout)
                if settings.security == "starttls":
                    connection.starttls(ssl_context=ssl.create_default_context())
            self.connection = connection
        except (OSError, imaplib.IMAP4.error) as error:
            self.close()
            raise MailboxUnavailable(
                f"Cannot reach the mailbox server {settings.host}:{settings.port}: {error}"
            ) from error
        try:
            connection.login(settings.username, settings.password)
        except imaplib.IMAP4.error as error:
            self.close()
            raise MailboxSettingsRefused(
                f"Cannot use the mailbox {settings.username}@{settings.host}:{settings.port}: "
                f"the server refused the login ({error})"
            ) from error
        except OSError as error:
            self.close()
            raise MailboxUnavailable(
                f"The mailbox server {settings.host}:{settings.port} hung up: {error}"
            ) from error
        try:
            status, data = connection.select(_quoted(settings.folder))
        except (OSError, imaplib.IMAP4.error) as error:
            self.close()
            raise MailboxUnavailable(
                f"Cannot use the mailbox {settings.username}@{settings.host}:{settings.port}: "
                f"{error}"
            ) from error
        if status != "OK":
            self.close()
            raise MailboxSettingsRefused(f"There is no folder {settings.folder!r}: {data}")
        _, flags = connection.response("PERMANENTFLAGS")
        permanent = b" ".join(flag for flag in flags if flag)
        # Without "\*" the server keeps no keywords of ours: fall back to \Seen alone.
        self.keywords = b"\\*" in permanent or not permanent

    def close(self) -> None:
        """Log out politely; a server that already hung up is fine too."""
        connection, self.connection = self.connection, None
        if connection is None:
            return
        with suppress(OSError, imaplib.IMAP4.error):
            connection.logout()

    def _uid(self, command: str, *args: str) -> list:
        status, data = self.connection.uid(command, *args)
        if status != "OK":
            raise imaplib.IMAP4.error(f"UID {command} failed: {data}")
        return data

    def pending(self) -> list[int]:
        """The UIDs of messages not yet handled, oldest first."""
        if self.settings.processed_folder:
            criteria = "UNDELETED"
        elif self.keywords:
            criteria = f"UNDELETED UNKEYWORD {HANDLED_KEYWORD}"
        else:
            criteria = "UNDELETED UNSEEN"
        data = self._uid("SEARCH", criteria)
        return sorted(int(uid) for uid in (data[0] or b"").split())

    def sizes(self, uids: list[int]) -> dict[int, int]:
        """Each message's size in bytes (RFC822.SIZE), without reading it."""
        found: dict[int, int] = {}
        for start in range(0, len(uids), SIZE_BATCH):
            chunk = ",".join(str(uid) for uid in uids[start : start + SIZE_BATCH])
            for item in self._uid("FETCH", chunk, "(UID RFC822.SIZE)"):
                line = item if isinstance(item, bytes) else item[0] if item else b""
                uid = re.search(rb"UID (\d+)", line or b"")
                size = re.search(rb"RFC822\.SIZE (\d+)", line or b"")
                if uid and size:
                    found[int(uid.group(1))] = int(size.group(1))
        return found

    def read(self, uid: int, *, headers_only: bool) -> bytes | None:
        """The message's bytes (or its header section), or None if it is gone already."""
        part = "BODY.PEEK[HEADER]" if headers_only else "BODY.PEEK[]"
        for item in self._uid("FETCH", str(uid), f"(UID {part})"):
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
                return item[1]
        return None

    def mark_handled(self, uid: int) -> None:
        """Move the message to the processed folder, or flag it, so no pass reads it again."""
        target = self.settings.processed_folder
        if target:
            if "MOVE" in self.connection.capabilities:
                self._uid("MOVE", str(uid), _quoted(target))
                return
            self._uid("COPY", str(uid), _quoted(target))
            self._uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted)")
            if "UIDPLUS" in self.connection.capabilities:
                self._uid("EXPUNGE", str(uid))
            else:
                self.connection.expunge()
            return
        flags = f"({HANDLED_KEYWORD} \\Seen)" if self.keywords else "(\\Seen)"
        self._uid("STORE", str(uid), "+FLAGS.SILENT", flags)


def fetch_once(
    settings: ImapSettings | None = None,
    *,
    stop: Event | None = None,
    on_message: Callable[[int], None] | None = None,
) -> FetchReport:
    """Read every message not yet handled, record each, then mark it handled.

    A message that fails to record (a bug, the database gone) is rolled back, logged and left
    unmarked for the next pass; the others go on. `on_message(uid)` runs after each message is
    recorded and before it is marked (tests use it to stop a worker at the worst moment).
    """
    settings = settings or ImapSettings.from_config(current_app.config)
    report = FetchReport()
    mailbox = Mailbox(settings)
    mailbox.open()
    try:
        uids = mailbox.pending()
        sizes = mailbox.sizes(uids) if uids else {}
        limit = max_bytes()
        for uid in uids:
            if stop is not None and stop.is_set():
                break
            size = sizes.get(uid)
            if size is None:
                continue  # gone since the search (another worker moved it)
            oversized = size > limit
            raw = mailbox.read(uid, headers_only=oversized)
            if raw is None:
                continue
            report.seen += 1
            try:
                received = record_message(raw, size)
            except Exception:
                db.session.rollback()
                report.failed += 1
                logger.exception(
                    "Inbound message UID %s could not be recorded; left for later", uid
                )
                continue
            if received.created:
                report.recorded += 1
                report.add_kind(received.message.kind)
                report.oversized += oversized
            else:
                report.duplicates += 1
            if on_message is not None:
                on_message(uid)
            mailbox.mark_handled(uid)
    except (OSError, imaplib.IMAP4.error) as error:
        raise MailboxUnavailable(f"The mailbox connection failed: {error}") from error
    finally:
        mailbox.close()
    return report


def record_message(raw: bytes, size: int) -> Received:
    """Record one fetched message in its own transaction.

    Run again from scratch if PostgreSQL ends it for a concurrent writer (a deadlock with a web
    edit of the same application): otherwise the message would wait for the next pass.
    """

    def record() -> Received:
        received = receive(raw, source="imap", size=size)
        db.session.commit()
        return received

    return retry_when_ended_for_another(record, db.session, what="Recording an inbound message")


def run_fetcher(
    *, poll_seconds: float, stop: Event, on_report: Callable[[FetchReport], None] | None = None
) -> None:
    """Fetch, then wait, until `stop` is set; a mailbox or database outage is logged, not fatal.

    Settings that cannot work (missing, a refused login, no such folder) end the loop with
    MailboxSettingsRefused: only new settings and a restart can help.
    """
    while not stop.is_set():
        try:
            report = fetch_once(stop=stop)
        except MailboxSettingsRefused:
            raise
        except (MailboxUnavailable, TimeoutError) as error:
            logger.warning(
                "Inbound mail fetch failed: %s; trying again in %ss", error, poll_seconds
            )
        except Exception:
            logger.exception("Inbound mail fetch failed; trying again in %ss", poll_seconds)
            db.session.rollback()
        else:
            if on_report is not None:
                on_report(report)
        stop.wait(poll_seconds)
