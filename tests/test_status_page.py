"""The candidate status page: what it shows, what the candidate can do, and how it resists abuse.

Through the test client as a candidate would use it (no login), with the real services behind
it; links come from `issue_link` or from a real send. Rate limits are counted in the database,
so separate addresses are simulated with REMOTE_ADDR.
"""

import re
import secrets
from datetime import timedelta
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import time_machine
from sqlalchemy import func, select

from hiretrack.audit.models import AuditEntry
from hiretrack.cadence.queries import CadenceStatus, cadence_for
from hiretrack.candidates.models import Application, Direction, Touchpoint
from hiretrack.candidates.services import ClosureNote, change_stage, log_touchpoint
from hiretrack.candidates.stages import CANDIDATE_LABELS, LABELS, Stage
from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.holds.services import place_hold
from hiretrack.messages.delivery import deliver_batch
from hiretrack.messages.models import OutboxEmail, OutboxStatus
from hiretrack.messages.services import choose_template, send_message
from hiretrack.status import ratelimit
from hiretrack.status.links import issue_link
from hiretrack.status.models import StatusLink, UpdateFeedback
from hiretrack.status.services import CANDIDATE_ACTOR
from tests.conftest import today

NEUTRAL_TEXT = "This link is not valid any more"


@pytest.fixture
def manager(make_user):
    return make_user("manager", name="Maria Lopez", email="maria.lopez@acme.example")


@pytest.fixture
def application(manager, make_requisition, make_candidate, make_application):
    requisition = make_requisition(manager=manager, title="Senior Platform Engineer")
    candidate = make_candidate(name="Ana Silva", email="ana.silva@example.org")
    return make_application(requisition=requisition, candidate=candidate, stage="final_round")


def link_path(application: Application) -> str:
    """Issue a status link and return its path (what the candidate's browser requests)."""
    url = issue_link(application)
    db.session.commit()
    return urlsplit(url).path


def fresh(application: Application) -> Application:
    db.session.expire_all()
    return db.session.get(Application, application.id)


def deliver_all() -> None:
    """Deliver every queued email with the app's file backend, as `hiretrack outbox deliver`."""
    deliver_batch("test-worker")


# --- What the page shows -------------------------------------------------------------------------


def test_the_page_shows_role_company_status_next_update_contact_and_sent_emails(
    client, application, manager, make_user
):
    approver = make_user("approver", name="Frank Mills")
    place_hold(
        manager,
        application.requisition,
        reason="budget",
        summary="Q3 budget technicality at head office",
        internal_notes="Frank says a day or so, again",
        public_reason="We are waiting for a budget sign-off.",
        owner_id=approver.id,
    )
    change_stage(manager, application, "verbal_intent")
    sent = send_message(manager, application, choose_template(manager, "check_in"))
    log_touchpoint(
        manager, application, direction="outbound", channel="phone", note="Private: seemed anxious"
    )
    db.session.commit()
    deliver_all()
    promised = fresh(application).promised_next_update
    assert promised is not None

    response = client.get(link_path(fresh(application)))

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Senior Platform Engineer" in html
    assert "Acme Widgets" in html
    assert CANDIDATE_LABELS[Stage.VERBAL_INTENT] in html
    assert "We are waiting for a budget sign-off." in html
    assert f"{promised.day} {promised.strftime('%B %Y')}" in html
    assert "Maria Lopez" in html and "mailto:maria.lopez@acme.example" in html
    assert sent.outbox.subject in html
    # Nothing internal: stage names, hold summary and notes, approver, touchpoint notes.
    for secret in (
        LABELS[Stage.VERBAL_INTENT],
        "verbal_intent",
        "Q3 budget technicality",
        "a day or so",
        "Frank Mills",
        "seemed anxious",
    ):
        assert secret not in html


