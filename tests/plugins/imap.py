"""Pytest plugin: a real IMAP server (a private dovecot) on loopback, once per test session."""

from collections.abc import Iterator

import pytest

from tests.imap_server import ImapServer, dovecot_missing_reason


@pytest.fixture(scope="session")
def dovecot() -> Iterator[ImapServer]:
    """A running dovecot with a throwaway configuration; skipped, saying why, where it cannot run."""
    reason = dovecot_missing_reason()
    if reason:
        pytest.skip(reason)
    with ImapServer() as server:
        yield server


@pytest.fixture
def imap_server(dovecot: ImapServer) -> ImapServer:
    """The session's dovecot with the test's mailboxes emptied first."""
    dovecot.reset("replies")
    dovecot.reset("other")
    return dovecot
