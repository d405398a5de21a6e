"""A repeated send does nothing: Idempotency-Key in the API, one-time tokens in the web forms.

Twenty identical requests released together against live gunicorn workers (SQLite file or
PostgreSQL) must queue one email; the figures printed are quoted in the issue's closing note.
"""

import uuid

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