def test_without_a_promise_the_page_shows_the_cadence_due_date(client, ctx, application):
    expected = cadence_for([application.id])[application.id].next_update_due
    assert fresh(application).promised_next_update is None and expected is not None

    html = client.get(link_path(application)).get_data(as_text=True)

    assert "Your next update" in html
    assert f"{expected.day} {expected.strftime('%B %Y')}" in html


def test_a_hold_without_a_public_reason_shows_nothing_about_it(client, application, manager):
    place_hold(
        manager,
        application.requisition,
        reason="freeze",
        summary="Hiring freeze memo",
        owner_name="Head office",
    )
    db.session.commit()

    html = client.get(link_path(application)).get_data(as_text=True)

    assert "Hiring freeze" not in html and "There is a delay" not in html


# --- Which links open a page ---------------------------------------------------------------------


def neutral_body(response) -> str:
    return response.get_data(as_text=True)


def test_guessed_tokens_get_the_neutral_page(client, application):
    link_path(application)
    guesses = [secrets.token_urlsafe(24) for _ in range(10)]
    guesses += ["x", "a" * 500, "%00", "..%2f", "a/b/c", f"{secrets.token_urlsafe(24)}/withdraw"]
    bodies = set()
    for guess in guesses:
        response = client.get(f"/status/{guess}")
        assert response.status_code == 404
        assert NEUTRAL_TEXT in response.get_data(as_text=True)
        bodies.add(neutral_body(response))
    assert len(bodies) == 1
    # A guess never creates a per-link counter, only the per-address one.
    from hiretrack.auth.models import ThrottleCounter

    keys = set(db.session.scalars(select(ThrottleCounter.key)))
    assert keys == {ratelimit.ip_key("127.0.0.1")}


def test_wrong_revoked_and_expired_links_look_exactly_the_same(client, ctx, application, manager):
    wrong = client.get(f"/status/{secrets.token_urlsafe(24)}")
    revoked_path = link_path(application)
    from hiretrack.status.links import revoke_links

    revoke_links(application)
    db.session.commit()
    revoked = client.get(revoked_path)
    expired_path = link_path(fresh(application))
    change_stage(manager, fresh(application), "withdrawn", closure=ClosureNote("phone", "Called."))
    db.session.commit()
    with time_machine.travel(utcnow() + timedelta(days=31), tick=False):
        expired = client.get(expired_path)

    assert wrong.status_code == revoked.status_code == expired.status_code == 404
    assert neutral_body(wrong) == neutral_body(revoked) == neutral_body(expired)
    assert NEUTRAL_TEXT in neutral_body(wrong)


def test_a_link_works_for_30_days_after_closing_then_stops(client, application, manager):
    path = link_path(application)
    change_stage(manager, application, "not_selected", closure=ClosureNote("phone", "Told her."))
    db.session.commit()
    closed_at = fresh(application).closed_at

    with time_machine.travel(closed_at + timedelta(days=29), tick=False):
        open_response = client.get(path)
    with time_machine.travel(closed_at + timedelta(days=31), tick=False):
        expired_response = client.get(path)

    assert open_response.status_code == 200
    html = open_response.get_data(as_text=True)
    assert CANDIDATE_LABELS[Stage.NOT_SELECTED] in html
    assert "Ask a question" not in html and "Withdraw my application" not in html
    assert expired_response.status_code == 404
    assert NEUTRAL_TEXT in expired_response.get_data(as_text=True)


def test_the_manager_revokes_links_and_the_next_email_carries_a_new_one(
    client, login, application, manager
):
    old_path = link_path(application)
    login(manager)

    response = client.post(f"/applications/{application.id}/status-links/revoke")

    assert response.status_code == 302
    assert client.get(old_path).status_code == 404
    assert db.session.scalar(select(func.count()).select_from(StatusLink)) == 1
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "status_link.revoke")
    ).one()
    assert entry.actor_id == manager.id
    sent = send_message(manager, fresh(application), choose_template(manager, "check_in"))
    db.session.commit()
    new_path = urlsplit(re.search(r"http://\S+/status/\S+", sent.outbox.body_text)[0]).path
    assert client.get(new_path).status_code == 200


