"""Delivery: the outbox worker against a real SMTP server on loopback, faults included.

Messages are queued through the real send service and delivered by `deliver_batch` or the CLI;
what the aiosmtpd server received is parsed with the `email` package. After every fault each
queued message must arrive exactly once: none lost, none twice.
"""

import os
import signal
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import format_datetime, parseaddr
from zoneinfo import ZoneInfo

import pytest
import time_machine
from aiosmtpd.smtp import AuthResult
from sqlalchemy import event, func, select, true

from hiretrack import create_app
from hiretrack.auth.access import visible_applications
from hiretrack.cadence import tally
from hiretrack.cadence.models import CadenceTally
from hiretrack.cadence.stored import recompute_stored_cadence
from hiretrack.candidates.models import Touchpoint
from hiretrack.candidates.services import update_candidate
from hiretrack.candidates.stages import Stage
from hiretrack.config import ConfigurationError
from hiretrack.database import utcnow
from hiretrack.errors import GuardrailRefused
from hiretrack.extensions import db
from hiretrack.messages import backends, delivery, mime
from hiretrack.messages.after_delivery import failed_deliveries, mark_unconfirmed_as_sent, requeue
from hiretrack.messages.backends import ConsoleBackend, FileBackend, build_envelope
from hiretrack.messages.claims import claim
from hiretrack.messages.delivery import (
    MAX_ATTEMPTS,
    deliver_batch,
    drain,
    retry_delay,
    run_worker,
)
from hiretrack.messages.models import OutboxEmail, OutboxStatus
from hiretrack.messages.services import choose_template, send_message
from tests.conftest import POSTGRES_URL, base_config
from tests.smtp_server import RecordingHandler, SmtpServer, free_port

MANAGER_EMAIL = "grace.hopper@acme.example"
TITLE = "Staff Data Engineer"


@pytest.fixture
def requisition(make_user, make_requisition):
    manager = make_user("manager", name="Grace Hopper", email=MANAGER_EMAIL)
    return make_requisition(manager=manager, title=TITLE)


@pytest.fixture
def queue_email(ctx, requisition, make_candidate, make_application):
    """Queue a check-in email through the real send service and commit; returns the outbox row."""

    def queue(name: str | None = None, email: str | None = None, **send_options) -> OutboxEmail:
        manager = requisition.manager
        details = {key: value for key, value in (("name", name), ("email", email)) if value}
        candidate = make_candidate(actor=manager, **details)
        application = make_application(requisition=requisition, candidate=candidate)
        template = choose_template(manager, "check_in")
        sent = send_message(manager, application, template, **send_options)
        db.session.commit()
        return sent.outbox

    return queue


@pytest.fixture
def smtp_app(app, smtp_server):
    """The app delivering to the loopback SMTP server."""
    app.config.update(smtp_server.app_config())
    return app


def fresh(outbox: OutboxEmail) -> OutboxEmail:
    """Re-read a row as the database has it now (another session or thread may have changed it)."""
    db.session.expire_all()
    return db.session.get(OutboxEmail, outbox.id)


def touchpoint_of(outbox: OutboxEmail) -> Touchpoint:
    return db.session.scalars(
        select(Touchpoint).where(Touchpoint.outbox_email_id == outbox.id)
    ).one()


def assert_each_once(smtp_server, rows: list[OutboxEmail]) -> None:
    """Every row's Message-ID arrived exactly once, and nothing else arrived."""
    counts = Counter(smtp_server.message_ids())
    assert counts == Counter(fresh(row).message_id for row in rows)
    assert all(fresh(row).status == OutboxStatus.SENT for row in rows)


# --- the message itself ---------------------------------------------------------------------


def test_delivered_message_has_headers_parts_and_personalisation(
    smtp_app, smtp_server, queue_email
):
    outbox = queue_email(name="Ada Lovelace", email="ada@example.org")

    report = deliver_batch("worker-1")

    assert (report.sent, report.retrying, report.failed) == (1, 0, 0)
    [received] = smtp_server.received
    assert received.recipients == ["ada@example.org"]
    assert received.sender == "hiring@acme.example"
    message = received.message
    assert parseaddr(message["From"]) == ("Acme Hiring", "hiring@acme.example")
    assert [(a.display_name, a.addr_spec) for a in message["To"].addresses] == [
        ("Ada Lovelace", "ada@example.org")
    ]
    assert message["Reply-To"].addresses[0].addr_spec == MANAGER_EMAIL
    assert message["Reply-To"].addresses[0].display_name == "Grace Hopper"
    assert message["Message-ID"] == outbox.message_id
    assert message["Subject"] == f"Still waiting: your application for {TITLE}"
    assert message["Date"] is not None
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    for body in (text, html):
        assert "Dear Ada," in body
        assert TITLE in body
        assert "Grace Hopper" in body
    assert "<p>Dear Ada,</p>" in html
    assert "http://hiretrack.test/status/" in text


def test_the_envelope_carries_bare_addresses_and_the_size_the_server_may_refuse_early(
    smtp_app, smtp_server, queue_email
):
    """MAIL FROM and RCPT TO are written from the envelope's checked addresses (no display name
    from the From header), and MAIL FROM announces the message's size (RFC 1870)."""
    outbox = queue_email(email="size@example.org")

    deliver_batch("worker-1")

    [received] = smtp_server.received
    assert (received.sender, received.recipients) == ("hiring@acme.example", ["size@example.org"])
    assert received.mail_options == (f"SIZE={len(build_envelope(fresh(outbox)).content)}",)


@pytest.mark.parametrize("to_address", ["plain@example.org", '"ada lovelace"@example.org'])
def test_the_envelope_recipient_is_the_one_checked_address(smtp_app, queue_email, to_address):
    """A plain address is used as it is; any other form goes through the strict parser, whose
    address is the one the To header shows."""
    row = fresh(queue_email())
    row.to_address = to_address

    envelope = build_envelope(row)

    assert envelope.recipient == to_address


def test_an_address_list_in_to_is_refused_for_good_not_sent_to_its_first(smtp_app, queue_email):
    row = fresh(queue_email())
    row.to_address = "first@example.org, second@example.org"

    with pytest.raises(backends.PermanentFailure, match="address"):
        build_envelope(row)


