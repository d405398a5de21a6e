"""Pytest plugin: a real SMTP server on loopback for the tests that deliver email."""

from collections.abc import Callable, Iterator

import pytest

from tests.certificates import ThrowawayCA
from tests.smtp_server import SmtpServer, tls_relay


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A running aiosmtpd server on a free port; `smtp_server.app_config()` points an app at it."""
    with SmtpServer() as server:
        yield server


@pytest.fixture(scope="session")
def throwaway_ca(tmp_path_factory) -> ThrowawayCA:
    """A certificate authority made for this test run; only clients told of its file trust it."""
    return ThrowawayCA(tmp_path_factory.mktemp("throwaway-ca"))


@pytest.fixture
def smtp_relay(throwaway_ca) -> Iterator[Callable[[str], SmtpServer]]:
    """Start TLS relays that require a login: `smtp_relay("starttls")` or `smtp_relay("ssl")`."""
    started: list[SmtpServer] = []

    def start(security: str) -> SmtpServer:
        server = tls_relay(throwaway_ca, security)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
