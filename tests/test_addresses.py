"""Addresses are checked for what the relay can deliver when they are typed, not at delivery."""

import pytest
from sqlalchemy import func, select

from hiretrack.candidates.importer import import_candidates
from hiretrack.candidates.models import Candidate
from hiretrack.extensions import db
from hiretrack.messages.delivery import deliver_batch
from hiretrack.messages.models import OutboxStatus
from hiretrack.messages.services import choose_template, send_message
from tests import api_support
from tests.smtp_server import SmtpServer

as_user = api_support.as_user

NON_ASCII_LOCAL_PART = "jos\u00e9@example.org"
ENCODED_WORD = "=?utf-8?q?ada?=@example.org"


def utf8(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8")


def candidate_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Candidate))


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        (NON_ASCII_LOCAL_PART, "non-ASCII characters, and the mail relay cannot deliver"),
        (ENCODED_WORD, "encoded-word text (=?...?=)"),
    ],
)
def test_undeliverable_addresses_are_refused_on_the_web_the_api_and_in_imports(
    client, login, make_user, as_user, address, reason
):
    recruiter = make_user("recruiter")
    login(recruiter)
    page = client.post("/candidates/new", data={"name": "Ada Lovelace", "email": address})
    assert page.status_code == 422
    assert reason in page.get_data(as_text=True).replace("&#39;", "'")

    answer = as_user(recruiter).post("/candidates", {"name": "Ada Lovelace", "email": address})
    assert answer.status_code == 422, answer.get_json()
    assert reason in answer.get_json()["detail"]

    report = import_candidates(recruiter, f"Name,Email\nAda Lovelace,{address}\n")
    assert report.imported == 0
    assert any(reason in line for line in report.error_lines())
    db.session.rollback()
    assert candidate_count() == 0


def test_a_non_ascii_domain_is_kept_in_its_ascii_form_without_smtputf8(ctx, make_user):
    recruiter = make_user("recruiter")
    report = import_candidates(recruiter, "Name,Email\nAda Lovelace,ada@b\u00fccher.example\n")
    assert report.imported == 1
    assert db.session.scalars(select(Candidate.email)).one() == "ada@xn--bcher-kva.example"


def test_with_smtputf8_such_an_address_is_saved_and_really_delivered(
    app, make_user, make_requisition, make_application, make_candidate
):
    with SmtpServer(enable_SMTPUTF8=True) as relay:
        app.config.update(relay.app_config(), SMTP_SMTPUTF8=True)
        manager = make_user("manager")
        candidate = make_candidate(actor=manager, name="Jos\u00e9 Ruiz", email=NON_ASCII_LOCAL_PART)
        application = make_application(
            requisition=make_requisition(manager=manager), candidate=candidate
        )
        sent = send_message(manager, application, choose_template(manager, "check_in"))
        db.session.commit()

        report = deliver_batch("worker-1")

        assert report.sent == 1, report
        assert sent.outbox.status == OutboxStatus.SENT
        (received,) = relay.received
        # aiosmtpd and the parser hand over 8-bit bytes as surrogate escapes: they are UTF-8.
        assert [utf8(r) for r in received.recipients] == [NON_ASCII_LOCAL_PART]
        assert utf8(received.message["To"].addresses[0].addr_spec) == NON_ASCII_LOCAL_PART


def test_a_relay_without_smtputf8_fails_such_a_row_with_a_clear_reason(
    app, make_user, make_requisition, make_application, make_candidate
):
    """The setting promised SMTPUTF8 but the relay does not offer it: fail, say why, send nothing."""
    with SmtpServer(enable_SMTPUTF8=False) as relay:
        app.config.update(relay.app_config(), SMTP_SMTPUTF8=True)
        manager = make_user("manager")
        candidate = make_candidate(actor=manager, email=NON_ASCII_LOCAL_PART)
        application = make_application(
            requisition=make_requisition(manager=manager), candidate=candidate
        )
        sent = send_message(manager, application, choose_template(manager, "check_in"))
        db.session.commit()

        report = deliver_batch("worker-1")

        db.session.refresh(sent.outbox)
        assert report.failed == 1 and sent.outbox.status == OutboxStatus.FAILED
        assert "does not offer SMTPUTF8" in sent.outbox.last_error
        assert relay.received == []