def test_non_ascii_and_long_header_values_arrive_intact(smtp_app, smtp_server, queue_email):
    outbox = queue_email(
        name="Zo\u00eb \u00c5ngstr\u00f6m-\u0141ukasiewicz", email="zoe@example.org"
    )
    subject = "Caf\u00e9 \u2014 " + "an update on your application, with a long title " * 4
    outbox.subject = subject.strip()
    outbox.reply_to = '"O\'Brien, Pat" <pat@acme.example>'
    outbox.body_text = "Dear Zo\u00eb,\n.\nA line that ends in spaces   \n" + "x" * 1200
    db.session.commit()

    assert deliver_batch("worker-1").sent == 1

    [received] = smtp_server.received
    message = received.message
    assert message["Subject"] == subject.strip()
    assert [(a.display_name, a.addr_spec) for a in message["To"].addresses] == [
        ("Zo\u00eb \u00c5ngstr\u00f6m-\u0141ukasiewicz", "zoe@example.org")
    ]
    assert [(a.display_name, a.addr_spec) for a in message["Reply-To"].addresses] == [
        ("O'Brien, Pat", "pat@acme.example")
    ]
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert text.replace("\r\n", "\n") == fresh(outbox).body_text
    head = build_envelope(fresh(outbox)).content.partition(b"\r\n\r\n")[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 78  # folded as RFC 5322 asks


def test_sent_row_records_delivery_as_contact(smtp_app, smtp_server, queue_email):
    outbox = queue_email()
    assert touchpoint_of(outbox).occurred_at is None  # not contact until it is delivered

    deliver_batch("worker-1")

    row = fresh(outbox)
    assert row.status == OutboxStatus.SENT
    assert row.attempts == 1
    assert row.sent_at is not None
    touchpoint = touchpoint_of(row)
    assert touchpoint.occurred_at == row.sent_at
    assert touchpoint.application.last_contact_at == row.sent_at


def test_every_message_has_its_own_message_id(smtp_app, smtp_server, queue_email):
    rows = [queue_email() for _ in range(3)]

    deliver_batch("worker-1")

    assert len(set(smtp_server.message_ids())) == 3
    assert_each_once(smtp_server, rows)


# --- faults -----------------------------------------------------------------------------------


def test_server_down_then_up_delivers_each_message_once(app, smtp_server, queue_email):
    rows = [queue_email() for _ in range(3)]
    app.config.update(smtp_server.app_config(), SMTP_PORT=free_port())  # nothing listens there

    down = deliver_batch("worker-1")

    assert down.retrying == 1 and down.sent == 0
    assert "Cannot use the mail server" in down.backend_error
    first = fresh(rows[0])
    assert (first.status, first.attempts) == (OutboxStatus.QUEUED, 1)
    assert first.next_attempt_at > utcnow()
    assert "refused" in first.last_error.lower()
    # The batch stopped: the others were not tried against a server known to be down.
    assert [fresh(row).attempts for row in rows[1:]] == [0, 0]

    app.config.update(SMTP_PORT=smtp_server.port)
    up = deliver_batch("worker-1", now=utcnow() + retry_delay(1) + timedelta(seconds=1))

    assert up.sent == 3
    assert_each_once(smtp_server, rows)


def test_451_is_retried_after_a_backoff_and_delivered_once(smtp_app, smtp_server, queue_email):
    outbox = queue_email()
    smtp_server.handler.refuse_next_data("451 4.3.0 Mailbox busy, try later")

    first = deliver_batch("worker-1")

    assert first.retrying == 1
    row = fresh(outbox)
    assert (row.status, row.attempts) == (OutboxStatus.QUEUED, 1)
    assert "451" in row.last_error
    assert deliver_batch("worker-1").attempted == 0  # not due until the backoff has passed

    later = deliver_batch("worker-1", now=utcnow() + timedelta(minutes=2))

    assert later.sent == 1
    assert_each_once(smtp_server, [outbox])
    assert fresh(outbox).attempts == 2


def test_421_at_mail_from_reconnects_for_the_next_message(smtp_app, smtp_server, queue_email):
    rows = [queue_email() for _ in range(2)]
    smtp_server.handler.refuse_next_mail("421 4.3.2 Too many messages on this connection")

    report = deliver_batch("worker-1")

    assert (report.sent, report.retrying) == (1, 1)
    assert fresh(rows[0]).status == OutboxStatus.QUEUED
    deliver_batch("worker-1", now=utcnow() + timedelta(minutes=2))
    assert_each_once(smtp_server, rows)


class NoopCountingHandler(RecordingHandler):
    """Counts the NOOPs a client sends to check a reused connection."""

    def __init__(self) -> None:
        super().__init__()
        self.noops = 0

    async def handle_NOOP(self, server, session, envelope, arg) -> str:  # noqa: N802
        with self._lock:
            self.noops += 1
        return "250 OK"


def test_a_connection_used_moments_ago_is_reused_without_a_noop(app, queue_email, monkeypatch):
    handler = NoopCountingHandler()
    with SmtpServer(handler) as server:
        app.config.update(server.app_config())
        rows = [queue_email() for _ in range(3)]

        assert deliver_batch("worker-1").sent == 3
        assert handler.noops == 0

        rows += [queue_email() for _ in range(3)]
        monkeypatch.setattr(backends, "NOOP_AFTER_IDLE_SECONDS", 0)

        assert deliver_batch("worker-1").sent == 3
        assert handler.noops == 2  # idle "too long": checked before each reuse

    assert_each_once(server, rows)


def test_a_claim_running_late_gives_back_the_rows_it_has_not_reached(
    smtp_app, smtp_server, queue_email, monkeypatch
):
    """No send starts on a claim older than half the lease, so a live worker never loses one."""
    rows = [queue_email() for _ in range(3)]
    # Half a 3 s lease leaves a loaded machine 1.5 s to prepare a claim; each send takes longer.
    monkeypatch.setattr(delivery, "claim_lease", lambda: timedelta(seconds=3))
    smtp_server.handler.on_accept = lambda received: time.sleep(1.6)  # a slow server

    report = deliver_batch("worker-1")

    assert report.sent == 3
    assert_each_once(smtp_server, rows)
    # Each message went out under a claim of its own: the rest were released and claimed again.
    claimed_at = [fresh(row).claimed_at for row in rows]
    assert claimed_at == sorted(claimed_at) and len(set(claimed_at)) == 3


def test_550_fails_that_message_and_delivers_the_others(smtp_app, smtp_server, queue_email):
    rows = [queue_email(email=f"person{n}@example.org") for n in range(3)]
    smtp_server.handler.refuse_recipient("person1@example.org", "550 5.1.1 No such user here")

    report = deliver_batch("worker-1")

    assert (report.sent, report.retrying, report.failed) == (2, 0, 1)
    failed = fresh(rows[1])
    assert failed.status == OutboxStatus.FAILED
    assert "550" in failed.last_error and "No such user" in failed.last_error
    assert touchpoint_of(failed).occurred_at is None
    assert Counter(smtp_server.message_ids()) == Counter([rows[0].message_id, rows[2].message_id])
    assert list(db.session.scalars(failed_deliveries(true()))) == [failed]


def test_one_claim_records_each_rows_own_result(smtp_app, smtp_server, queue_email):
    rows = [queue_email(email=f"mixed{n}@example.org") for n in range(5)]
    smtp_server.handler.refuse_recipient("mixed1@example.org", "550 5.1.1 No such user here")
    smtp_server.handler.refuse_recipient("mixed3@example.org", "451 4.7.1 Greylisted, try later")

    report = deliver_batch("worker-1")

    assert (report.sent, report.retrying, report.failed) == (3, 1, 1)
    rows = [fresh(row) for row in rows]
    assert [row.status for row in rows] == [
        OutboxStatus.SENT,
        OutboxStatus.FAILED,
        OutboxStatus.SENT,
        OutboxStatus.QUEUED,
        OutboxStatus.SENT,
    ]
    assert [row.attempts for row in rows] == [1] * 5
    assert [row.claimed_by for row in rows] == ["worker-1", None, "worker-1", None, "worker-1"]
    assert rows[3].next_attempt_at > utcnow() and "451" in rows[3].last_error
    for row in rows:
        expected = row.sent_at if row.status == OutboxStatus.SENT else None
        assert touchpoint_of(row).occurred_at == expected
    assert len({row.sent_at for row in rows if row.sent_at}) == 3  # each at its own acceptance
    assert Counter(smtp_server.message_ids()) == Counter(rows[n].message_id for n in (0, 2, 4))


def _writes_while(app, work) -> list[str]:
    """The UPDATE statements sent to the database while `work()` runs (one per executemany)."""
    statements: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE"):
            statements.append(statement.split("SET")[0].strip())

    engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        work()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return statements


def test_a_claims_results_are_recorded_in_one_statement_per_table(
    smtp_app, smtp_server, queue_email
):
    writes = []
    for size in (2, 9):
        rows = [queue_email(email=f"claim{size}-{n}@example.org") for n in range(size)]
        writes.append(Counter(_writes_while(smtp_app, lambda: deliver_batch("worker-1"))))
        # Recorded by the contact rule, stored cadence dates included: nothing to recompute.
        for row in (fresh(row) for row in rows):
            touchpoint = touchpoint_of(row)
            application = touchpoint.application
            assert touchpoint.occurred_at == row.sent_at == application.last_contact_at
            assert application.promised_next_update == touchpoint.promised_next_update
    assert writes[0] == writes[1]
    # The applications: one statement locks them (on PostgreSQL the SELECT that reads them, FOR
    # UPDATE; on SQLite a no-op UPDATE that takes the write lock), one writes them.
    locking_updates = 0 if POSTGRES_URL else 1
    assert (writes[0]["UPDATE touchpoint"], writes[0]["UPDATE application"]) == (
        1,
        1 + locking_updates,
    )
    assert recompute_stored_cadence(db.session) == (11, 0)


def _executions_during(work):
    """The statements the app's engine runs during work() and whether each ran as an
    executemany, and what work() returned."""
    seen: list[tuple[str, bool]] = []

    def remember(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append((" ".join(statement.split()), executemany))

    event.listen(db.engine, "before_cursor_execute", remember)
    try:
        result = work()
    finally:
        event.remove(db.engine, "before_cursor_execute", remember)
    return seen, result


@pytest.mark.skipif(
    not POSTGRES_URL, reason="on SQLite a claim's ids and times are bound one per parameter"
)
def test_on_postgresql_a_claim_of_any_size_runs_the_same_statements_once_each(
    smtp_app, smtp_server, queue_email
):
    """A claim's ids and times go as arrays: psycopg parses a statement of more than 50
    parameters again at every execution, and a statement run once per row (executemany) costs
    an execution per row on the server."""
    runs = []
    for size in (1, 2, 9):  # the first run also reads the connection's settings
        rows = [queue_email(email=f"arrays{size}-{n}@example.org") for n in range(size)]
        seen, report = _executions_during(lambda: deliver_batch("worker-1"))
        assert report.sent == size
        assert all(fresh(row).status == OutboxStatus.SENT for row in rows)
        runs.append(seen)
    assert [statement for statement, _ in runs[1]] == [statement for statement, _ in runs[2]]
    assert len(smtp_server.message_ids()) == 12
    assert not [statement for statement, many in runs[2] if many]


def test_connection_dropped_mid_batch_loses_and_repeats_nothing(smtp_app, smtp_server, queue_email):
    rows = [queue_email(email=f"drop{n}@example.org") for n in range(4)]
    smtp_server.handler.drop_connection_during_data("drop1@example.org")

    report = deliver_batch("worker-1")

    assert (report.sent, report.retrying) == (3, 1)
    dropped = fresh(rows[1])
    assert dropped.status == OutboxStatus.QUEUED
    assert "connection" in dropped.last_error.lower()

    deliver_batch("worker-1", now=utcnow() + timedelta(minutes=2))

    assert_each_once(smtp_server, rows)


def test_temporary_failures_give_up_after_max_attempts(app, queue_email):
    outbox = queue_email()
    app.config.update(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=free_port())
    outbox.attempts = MAX_ATTEMPTS - 1
    db.session.commit()

    report = deliver_batch("worker-1")

    assert report.failed == 1
    row = fresh(outbox)
    assert row.status == OutboxStatus.FAILED
    assert row.last_error.startswith(f"Gave up after {MAX_ATTEMPTS} attempts")


def test_backoff_doubles_and_is_capped():
    assert [retry_delay(n) for n in (1, 2, 3, 4)] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert retry_delay(MAX_ATTEMPTS) == timedelta(hours=6)


class SimulatedCrash(Exception):
    """The worker process dies after the server accepted messages, before the commit."""


def test_crash_after_smtp_acceptance_never_sends_twice(
    smtp_app, smtp_server, queue_email, monkeypatch
):
    """Recording a claim fails while the next claim is being sent (claims are recorded beside
    the next claim's sends). The sender stops at the next message boundary and nothing more is
    claimed, so at most two claims stay in SENDING: the one recorded (c1, c2) and the one being
    sent (a1, and a2 if its send began before the failure was known). None is ever sent twice;
    they wait for a person; another worker delivers the rest."""
    smtp_app.config["DELIVERY_CLAIM_SIZE"] = 2
    crashed = [queue_email(), queue_email()]
    being_sent = [queue_email(), queue_email()]
    after = [queue_email(), queue_email()]
    next_claim_started = threading.Event()
    smtp_server.handler.on_accept = lambda received: (
        next_claim_started.set() if len(smtp_server.message_ids()) == 3 else None
    )

    def crash(worker_id, attempts, untried):
        next_claim_started.wait(timeout=30)  # fail while the next claim is being sent
        raise SimulatedCrash

    monkeypatch.setattr(delivery, "_record_results", crash)
    with pytest.raises(SimulatedCrash):
        deliver_batch("worker-1")
    monkeypatch.undo()
    smtp_server.handler.on_accept = None
    db.session.rollback()

    sent_by_first = smtp_server.message_ids()
    assert sent_by_first[:3] == [row.message_id for row in crashed + being_sent[:1]]
    assert set(sent_by_first) <= {row.message_id for row in crashed + being_sent}
    left_sending = [row for row in crashed + being_sent if row.message_id in sent_by_first]
    assert {fresh(row).status for row in left_sending} == {OutboxStatus.SENDING}
    untried = [row for row in being_sent + after if row.message_id not in sent_by_first]
    assert {fresh(row).status for row in untried} == {OutboxStatus.QUEUED}
    assert {fresh(row).claimed_by for row in untried} == {None}  # never claimed, or given back

    # Another worker, straight away: delivers the rest, leaves the claimed rows alone.
    assert deliver_batch("worker-2").sent == len(untried)
    assert {fresh(row).status for row in left_sending} == {OutboxStatus.SENDING}

    # Once the claim is older than the lease, a person is asked instead of resending.
    later = deliver_batch("worker-2", now=utcnow() + delivery.claim_lease() + timedelta(seconds=1))

    assert later.unconfirmed == len(left_sending) and later.attempted == 0
    rows = [fresh(row) for row in left_sending]
    assert {row.status for row in rows} == {OutboxStatus.UNCONFIRMED}
    assert all("may have been delivered" in row.last_error for row in rows)
    assert set(db.session.scalars(failed_deliveries(true()))) == set(rows)
    assert Counter(smtp_server.message_ids()) == Counter(
        row.message_id for row in crashed + being_sent + after
    )

    mark_unconfirmed_as_sent(rows[0])
    db.session.commit()

    row = fresh(crashed[0])
    assert row.status == OutboxStatus.SENT
    assert touchpoint_of(row).occurred_at == row.claimed_at
    assert deliver_batch("worker-2", now=utcnow() + timedelta(hours=1)).attempted == 0
    assert smtp_server.message_ids().count(crashed[0].message_id) == 1


def test_a_failed_recording_of_the_last_claim_is_raised_not_lost(
    smtp_app, smtp_server, queue_email, monkeypatch
):
    """The last claim's results are committed while the run winds down: their failure still
    reaches the caller, and the rows stay in SENDING for a person."""
    rows = [queue_email(), queue_email()]

    def crash(worker_id, attempts, untried):
        raise SimulatedCrash

    monkeypatch.setattr(delivery, "_record_results", crash)
    with pytest.raises(SimulatedCrash):
        deliver_batch("worker-1", limit=2)
    monkeypatch.undo()
    db.session.rollback()

    assert smtp_server.message_ids() == [row.message_id for row in rows]
    assert [fresh(row).status for row in rows] == [OutboxStatus.SENDING] * 2


def test_claims_recorded_beside_the_next_claims_sends_all_count_as_sent(
    smtp_app, smtp_server, queue_email
):
    smtp_app.config["DELIVERY_CLAIM_SIZE"] = 2
    rows = [queue_email() for _ in range(7)]

    report = drain("worker-1", batch_size=3)

    assert report.sent == 7
    assert [fresh(row).status for row in rows] == [OutboxStatus.SENT] * 7
    assert all(touchpoint_of(row).occurred_at == row.sent_at for row in map(fresh, rows))
    assert Counter(smtp_server.message_ids()) == Counter(row.message_id for row in rows)


def test_crash_in_the_middle_of_a_claim_gives_back_the_rows_not_tried(
    smtp_app, smtp_server, queue_email
):
    """The worker dies while the server accepts its second message: the first two may have gone
    out and wait for a person; the last two were never tried and go out with the next run."""
    rows = [queue_email() for _ in range(4)]
    accepted = []

    def crash_on_second(received) -> None:
        accepted.append(received)
        if len(accepted) == 2:
            os.kill(os.getpid(), signal.SIGUSR1)

    def die(signum, frame):
        raise SimulatedCrash

    smtp_server.handler.on_accept = crash_on_second
    previous = signal.signal(signal.SIGUSR1, die)
    try:
        with pytest.raises(SimulatedCrash):
            deliver_batch("worker-1")
    finally:
        signal.signal(signal.SIGUSR1, previous)
    smtp_server.handler.on_accept = None
    db.session.rollback()

    assert smtp_server.message_ids() == [row.message_id for row in rows[:2]]
    assert [fresh(row).status for row in rows] == [OutboxStatus.SENDING] * 2 + [
        OutboxStatus.QUEUED
    ] * 2
    assert [fresh(row).attempts for row in rows[2:]] == [0, 0]

    assert deliver_batch("worker-2").sent == 2
    later = deliver_batch("worker-2", now=utcnow() + delivery.claim_lease() + timedelta(seconds=1))

    assert later.unconfirmed == 2
    assert [fresh(row).status for row in rows] == [OutboxStatus.UNCONFIRMED] * 2 + [
        OutboxStatus.SENT
    ] * 2
    assert Counter(smtp_server.message_ids()) == Counter(row.message_id for row in rows)


def test_a_failed_commit_of_results_still_gives_back_the_rows_not_tried(
    smtp_app, smtp_server, queue_email, monkeypatch
):
    rows = [queue_email() for _ in range(3)]
    stop = threading.Event()
    smtp_server.handler.on_accept = lambda received: stop.set()  # stop after the first

    def failed_commit(worker_id, attempts, untried):
        db.session.rollback()  # as a lost connection would leave the session
        raise SimulatedCrash

    monkeypatch.setattr(delivery, "_record_results", failed_commit)
    with pytest.raises(SimulatedCrash):
        deliver_batch("worker-1", stop=stop)
    monkeypatch.undo()

    assert smtp_server.message_ids() == [rows[0].message_id]
    assert [fresh(row).status for row in rows] == [
        OutboxStatus.SENDING,
        OutboxStatus.QUEUED,
        OutboxStatus.QUEUED,
    ]
    assert [fresh(row).claimed_by for row in rows] == ["worker-1", None, None]


def test_requeue_unconfirmed_keeps_message_id_so_receivers_can_deduplicate(
    smtp_app, smtp_server, queue_email, make_user
):
    outbox = queue_email()
    outbox.status, outbox.claimed_at = OutboxStatus.UNCONFIRMED, utcnow()
    db.session.commit()
    original_id = outbox.message_id

    requeue(outbox, make_user("recruiter"))
    db.session.commit()
    deliver_batch("worker-1")

    assert smtp_server.message_ids() == [original_id]
    assert fresh(outbox).attempts == 1


def test_requeue_failed_uses_corrected_address_and_a_new_message_id(
    smtp_app, smtp_server, queue_email
):
    outbox = queue_email(email="ada@exmaple.org")
    smtp_server.handler.refuse_recipient("ada@exmaple.org")
    deliver_batch("worker-1")
    failed = fresh(outbox)
    assert failed.status == OutboxStatus.FAILED
    old_id = failed.message_id

    manager = failed.application.requisition.manager
    update_candidate(manager, failed.application.candidate, email="ada@example.org")
    requeue(failed, manager)
    db.session.commit()
    report = deliver_batch("worker-1")

    assert report.sent == 1
    [received] = smtp_server.received
    assert received.recipients == ["ada@example.org"]
    row = fresh(outbox)
    assert received.message_id == row.message_id != old_id
    assert row.message_id.endswith("@acme.example>")
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.SENT, 1, None)


def test_requeue_refuses_a_message_that_was_sent(smtp_app, smtp_server, queue_email, make_user):
    outbox = queue_email()
    deliver_batch("worker-1")

    with pytest.raises(GuardrailRefused):
        requeue(fresh(outbox), make_user("recruiter"))
    with pytest.raises(GuardrailRefused):
        mark_unconfirmed_as_sent(fresh(outbox))


def test_failed_deliveries_are_scoped_to_what_the_user_may_see(
    smtp_app, smtp_server, queue_email, make_application, make_user
):
    mine = queue_email(email="mine@example.org")
    other_application = make_application()
    other_manager = other_application.requisition.manager
    send_message(other_manager, other_application, choose_template(other_manager, "check_in"))
    db.session.commit()
    for address in ("mine@example.org", other_application.candidate.email):
        smtp_server.handler.refuse_recipient(address)
    deliver_batch("worker-1")

    manager = fresh(mine).application.requisition.manager
    visible = list(db.session.scalars(failed_deliveries(visible_applications(manager))))
    everything = list(db.session.scalars(failed_deliveries(true())))

    assert [row.id for row in visible] == [mine.id]
    assert len(everything) == 2


def test_smtp_login_with_the_configured_credentials(app, queue_email):
    def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (auth_data.login, auth_data.password) == (b"hiretrack", b"s3cret pass")
        return AuthResult(success=ok, handled=False)  # handled=False: the server replies 535

    rows = [queue_email() for _ in range(2)]
    with SmtpServer(authenticator=authenticator, auth_require_tls=False) as server:
        app.config.update(server.app_config(), SMTP_USERNAME="hiretrack", SMTP_PASSWORD="wrong")
        refused = deliver_batch("worker-1")
        app.config.update(SMTP_PASSWORD="s3cret pass")
        accepted = deliver_batch("worker-1", now=utcnow() + timedelta(minutes=2))
        # The row tried with the wrong password failed for good: a person sends it again.
        requeue(fresh(rows[0]), actor=None)
        db.session.commit()
        resent = deliver_batch("worker-1", now=utcnow() + timedelta(minutes=3))

    # A wrong password is the server's final word (535): the row tried fails, the other waits.
    assert refused.failed == 1 and refused.backend_refused and "535" in refused.backend_error
    assert accepted.sent == 1 and resent.sent == 1
    assert_each_once(server, rows)


def test_address_smtp_cannot_carry_fails_cleanly(smtp_app, smtp_server, queue_email):
    """A non-ASCII mailbox name would need SMTPUTF8: fail the row, never leave it stuck."""
    smtp_app.config["SMTP_SMTPUTF8"] = True  # accepted when typed, then the setting was turned off
    outbox = queue_email(email="jos\u00e9@example.org")
    smtp_app.config["SMTP_SMTPUTF8"] = False

    report = deliver_batch("worker-1")

    assert report.failed == 1
    assert fresh(outbox).status == OutboxStatus.FAILED
    assert smtp_server.received == []


# --- header injection -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "Your update\r\nBcc: victim@evil.example"),
        ("subject", "Your update =?UTF-8?Q?=0A?=Bcc: victim@evil.example"),
        ("to_name", "Ada\nBcc: victim@evil.example"),
        ("to_name", "=?utf-8?b?QWRhCkJjYzogdmljdGltQGV2aWwuZXhhbXBsZQ==?="),
        ("reply_to", "Grace <grace@acme.example>\r\nBcc: victim@evil.example"),
    ],
)
def test_header_injection_fails_the_row_and_sends_nothing(
    smtp_app, smtp_server, queue_email, field, value
):
    outbox = queue_email()
    setattr(outbox, field, value)  # as if the row had been changed after it was rendered
    db.session.commit()

    report = deliver_batch("worker-1")

    assert report.failed == 1
    row = fresh(outbox)
    assert row.status == OutboxStatus.FAILED
    assert "cannot be sent" in row.last_error
    assert smtp_server.received == []