def test_only_the_applications_own_manager_may_revoke(client, login, application, make_user):
    path = link_path(application)
    login(make_user("manager"))

    response = client.post(f"/applications/{application.id}/status-links/revoke")

    assert response.status_code == 404
    assert client.get(path).status_code == 200


def test_revoking_needs_a_signed_in_user(client, application):
    path = link_path(application)

    response = client.post(f"/applications/{application.id}/status-links/revoke")

    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get(path).status_code == 200


def test_a_token_shows_and_acts_on_its_own_application_only(
    client, application, manager, make_requisition, make_candidate, make_application
):
    other = make_application(
        requisition=make_requisition(manager=manager, title="Night Shift Analyst"),
        candidate=make_candidate(name="Bruno Costa"),
    )
    path_a, path_b = link_path(application), link_path(other)

    page_a = client.get(path_a).get_data(as_text=True)
    client.post(f"{path_a}/question", data={"question": "When will I hear back?"})

    assert "Senior Platform Engineer" in page_a and "Night Shift Analyst" not in page_a
    assert "Night Shift Analyst" in client.get(path_b).get_data(as_text=True)
    inbound = db.session.scalars(
        select(Touchpoint).where(Touchpoint.direction == Direction.INBOUND)
    ).all()
    assert [t.application_id for t in inbound] == [application.id]


# --- Asking a question ---------------------------------------------------------------------------


def test_a_question_becomes_an_inbound_touchpoint_makes_the_application_due_and_emails_the_manager(
    client, ctx, application, manager
):
    path = link_path(application)
    before = cadence_for([application.id])[application.id].status
    assert before == CadenceStatus.ON_TRACK

    response = client.post(f"{path}/question", data={"question": "Is there any news?"})

    assert response.status_code == 302
    assert response.headers["Location"].endswith(path)
    touchpoint = db.session.scalars(select(Touchpoint)).one()
    assert touchpoint.direction == "inbound" and touchpoint.channel == "other"
    assert "Is there any news?" in touchpoint.note
    assert touchpoint.created_by_id is None
    audit = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "touchpoint.create")
    ).one()
    assert audit.actor_label == CANDIDATE_ACTOR
    assert cadence_for([application.id])[application.id].status == CadenceStatus.DUE
    notice = db.session.scalars(select(OutboxEmail)).one()
    assert notice.recipient_user_id == manager.id and notice.application_id is None
    assert notice.to_address == "maria.lopez@acme.example"
    assert notice.from_address == "Acme Hiring <hiring@acme.example>"
    assert notice.reply_to == "Ana Silva <ana.silva@example.org>"
    assert notice.status == OutboxStatus.QUEUED
    assert notice.subject == "Question from Ana Silva about Senior Platform Engineer"
    assert "Is there any news?" in notice.body_text
    assert f"/applications/{application.id}/compose" in notice.body_text
    page = client.get(path).get_data(as_text=True)
    assert "Thank you. Maria Lopez has your question" in page


def test_the_question_notice_subject_is_one_line_of_at_most_300_characters(
    client, ctx, application
):
    """Stored names from before the text rule may hold runs of spaces and line breaks, and a
    name and a role are 200 characters each: the subject is made one line, then cut."""
    application.candidate.name = "Ana  \n Silva" + " x" * 93
    application.requisition.title = "Senior\tPlatform " + "y" * 183
    db.session.commit()

    response = client.post(f"{link_path(application)}/question", data={"question": "News?"})

    assert response.status_code == 302
    notice = db.session.scalars(select(OutboxEmail)).one()
    full = f"Question from Ana Silva{' x' * 93} about Senior Platform {'y' * 183}"
    assert notice.subject == full[:300] and len(full) > 300


