"""Pytest plugin: a real SMTP server on loopback for the tests that deliver email."""

from collections.abc import Iterator

import pytest

from tests.smtp_server import SmtpServer


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A running aiosmtpd server on a free port; `smtp_server.app_config()` points an app at it."""
    with SmtpServer() as server:
        yield server