def test_serialised_headers_are_checked_even_if_a_value_check_missed_something(
    ctx, queue_email, monkeypatch
):
    """Defence in depth: the built bytes are parsed back and must hold only our headers."""
    outbox = queue_email()
    outbox.subject = "Hello =?UTF-8?Q?=0A?=Bcc: victim@evil.example"
    monkeypatch.setattr(mime, "check_header_value", lambda value, field: value)

    with pytest.raises(backends.PermanentFailure, match="unexpected headers"):
        build_envelope(outbox)


@pytest.mark.parametrize(("column", "header"), [("from_address", "From"), ("reply_to", "Reply-To")])
def test_an_address_line_is_built_once_per_value_and_a_refused_one_every_time(
    ctx, queue_email, monkeypatch, column, header
):
    """The sender and the Reply-To repeat on every message: each distinct value is parsed and
    written once. Only lines that were built are remembered: a refused value is refused again."""
    mime._address_line.cache_clear()
    written = []
    write_mailbox = mime._mailbox
    monkeypatch.setattr(
        mime, "_mailbox", lambda *mailbox: written.append(mailbox[2]) or write_mailbox(*mailbox)
    )
    first, second = queue_email(), queue_email()
    for row in (first, second):
        setattr(row, column, "Acme Hiring <hiring@acme.example>")

    contents = [build_envelope(row).content for row in (first, second)]

    assert written.count(header) == 1
    line = f"{header}: Acme Hiring <hiring@acme.example>\r\n".encode()
    assert all(line in content for content in contents)
    setattr(first, column, "Acme Hiring <hiring@acme.example")  # no closing bracket
    for _ in range(2):
        with pytest.raises(backends.PermanentFailure, match=f"{header} is not a valid address"):
            build_envelope(first)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 12, 5, 9, 30, 7, 123456, tzinfo=UTC),
        datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC),
        datetime(999, 1, 4, 0, 0, tzinfo=UTC),
        datetime(2026, 12, 5, 9, 30),  # naive: "-0000"
        datetime(2026, 12, 5, 9, 30, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
        datetime(2026, 12, 5, 9, 30, tzinfo=ZoneInfo("UTC")),
    ],
)
def test_the_date_header_is_the_standard_librarys(moment):
    """The Date header is written directly for a UTC time; it must be format_datetime's text."""
    assert mime._date_header(moment) == f"Date: {format_datetime(moment)}"


