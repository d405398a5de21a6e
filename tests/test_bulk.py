"""Bulk actions: one form on the lists, one review page, all or nothing, through the usual rules."""

import re

import pytest
from sqlalchemy import func, select

from hiretrack.candidates.models import Application, Touchpoint
from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.holds.services import place_hold
from hiretrack.messages.models import Draft, DraftStatus, OutboxEmail


@pytest.fixture
def manager(make_user):
    return make_user("manager", name="Maria Manager")


@pytest.fixture
def three(manager, make_requisition, make_application, make_candidate):
    requisition = make_requisition(manager=manager, title="Data lead")
    return [
        make_application(requisition, make_candidate(name=name), stage=stage)
        for name, stage in (
            ("Ana Silva", "interviewing"),
            ("Ben Okafor", "final_round"),
            ("Cleo Park", "final_round"),
        )
    ]


def _ids(applications) -> str:
    return ",".join(str(a.id) for a in applications)


def _apply(client, applications, action, **fields):
    data = {"action": action, "application_ids": _ids(applications), "back": "/dashboard"}
    return client.post("/bulk/apply", data=data | fields)


def test_the_lists_offer_the_bulk_form_and_the_review_lists_the_selection(
    client, login, manager, three
):
    login(manager)
    for url in ("/dashboard", "/candidates/", f"/requisitions/{three[0].requisition_id}/pipeline"):
        html = client.get(url).get_data(as_text=True)
        assert 'id="bulk-form"' in html, url
        assert len(re.findall(r'name="application_id" value="\d+" form="bulk-form"', html)) == 3
    review = client.post(
        "/bulk/review",
        data={
            "action": "log_call",
            "back": "/candidates/",
            "application_id": [a.id for a in three],
        },
    )
    assert review.status_code == 200
    html = review.get_data(as_text=True)
    assert all(name in html for name in ("Ana Silva", "Ben Okafor", "Cleo Park"))
    assert f'value="{_ids(three)}"' in html


def test_a_bulk_send_prepares_reviewed_drafts_then_sends_them_all(client, login, manager, three):
    login(manager)
    prepared = _apply(client, three, "send", category="check_in")
    assert prepared.status_code == 302 and "/bulk/drafts?ids=" in prepared.headers["Location"]
    drafts = list(db.session.scalars(select(Draft).order_by(Draft.id)))
    assert [d.application_id for d in drafts] == [a.id for a in three]
    page = client.get(prepared.headers["Location"]).get_data(as_text=True)
    assert "Send all 3" in page and "Cleo Park" in page
    draft_ids = ",".join(str(d.id) for d in drafts)
    sent = client.post("/bulk/drafts/send", data={"draft_ids": draft_ids, "back": "/dashboard"})
    assert sent.status_code == 302
    db.session.expire_all()
    assert {d.status for d in db.session.scalars(select(Draft))} == {DraftStatus.SENT}
    assert db.session.scalar(select(func.count(OutboxEmail.id))) == 3
    # Sending again: the drafts are gone from review, nothing is sent twice.
    client.post("/bulk/drafts/send", data={"draft_ids": draft_ids, "back": "/dashboard"})
    assert db.session.scalar(select(func.count(OutboxEmail.id))) == 3


def test_one_unsendable_draft_stops_the_whole_send(client, login, manager, three):
    login(manager)
    _apply(client, three, "send", category="check_in")
    drafts = list(db.session.scalars(select(Draft).order_by(Draft.id)))
    three[1].candidate.email = None  # e.g. anonymised meanwhile
    db.session.commit()
    draft_ids = ",".join(str(d.id) for d in drafts)
    refused = client.post(
        "/bulk/drafts/send",
        data={"draft_ids": draft_ids, "back": "/dashboard"},
        follow_redirects=True,
    )
    assert "Nothing was sent" in refused.get_data(as_text=True)
    assert db.session.scalar(select(func.count(OutboxEmail.id))) == 0


def test_log_a_call_with_several_candidates(client, login, manager, three):
    login(manager)
    response = _apply(client, three[:2], "log_call", channel="phone", note="Told them: next week")
    assert response.status_code == 302
    calls = list(db.session.scalars(select(Touchpoint).where(Touchpoint.channel == "phone")))
    assert sorted(t.application_id for t in calls) == sorted(a.id for a in three[:2])
    assert all(t.note == "Told them: next week" for t in calls)


