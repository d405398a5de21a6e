"""Candidate screens: list and search, the single timeline, stage changes with closure, contacts, offers."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from hiretrack.candidates.models import Application, Candidate, Touchpoint
from hiretrack.candidates.services import change_stage
from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.holds.services import place_hold


@pytest.fixture
def manager(make_user):
    return make_user("manager", name="Maria Manager")


def _names(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/candidates/\d+">([^<]+)</a>', html)


def test_add_candidate_and_apply_in_one_step(client, login, manager, make_requisition):
    requisition = make_requisition(manager=manager, title="Data engineer")
    login(manager)
    form = client.get(f"/candidates/new?requisition_id={requisition.id}").get_data(as_text=True)
    assert f'<option selected value="{requisition.id}">' in form
    response = client.post(
        "/candidates/new",
        data={
            "name": "Zoë  Ærøskøbing",
            "email": "Zoe@Example.org",
            "phone": "+45 1234",
            "requisition_id": str(requisition.id),
            "stage": "final_round",
        },
    )
    assert response.status_code == 302
    candidate = db.session.scalars(select(Candidate)).one()
    assert (candidate.name, candidate.email) == ("Zoë Ærøskøbing", "zoe@example.org")
    application = db.session.scalars(select(Application)).one()
    assert (application.requisition_id, application.stage) == (requisition.id, "final_round")


def test_bad_email_and_duplicate_are_shown_on_the_email_field(
    client, login, manager, make_candidate
):
    make_candidate(email="taken@example.org")
    login(manager)
    for email, message in (
        ("not an email", "Invalid email address"),
        ("taken@example.org", "already exists"),
    ):
        response = client.post(
            "/candidates/new", data={"name": "Kept Name", "email": email, "requisition_id": "None"}
        )
        html = response.get_data(as_text=True)
        assert response.status_code == 422
        assert message in html
        assert 'value="Kept Name"' in html
        assert 'id="email-error"' in html


def test_list_search_and_filters(
    client, login, manager, make_requisition, make_application, make_candidate
):
    requisition = make_requisition(manager=manager)
    make_application(
        requisition=requisition,
        candidate=make_candidate(name="Alice Final", email="alice@example.org"),
        stage="final_round",
    )
    make_application(
        requisition=requisition,
        candidate=make_candidate(name="Bob Interview", email="bob@mail.example.org"),
    )
    silent = make_application(
        requisition=requisition, candidate=make_candidate(name="Cleo Silent"), stage="final_round"
    )
    silent.opened_at = utcnow() - timedelta(days=40)
    db.session.commit()
    login(manager)

    def names(query: str) -> set[str]:
        return set(_names(client.get(f"/candidates/?{query}").get_data(as_text=True)))

    assert names("") == {"Alice Final", "Bob Interview", "Cleo Silent"}
    assert names("q=ALICE") == {"Alice Final"}
    assert names("q=mail.example") == {"Bob Interview"}
    assert names("q=%25") == set()  # a LIKE wildcard is searched for literally
    assert names("stage=interviewing") == {"Bob Interview"}
    assert names("cadence=ghosted") == {"Cleo Silent"}
    assert names("stage=nonsense&cadence=%27%3B--") == {
        "Alice Final",
        "Bob Interview",
        "Cleo Silent",
    }


def test_timeline_merges_stages_contacts_emails_and_holds(
    client, login, manager, make_requisition, make_application, make_candidate
):
    from hiretrack.messages.services import choose_template, send_message

    requisition = make_requisition(manager=manager)
    application = make_application(
        requisition=requisition, candidate=make_candidate(name="Tina Timeline")
    )
    change_stage(manager, application, "final_round", note="Great interview")
    place_hold(manager, requisition, reason="budget", summary="Budget freeze", owner_name="HQ")
    send_message(manager, application, choose_template(manager, "check_in"))
    db.session.commit()
    login(manager)
    html = client.get(f"/candidates/{application.candidate_id}").get_data(as_text=True)
    timeline = html.split('id="timeline-heading"', 1)[1]
    assert "Stage: Interviewing → Final round" in timeline
    assert "Great interview" in timeline
    assert "Hold placed: Budget freeze" in timeline
    assert "Email to the candidate" in timeline
    assert "Queued, not yet delivered" in timeline
    assert "Applied, starting at Interviewing" in timeline


def test_stage_form_offers_only_allowed_moves(client, login, manager, make_application):
    application = make_application(requisition=None, manager=manager)
    login(manager)
    html = client.get(f"/candidates/applications/{application.id}/stage").get_data(as_text=True)
    select_html = html.split('name="target"', 1)[1].split("</select>", 1)[0]
    options = set(re.findall(r'<option (?:selected )?value="([a-z_]+)"', select_html))
    assert options == {"final_round", "not_selected", "withdrawn", "position_cancelled"}
    response = client.post(
        f"/candidates/applications/{application.id}/stage",
        data={"target": "hired", "version": "1"},
    )
    assert response.status_code == 422
    assert "Not a valid choice" in response.get_data(as_text=True)


def test_closing_needs_closure_and_records_it(client, login, manager, make_application):
    application = make_application(manager=manager)
    login(manager)
    url = f"/candidates/applications/{application.id}/stage"
    refused = client.post(url, data={"target": "not_selected", "version": "1"})
    assert refused.status_code == 422
    assert "Closing an application needs closure" in refused.get_data(as_text=True)
    no_note = client.post(
        url,
        data={
            "target": "not_selected",
            "closure_method": "recorded",
            "closure_channel": "phone",
            "version": "1",
        },
    )
    assert "a short note is required" in no_note.get_data(as_text=True)
    assert db.session.get(Application, application.id).stage == "interviewing"

    done = client.post(
        url,
        data={
            "target": "not_selected",
            "closure_method": "recorded",
            "closure_channel": "phone",
            "closure_note": "Called to explain; thanked her.",
            "version": "1",
        },
    )
    assert done.status_code == 302
    application = db.session.get(Application, application.id)
    assert application.stage == "not_selected" and application.closed_at is not None
    closure = db.session.scalars(select(Touchpoint).where(Touchpoint.is_closure)).one()
    assert (closure.channel, closure.note) == ("phone", "Called to explain; thanked her.")


def test_closing_by_email_goes_to_compose_with_the_closure_template(
    client, login, manager, make_application
):
    application = make_application(manager=manager)
    login(manager)
    response = client.post(
        f"/candidates/applications/{application.id}/stage",
        data={"target": "withdrawn", "closure_method": "email", "version": "1"},
    )
    if "messages.compose" in client.application.view_functions:
        assert response.status_code == 302
        assert "category=closure_withdrawn" in response.headers["Location"]
    else:
        assert response.status_code == 422
    assert db.session.get(Application, application.id).stage == "interviewing"


def test_log_contact_with_a_promise(client, login, manager, make_application):
    application = make_application(manager=manager)
    login(manager)
    url = f"/candidates/applications/{application.id}/contact"
    promise = utcnow().date() + timedelta(days=4)
    refused = client.post(url, data={"direction": "outbound", "channel": "email", "note": "x"})
    assert "Send emails with" in refused.get_data(as_text=True)
    past = client.post(
        url,
        data={"direction": "outbound", "channel": "phone", "promised_next_update": "2001-01-01"},
    )
    assert past.status_code == 422 and "must be between today and" in past.get_data(as_text=True)
    response = client.post(
        url,
        data={
            "direction": "outbound",
            "channel": "phone",
            "note": "Told her: Friday",
            "promised_next_update": promise.isoformat(),
        },
    )
    assert response.status_code == 302
    application = db.session.get(Application, application.id)
    assert application.promised_next_update == promise
    assert application.last_contact_at is not None


def test_verbal_intent_and_offer_terms_never_look_like_a_written_offer(
    client, login, manager, make_user, make_application
):
    approver = make_user("approver")
    application = make_application(manager=manager, stage="verbal_intent")
    login(manager)
    detail = client.get(f"/candidates/{application.candidate_id}").get_data(as_text=True)
    assert "No written offer yet" in detail and "Written offer</span>" not in detail
    response = client.post(
        f"/candidates/applications/{application.id}/offer",
        data={
            "salary": "65000",
            "approver_id": str(approver.id),
            "compensation_approver_id": "None",
        },
    )
    assert response.status_code == 302
    detail = client.get(f"/candidates/{application.candidate_id}").get_data(as_text=True)
    assert "No written offer yet" in detail
    assert "65,000" in detail and "awaiting approval" in detail


def test_another_managers_candidate_is_not_found(
    client, login, manager, make_user, make_application, make_candidate
):
    other = make_user("manager")
    application = make_application(manager=other, candidate=make_candidate(name="Secret Sam"))
    login(manager)
    for url in (
        f"/candidates/{application.candidate_id}",
        f"/candidates/{application.candidate_id}/edit",
        f"/candidates/applications/{application.id}/stage",
        f"/candidates/applications/{application.id}/contact",
        f"/candidates/applications/{application.id}/offer",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "Secret Sam" not in response.get_data(as_text=True)
    assert "Secret Sam" not in client.get("/candidates/?q=Secret").get_data(as_text=True)