# --- other backends ---------------------------------------------------------------------------


def test_file_backend_writes_one_parseable_eml(app, queue_email, tmp_path):
    outbox = queue_email(name="Ada Lovelace")

    report = deliver_batch("worker-1")

    assert report.sent == 1
    [path] = (tmp_path / "mail").iterdir()
    assert path.suffix == ".eml" and str(outbox.id) in path.name
    message = BytesParser(policy=default_policy).parsebytes(path.read_bytes())
    assert message["Message-ID"] == outbox.message_id
    assert "Dear Ada," in message.get_body(preferencelist=("plain",)).get_content()
    assert TITLE in message.get_body(preferencelist=("html",)).get_content()


def test_file_backend_overwrites_on_redelivery_and_leaves_no_temporary_files(
    ctx, queue_email, tmp_path
):
    envelope = build_envelope(queue_email())
    backend = FileBackend(tmp_path / "out")

    backend.send(envelope)
    backend.send(envelope)

    [path] = (tmp_path / "out").iterdir()  # hidden temporary files would show here too
    assert path.read_bytes() == envelope.content


def test_console_backend_prints_the_message(ctx, queue_email, capsys):
    outbox = queue_email(name="Ada Lovelace")

    ConsoleBackend().send(build_envelope(outbox))

    printed = capsys.readouterr().out
    assert f"outbox #{outbox.id}" in printed
    assert f"Message-ID: {outbox.message_id}" in printed


