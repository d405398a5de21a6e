"""Writers that lock the same requisitions in opposite orders (PostgreSQL deadlocks).

A delivery that fails for good adds one to its requisition's kept count of failed deliveries
(`messages.requisition_counts`), which locks the requisition's row until the results commit. Two
workers whose claims hold rows of requisitions A and B in opposite orders can then each wait for
the other: PostgreSQL ends one transaction as a deadlock. The results must still be recorded (a
row left in SENDING would later ask a person whether it went out), so the recording retries.
A web request ended that way answers "busy, try again" with nothing saved, never a 500.

The workers without a person to ask (delivery recording, inbound mail, the reminders run) run
such a transaction again from scratch through one helper, `retry_when_ended_for_another`.
"""

import threading
import time
from datetime import UTC, date, datetime

import pytest
import time_machine
from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import OperationalError

from hiretrack.cadence.upkeep import prepare_run
from hiretrack.candidates.models import Application, Touchpoint
from hiretrack.candidates.services import log_touchpoint
from hiretrack.database import retry_when_ended_for_another, utcnow
from hiretrack.extensions import db
from hiretrack.inbound.imap import record_message
from hiretrack.inbound.models import InboundKind, InboundMessage
from hiretrack.inbound.parsing import read_message
from hiretrack.messages.backends import PermanentFailure
from hiretrack.messages.models import Draft, OutboxEmail, OutboxStatus
from hiretrack.messages.results import Attempt, record_results
from hiretrack.messages.services import choose_template, send_message
from hiretrack.requisitions.models import Requisition
from tests.conftest import POSTGRES_URL
from tests.inbound_support import send_update, tracking_app
from tests.mail_builders import reply_to

send_update, tracking_app = send_update, tracking_app  # fixtures

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(not POSTGRES_URL, reason="set HIRETRACK_TEST_DATABASE_URL to run this test"),
]


def queue_for(requisition, make_application) -> OutboxEmail:
    """A check-in queued through the real send service for a new application on `requisition`."""
    application = make_application(requisition=requisition)
    manager = requisition.manager
    sent = send_message(manager, application, choose_template(manager, "check_in"))
    db.session.commit()
    return sent.outbox


def claim_as(worker_id: str, rows: list[OutboxEmail]) -> None:
    db.session.execute(
        update(OutboxEmail)
        .where(OutboxEmail.id.in_([row.id for row in rows]))
        .values(status=OutboxStatus.SENDING, claimed_by=worker_id, claimed_at=utcnow())
    )
    db.session.commit()


def failed_for_good(row: OutboxEmail) -> Attempt:
    return Attempt(
        outbox_id=row.id,
        message_id=row.message_id,
        previous_attempts=0,
        finished_at=utcnow(),
        failure=PermanentFailure("550 mailbox unavailable"),
    )


def waiting_on_a_lock(app, count: int) -> None:
    """Wait until `count` backends of this database wait for a row lock."""
    deadline = time.monotonic() + 20
    with app.app_context():
        while time.monotonic() < deadline:
            waiting = db.session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
            )
            db.session.rollback()
            if waiting >= count:
                return
            time.sleep(0.05)
    raise AssertionError(f"expected {count} backends waiting on a lock")


