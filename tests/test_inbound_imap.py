"""`hiretrack inbox fetch` against a real IMAP server (a private dovecot on loopback).

Replies are built from the emails HireTrack really sent and put in the mailbox with APPEND, as
the company's mail server would deliver them; the fetcher is run through the CLI or directly.
"""

import threading

import pytest
from sqlalchemy import select

from hiretrack.cadence.queries import CadenceStatus, cadence_for
from hiretrack.candidates.models import Direction, Touchpoint
from hiretrack.extensions import db
from hiretrack.inbound.imap import HANDLED_KEYWORD, fetch_once, run_fetcher
from hiretrack.inbound.models import InboundKind
from hiretrack.messages.services import choose_template, send_message
from tests.conftest import POSTGRES_URL
from tests.inbound_support import inbound_messages
from tests.mail_builders import delivery_status, out_of_office, reply_to

pytestmark = pytest.mark.usefixtures("imap_server")


@pytest.fixture
def imap_app(tracking_app, imap_server):
    """The reply-tracking app fetching from the test mailbox."""
    tracking_app.config.update(imap_server.app_config())
    return tracking_app


def inbound_touchpoints(application_id: int) -> list[Touchpoint]:
    return list(
        db.session.scalars(
            select(Touchpoint).where(
                Touchpoint.application_id == application_id,
                Touchpoint.direction == Direction.INBOUND,
            )
        )
    )


def test_fetch_once_records_a_reply_and_flags_it(imap_app, imap_server, send_update, runner):
    sent = send_update(stage="final_round")
    imap_server.append(reply_to(sent.message, "Any news?", sender=sent.candidate_address))

    result = runner.invoke(args=["inbox", "fetch", "--once"])

    assert result.exit_code == 0, result.output
    assert "1 new message(s), 1 recorded (1 reply)" in result.output
    (message,) = inbound_messages()
    assert (message.kind, message.source, message.counted) == (InboundKind.REPLY, "imap", True)
    assert cadence_for([sent.application.id])[sent.application.id].status == CadenceStatus.DUE
    assert imap_server.uids(criteria=f"KEYWORD {HANDLED_KEYWORD}") == imap_server.uids()
    assert imap_server.uids(criteria="UNSEEN") == []

    # A second run finds nothing new.
    again = runner.invoke(args=["inbox", "fetch", "--once"])
    assert "0 new message(s)" in again.output
    assert len(inbound_messages()) == 1


def test_handled_mail_is_moved_when_a_processed_folder_is_set(imap_app, imap_server, send_update):
    imap_app.config["IMAP_PROCESSED_FOLDER"] = "Processed"
    sent = send_update()
    imap_server.append(out_of_office(sent.message, sender=sent.candidate_address))
    report_bytes = delivery_status(
        sent.outbox.message_id,
        sent.candidate_address,
        action="delayed",
        status="4.4.1",
        diagnostic="451 try later",
    )
    imap_server.append(report_bytes)

    report = fetch_once()

    assert (report.recorded, report.by_kind) == (2, {"auto_reply": 1, "delay": 1})
    assert imap_server.uids() == []
    assert len(imap_server.uids(folder="Processed")) == 2


def test_the_same_message_delivered_twice_is_recorded_once(imap_app, imap_server, send_update):
    sent = send_update()
    raw = reply_to(sent.message, "Any news?", sender=sent.candidate_address)
    imap_server.append(raw)
    imap_server.append(raw)

    report = fetch_once()

    assert (report.seen, report.recorded, report.duplicates) == (2, 1, 1)
    assert len(inbound_messages()) == 1
    assert len(inbound_touchpoints(sent.application.id)) == 1
    assert imap_server.uids(criteria=f"UNKEYWORD {HANDLED_KEYWORD}") == []


def test_a_worker_killed_after_recording_leaves_the_message_to_be_marked_later(
    imap_app, imap_server, send_update
):
    sent = send_update()
    imap_server.append(reply_to(sent.message, "Any news?", sender=sent.candidate_address))

    class Killed(BaseException):
        """Stands for the process dying between the commit and the IMAP flag."""

    def die(uid: int) -> None:
        raise Killed

    with pytest.raises(Killed):
        fetch_once(on_message=die)
    assert len(inbound_messages()) == 1
    assert imap_server.uids(criteria=f"UNKEYWORD {HANDLED_KEYWORD}") != []

    report = fetch_once()

    assert (report.recorded, report.duplicates) == (0, 1)
    assert len(inbound_messages()) == 1
    assert len(inbound_touchpoints(sent.application.id)) == 1
    assert imap_server.uids(criteria=f"UNKEYWORD {HANDLED_KEYWORD}") == []