def test_the_question_notice_is_delivered_by_the_outbox_worker(client, app, ctx, application):
    path = link_path(application)
    client.post(f"{path}/question", data={"question": "Is there any news?"})

    deliver_all()

    notice = db.session.scalars(select(OutboxEmail)).one()
    assert notice.status == OutboxStatus.SENT
    files = list(Path(app.config["MAIL_FILE_DIR"]).glob("*.eml"))
    assert len(files) == 1
    message = BytesParser(policy=default_policy).parsebytes(files[0].read_bytes())
    assert message["To"].addresses[0].addr_spec == "maria.lopez@acme.example"
    assert message["Message-ID"] == notice.message_id
    assert "Is there any news?" in message.get_body(("plain",)).get_content()
    # The candidate's clock is untouched by a staff email.
    assert fresh(application).last_contact_at is None


def test_html_in_a_question_is_never_rendered(client, ctx, application):
    path = link_path(application)
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>'

    response = client.post(f"{path}/question", data={"question": attack}, follow_redirects=True)

    html = response.get_data(as_text=True)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(" in html
    notice = db.session.scalars(select(OutboxEmail)).one()
    assert "<script>" not in notice.body_html and "<img src=x" not in notice.body_html
    assert "&lt;script&gt;" in notice.body_html
    assert attack in notice.body_text  # plain text is shown as text by every mail client


@pytest.mark.parametrize(
    ("question", "message"),
    [("", "Please write your question."), ("   \n ", "Please write your question.")],
)
def test_an_empty_question_is_refused_with_a_message(client, ctx, application, question, message):
    path = link_path(application)

    response = client.post(f"{path}/question", data={"question": question})

    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Touchpoint)) == 0


def test_a_question_longer_than_2000_characters_is_refused_and_kept_for_editing(
    client, ctx, application
):
    path = link_path(application)

    response = client.post(f"{path}/question", data={"question": "é" * 2001})

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "limited to 2,000 characters" in html
    assert "é" * 2001 in html
    assert db.session.scalar(select(func.count()).select_from(OutboxEmail)) == 0


def test_control_characters_are_dropped_from_a_question(client, ctx, application):
    path = link_path(application)

    response = client.post(f"{path}/question", data={"question": "Hello\x00 there\x1b\r\nThanks"})

    assert response.status_code == 302
    assert db.session.scalars(select(Touchpoint)).one().note.endswith("Hello there\nThanks")


def test_a_closed_application_takes_no_questions(client, ctx, application, manager):
    path = link_path(application)
    change_stage(manager, application, "not_selected", closure=ClosureNote("phone", "Told her."))
    db.session.commit()

    response = client.post(f"{path}/question", data={"question": "Why?"}, follow_redirects=True)

    html = response.get_data(as_text=True)
    assert "no longer taken here" in html and "maria.lopez@acme.example" in html
    assert db.session.scalar(select(func.count()).select_from(OutboxEmail)) == 0


# --- Withdrawing ---------------------------------------------------------------------------------


def test_withdrawing_asks_for_confirmation_then_closes_with_the_confirmation_email(
    client, ctx, application, manager
):
    path = link_path(application)

    confirm = client.get(f"{path}/withdraw")
    assert confirm.status_code == 200
    assert "Withdraw your application?" in confirm.get_data(as_text=True)
    assert fresh(application).is_open

    response = client.post(f"{path}/withdraw", data={"reason": "accepted_other_offer"})

    assert response.status_code == 302
    closed = fresh(application)
    assert closed.stage == Stage.WITHDRAWN and closed.closed_at is not None
    closure = db.session.scalars(select(Touchpoint).where(Touchpoint.is_closure.is_(True))).one()
    email = closure.outbox_email
    assert email.category == "closure_withdrawn" and email.status == OutboxStatus.QUEUED
    assert email.to_address == "ana.silva@example.org"
    assert "withdrawal" in email.subject
    stage_audit = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "application.stage")
    ).all()[-1]
    assert stage_audit.actor_label == CANDIDATE_ACTOR
    reason = db.session.scalars(
        select(Touchpoint).where(Touchpoint.direction == Direction.INBOUND)
    ).one()
    assert "I accepted another offer" in reason.note
    notice = db.session.scalars(
        select(OutboxEmail).where(OutboxEmail.recipient_user_id == manager.id)
    ).one()
    assert "withdrew" in notice.subject
    page = client.get(path).get_data(as_text=True)
    assert CANDIDATE_LABELS[Stage.WITHDRAWN] in page
    assert "We have emailed you a confirmation" in page