def test_memory_backend_keeps_messages_on_the_app(app, queue_email):
    app.config.update(MAIL_BACKEND="memory")
    outbox = queue_email()

    deliver_batch("worker-1")

    [envelope] = app.extensions[backends.SENT_MAIL_KEY]
    assert envelope.message_id == outbox.message_id
    assert fresh(outbox).status == OutboxStatus.SENT


# --- scheduled sends --------------------------------------------------------------------------


def test_scheduled_message_goes_out_only_when_its_time_comes(smtp_app, smtp_server, queue_email):
    send_at = utcnow() + timedelta(days=2)
    outbox = queue_email(send_at=send_at)
    assert outbox.status == OutboxStatus.SCHEDULED

    early = deliver_batch("worker-1")

    assert (early.released, early.attempted) == (0, 0)
    assert smtp_server.received == []

    with time_machine.travel(send_at + timedelta(minutes=1), tick=True):
        on_time = deliver_batch("worker-1")

    assert (on_time.released, on_time.sent) == (1, 1)
    assert_each_once(smtp_server, [outbox])


def test_a_long_run_releases_scheduled_messages_at_most_every_housekeeping_interval(
    smtp_app, smtp_server, queue_email
):
    start = utcnow()
    clock = {"now": start}
    scheduled = queue_email(send_at=start + timedelta(seconds=1))

    with delivery.Courier("worker-1", lambda: clock["now"], None) as courier:
        first = courier.batch(10)
        clock["now"] = start + timedelta(seconds=2)  # due now, but the run housekept just before
        soon_after = courier.batch(10)
        clock["now"] = start + delivery.HOUSEKEEPING_INTERVAL
        later = courier.batch(10)

    assert (first.released, soon_after.released) == (0, 0)
    assert (later.released, later.sent) == (1, 1)
    assert_each_once(smtp_server, [scheduled])