def test_a_bulk_move_is_all_or_nothing_and_names_who_was_refused(client, login, manager, three):
    login(manager)
    refused = _apply(client, three, "move", target="verbal_intent")
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "Nothing was done. Ana Silva" in html and "cannot go from Interviewing" in html
    db.session.expire_all()
    assert [db.session.get(Application, a.id).stage for a in three] == [
        "interviewing",
        "final_round",
        "final_round",
    ]
    assert _apply(client, three[1:], "move", target="verbal_intent").status_code == 302
    db.session.expire_all()
    assert {db.session.get(Application, a.id).stage for a in three[1:]} == {"verbal_intent"}
    closing = _apply(client, three[1:], "move", target="not_selected")
    assert closing.status_code == 422 and "Close with closure" in closing.get_data(as_text=True)


def test_closing_in_bulk_needs_closure(client, login, manager, three):
    login(manager)
    no_closure = _apply(client, three, "close", outcome="not_selected")
    assert no_closure.status_code == 422
    no_note = _apply(
        client, three, "close", outcome="not_selected", closure_method="recorded", channel="phone"
    )
    assert no_note.status_code == 422
    assert "a short note is required" in no_note.get_data(as_text=True)
    db.session.expire_all()
    assert all(db.session.get(Application, a.id).is_open for a in three)
    closed = _apply(
        client,
        three[:2],
        "close",
        outcome="not_selected",
        closure_method="recorded",
        channel="phone",
        note="Called each of them",
    )
    assert closed.status_code == 302
    db.session.expire_all()
    assert [db.session.get(Application, a.id).stage for a in three[:2]] == ["not_selected"] * 2
    by_email = _apply(client, three[2:], "close", outcome="not_selected", closure_method="email")
    assert "/bulk/drafts?ids=" in by_email.headers["Location"]
    draft = db.session.scalars(select(Draft)).one()
    assert draft.template.category == "closure_not_selected"


def test_another_managers_application_cannot_be_selected(
    client, login, manager, three, make_user, make_application
):
    theirs = make_application(manager=make_user("manager"))
    login(manager)
    response = _apply(client, [*three, theirs], "log_call", channel="phone", note="Hello")
    assert response.status_code == 404
    review = client.post(
        "/bulk/review", data={"action": "send", "application_id": [theirs.id], "back": "/"}
    )
    assert review.status_code == 404
    assert (
        db.session.scalar(select(func.count(Touchpoint.id)).where(Touchpoint.channel == "phone"))
        == 0
    )


def test_written_offers_are_never_sent_in_bulk(client, login, manager, three):
    login(manager)
    response = _apply(client, three, "send", category="offer_cover")
    assert response.status_code == 422
    assert db.session.scalar(select(func.count(Draft.id))) == 0


def test_a_bulk_send_where_every_draft_already_waits_opens_the_waiting_drafts(
    client, login, manager, three
):
    """Not back to the list with "a draft already waits": to the drafts, to send or discard."""
    login(manager)
    _apply(client, three[:2], "send", category="check_in")

    again = _apply(client, three[:2], "send", category="check_in")

    assert again.status_code == 302 and again.headers["Location"] == "/drafts"
    page = client.get("/drafts").get_data(as_text=True)
    assert "Skipped (a draft already waits for them; send or discard it first): " in page
    assert "Ana Silva" in page and "Ben Okafor" in page and "Send all 2" in page


def _preselected_message(html: str) -> str:
    """The message the review page's 'Message' list starts on."""
    select = re.search(r'<select[^>]*name="category".*?</select>', html, re.S).group(0)
    return re.search(r'<option selected value="([^"]+)"', select).group(1)


def test_the_bulk_send_preselects_the_message_the_dashboard_suggests(client, login, manager, three):
    place_hold(
        manager, three[0].requisition, reason="budget", summary="Budget", owner_name="Head office"
    )
    for application in three:
        application.update_requested_at = utcnow()
    db.session.commit()
    login(manager)

    def review() -> str:
        data = {"action": "send", "back": "/", "application_id": [a.id for a in three]}
        return client.post("/bulk/review", data=data).get_data(as_text=True)

    # Held candidates who asked for news: the hold notice, as each row's own suggestion says.
    assert _preselected_message(review()) == "hold_notice"
    # Suggestions that differ (two of them did not ask): a check-in, which fits everyone.
    for application in three[1:]:
        application.update_requested_at = None
    db.session.commit()
    assert _preselected_message(review()) == "check_in"