def test_crossed_failures_on_two_requisitions_are_all_recorded(
    app, make_requisition, make_application
):
    first, second = make_requisition(), make_requisition()
    # Ids ascending in this order, so each worker's statements touch them as listed.
    a1, b1, b2, a2 = (
        queue_for(requisition, make_application) for requisition in (first, second, second, first)
    )
    claim_as("worker-1", [a1, b1])
    claim_as("worker-2", [b2, a2])
    errors: list[BaseException] = []

    def record(worker_id: str, rows: list[OutboxEmail]) -> None:
        try:
            with app.app_context():
                record_results(worker_id, [failed_for_good(row) for row in rows], [])
        except BaseException as error:  # reported to the test thread
            errors.append(error)

    # Another transaction holds b1's row, so worker 1 records a1 (locking requisition A) and waits
    # at b1; worker 2 then records b2 (locking B) and waits for A. Releasing b1 lets worker 1 ask
    # for B: each waits for the other.
    blocker = db.engine.connect()
    blocker.execute(text("SELECT id FROM outbox_email WHERE id = :id FOR UPDATE"), {"id": b1.id})
    worker_1 = threading.Thread(target=record, args=("worker-1", [a1, b1]))
    worker_1.start()
    waiting_on_a_lock(app, 1)
    worker_2 = threading.Thread(target=record, args=("worker-2", [b2, a2]))
    worker_2.start()
    waiting_on_a_lock(app, 2)
    blocker.rollback()
    blocker.close()
    for worker in (worker_1, worker_2):
        worker.join(timeout=60)

    assert errors == []
    db.session.expire_all()
    rows = [db.session.get(OutboxEmail, row.id) for row in (a1, b1, b2, a2)]
    assert [row.status for row in rows] == [OutboxStatus.FAILED] * 4
    assert [row.claimed_by for row in rows] == [None] * 4
    counts = {
        requisition.id: db.session.get(Requisition, requisition.id).failed_deliveries
        for requisition in (first, second)
    }
    assert counts == {first.id: 2, second.id: 2}
    assert db.session.query(Application).count() == 4


def test_a_request_ended_by_a_deadlock_saves_nothing_and_asks_to_try_again(
    app, client, login, make_user, make_requisition, make_application
):
    manager = make_user("manager")
    first, second = make_requisition(manager=manager), make_requisition(manager=manager)
    applications = [
        make_application(requisition=requisition, stage="final_round")
        for requisition in (first, second)
    ]
    login(manager)
    form = {
        "action": "send",
        "application_ids": ",".join(str(application.id) for application in applications),
        "back": "/dashboard",
        "category": "check_in",
    }
    answers = []

    def prepare_drafts() -> None:
        answers.append(client.post("/bulk/apply", data=form))

    # The bulk send writes a waiting draft for each application, which adds one to its
    # requisition's count: the request locks the first requisition, then waits for the second,
    # held here; asking here for the first closes the circle, and PostgreSQL ends the request.
    blocker = db.engine.connect()
    lock = text("SELECT id FROM requisition WHERE id = :id FOR UPDATE")
    blocker.execute(lock, {"id": second.id})
    request = threading.Thread(target=prepare_drafts)
    request.start()
    waiting_on_a_lock(app, 1)
    blocker.execute(lock, {"id": first.id})  # returns once the request has rolled back
    blocker.rollback()
    blocker.close()
    request.join(timeout=60)

    [answer] = answers
    assert answer.status_code == 302
    assert answer.headers["Retry-After"] == "1"
    page = client.get(answer.headers["Location"], follow_redirects=True).get_data(as_text=True)
    assert "nothing of yours was saved. Please try again." in page
    db.session.expire_all()
    assert db.session.query(Draft).count() == 0
    counts = [db.session.get(Requisition, r.id).drafts_waiting for r in (first, second)]
    assert counts == [0, 0]
    # Trying again does the work.
    assert client.post("/bulk/apply", data=form).status_code == 302
    assert db.session.query(Draft).count() == 2


# --- Workers run a transaction ended for another again ------------------------------------------


def in_thread(app, work, results: list, errors: list) -> threading.Thread:
    """Start `work()` in its own thread and app context (a worker process of its own)."""

    def run() -> None:
        try:
            with app.app_context():
                results.append(work())
        except BaseException as error:  # reported to the test thread
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_the_helper_runs_a_serialization_failure_again_from_scratch(app, make_requisition):
    """A real 40001: a REPEATABLE READ transaction updates a row another one changed since."""
    requisition_id = make_requisition(headcount=1).id
    db.session.commit()
    bump = text("UPDATE requisition SET headcount = headcount + :n WHERE id = :id")
    runs = []

    def work() -> int:
        runs.append(len(runs) + 1)
        db.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        db.session.execute(select(Requisition.id)).all()  # the snapshot is taken here
        if len(runs) == 1:
            with db.engine.begin() as other:
                other.execute(bump, {"n": 1, "id": requisition_id})
        db.session.execute(bump, {"n": 10, "id": requisition_id})
        db.session.commit()
        return len(runs)

    assert retry_when_ended_for_another(work, db.session, what="A test") == 2
    db.session.expire_all()
    assert db.session.get(Requisition, requisition_id).headcount == 12