def run_fetchers(app, count: int) -> list[BaseException]:
    """Run `count` fetchers at once, each in its own thread, app context and session."""
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with app.app_context():
                start.wait()
                fetch_once()
        except BaseException as error:  # reported to the test thread
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def assert_two_workers_record_each_message_once(app, imap_server, send_update) -> None:
    sends = [send_update() for _ in range(6)]
    for number, sent in enumerate(sends):
        imap_server.append(reply_to(sent.message, f"Reply {number}", sender=sent.candidate_address))
    db.session.commit()

    errors = run_fetchers(app, 2)
    # A message a worker could not record (SQLite's lock) stays for the next pass.
    fetch_once()

    assert errors == []
    messages = inbound_messages()
    assert sorted(m.body_text for m in messages) == [f"Reply {n}" for n in range(6)]
    for sent in sends:
        assert len(inbound_touchpoints(sent.application.id)) == 1
    assert imap_server.uids(criteria=f"UNKEYWORD {HANDLED_KEYWORD}") == []


@pytest.mark.postgres_only
@pytest.mark.skipif(not POSTGRES_URL, reason="set HIRETRACK_TEST_DATABASE_URL to run this test")
def test_two_fetch_workers_on_postgresql_record_each_message_once(
    imap_app, imap_server, send_update
):
    assert_two_workers_record_each_message_once(imap_app, imap_server, send_update)


@pytest.mark.skipif(bool(POSTGRES_URL), reason="exercises SQLite's file locking")
class TestSQLiteFile:
    @pytest.fixture
    def database_url(self, tmp_path) -> str:
        return f"sqlite:///{tmp_path / 'fetchers.sqlite'}"

    def test_two_fetch_workers_record_each_message_once(self, imap_app, imap_server, send_update):
        assert_two_workers_record_each_message_once(imap_app, imap_server, send_update)


def test_an_oversized_message_is_recorded_by_its_headers_without_reading_it(
    imap_app, imap_server, send_update
):
    imap_app.config["INBOUND_MAX_BYTES"] = 64 * 1024
    sent = send_update()
    raw = reply_to(
        sent.message,
        "Video attached.",
        sender=sent.candidate_address,
        attachments=(("video.mp4", b"\x00" * 300_000, "video/mp4"),),
    )
    imap_server.append(raw)

    report = fetch_once()

    assert (report.recorded, report.oversized) == (1, 1)
    (message,) = inbound_messages()
    assert message.kind == InboundKind.UNMATCHED and "Too large" in message.note
    assert message.size_bytes >= 300_000 and message.body_text == ""


def test_a_wrong_password_fails_with_a_clear_message(imap_app, runner):
    imap_app.config["IMAP_PASSWORD"] = "wrong"

    result = runner.invoke(args=["inbox", "fetch", "--once"])

    assert result.exit_code == 1
    assert "Cannot use the mailbox replies@127.0.0.1" in result.output


def test_fetch_without_settings_says_what_to_set(tracking_app, runner):
    result = runner.invoke(args=["inbox", "fetch", "--once"])

    assert result.exit_code == 1
    assert "HIRETRACK_IMAP_HOST" in result.output


def test_a_reply_to_our_email_puts_the_candidate_on_the_dashboard_as_due(
    imap_app, imap_server, smtp_server, make_application, client, login, runner
):
    """End to end: our message out through SMTP, the candidate's reply back in through IMAP."""
    imap_app.config.update(smtp_server.app_config())
    application = make_application(stage="final_round")
    manager, candidate = application.requisition.manager, application.candidate
    send_message(manager, application, choose_template(manager, "check_in"))
    db.session.commit()
    login(manager)
    assert candidate.name.encode() not in client.get("/dashboard?status=due").data

    delivered = runner.invoke(args=["outbox", "deliver", "--once"])
    assert "1 sent" in delivered.output, delivered.output
    (ours,) = smtp_server.received
    assert ours.recipients == [candidate.email]
    imap_server.append(
        reply_to(
            ours.message, "I have another offer, can you tell me by Friday?", sender=candidate.email
        )
    )
    fetched = runner.invoke(args=["inbox", "fetch", "--once"])
    assert "1 recorded (1 reply)" in fetched.output, fetched.output

    due = client.get("/dashboard?status=due")
    assert due.status_code == 200
    assert candidate.name.encode() in due.data
    row = due.data.split(candidate.name.encode(), 1)[1].split(b"</tr>", 1)[0]
    assert b'<span class="badge badge-due">Due</span>' in row


def test_the_fetch_loop_keeps_polling_until_asked_to_stop(imap_app, imap_server, send_update):
    sent = send_update()
    imap_server.append(reply_to(sent.message, "Hello", sender=sent.candidate_address))
    stop = threading.Event()
    reports = []

    def after_pass(report) -> None:
        reports.append(report)
        if len(reports) == 2:
            stop.set()

    run_fetcher(poll_seconds=0.1, stop=stop, on_report=after_pass)

    assert [report.recorded for report in reports] == [1, 0]
    assert len(inbound_messages()) == 1


def test_the_fetch_loop_stops_with_status_78_when_the_login_is_refused(imap_app, runner):
    imap_app.config["IMAP_PASSWORD"] = "wrong"

    result = runner.invoke(args=["inbox", "fetch", "--poll-interval", "1"])

    assert result.exit_code == 78
    assert "refused the login" in result.output
