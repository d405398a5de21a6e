"""A real IMAP server on loopback for the inbound mail tests: a private dovecot instance.

Debian's `dovecot-imapd` is started with a throwaway configuration (its own folders, a
passwd-file with one user per mailbox, maildir storage, plain logins over loopback) on a free
port, once per test session. Tests empty the mailbox they use before each test with
`ImapServer.reset`. See /work/shared/NOTES.md's IMAP section for what made it work here.
"""

import imaplib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USERS = {"replies": "secret-replies", "other": "secret-other"}


def dovecot_missing_reason() -> str | None:
    """Why a private dovecot cannot run here, or None when it can."""
    if not os.path.exists(DOVECOT):
        return "dovecot is not installed (apt-get install dovecot-imapd; .ci/run does)"
    if os.geteuid() != 0:
        return "a private dovecot needs root to switch to its dovecot and dovenull users"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = dovenull
default_internal_user = dovecot
default_internal_group = dovecot
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
mail_plugins =
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={root}/home/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Processed {{
    auto = create
  }}
}}
"""


class ImapServer:
    """A private dovecot on a free loopback port, with a mailbox per entry of USERS."""

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="hiretrack-dovecot-"))
        self.config_path = self.root / "dovecot.conf"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Write the configuration, start dovecot in the foreground of its own session, wait."""
        for name in ("run", "state", "mail", "home"):
            (self.root / name).mkdir()
        self.root.chmod(0o755)
        (self.root / "passwd").write_text(
            "".join(f"{user}:{{PLAIN}}{password}\n" for user, password in USERS.items())
        )
        self.config_path.write_text(CONFIG.format(root=self.root, port=self.port))
        shutil.chown(self.root / "mail", "dovecot", "dovecot")
        shutil.chown(self.root / "home", "dovecot", "dovecot")
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot stopped at start:\n{self.log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"dovecot did not start listening:\n{self.log()}")

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        """Stop this dovecot (by its own process id) and remove its folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)

    def connect(self, user: str = "replies") -> imaplib.IMAP4:
        """A logged-in stdlib client, for tests that put mail in or look at what is left."""
        connection = imaplib.IMAP4(self.host, self.port, timeout=10)
        connection.login(user, USERS[user])
        return connection

    def append(self, raw: bytes, user: str = "replies", folder: str = "INBOX") -> None:
        """Deliver one message into a mailbox, as the mail server would."""
        connection = self.connect(user)
        try:
            status, detail = connection.append(folder, None, None, raw)
            assert status == "OK", detail
        finally:
            connection.logout()

    def reset(self, user: str = "replies") -> None:
        """Empty every folder of a mailbox, so each test starts from nothing."""
        connection = self.connect(user)
        try:
            for folder in ("INBOX", "Processed"):
                status, data = connection.select(folder)
                if status != "OK":
                    continue
                if int(data[0]) > 0:
                    connection.store("1:*", "+FLAGS.SILENT", r"(\Deleted)")
                    connection.expunge()
                connection.close()
        finally:
            connection.logout()

    def uids(self, user: str = "replies", folder: str = "INBOX", criteria: str = "ALL") -> list:
        """The UIDs in a folder matching an IMAP search (e.g. "UNKEYWORD $HireTrack")."""
        connection = self.connect(user)
        try:
            connection.select(folder, readonly=True)
            status, data = connection.uid("SEARCH", None, criteria)
            assert status == "OK", data
            return [int(uid) for uid in data[0].split()]
        finally:
            connection.logout()

    def app_config(self, user: str = "replies", **overrides: Any) -> dict[str, Any]:
        """Settings that make HireTrack fetch from this server's mailbox."""
        return {
            "IMAP_HOST": self.host,
            "IMAP_PORT": self.port,
            "IMAP_USERNAME": user,
            "IMAP_PASSWORD": USERS[user],
            "IMAP_SECURITY": "none",
            "IMAP_FOLDER": "INBOX",
        } | overrides

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