def test_stale_scheduled_closure_is_cancelled_without_blocking_delivery(
    smtp_app, smtp_server, queue_email, make_application
):
    application = make_application()
    manager = application.requisition.manager
    send_at = utcnow() + timedelta(days=1)
    closure = send_message(
        manager, application, choose_template(manager, "closure_not_selected"), send_at=send_at
    ).outbox
    # Meanwhile the offer went out (as the offers service does): "not selected" no longer applies.
    application.stage = Stage.OFFER_EXTENDED
    db.session.commit()
    ordinary = queue_email()

    with time_machine.travel(send_at + timedelta(minutes=1), tick=True):
        report = deliver_batch("worker-1")

    assert report.sent == 1
    assert fresh(closure).status == OutboxStatus.CANCELLED
    assert_each_once(smtp_server, [ordinary])


# --- claims and concurrent workers ------------------------------------------------------------


def test_a_refusal_in_a_claim_sent_while_the_next_is_prepared_fails_only_that_message(
    smtp_app, smtp_server, queue_email
):
    """Claims of two: the third row is refused while the bookkeeping thread prepares the next."""
    smtp_app.config["DELIVERY_CLAIM_SIZE"] = 2
    rows = [queue_email(email=f"ahead{n}@example.org") for n in range(5)]
    smtp_server.handler.refuse_recipient("ahead2@example.org", "550 5.1.1 No such user here")

    report = deliver_batch("worker-1")

    assert (report.sent, report.failed) == (4, 1)
    assert [fresh(row).status for row in rows] == [OutboxStatus.SENT] * 2 + [
        OutboxStatus.FAILED
    ] + [OutboxStatus.SENT] * 2
    assert "550" in fresh(rows[2]).last_error
    assert Counter(smtp_server.message_ids()) == Counter(
        row.message_id for number, row in enumerate(rows) if number != 2
    )


def test_stop_mid_claim_gives_back_the_rest_and_the_claim_prepared_ahead(
    smtp_app, smtp_server, queue_email
):
    smtp_app.config["DELIVERY_CLAIM_SIZE"] = 2
    rows = [queue_email() for _ in range(6)]
    stop = threading.Event()
    smtp_server.handler.on_accept = lambda received: stop.set()  # stop during the first send

    report = deliver_batch("worker-1", stop=stop)

    assert report.sent == 1
    assert smtp_server.message_ids() == [rows[0].message_id]
    statuses = [fresh(row).status for row in rows]
    assert statuses == [OutboxStatus.SENT] + [OutboxStatus.QUEUED] * 5  # none claimed and forgotten
    assert [fresh(row).claimed_by for row in rows[1:]] == [None] * 5
    assert [fresh(row).attempts for row in rows[1:]] == [0] * 5


