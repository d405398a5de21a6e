"""Requisition screens: list filters, detail, create/edit, approval chain, holds, closing."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from hiretrack.approvals.models import Approval
from hiretrack.approvals.services import request_approval
from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.holds.models import Hold
from hiretrack.holds.services import place_hold
from hiretrack.requisitions.models import Requisition


@pytest.fixture
def manager(make_user):
    return make_user("manager", name="Maria Manager")


def test_manager_creates_a_requisition_for_themselves(
    client, login, manager, make_user, make_department
):
    department = make_department("Engineering")
    other = make_user("manager")
    login(manager)
    page = client.get("/requisitions/new").get_data(as_text=True)
    assert 'name="manager_id"' not in page  # a manager cannot hand it to someone else
    response = client.post(
        "/requisitions/new",
        data={
            "title": "  Backend   engineer ",
            "department_id": str(department.id),
            "headcount": "2",
            "salary_min": "50000",
            "salary_max": "70000",
            "currency": "eur",
            "status": "draft",
            "manager_id": str(other.id),
        },
    )
    assert response.status_code == 302
    requisition = db.session.scalars(select(Requisition)).one()
    assert (requisition.title, requisition.manager_id, requisition.currency) == (
        "Backend engineer",
        manager.id,
        "EUR",
    )
    detail = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Requisition &#39;Backend engineer&#39; created." in detail


def test_invalid_requisition_is_shown_again_with_inline_errors(
    client, login, manager, make_department
):
    make_department()
    login(manager)
    response = client.post(
        "/requisitions/new",
        data={
            "title": "Kept title",
            "department_id": "",
            "headcount": "0",
            "salary_min": "9",
            "salary_max": "5",
            "currency": "EURO",
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'value="Kept title"' in html
    assert "Choose a department." in html
    assert "Must be at least the minimum." in html
    assert html.count('class="field-error"') >= 4
    assert db.session.scalars(select(Requisition)).first() is None


def test_list_filters_by_department_status_and_open_hold(
    client, login, manager, make_requisition, make_department
):
    sales, tech = make_department("Sales"), make_department("Tech")
    held = make_requisition(manager=manager, department=tech, title="Held role")
    make_requisition(manager=manager, department=tech, title="Free role")
    make_requisition(manager=manager, department=sales, title="Sales role", status="draft")
    place_hold(manager, held, reason="budget", summary="Budget", owner_name="HQ")
    db.session.commit()
    login(manager)

    def titles(query: str) -> set[str]:
        html = client.get(f"/requisitions/?{query}").get_data(as_text=True)
        return set(re.findall(r'<th scope="row"><a href="/requisitions/\d+">([^<]+)</a>', html))

    assert titles("") == {"Held role", "Free role", "Sales role"}
    assert titles(f"department={sales.id}") == {"Sales role"}
    assert titles("status=draft") == {"Sales role"}
    assert titles("hold=yes") == {"Held role"}
    assert titles("hold=no") == {"Free role", "Sales role"}
    assert titles("q=free") == {"Free role"}
    # Nonsense filters are ignored rather than failing.
    assert titles("department=abc&status=%3Cscript%3E&hold=maybe&page=-4") == {
        "Held role",
        "Free role",
        "Sales role",
    }


def test_list_is_paginated(client, login, manager, make_requisition, make_department):
    department = make_department()
    for number in range(30):
        make_requisition(manager=manager, department=department, title=f"Role {number:02d}")
    login(manager)
    first = client.get("/requisitions/").get_data(as_text=True)
    assert "Page 1 of 2 (30 in all)" in first
    second = client.get("/requisitions/?page=2").get_data(as_text=True)
    assert "Page 2 of 2 (30 in all)" in second
    assert len(re.findall(r'<th scope="row">', second)) == 5


def test_detail_shows_chain_holds_with_overdue_flag_and_candidates(
    client, login, manager, make_user, make_requisition, make_application, make_candidate
):
    approver = make_user("approver", name="Fiona Finance")
    requisition = make_requisition(manager=manager)
    make_application(requisition=requisition, candidate=make_candidate(name="Carl Candidate"))
    request_approval(manager, requisition, "budget", approver.id, utcnow().date())
    hold = place_hold(
        manager,
        requisition,
        reason="budget",
        summary="A budget technicality",
        owner_id=approver.id,
        expected_clear_date=utcnow().date(),
    ).hold
    db.session.commit()
    hold.expected_clear_date = utcnow().date() - timedelta(days=3)
    hold.opened_at = utcnow() - timedelta(days=21)
    db.session.commit()
    login(manager)
    html = client.get(f"/requisitions/{requisition.id}").get_data(as_text=True)
    chain = html.split('id="chain-heading"', 1)[1].split("</section>", 1)[0]
    assert "Fiona Finance" in chain and "Pending" in chain and "Budget" in chain
    holds = html.split('id="holds"', 1)[1].split("</table>", 1)[0]
    assert "A budget technicality" in holds
    assert "OVERDUE" in holds
    assert "Fiona Finance" in holds
    assert re.search(r"1[45] business days", holds)
    applications = html.split('id="applications"', 1)[1].split("</table>", 1)[0]
    assert "Carl Candidate" in applications
    assert re.search(r'class="badge badge-(on_track|due|overdue|ghosted)"', applications)


def test_approval_chain_submit_and_decide(client, login, manager, make_user, make_requisition):
    approver = make_user("approver", name="Fiona Finance")
    requisition = make_requisition(manager=manager, status="draft")
    login(manager)
    refused = client.post(f"/requisitions/{requisition.id}/submit", follow_redirects=True)
    assert "Add at least one approval step" in refused.get_data(as_text=True)

    response = client.post(
        f"/approvals/requisitions/{requisition.id}/new",
        data={"kind": "budget", "approver_id": str(approver.id), "due_date": ""},
    )
    assert response.status_code == 302
    client.post(f"/requisitions/{requisition.id}/submit")
    assert db.session.get(Requisition, requisition.id).status == "pending_approval"
    approval = db.session.scalars(select(Approval)).one()

    # The manager is not the approver: the decision form refuses them.
    assert client.get(f"/approvals/{approval.id}/decide").status_code == 403

    client.post("/logout")
    login(approver)
    mine = client.get("/approvals/").get_data(as_text=True)
    assert requisition.title in mine and "Opening the requisition" in mine
    response = client.post(
        f"/approvals/{approval.id}/decide",
        data={"decision": "approved", "note": "Fine", "version": str(approval.version)},
    )
    assert response.status_code == 302
    assert db.session.get(Requisition, requisition.id).status == "open"


def test_closing_with_candidates_waiting_lists_them_and_changes_nothing(
    client, login, manager, make_requisition, make_application, make_candidate
):
    requisition = make_requisition(manager=manager)
    make_application(requisition=requisition, candidate=make_candidate(name="Wendy Waiting"))
    login(manager)
    page = client.get(f"/requisitions/{requisition.id}/close").get_data(as_text=True)
    assert "Wendy Waiting" in page
    response = client.post(
        f"/requisitions/{requisition.id}/close",
        data={"status": "cancelled", "version": str(requisition.version)},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "1 candidate still waits on this requisition (Wendy Waiting)" in html
    assert db.session.get(Requisition, requisition.id).status == "open"


def test_cancelled_requisition_shows_closure_pending(
    client, login, manager, make_requisition, make_application
):
    from hiretrack.holds.services import resolve_hold

    requisition = make_requisition(manager=manager)
    make_application(requisition=requisition)
    make_application(requisition=requisition)
    hold = place_hold(manager, requisition, reason="freeze", summary="Freeze", owner_name="CEO")
    resolve_hold(manager, hold.hold, "cancelled")
    db.session.commit()
    login(manager)
    html = client.get(f"/requisitions/{requisition.id}").get_data(as_text=True)
    assert "Closure pending: 2" in html
    listed = client.get("/requisitions/?closure_pending=yes").get_data(as_text=True)
    assert requisition.title in listed and "Closure pending: 2" in listed


def test_edit_made_against_an_old_version_is_refused(client, login, manager, make_requisition):
    requisition = make_requisition(manager=manager, title="Original")
    login(manager)
    stale_version = requisition.version
    data = {
        "title": "Mine",
        "department_id": str(requisition.department_id),
        "headcount": "1",
        "currency": "EUR",
        "version": str(stale_version),
    }
    client.post(f"/requisitions/{requisition.id}/edit", data=data | {"title": "First edit"})
    response = client.post(f"/requisitions/{requisition.id}/edit", data=data)
    assert response.status_code == 422
    assert "changed by someone else" in response.get_data(as_text=True)
    assert db.session.get(Requisition, requisition.id).title == "First edit"


def test_place_hold_prepares_drafts_and_goes_to_their_review(
    client, login, manager, make_requisition, make_application
):
    requisition = make_requisition(manager=manager)
    make_application(requisition=requisition)
    make_application(requisition=requisition)
    login(manager)
    response = client.post(
        f"/requisitions/{requisition.id}/holds/new",
        data={
            "application_id": "None",
            "reason": "budget",
            "summary": "Waiting for head office budget sign-off",
            "public_reason": "we are waiting for a budget decision",
            "owner_id": "None",
            "owner_name": "Head office",
            "expected_clear_date": (utcnow().date() + timedelta(days=3)).isoformat(),
        },
    )
    assert response.status_code == 302
    hold = db.session.scalars(select(Hold)).one()
    location = response.headers["Location"]
    if "messages.drafts" in client.application.view_functions:
        assert location.endswith(f"hold_id={hold.id}")
    else:
        assert location.endswith(f"/requisitions/{requisition.id}")
    assert db.session.get(Requisition, requisition.id).status == "on_hold"
    page = client.get(f"/holds/{hold.id}").get_data(as_text=True)
    assert "Candidates it holds up (2)" in page


def test_hold_without_owner_is_refused_inline(client, login, manager, make_requisition):
    requisition = make_requisition(manager=manager)
    login(manager)
    response = client.post(
        f"/requisitions/{requisition.id}/holds/new",
        data={
            "application_id": "None",
            "reason": "budget",
            "summary": "Something",
            "owner_id": "None",
            "owner_name": "",
        },
    )
    assert response.status_code == 422
    assert "Name who owns the hold" in response.get_data(as_text=True)
    assert db.session.scalars(select(Hold)).first() is None


def test_hold_owner_resolves_it_and_other_approvers_cannot_see_it(
    client, login, manager, make_user, make_requisition, make_application
):
    owner, stranger = make_user("approver"), make_user("approver")
    requisition = make_requisition(manager=manager)
    make_application(requisition=requisition)
    hold = place_hold(
        manager, requisition, reason="budget", summary="Budget", owner_id=owner.id
    ).hold
    db.session.commit()
    login(stranger)
    assert client.get(f"/holds/{hold.id}").status_code == 404
    assert client.post(f"/holds/{hold.id}/resolve", data={}).status_code == 404
    client.post("/logout")
    login(owner)
    assert "Budget" in client.get("/approvals/").get_data(as_text=True)
    response = client.post(
        f"/holds/{hold.id}/resolve",
        data={"resolve-outcome": "cleared", "resolve-note": "Signed", "resolve-version": "1"},
    )
    assert response.status_code == 302
    assert db.session.get(Hold, hold.id).outcome == "cleared"
    assert db.session.get(Requisition, requisition.id).status == "open"