def test_withdrawing_needs_a_reason_and_a_closed_application_cannot_withdraw_again(
    client, ctx, application
):
    path = link_path(application)

    missing = client.post(f"{path}/withdraw", data={})
    assert missing.status_code == 422
    assert "Please choose why you are withdrawing." in missing.get_data(as_text=True)
    assert fresh(application).is_open

    client.post(f"{path}/withdraw", data={"reason": "other"})
    again = client.post(f"{path}/withdraw", data={"reason": "other"}, follow_redirects=True)

    assert "This application is already closed." in again.get_data(as_text=True)
    closures = select(func.count()).select_from(Touchpoint).where(Touchpoint.is_closure.is_(True))
    assert db.session.scalar(closures) == 1


# --- Feedback ------------------------------------------------------------------------------------


def test_the_feedback_click_is_recorded_once_and_a_second_click_changes_it(
    client, ctx, application
):
    path = link_path(application)

    first = client.post(f"{path}/feedback", data={"useful": "yes"})
    assert first.status_code == 302 and first.headers["Location"].endswith("#feedback")
    assert db.session.scalars(select(UpdateFeedback)).one().useful is True

    client.post(f"{path}/feedback", data={"useful": "no"})

    answers = db.session.scalars(select(UpdateFeedback)).all()
    assert [(a.application_id, a.useful) for a in answers] == [(application.id, False)]
    assert "You told us: <strong>no</strong>" in client.get(path).get_data(as_text=True)


def test_feedback_still_works_after_closing_and_refuses_nonsense(client, ctx, application, manager):
    path = link_path(application)
    change_stage(manager, application, "not_selected", closure=ClosureNote("phone", "Told her."))
    db.session.commit()

    nonsense = client.post(f"{path}/feedback", data={"useful": "maybe"}, follow_redirects=True)
    assert "Please choose yes or no." in nonsense.get_data(as_text=True)
    client.post(f"{path}/feedback", data={"useful": "yes"})

    assert db.session.scalars(select(UpdateFeedback)).one().useful is True


# --- Rate limits ---------------------------------------------------------------------------------


def test_one_address_is_refused_after_its_limit_with_a_friendly_page(client, application):
    path = link_path(application)
    other_address = {"REMOTE_ADDR": "203.0.113.9"}
    limit = ratelimit.PER_IP.limit

    for n in range(limit):
        target = path if n % 2 else f"/status/{secrets.token_urlsafe(24)}"
        assert client.get(target).status_code in (200, 404)
    refused = client.get(path)

    assert refused.status_code == 429
    assert "Please wait a moment" in refused.get_data(as_text=True)
    assert int(refused.headers["Retry-After"]) > 0
    assert client.get(path, environ_base=other_address).status_code == 200


def test_one_link_is_refused_after_its_limit_from_any_address(client, application):
    path = link_path(application)
    limit = ratelimit.PER_LINK.limit

    for n in range(limit):
        response = client.get(path, environ_base={"REMOTE_ADDR": f"198.51.100.{n % 250}"})
        assert response.status_code == 200
    refused = client.get(path, environ_base={"REMOTE_ADDR": "192.0.2.200"})

    assert refused.status_code == 429
    assert "Please wait a moment" in refused.get_data(as_text=True)


def test_questions_are_limited_per_link(client, ctx, application):
    path = link_path(application)
    limit = ratelimit.QUESTIONS_PER_LINK.limit

    for n in range(limit):
        assert client.post(f"{path}/question", data={"question": f"Q{n}"}).status_code == 302
    refused = client.post(f"{path}/question", data={"question": "One more"})

    assert refused.status_code == 429
    inbound = select(func.count()).select_from(Touchpoint)
    assert db.session.scalar(inbound) == limit
    assert client.get(path).status_code == 200  # reading the page is still fine