def test_drain_prepares_across_batches_and_leaves_nothing_claimed(
    smtp_app, smtp_server, queue_email
):
    smtp_app.config["DELIVERY_CLAIM_SIZE"] = 2
    rows = [queue_email() for _ in range(7)]
    batches = []

    total = drain("worker-1", 2, on_batch=lambda report: batches.append(report.sent))

    assert total.sent == 7 and batches == [2, 2, 2, 1]
    assert_each_once(smtp_server, rows)
    assert (
        db.session.scalar(select(func.count()).where(OutboxEmail.status == OutboxStatus.SENDING))
        == 0
    )


def test_an_error_between_batches_gives_back_the_claim_prepared_for_the_next(
    smtp_app, smtp_server, queue_email
):
    smtp_app.config["DELIVERY_CLAIM_SIZE"] = 2
    rows = [queue_email() for _ in range(5)]

    def progress(report):
        raise SimulatedCrash  # e.g. the progress bar failing after the first batch

    with pytest.raises(SimulatedCrash):
        drain("worker-1", 2, on_batch=progress)

    statuses = [fresh(row).status for row in rows]
    assert statuses == [OutboxStatus.SENT] * 2 + [OutboxStatus.QUEUED] * 3
    assert smtp_server.message_ids() == [row.message_id for row in rows[:2]]


def test_the_worker_loop_delivers_full_batches_back_to_back_and_leaves_nothing_claimed(
    smtp_app, smtp_server, queue_email
):
    smtp_app.config["DELIVERY_CLAIM_SIZE"] = 2
    rows = [queue_email() for _ in range(5)]
    stop = threading.Event()
    smtp_server.handler.on_accept = lambda received: (
        stop.set() if len(smtp_server.received) == 5 else None  # stop at the last one
    )

    total = run_worker("worker-1", batch_size=2, poll_interval=0.1, stop=stop)

    assert total.sent == 5
    assert_each_once(smtp_server, rows)
    assert (
        db.session.scalar(select(func.count()).where(OutboxEmail.status == OutboxStatus.SENDING))
        == 0
    )


def test_two_claims_of_the_same_row_cannot_both_succeed(ctx, queue_email):
    outbox = queue_email()
    now = utcnow()

    assert claim([outbox.id], "worker-a", now) == [outbox.id]
    assert claim([outbox.id], "worker-b", now) == []

    row = fresh(outbox)
    assert (row.status, row.claimed_by) == (OutboxStatus.SENDING, "worker-a")


def test_a_claim_takes_only_the_rows_still_queued(ctx, queue_email):
    rows = [queue_email() for _ in range(3)]
    ids = [row.id for row in rows]
    now = utcnow()

    assert claim(ids[1:2], "worker-b", now) == ids[1:2]
    assert claim(ids, "worker-a", now) == [ids[0], ids[2]]

    assert [fresh(row).claimed_by for row in rows] == ["worker-a", "worker-b", "worker-a"]


def run_workers(app, names: list[str], batch_size: int = 5) -> list[BaseException]:
    """Drain the outbox with one thread per worker, each in its own app context and session."""
    start = threading.Barrier(len(names))
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            with app.app_context():
                start.wait()
                drain(name, batch_size)
        except BaseException as error:  # reported to the test thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


@pytest.mark.postgres_only
@pytest.mark.skipif(
    not POSTGRES_URL,
    reason="concurrent workers rely on PostgreSQL's FOR UPDATE SKIP LOCKED; "
    "set HIRETRACK_TEST_DATABASE_URL to run this test",
)
@pytest.mark.parametrize("claim_size", [1, 7])
def test_two_workers_on_postgresql_deliver_each_message_once(
    smtp_app, smtp_server, queue_email, claim_size
):
    smtp_app.config["DELIVERY_CLAIM_SIZE"] = claim_size
    rows = [queue_email() for _ in range(50)]
    db.session.commit()

    errors = run_workers(smtp_app, ["worker-a", "worker-b"], batch_size=10)

    assert errors == []
    assert_each_once(smtp_server, rows)
    assert {fresh(row).claimed_by for row in rows} == {"worker-a", "worker-b"}
    # Both recorded their claims' contacts at once, into the same tally rows (one upsert of
    # arrays each): not one count lost, and every stored date is what a recompute gives.
    kept = Counter(
        {
            (kind, day): number
            for kind, day, number in db.session.execute(
                select(CadenceTally.kind, CadenceTally.day, CadenceTally.applications)
            )
        }
    )
    recount = db.session.execute(tally.counted_from_applications())
    assert kept == Counter({(kind, day): number for kind, day, number in recount})
    assert sum(number for (kind, _), number in kept.items() if kind == "open") == len(rows)
    assert recompute_stored_cadence(db.session) == (len(rows), 0)


@pytest.mark.skipif(bool(POSTGRES_URL), reason="exercises SQLite's file locking")
class TestSQLiteFile:
    """Two workers on one SQLite file: no row locks, the conditional claim must suffice."""

    @pytest.fixture
    def database_url(self, tmp_path) -> str:
        return f"sqlite:///{tmp_path / 'workers.sqlite'}"

    @pytest.mark.parametrize("claim_size", [1, 4])
    def test_two_workers_deliver_each_message_once(
        self, smtp_app, smtp_server, queue_email, claim_size
    ):
        smtp_app.config["DELIVERY_CLAIM_SIZE"] = claim_size
        rows = [queue_email() for _ in range(20)]

        errors = run_workers(smtp_app, ["worker-a", "worker-b"], batch_size=3)

        assert errors == []
        assert_each_once(smtp_server, rows)
        assert {fresh(row).claimed_by for row in rows} == {"worker-a", "worker-b"}