def test_the_helper_gives_up_after_its_attempts_and_passes_other_errors_at_once(ctx):
    runs = []

    def deadlocked() -> None:
        runs.append(1)
        db.session.execute(text("SELECT 1"))
        raise OperationalError("UPDATE ...", {}, type("E", (), {"sqlstate": "40P01"})())

    with pytest.raises(OperationalError):
        retry_when_ended_for_another(deadlocked, db.session, what="A test", attempts=3)
    assert len(runs) == 3

    def broken() -> None:
        runs.append(1)
        raise ValueError("a bug")

    runs.clear()
    with pytest.raises(ValueError):
        retry_when_ended_for_another(broken, db.session, what="A test")
    assert len(runs) == 1


def test_the_reminders_run_ended_by_a_deadlock_runs_again(app, make_application, make_user):
    """Flagging ghosted applications (an UPDATE of application rows) after marking broken
    promises (touchpoint rows) meets a writer that holds a ghosted application and then asks
    for the touchpoint: PostgreSQL ends the run, which runs again once the writer is done."""
    manager = make_user("manager")
    with time_machine.travel(datetime(2026, 2, 2, 10, tzinfo=UTC), tick=False):
        ghosted = make_application(stage="final_round")
    with time_machine.travel(datetime(2026, 3, 9, 10, tzinfo=UTC), tick=False):
        promised = make_application(stage="final_round")
        promise = log_touchpoint(
            manager,
            promised,
            direction="outbound",
            channel="phone",
            note="Call",
            promised_next_update=date(2026, 3, 13),
        )
        db.session.commit()
    promise_id, ghosted_id = promise.id, ghosted.id
    results, errors = [], []

    blocker = db.engine.connect()
    blocker.execute(
        text("SELECT id FROM application WHERE id = :id FOR UPDATE"), {"id": ghosted_id}
    )
    run = in_thread(app, lambda: prepare_run(date(2026, 3, 17)), results, errors)
    waiting_on_a_lock(app, 1)  # the run holds the touchpoint and waits for the application
    # Asking for the touchpoint closes the circle; this returns once the run was ended.
    blocker.execute(text("SELECT id FROM touchpoint WHERE id = :id FOR UPDATE"), {"id": promise_id})
    blocker.rollback()
    blocker.close()
    run.join(timeout=60)

    assert errors == [] and results == [(1, 1)]
    db.session.expire_all()
    assert db.session.get(Application, ghosted_id).was_ghosted is True
    assert db.session.get(Touchpoint, promise_id).promise_broken_on == date(2026, 3, 14)


def test_an_inbound_reply_ended_by_a_deadlock_is_recorded_by_running_again(
    tracking_app, send_update
):
    """The reply's record claims its fingerprint, then logs the candidate's contact on the
    application, held here; inserting the same fingerprint here closes the circle."""
    sent = send_update()
    raw = reply_to(sent.message, "Thanks, any news?", sender=sent.candidate_address)
    fingerprint = read_message(raw).fingerprint
    application_id = sent.application.id
    db.session.commit()
    results, errors = [], []

    blocker = db.engine.connect()
    blocker.execute(
        text("SELECT id FROM application WHERE id = :id FOR UPDATE"), {"id": application_id}
    )
    worker = in_thread(tracking_app, lambda: record_message(raw, len(raw)).created, results, errors)
    waiting_on_a_lock(tracking_app, 1)
    blocker.execute(
        insert(InboundMessage).values(
            fingerprint=fingerprint, source="api", kind="unmatched", status="open"
        )
    )  # returns once the worker's record was ended
    blocker.rollback()
    blocker.close()
    worker.join(timeout=60)

    assert errors == [] and results == [True]
    db.session.expire_all()
    (message,) = db.session.scalars(select(InboundMessage)).all()
    assert message.fingerprint == fingerprint and message.kind == InboundKind.REPLY
    assert message.counted and message.application_id == application_id