def test_a_block_ends_after_its_time(client, application):
    path = link_path(application)
    for _ in range(ratelimit.PER_IP.limit + 1):
        client.get(path, environ_base={"REMOTE_ADDR": "203.0.113.50"})

    later = utcnow() + ratelimit.PER_IP.block_for + timedelta(seconds=1)
    with time_machine.travel(later, tick=False):
        response = client.get(path, environ_base={"REMOTE_ADDR": "203.0.113.50"})

    assert response.status_code == 200


# --- Headers and CSRF ----------------------------------------------------------------------------


def assert_private(response) -> None:
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Robots-Tag"] == "noindex"
    assert response.headers["Cache-Control"] == "no-store"
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]


def test_every_status_response_keeps_the_link_private(client, application):
    path = link_path(application)
    responses = [
        client.get(path),
        client.get(f"/status/{secrets.token_urlsafe(24)}"),
        client.get(f"{path}/withdraw"),
        client.post(f"{path}/feedback", data={"useful": "yes"}),
        client.post(f"{path}/question", data={"question": ""}),
        client.get(f"{path}/question"),
        client.get(f"/status/{secrets.token_urlsafe(24)}/nothing/here"),
    ]
    for _ in range(ratelimit.PER_LINK.limit):
        client.get(path)
    responses.append(client.get(path))
    assert responses[-1].status_code == 429
    for response in responses:
        assert_private(response)
    for response in (responses[0], responses[1], responses[-1]):
        assert '<meta name="robots" content="noindex">' in response.get_data(as_text=True)
    html = responses[0].get_data(as_text=True)
    assert "<script" not in html and "style=" not in html
    assert not re.search(r"""(src|href)=["']https?://""", html)


def test_forms_need_a_csrf_token_and_an_expired_form_keeps_the_question(app, client, application):
    app.config["WTF_CSRF_ENABLED"] = True
    path = link_path(application)

    forged = client.post(f"{path}/question", data={"question": "Typed with care"})

    assert forged.status_code == 400
    html = forged.get_data(as_text=True)
    assert "please try again" in html.lower() and "Typed with care" in html
    assert_private(forged)
    assert db.session.scalar(select(func.count()).select_from(Touchpoint)) == 0
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)[1]
    sent = client.post(
        f"{path}/question", data={"question": "Typed with care", "csrf_token": token}
    )
    assert sent.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Touchpoint)) == 1
    for action, data in (("withdraw", {"reason": "other"}), ("feedback", {"useful": "yes"})):
        refused = client.post(f"{path}/{action}", data=data)
        assert refused.status_code == 400
    assert fresh(application).is_open
    assert db.session.scalar(select(func.count()).select_from(UpdateFeedback)) == 0


def test_the_demo_journey_from_a_sent_email_to_the_dashboard(
    client, ctx, login, application, manager
):
    """An email's link opens the page; a question there puts the candidate on the dashboard."""
    sent = send_message(manager, application, choose_template(manager, "check_in"))
    db.session.commit()
    deliver_all()
    url = re.search(r"http://hiretrack\.test/status/[\w-]+", sent.outbox.body_text)[0]
    promised = fresh(application).promised_next_update

    page = client.get(urlsplit(url).path).get_data(as_text=True)
    assert CANDIDATE_LABELS[Stage.FINAL_ROUND] in page
    assert f"{promised.day} {promised.strftime('%B %Y')}" in page
    assert sent.outbox.subject in page
    client.post(f"{urlsplit(url).path}/question", data={"question": "Any news?"})

    login(manager)
    dashboard = client.get("/dashboard?status=due").get_data(as_text=True)
    assert "Ana Silva" in dashboard
    assert cadence_for([application.id], today())[application.id].status == CadenceStatus.DUE