def statements_during(app, work) -> list[str]:
    """The SQL statements the app's engine runs during work(), in order."""
    seen: list[str] = []

    def remember(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", remember)
    try:
        work()
    finally:
        event.remove(db.engine, "before_cursor_execute", remember)
    return seen


def durability_of_writes(statements: list[str], switch: str) -> list[tuple[str, str | None]]:
    """For each claim and each recorded send, the durability setting last chosen before it."""
    chosen, writes = None, []
    for statement in statements:
        if statement.startswith(switch):
            chosen = statement
        elif "UPDATE outbox_email SET" in statement and "RETURNING" in statement:
            # On PostgreSQL a claim is one statement: WITH oldest AS (...) UPDATE ...
            assignments = statement.partition("UPDATE outbox_email SET")[2].partition(" WHERE ")[0]
            writes.append(("sent" if "sent_at" in assignments else "claim", chosen))
    return writes


@pytest.mark.skipif(bool(POSTGRES_URL), reason="exercises SQLite's WAL mode")
class TestSQLiteDurability:
    @pytest.fixture
    def database_url(self, tmp_path) -> str:
        return f"sqlite:///{tmp_path / 'durable.sqlite'}"

    def test_claims_reach_the_disk_and_results_need_not(self, smtp_app, smtp_server, queue_email):
        db.session.connection().exec_driver_sql("PRAGMA journal_mode=WAL")
        db.session.commit()
        rows = [queue_email()]

        statements = statements_during(smtp_app, lambda: deliver_batch("worker-1"))

        assert durability_of_writes(statements, "PRAGMA synchronous=") == [
            ("claim", "PRAGMA synchronous=FULL"),
            ("sent", "PRAGMA synchronous=NORMAL"),
        ]
        assert_each_once(smtp_server, rows)


@pytest.mark.postgres_only
@pytest.mark.skipif(not POSTGRES_URL, reason="set HIRETRACK_TEST_DATABASE_URL to run this test")
def test_postgresql_claims_wait_for_the_disk_and_results_need_not(
    smtp_app, smtp_server, queue_email
):
    rows = [queue_email()]
    in_force: list[tuple[str, str]] = []

    def setting_at_write(conn, cursor, statement, parameters, context, executemany) -> None:
        if cursor.rowcount < 1:
            return  # a claim that found nothing due wrote nothing
        for kind, _ in durability_of_writes([" ".join(statement.split())], "-"):
            (setting,) = cursor.connection.execute("SHOW synchronous_commit").fetchone()
            in_force.append((kind, setting))

    event.listen(db.engine, "after_cursor_execute", setting_at_write)
    try:
        statements = statements_during(smtp_app, lambda: deliver_batch("worker-1"))
    finally:
        event.remove(db.engine, "after_cursor_execute", setting_at_write)

    assert in_force == [("claim", "on"), ("sent", "off")]
    # The server's default is on: only the results' transaction needs a statement to change it.
    assert [s for s in statements if s.startswith("SET LOCAL synchronous_commit")] == [
        "SET LOCAL synchronous_commit TO off"
    ]
    assert_each_once(smtp_server, rows)


def test_claim_size_must_be_sensible(tmp_path):
    with pytest.raises(ConfigurationError, match="DELIVERY_CLAIM_SIZE"):
        create_app(base_config("sqlite://", tmp_path) | {"DELIVERY_CLAIM_SIZE": 0})


# --- command line -----------------------------------------------------------------------------


def test_cli_deliver_once_drains_and_prints_a_summary(smtp_app, smtp_server, queue_email, runner):
    rows = [queue_email() for _ in range(3)]

    result = runner.invoke(args=["outbox", "deliver", "--once"])

    assert result.exit_code == 0, result.output
    assert "Outbox delivery: 3 sent, 0 to retry later, 0 failed." in result.output
    assert_each_once(smtp_server, rows)


def test_cli_deliver_once_shows_progress_over_several_batches(
    smtp_app, smtp_server, queue_email, runner
):
    rows = [queue_email() for _ in range(5)]

    result = runner.invoke(args=["outbox", "deliver", "--once", "--batch-size", "2"])

    assert result.exit_code == 0, result.output
    assert "Delivering 5 messages" in result.output
    assert "5 sent" in result.output
    assert_each_once(smtp_server, rows)


def test_cli_deliver_once_exits_1_when_the_server_is_down(app, queue_email, runner):
    queue_email()
    app.config.update(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=free_port())

    result = runner.invoke(args=["outbox", "deliver", "--once"])

    assert result.exit_code == 1
    assert "1 to retry later" in result.output and "Stopped early" in result.output


def test_cli_status_and_retry(smtp_app, smtp_server, queue_email, runner):
    sent, refused = queue_email(), queue_email(email="nobody@example.org")
    smtp_server.handler.refuse_recipient("nobody@example.org")
    runner.invoke(args=["outbox", "deliver", "--once"])

    status = runner.invoke(args=["outbox", "status"])

    assert status.exit_code == 0, status.output
    assert "sent         1" in status.output and "failed       1" in status.output
    assert f"#{refused.id} failed" in status.output and "550" in status.output

    again = runner.invoke(args=["outbox", "retry", "--id", str(refused.id)])

    assert again.exit_code == 0, again.output
    assert "new Message-ID" in again.output
    assert fresh(refused).status == OutboxStatus.QUEUED

    refused_again = runner.invoke(args=["outbox", "retry", "--id", str(sent.id)])
    assert refused_again.exit_code == 1
    assert "Only a failed or unconfirmed message" in refused_again.output
    missing = runner.invoke(args=["outbox", "retry", "--id", "999999"])
    assert missing.exit_code == 1 and "no outbox message" in missing.output


def test_cli_status_says_how_long_the_oldest_due_message_waited(app, queue_email, runner):
    queue_email()

    with time_machine.travel(utcnow() + timedelta(minutes=42), tick=False):
        result = runner.invoke(args=["outbox", "status"])

    assert result.exit_code == 0, result.output
    assert "queued       1" in result.output
    assert "1 due now; the oldest has waited 42m. Is a worker running?" in result.output


class UnhandledSigterm(BaseException):
    """Raised by the test's own SIGTERM handler if the CLI failed to install its handler."""


def test_cli_worker_stops_cleanly_on_sigterm(smtp_app, smtp_server, queue_email, runner):
    first, second = queue_email(), queue_email()
    # The server itself sends SIGTERM while the first message is being accepted: the worker must
    # finish and record that message, then exit 0 without starting the next.
    smtp_server.handler.on_accept = lambda received: os.kill(os.getpid(), signal.SIGTERM)

    def unhandled(signum, frame):
        raise UnhandledSigterm

    previous = signal.signal(signal.SIGTERM, unhandled)
    try:
        result = runner.invoke(args=["outbox", "deliver", "--poll-interval", "0.1"])
        handler_after = signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)

    assert result.exit_code == 0, result.output
    assert "SIGTERM: stopping after the current message" in result.output
    assert "1 sent" in result.output
    assert smtp_server.message_ids() == [first.message_id]
    assert fresh(first).status == OutboxStatus.SENT
    assert fresh(second).status == OutboxStatus.QUEUED
    assert handler_after is unhandled  # the CLI put back the handler it found


def test_cli_help_texts(runner):
    result = runner.invoke(args=["outbox", "deliver", "--help"])

    assert result.exit_code == 0
    for option in ("--once", "--batch-size", "--worker-id", "--poll-interval"):
        assert option in result.output
