"""A repeated send does nothing: Idempotency-Key in the API, one-time tokens in the web forms.

Twenty identical requests released together against live gunicorn workers (SQLite file or
PostgreSQL) must queue one email; the figures printed are quoted in the issue's closing note.
A worker killed in the middle of a request with a key leaves the key free, so the client's
retry does the work once (the key, the work and its answer are one transaction).
"""

import os
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import create_engine, text

from hiretrack.database import APPLICATION_NAME
from tests.conftest import POSTGRES_URL
from tests.live_gunicorn import living_group_members
from tests.live_support import (
    api_post,
    copy_session,
    flashes,
    form_fields,
    in_parallel,
    outbox_rows,
    seed_team,
    sign_in,
)

PARALLEL = 20


def test_parallel_api_sends_with_one_idempotency_key_queue_one_email(live_app, live_gunicorn):
    with live_app.app_context():
        team = seed_team(candidates=1, drafts=False)
    server = live_gunicorn(workers=4)
    url = f"{server.url}/api/v1/applications/{team.application_ids[0]}/messages"
    key = str(uuid.uuid4())

    answers = in_parallel(
        PARALLEL,
        lambda _: api_post(url, team.token, {"template": "check-in"}, **{"Idempotency-Key": key}),
    )

    with live_app.app_context():
        rows = outbox_rows()
    print(f"\n{PARALLEL} parallel POST /messages with one Idempotency-Key: {rows} outbox rows")
    assert rows == 1
    assert [answer.status_code for answer in answers] == [201] * PARALLEL
    assert len({answer.json()["outbox"]["id"] for answer in answers}) == 1
    replayed = [answer for answer in answers if answer.headers.get("Idempotent-Replayed")]
    assert len(replayed) == PARALLEL - 1


def test_parallel_submissions_of_one_compose_form_queue_one_email(live_app, live_gunicorn):
    with live_app.app_context():
        team = seed_team(candidates=1, drafts=False)
    server = live_gunicorn(workers=2)
    browser = sign_in(server.url, team.manager_email)
    path = f"/applications/{team.application_ids[0]}/compose"
    form = form_fields(browser.get(server.url + path, timeout=30).text, "")  # posts to itself
    form["submit"] = "Send"
    clicks = [copy_session(browser) for _ in range(PARALLEL)]

    pages = in_parallel(
        PARALLEL, lambda n: clicks[n].post(server.url + path, data=form, timeout=90)
    )

    with live_app.app_context():
        rows = outbox_rows()
    print(f"\n{PARALLEL} parallel submissions of one compose form: {rows} outbox rows")
    assert rows == 1
    for page in pages:
        assert page.status_code == 200 and "/candidates/" in page.url, page.url
        assert flashes(page.text) == [("success", "Queued for delivery.")]


@pytest.mark.skipif(
    not POSTGRES_URL,
    reason="stops the request mid-work with a row lock, which needs PostgreSQL; on SQLite "
    "test_idempotency.py fails a request between its commit and its answer",
)
def test_a_retry_after_the_worker_died_mid_request_does_the_work_once(
    live_app, live_gunicorn, live_database_url
):
    with live_app.app_context():
        team = seed_team(candidates=1, drafts=False)
    server = live_gunicorn(workers=1)
    application_id = team.application_ids[0]
    url = f"{server.url}/api/v1/applications/{application_id}/messages"
    key = {"Idempotency-Key": str(uuid.uuid4())}
    engine = create_engine(live_database_url)
    try:
        with engine.connect() as blocker:
            # Holding the application's row stops the send where it queues the email, inside
            # the request's transaction: after the key is claimed, before the answer exists.
            blocker.execute(
                text("SELECT id FROM application WHERE id = :id FOR UPDATE"), {"id": application_id}
            )
            with ThreadPoolExecutor(1) as pool:
                doomed = pool.submit(api_post, url, team.token, {"template": "check-in"}, **key)
                wait_for_a_request_stopped_on_a_lock(blocker)
                # The claim is not committed apart from the work: nobody else sees it yet.
                assert blocker.scalar(text("SELECT count(*) FROM idempotency_key")) == 0
                master = server.process.pid
                for pid in living_group_members(master):
                    if pid != master:
                        os.kill(pid, signal.SIGKILL)
                with pytest.raises(requests.ConnectionError):
                    doomed.result(timeout=30)
            blocker.rollback()
        wait_for_workers(server)
        with live_app.app_context():
            assert outbox_rows() == 0  # the dead worker's transaction took its work with it

        retried = api_post(url, team.token, {"template": "check-in"}, **key)
        replayed = api_post(url, team.token, {"template": "check-in"}, **key)
    finally:
        engine.dispose()

    assert retried.status_code == 201, retried.text
    assert "Idempotent-Replayed" not in retried.headers
    assert replayed.status_code == 201 and replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == retried.json()
    with live_app.app_context():
        assert outbox_rows() == 1


def wait_for_a_request_stopped_on_a_lock(connection) -> None:
    """Wait until a HireTrack backend waits on a lock (the request reached the locked row)."""
    deadline = time.monotonic() + 30
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name "
        "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    )
    while not connection.scalar(waiting, {"name": APPLICATION_NAME}):
        connection.execute(text("SELECT pg_stat_clear_snapshot()"))  # kept per transaction
        assert time.monotonic() < deadline, "the request never reached the locked row"
        time.sleep(0.05)


def wait_for_workers(server) -> None:
    """Wait until gunicorn has replaced the killed worker and answers again."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{server.url}/healthz", timeout=5).ok:
                return
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.1)
