"""Delivery through a relay as production uses one: TLS (STARTTLS or implicit) and a login.

The relay is aiosmtpd with a certificate from a CA made for the test run (tests/certificates.py),
trusted through HIRETRACK_SMTP_CA_FILE or SSL_CERT_FILE, and it refuses mail before a login.
"""

from datetime import timedelta

import pytest

from hiretrack import create_app
from hiretrack.config import ConfigurationError
from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.messages.cli import EXIT_SETTINGS_REFUSED
from hiretrack.messages.delivery import deliver_batch, run_worker
from hiretrack.messages.models import OutboxEmail, OutboxStatus
from hiretrack.messages.services import choose_template, send_message
from tests.conftest import base_config
from tests.smtp_server import SmtpServer

SECURITIES = ["starttls", "ssl"]


@pytest.fixture
def queue_email(ctx, make_user, make_application):
    """Queue a check-in email through the real send service; returns the outbox row's id."""
    manager = make_user("manager")

    def queue() -> int:
        application = make_application(manager=manager)
        sent = send_message(manager, application, choose_template(manager, "check_in"))
        db.session.commit()
        return sent.outbox.id

    return queue


def row(outbox_id: int) -> OutboxEmail:
    db.session.expire_all()
    return db.session.get(OutboxEmail, outbox_id)


@pytest.mark.parametrize("security", SECURITIES)
def test_delivery_over_tls_with_the_configured_login(app, smtp_relay, queue_email, security):
    relay = smtp_relay(security)
    app.config.update(relay.app_config())
    outbox_ids = [queue_email(), queue_email()]

    report = deliver_batch("worker-1")

    assert (report.sent, report.failed, report.retrying) == (2, 0, 0), report.summary()
    assert sorted(relay.message_ids()) == sorted(row(i).message_id for i in outbox_ids)
    # One connection for the batch: one login, accepted.
    assert relay.authenticator.attempts == [("hiretrack", True)]


@pytest.mark.parametrize("security", SECURITIES)
def test_a_wrong_password_fails_the_row_with_the_servers_answer(
    app, smtp_relay, queue_email, security
):
    relay = smtp_relay(security)
    app.config.update(relay.app_config(), SMTP_PASSWORD="not the password")
    tried, waiting = queue_email(), queue_email()

    report = deliver_batch("worker-1")

    assert report.failed == 1 and report.sent == 0 and report.backend_refused
    failed = row(tried)
    assert failed.status == OutboxStatus.FAILED and failed.attempts == 1
    assert "refused the login: 535 5.7.8 Authentication credentials invalid" in failed.last_error
    assert "HIRETRACK_SMTP_PASSWORD" in failed.last_error
    # The batch stopped at the refusal: the other message keeps its turn, untried.
    untried = row(waiting)
    assert (untried.status, untried.attempts) == (OutboxStatus.QUEUED, 0)
    assert relay.received == []


def test_a_worker_loop_stops_when_the_login_is_refused(app, smtp_relay, queue_email):
    """The settings cannot change under a running worker: it ends rather than fail row after row."""
    relay = smtp_relay("starttls")
    app.config.update(relay.app_config(), SMTP_PASSWORD="not the password")
    ids = [queue_email() for _ in range(3)]

    report = run_worker("worker-1", batch_size=10, poll_interval=0.1)  # returns: no stop needed

    assert report.backend_refused and report.failed == 1
    assert [row(i).status for i in ids] == [OutboxStatus.FAILED] + [OutboxStatus.QUEUED] * 2
    # One connection: smtplib tries PLAIN, then LOGIN; no second connection tries again.
    assert relay.authenticator.attempts == [("hiretrack", False)] * 2


def test_the_cli_worker_exits_with_78_on_a_refused_login(app, smtp_relay, queue_email):
    relay = smtp_relay("ssl")
    app.config.update(relay.app_config(), SMTP_PASSWORD="not the password")
    queue_email()

    result = app.test_cli_runner().invoke(
        args=["outbox", "deliver", "--poll-interval", "0.1", "--worker-id", "w1"]
    )

    assert result.exit_code == EXIT_SETTINGS_REFUSED, result.output
    assert "refused the login: 535" in result.output


@pytest.mark.parametrize("security", SECURITIES)
def test_an_untrusted_certificate_is_refused_clearly_and_retried_later(
    app, smtp_relay, queue_email, security
):
    relay = smtp_relay(security)
    # The system's CAs only: the throwaway CA is not among them.
    app.config.update(relay.app_config(), SMTP_CA_FILE=None)
    outbox_id = queue_email()

    refused = deliver_batch("worker-1")

    waiting = row(outbox_id)
    assert refused.retrying == 1 and not refused.backend_refused
    assert (waiting.status, waiting.attempts) == (OutboxStatus.QUEUED, 1)
    assert "its TLS certificate is not trusted" in waiting.last_error
    assert "HIRETRACK_SMTP_CA_FILE" in waiting.last_error
    assert relay.authenticator.attempts == []  # no password sent

    app.config["SMTP_CA_FILE"] = str(relay.ca_file)
    retried = deliver_batch("worker-1", now=utcnow() + timedelta(minutes=2))

    assert retried.sent == 1
    assert relay.message_ids() == [row(outbox_id).message_id]


def test_a_trusted_certificate_for_another_name_is_refused(
    app, throwaway_ca, queue_email, tmp_path
):
    relay = SmtpServer(security="ssl", tls_context=throwaway_ca.server_context("mail.example.com"))
    relay.ca_file = throwaway_ca.ca_file
    outbox_id = queue_email()

    with relay:
        app.config.update(relay.app_config())
        report = deliver_batch("worker-1")

    assert report.retrying == 1 and relay.received == []
    assert "not trusted (IP address mismatch" in row(outbox_id).last_error


def test_ssl_cert_file_trusts_a_private_ca_too(app, smtp_relay, queue_email, monkeypatch):
    relay = smtp_relay("starttls")
    app.config.update(relay.app_config(), SMTP_CA_FILE=None)
    monkeypatch.setenv("SSL_CERT_FILE", str(relay.ca_file))
    queue_email()

    assert deliver_batch("worker-1").sent == 1


def test_an_unreadable_ca_file_stops_the_app_at_start(tmp_path):
    missing = tmp_path / "relay-ca.pem"

    with pytest.raises(ConfigurationError, match="HIRETRACK_SMTP_CA_FILE names .*relay-ca.pem"):
        create_app(base_config("sqlite://", tmp_path) | {"SMTP_CA_FILE": str(missing)})
