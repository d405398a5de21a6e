"""Writers that lock the same requisitions in opposite orders (PostgreSQL deadlocks).

A delivery that fails for good adds one to its requisition's kept count of failed deliveries
(`messages.requisition_counts`), which locks the requisition's row until the results commit. Two
workers whose claims hold rows of requisitions A and B in opposite orders can then each wait for
the other: PostgreSQL ends one transaction as a deadlock. The results must still be recorded (a
row left in SENDING would later ask a person whether it went out), so the recording retries.
A web request ended that way answers "busy, try again" with nothing saved, never a 500.
"""

import threading
import time

import pytest
from sqlalchemy import text, update

from hiretrack.candidates.models import Application
from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.messages.backends import PermanentFailure
from hiretrack.messages.models import Draft, OutboxEmail, OutboxStatus
from hiretrack.messages.results import Attempt, record_results
from hiretrack.messages.services import choose_template, send_message
from hiretrack.requisitions.models import Requisition
from tests.conftest import POSTGRES_URL

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
