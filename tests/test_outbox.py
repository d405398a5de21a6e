"""The one door for email: candidate messages, staff notices and digests all queue through it.

Every queued email gets a Message-ID in the sender's domain (the From address's, which the
organisation controls) and absolute links built from endpoints against HIRETRACK_BASE_URL,
whatever host the request that queued it arrived on, and with no request at all (cron).
"""

from datetime import date
from urllib.parse import urlsplit

import pytest
from flask import has_request_context
from sqlalchemy import select

from hiretrack.admin.services import save_settings
from hiretrack.cadence.queries import CadenceStatus
from hiretrack.cadence.reminders import Digest, DigestKind, WaitingCandidate, send_digest
from hiretrack.extensions import db
from hiretrack.messages.after_delivery import requeue
from hiretrack.messages.models import OutboxEmail, OutboxStatus
from hiretrack.messages.outbox import new_message_id
from hiretrack.messages.services import choose_template, send_message
from hiretrack.status.links import issue_link

PUBLIC_BASE = "https://jobs.acme.example/hiring"


@pytest.fixture
def application(make_user, make_requisition, make_candidate, make_application):
    manager = make_user("manager", name="Maria Lopez", email="maria.lopez@acme.example")
    requisition = make_requisition(manager=manager, title="Senior Platform Engineer")
    candidate = make_candidate(name="Ana Silva", email="ana.silva@example.org")
    return make_application(requisition=requisition, candidate=candidate, stage="final_round")


def _digest(application) -> Digest:
    waiting = WaitingCandidate(
        application.id,
        application.candidate_id,
        application.candidate.name,
        application.requisition.title,
        application.stage,
        CadenceStatus.OVERDUE,
        date(2026, 3, 2),
        7,
        False,
    )
    return Digest(DigestKind.MANAGER, application.requisition.manager, candidates=[waiting])


def _question_notice(client, application, public_base: str | None = None) -> OutboxEmail:
    """Ask a question on the status page (a request to the test client's own host, localhost)."""
    path = urlsplit(issue_link(application)).path
    db.session.commit()
    if public_base:
        client.application.config["BASE_URL"] = public_base
    client.post(f"{path}/question", data={"question": "Is there any news?"})
    return db.session.scalars(
        select(OutboxEmail).where(OutboxEmail.recipient_user_id.is_not(None))
    ).one()


def test_every_kind_of_email_has_a_message_id_in_the_senders_domain(ctx, client, application):
    manager = application.requisition.manager
    candidate_email = send_message(
        manager, application, choose_template(manager, "check_in")
    ).outbox
    notice = _question_notice(client, application)
    send_digest(_digest(application), date(2026, 3, 9), set())
    digest = db.session.scalars(
        select(OutboxEmail).where(OutboxEmail.subject.startswith("HireTrack:"))
    ).one()

    for email in (candidate_email, notice, digest):
        assert email.from_address == "Acme Hiring <hiring@acme.example>"
        assert email.message_id.startswith("<") and email.message_id.endswith("@acme.example>")
    assert len({candidate_email.message_id, notice.message_id, digest.message_id}) == 3


def test_the_message_id_follows_the_sender_an_admin_sets(ctx, make_user, application):
    save_settings(make_user("admin"), mail_from="Acme Careers <careers@jobs.acme.example>")
    manager = application.requisition.manager

    email = send_message(manager, application, choose_template(manager, "check_in")).outbox

    assert email.from_address == "Acme Careers <careers@jobs.acme.example>"
    assert email.message_id.endswith("@jobs.acme.example>")
    assert new_message_id("no domain").endswith("@hiretrack.local>")


def test_links_in_a_staff_notice_use_the_public_address_not_the_requests_host(
    ctx, client, application
):
    notice = _question_notice(client, application, public_base=PUBLIC_BASE)

    compose = f"{PUBLIC_BASE}/applications/{application.id}/compose"
    candidate_page = f"{PUBLIC_BASE}/candidates/{application.candidate_id}"
    assert compose in notice.body_text and candidate_page in notice.body_text
    assert f'href="{compose}"' in notice.body_html
    assert "localhost" not in notice.body_text + notice.body_html


def test_links_in_a_digest_and_a_status_link_are_built_without_a_request(app, application):
    app.config["BASE_URL"] = PUBLIC_BASE
    assert not has_request_context()  # as `hiretrack reminders run` works, from cron

    send_digest(_digest(application), date(2026, 3, 9), set())
    link = issue_link(application)

    digest = db.session.scalars(select(OutboxEmail)).one()
    assert f"{PUBLIC_BASE}/candidates/{application.candidate_id}" in digest.body_text
    assert f'href="{PUBLIC_BASE}/candidates/{application.candidate_id}"' in digest.body_html
    assert link.startswith(f"{PUBLIC_BASE}/status/")


def test_a_failed_message_sent_again_gets_a_new_id_in_the_senders_domain(
    ctx, make_user, application
):
    manager = application.requisition.manager
    email = send_message(manager, application, choose_template(manager, "check_in")).outbox
    email.status, old_id = OutboxStatus.FAILED, email.message_id
    save_settings(make_user("admin"), mail_from="Acme Careers <careers@jobs.acme.example>")

    requeue(email, manager)

    # The sender it was queued with stays its sender, and its new id is in that domain.
    assert email.message_id != old_id
    assert email.message_id.endswith("@acme.example>")
