"""A form submitted several times at the same instant (a double click, a reload) acts once.

Every form that creates or changes something carries a one-time token (`hiretrack.submissions`):
ten copies of one rendered form, released together against live gunicorn workers, add one
candidate, place one hold, make one board move, and every copy lands on the first one's result
instead of an error about a change it made itself.
"""

from sqlalchemy import func, select

from hiretrack.candidates.models import Candidate, StageChange
from hiretrack.extensions import db
from hiretrack.holds.models import Hold
from tests.live_support import copy_session, flashes, form_fields, in_parallel, seed_team, sign_in

CLICKS = 10


def _count(model, *where) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _click_together(browser, url: str, form: dict) -> list:
    clicks = [copy_session(browser) for _ in range(CLICKS)]
    return in_parallel(CLICKS, lambda n: clicks[n].post(url, data=form, timeout=90))


def test_creating_and_moving_forms_clicked_ten_times_at_once_act_once(live_app, live_gunicorn):
    with live_app.app_context():
        team = seed_team(candidates=1, drafts=False)
        candidates_before = _count(Candidate)
    server = live_gunicorn(workers=4)
    browser = sign_in(server.url, team.manager_email)

    url = f"{server.url}/candidates/new"
    form = form_fields(browser.get(url, timeout=30).text, "")
    form |= {"name": "Dana Double", "email": "dana@example.org", "stage": "interviewing"}
    form |= {"requisition_id": str(team.requisition_id)}
    pages = _click_together(browser, url, form)
    with live_app.app_context():
        added = _count(Candidate) - candidates_before
    print(f"\n{CLICKS} parallel submissions of one new-candidate form: {added} candidate(s)")
    assert added == 1
    assert [flashes(page.text) for page in pages] == [[("success", "Dana Double added.")]] * CLICKS

    url = f"{server.url}/requisitions/{team.requisition_id}/holds/new"
    form = form_fields(browser.get(url, timeout=30).text, "")
    form |= {"reason": "budget", "summary": "Budget sign-off", "owner_name": "Head office"}
    pages = _click_together(browser, url, form)
    with live_app.app_context():
        holds = _count(Hold)
    print(f"{CLICKS} parallel submissions of one place-hold form: {holds} hold(s)")
    assert holds == 1
    assert len({tuple(flashes(page.text)) for page in pages}) == 1
    assert flashes(pages[0].text)[0][0] == "success"

    board = f"{server.url}/requisitions/{team.requisition_id}/pipeline"
    application_id = team.application_ids[0]
    action = f"/requisitions/{team.requisition_id}/pipeline/applications/{application_id}/move"
    form = form_fields(browser.get(board, timeout=30).text, action) | {"target": "final_round"}
    pages = _click_together(browser, server.url + action, form)
    with live_app.app_context():
        moves = _count(StageChange, StageChange.to_stage == "final_round")
    print(f"{CLICKS} parallel submissions of one board move: {moves} move(s)")
    assert moves == 1
    for page in pages:
        assert page.status_code == 200, page.text[:300]
        assert flashes(page.text) == [("success", "Candidate 0 moved to Final round.")]
