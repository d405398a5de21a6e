"""Exactly once under load: parallel sends of the same drafts against live gunicorn workers.

Real parallel requests (threads released together by a barrier) against several gunicorn
workers on a shared SQLite file or PostgreSQL. Each figure printed here is quoted in the issue's
closing note: requests sent and outbox rows created.
"""

from tests.live_support import (
    api_post,
    copy_session,
    csrf_token,
    flashes,
    in_parallel,
    outbox_rows,
    seed_team,
    sign_in,
)

PARALLEL_API_SENDS = 20


def test_parallel_api_sends_of_the_same_drafts_queue_each_once(live_app, live_gunicorn):
    with live_app.app_context():
        team = seed_team(candidates=4)
    server = live_gunicorn(workers=4)

    answers = in_parallel(
        PARALLEL_API_SENDS,
        lambda _: api_post(f"{server.url}/api/v1/drafts/send", team.token, {"ids": team.draft_ids}),
    )

    with live_app.app_context():
        rows = outbox_rows()
    statuses = sorted(answer.status_code for answer in answers)
    print(f"\n{PARALLEL_API_SENDS} parallel POST /drafts/send of 4 drafts: {rows} outbox rows")
    assert rows == len(team.draft_ids)
    assert statuses.count(200) == 1, statuses
    losers = [answer.json() for answer in answers if answer.status_code != 200]
    assert {answer.status_code for answer in answers} <= {200, 422}, statuses
    assert all("already sent" in loser["detail"] for loser in losers), losers


def test_a_double_click_on_send_all_sends_once_and_shows_the_result(live_app, live_gunicorn):
    with live_app.app_context():
        team = seed_team(candidates=3)
    server = live_gunicorn(workers=2)
    browser = sign_in(server.url, team.manager_email)
    page_url = f"{server.url}/drafts?requisition_id={team.requisition_id}"
    form = {
        "csrf_token": csrf_token(browser.get(page_url, timeout=30).text),
        "hold_id": "",
        "requisition_id": str(team.requisition_id),
        "draft_ids": ",".join(map(str, team.draft_ids)),
    }
    clicks = [browser, copy_session(browser)]

    pages = in_parallel(
        2, lambda n: clicks[n].post(f"{server.url}/drafts/send", data=form, timeout=60)
    )

    with live_app.app_context():
        rows = outbox_rows()
    print(f"\n2 parallel 'Send all' submissions of 3 drafts: {rows} outbox rows")
    assert rows == len(team.draft_ids)
    for page in pages:
        assert page.status_code == 200 and page.url == page_url, page.url
        shown = flashes(page.text)
        assert [category for category, _ in shown] == ["success"], shown
        assert "3 messages queued for delivery" in shown[0][1]
