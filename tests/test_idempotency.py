"""Idempotency-Key on the API's POSTs and one-time tokens on the web's send forms, one at a time.

The parallel cases run against live gunicorn in test_idempotency_live.py; these pin the rules:
replay, a reused key, scoping per user, expiry, and a refusal that gives the key back.
"""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from hiretrack.candidates.models import Touchpoint
from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.idempotency.models import IdempotencyKey
from hiretrack.messages.drafts import prepare_drafts
from hiretrack.messages.models import OutboxEmail
from tests import api_support
from tests.api_support import assert_problem
from tests.live_support import flashes

as_user = api_support.as_user
make_staff = api_support.make_staff


def outbox_rows() -> int:
    return db.session.scalar(select(func.count()).select_from(OutboxEmail))


def test_the_same_key_and_body_answer_the_first_response_without_sending_again(
    make_staff, as_user, make_application
):
    manager = make_staff("manager")
    application = make_application(stage="final_round", manager=manager)
    caller, other = as_user(manager), as_user(make_staff("recruiter"))
    path = f"/applications/{application.id}/messages"
    key = {"Idempotency-Key": "6d1b9c4e-2f0a-4d8e-9f3c-1a2b3c4d5e6f"}

    first = caller.post(path, {"template": "check-in"}, headers=key)
    again = caller.post(path, {"template": "check-in"}, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert outbox_rows() == 1

    changed = caller.post(path, {"template": "delay"}, headers=key)
    assert_problem(changed, 422, "Idempotency-Key")
    # Keys belong to their user: another user's identical key is a request of its own, and
    # another token of the same user replays (docs/api.md: keys are per user, not per token).
    assert other.post(path, {"template": "check-in"}, headers=key).status_code == 201
    assert outbox_rows() == 2
    second_token = as_user(manager).post(path, {"template": "check-in"}, headers=key)
    assert second_token.headers["Idempotent-Replayed"] == "true"
    assert second_token.get_json() == first.get_json()
    assert outbox_rows() == 2
    assert_problem(
        caller.post(path, {"template": "check-in"}, headers={"Idempotency-Key": "x" * 256}),
        422,
        "Idempotency-Key",
    )

    # After 24 hours the key is forgotten, and with it the stored answer.
    db.session.execute(update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=25)))
    db.session.commit()
    assert caller.post(path, {"template": "check-in"}, headers=key).status_code == 201
    assert outbox_rows() == 3


def test_a_refused_request_gives_its_key_back(make_staff, as_user, make_application):
    manager = make_staff("manager")
    application = make_application(stage="final_round", manager=manager)
    caller = as_user(manager)
    key = {"Idempotency-Key": "retry-after-fixing"}
    path = f"/applications/{application.id}/touchpoints"
    body = {"direction": "outbound", "channel": "phone", "note": "Called"}
    assert_problem(caller.post(f"{path}/nowhere", body, headers=key), 404)
    assert caller.post(path, body, headers=key).status_code == 201
    assert caller.post(path, body, headers=key).headers["Idempotent-Replayed"] == "true"


def test_a_repeated_compose_submission_shows_the_first_result_and_sends_nothing(
    client, login, make_application
):
    application = make_application(stage="final_round")
    login(application.requisition.manager)
    path = f"/applications/{application.id}/compose"
    page = client.get(path).get_data(as_text=True)
    token = re.search(r'name="submission_token" type="hidden" value="([^"]+)"', page)[1]
    form = {"template": "check-in", "subject": "Update", "submission_token": token}
    form |= {"send_when": "now", "submit": "Send"}

    refused = client.post(path, data=form | {"body": ""})  # the form comes back: token unused
    assert refused.status_code == 422 and outbox_rows() == 0
    first = client.post(path, data=form | {"body": "Hello {{ candidate.first_name }}"})
    second = client.post(path, data=form | {"body": "Hello again"}, follow_redirects=True)
    assert first.status_code == 302 and outbox_rows() == 1
    assert second.request.path == first.headers["Location"]
    assert "Queued for delivery." in second.get_data(as_text=True)


def test_the_retention_run_forgets_expired_keys_and_their_answers(make_staff, as_user, runner):
    caller = as_user(make_staff("admin"))
    for key in ("old", "new"):
        caller.post("/departments", {"name": key}, headers={"Idempotency-Key": key})
    db.session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.key == "old")
        .values(created_at=utcnow() - timedelta(hours=25))
    )
    db.session.commit()
    result = runner.invoke(args=["retention", "run"])
    assert "Removed 1 expired idempotency key(s)" in result.output, result.output
    assert list(db.session.scalars(select(IdempotencyKey.key))) == ["new"]


def test_a_repeated_bulk_send_shows_the_first_result_and_sends_nothing(
    client, login, make_requisition, make_application
):
    requisition = make_requisition()
    applications = [make_application(requisition=requisition) for _ in range(2)]
    ids = ",".join(str(d.id) for d in prepare_drafts(requisition.manager, applications, "check_in"))
    db.session.commit()
    login(requisition.manager)
    page = client.get(f"/bulk/drafts?ids={ids}&back=/dashboard").get_data(as_text=True)
    token = re.search(r'name="submission_token" type="hidden" value="([^"]+)"', page)[1]
    form = {"draft_ids": ids, "back": "/dashboard", "submission_token": token}

    first = client.post("/bulk/drafts/send", data=form, follow_redirects=True)
    second = client.post("/bulk/drafts/send", data=form, follow_redirects=True)
    assert outbox_rows() == 2
    for page in (first, second):
        assert page.request.path == "/dashboard"
        assert flashes(page.get_data(as_text=True)) == [
            ("success", "2 messages queued for delivery.")
        ]


def test_a_failure_after_the_work_commits_keeps_neither_the_work_nor_the_key(
    make_staff, as_user, make_application, monkeypatch
):
    """The work, the key and its answer are committed together: a failure after the view's own
    commit (here, building the answer) leaves nothing half done, so the retry does the work."""
    from hiretrack.api import presenters

    manager = make_staff("manager")
    application = make_application(stage="final_round", manager=manager)
    caller = as_user(manager)
    path = f"/applications/{application.id}/touchpoints"
    body = {"direction": "outbound", "channel": "phone", "note": "Called about the offer"}
    key = {"Idempotency-Key": "fails-after-commit"}
    present_touchpoint = presenters.touchpoint

    def fail_once(row):
        monkeypatch.setattr(presenters, "touchpoint", present_touchpoint)
        raise RuntimeError("lost between the work and its answer")

    monkeypatch.setattr(presenters, "touchpoint", fail_once)
    with pytest.raises(RuntimeError, match="lost between"):
        caller.post(path, body, headers=key)
    db.session.rollback()
    assert touchpoints_of(application) == 0
    assert db.session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0

    first = caller.post(path, body, headers=key)
    again = caller.post(path, body, headers=key)
    assert first.status_code == again.status_code == 201, first.get_data(as_text=True)
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert touchpoints_of(application) == 1
    stored = db.session.scalars(select(IdempotencyKey)).one()
    assert stored.response_status == 201


def touchpoints_of(application) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(Touchpoint)
        .where(Touchpoint.application_id == application.id)
    )
