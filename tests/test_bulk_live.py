"""A bulk action confirmed twice at the same instant (a double click) happens once.

Twenty submissions of one review form, released together against live gunicorn workers: each
selected application gets one logged call (or one move), and every click lands on the same
result. The review form's one-time token (`hiretrack.submissions`) is what makes it so.
"""

from sqlalchemy import func, select

from hiretrack.candidates.models import Application, StageChange, Touchpoint
from hiretrack.extensions import db
from tests.live_support import (
    copy_session,
    flashes,
    form_fields,
    in_parallel,
    seed_team,
    sign_in,
)

PARALLEL = 20


def _review_form(browser, base_url: str, action: str, application_ids: list[int]) -> dict:
    """Tick the applications on the dashboard, choose the action, and read the review form."""
    dashboard = browser.get(f"{base_url}/dashboard", timeout=30).text
    selection = form_fields(dashboard, "/bulk/review")
    selection |= {"action": action, "application_id": application_ids}
    review = browser.post(f"{base_url}/bulk/review", data=selection, timeout=30)
    assert review.status_code == 200, review.text[:500]
    return form_fields(review.text, "/bulk/apply")


def _confirm_in_parallel(browser, base_url: str, form: dict) -> list:
    clicks = [copy_session(browser) for _ in range(PARALLEL)]
    return in_parallel(
        PARALLEL, lambda n: clicks[n].post(f"{base_url}/bulk/apply", data=form, timeout=90)
    )


def _count(model, **where) -> int:
    db.session.rollback()
    query = select(func.count()).select_from(model)
    for column, value in where.items():
        query = query.where(getattr(model, column) == value)
    return db.session.scalar(query)


def test_a_bulk_call_and_a_bulk_move_confirmed_twenty_times_at_once_happen_once(
    live_app, live_gunicorn
):
    with live_app.app_context():
        team = seed_team(candidates=3, drafts=False)
        calls_before = _count(Touchpoint)
    server = live_gunicorn(workers=4)
    browser = sign_in(server.url, team.manager_email)

    form = _review_form(browser, server.url, "log_call", team.application_ids)
    form |= {"channel": "phone", "note": "Told them the budget sign-off is this week."}
    pages = _confirm_in_parallel(browser, server.url, form)

    with live_app.app_context():
        calls = _count(Touchpoint) - calls_before
    print(f"\n{PARALLEL} parallel confirmations of one bulk call for 3 candidates: {calls} calls")
    assert calls == 3
    for page in pages:
        assert page.status_code == 200 and page.url.endswith("/dashboard"), page.url
        assert flashes(page.text) == [("success", "Contact logged with 3 candidates.")]

    form = _review_form(browser, server.url, "move", team.application_ids)
    form |= {"target": "final_round"}
    pages = _confirm_in_parallel(browser, server.url, form)

    with live_app.app_context():
        moves = _count(StageChange, to_stage="final_round")
        stages = {db.session.get(Application, i).stage for i in team.application_ids}
    print(f"{PARALLEL} parallel confirmations of one bulk move of 3 applications: {moves} moves")
    assert moves == 3 and stages == {"final_round"}
    for page in pages:
        assert flashes(page.text) == [("success", "3 applications moved.")], page.text[:300]
