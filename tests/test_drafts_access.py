"""Drafts are reachable through the web and the API alike, as docs/api.md says.

Drafts are candidate emails waiting for the review of whoever may write to the candidate (the
requisition's manager, recruiters, admins). An approver, even the owner of the hold that
prepared them, reaches them through neither door; another manager sees none of them.
"""

import re

from sqlalchemy import select

from hiretrack.extensions import db
from hiretrack.holds.services import place_hold
from hiretrack.messages.models import Draft
from tests import api_support
from tests.api_support import assert_problem

as_user = api_support.as_user
make_staff = api_support.make_staff


def web_draft_ids(client, query: str = "") -> list[int]:
    page = client.get(f"/drafts{query}")
    assert page.status_code == 200, page.status_code
    field = re.search(
        r'name="draft_ids" type="hidden" value="([^"]*)"', page.get_data(as_text=True)
    )
    return [int(part) for part in field[1].split(",") if part] if field else []


def test_drafts_are_the_same_through_both_doors_and_approvers_reach_neither(
    app, client, login, make_user, make_requisition, make_application, as_user
):
    manager, approver, other = make_user("manager"), make_user("approver"), make_user("manager")
    requisition = make_requisition(manager=manager)
    for _ in range(2):
        make_application(requisition=requisition)
    hold = place_hold(
        manager, requisition, reason="budget", summary="Frozen", owner_id=approver.id
    ).hold
    db.session.commit()
    drafts = sorted(db.session.scalars(select(Draft.id)))
    assert len(drafts) == 2

    for user, expected in ((manager, drafts), (other, [])):
        login(user)
        assert web_draft_ids(client) == expected
        api = as_user(user).get("/drafts").get_json()
        assert [draft["id"] for draft in api["items"]] == expected
        client.post("/logout")

    login(approver)
    assert client.get("/drafts").status_code == 403
    assert client.get(f"/drafts?hold_id={hold.id}").status_code == 403
    approver_api = as_user(approver)
    assert_problem(approver_api.get("/drafts"), 403)
    assert_problem(approver_api.get("/drafts", hold_id=hold.id), 403)
    assert_problem(approver_api.post("/drafts/send", {"ids": drafts}), 403)

    # The approver who owns the hold may cancel it; the closure drafts wait for the manager,
    # and the web takes the approver to the hold's page, which says whose review they wait for,
    # not to a drafts page they cannot open.
    resolved = client.post(f"/holds/{hold.id}/resolve", data={"resolve-outcome": "cancelled"})
    assert resolved.status_code == 302
    assert resolved.headers["Location"] == f"/holds/{hold.id}"
    landed = client.get(resolved.headers["Location"])
    assert landed.status_code == 200
    assert manager.name in landed.get_data(as_text=True)
    waiting = as_user(manager).get("/drafts").get_json()["items"]
    assert [draft["category"] for draft in waiting] == ["closure_cancelled"] * 2
