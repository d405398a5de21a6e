"""The pipeline board: columns and counts, card figures, moves through the stage rules, access."""

import re

import pytest
from sqlalchemy import select

from hiretrack.candidates.models import Application, StageChange
from hiretrack.candidates.stages import check_transition
from hiretrack.errors import TransitionNotAllowed
from hiretrack.extensions import db
from hiretrack.holds.services import place_hold


@pytest.fixture
def manager(make_user):
    return make_user("manager", name="Maria Manager")


@pytest.fixture
def world(manager, make_requisition, make_application, make_candidate):
    requisition = make_requisition(manager=manager, title="Platform lead")
    ana = make_application(requisition, make_candidate(name="Ana Silva"))
    ben = make_application(requisition, make_candidate(name="Ben Okafor"), stage="final_round")
    cleo = make_application(requisition, make_candidate(name="Cleo Park"), stage="verbal_intent")
    return requisition, ana, ben, cleo


def _counts(html: str) -> dict[str, int]:
    return {
        stage: int(count)
        for stage, count in re.findall(
            r'id="column-([a-z_]+)">[^<]*<span class="board-count" data-count="(\d+)"', html
        )
    }


def _refusal_on_stage_form(client, application, target) -> str:
    response = client.post(
        f"/candidates/applications/{application.id}/stage",
        data={"target": target, "version": str(application.version)},
    )
    assert response.status_code == 422
    return re.search(r'id="target-error"><p>([^<]*)</p>', response.get_data(as_text=True))[1]


def test_board_shows_one_column_per_stage_with_counts_and_card_figures(
    client, login, manager, world
):
    requisition, ana, ben, cleo = world
    place_hold(
        manager,
        requisition,
        reason="budget",
        summary="Budget freeze",
        public_reason="We are waiting for a budget decision.",
        owner_name="Head office",
    )
    db.session.commit()
    login(manager)
    detail = client.get(f"/requisitions/{requisition.id}").get_data(as_text=True)
    assert f'href="/requisitions/{requisition.id}/pipeline"' in detail
    html = client.get(f"/requisitions/{requisition.id}/pipeline").get_data(as_text=True)
    assert _counts(html) == {
        "interviewing": 1,
        "final_round": 1,
        "verbal_intent": 1,
        "offer_approved": 0,
        "offer_extended": 0,
        "accepted": 0,
    }
    card = html.split(f'id="card-{ana.id}"', 1)[1].split("</li>", 1)[0]
    assert "Ana Silva" in card and "Never" in card and "Budget freeze" in card
    assert re.search(r'class="card-next-due">\w{3} \d', card), card
    # Only the moves the rules allow are offered on the card.
    options = set(re.findall(r'<option value="([a-z_]+)"', card))
    assert options == {"final_round", "not_selected", "withdrawn", "position_cancelled"}


def test_a_card_moves_through_the_stage_rules_and_an_illegal_move_gets_the_stage_form_message(
    client, login, manager, world
):
    requisition, ana, ben, cleo = world
    login(manager)
    url = f"/requisitions/{requisition.id}/pipeline/applications/{ana.id}/move"
    moved = client.post(url, data={"target": "final_round", "version": "1"})
    assert moved.status_code == 302
    assert moved.headers["Location"].endswith(
        f"/requisitions/{requisition.id}/pipeline#card-{ana.id}"
    )
    db.session.refresh(ana)
    assert ana.stage == "final_round"
    change = db.session.scalars(
        select(StageChange)
        .where(StageChange.application_id == ana.id)
        .order_by(StageChange.id.desc())
    ).first()
    assert (change.from_stage, change.to_stage) == ("interviewing", "final_round")

    refused = client.post(url, data={"target": "offer_extended", "version": str(ana.version)})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    with pytest.raises(TransitionNotAllowed) as rule:
        check_transition("final_round", "offer_extended")
    stage_form_message = _refusal_on_stage_form(client, ana, "offer_extended")
    assert rule.value.message in stage_form_message
    assert f'id="card-{ana.id}-error"><p>{stage_form_message}</p>' in html
    db.session.refresh(ana)
    assert ana.stage == "final_round"


def test_closing_from_the_board_goes_through_the_closure_guard(client, login, manager, world):
    requisition, ana, ben, cleo = world
    login(manager)
    url = f"/requisitions/{requisition.id}/pipeline/applications/{ben.id}/move"
    response = client.post(url, data={"target": "not_selected", "version": "1"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(
        f"/candidates/applications/{ben.id}/stage?to=not_selected"
    )
    db.session.refresh(ben)
    assert ben.stage == "final_round" and ben.is_open
    stage_form = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "needs closure" in stage_form
    assert '<option selected value="not_selected">' in stage_form


def test_a_stale_card_is_refused_not_overwritten(client, login, manager, world):
    requisition, ana, ben, cleo = world
    login(manager)
    url = f"/requisitions/{requisition.id}/pipeline/applications/{ana.id}/move"
    assert client.post(url, data={"target": "final_round", "version": "1"}).status_code == 302
    stale = client.post(url, data={"target": "interviewing", "version": "1"})
    assert stale.status_code == 422
    db.session.refresh(ana)
    assert ana.stage == "final_round"


def test_another_manager_cannot_see_or_move_the_board(
    client, login, make_user, world, make_application
):
    requisition, ana, ben, cleo = world
    login(make_user("manager"))
    assert client.get(f"/requisitions/{requisition.id}/pipeline").status_code == 404
    url = f"/requisitions/{requisition.id}/pipeline/applications/{ana.id}/move"
    assert client.post(url, data={"target": "final_round", "version": "1"}).status_code == 404
    assert db.session.get(Application, ana.id).stage == "interviewing"


def test_a_card_from_another_requisition_is_not_found(
    client, login, manager, world, make_requisition, make_application
):
    requisition, ana, ben, cleo = world
    other = make_application(make_requisition(manager=manager))
    login(manager)
    url = f"/requisitions/{requisition.id}/pipeline/applications/{other.id}/move"
    assert client.post(url, data={"target": "final_round", "version": "1"}).status_code == 404


def test_hostile_moves_and_bulk_posts_are_refused_never_a_500(client, login, manager, world):
    """Odd input on the board's and the bulk pages' forms: a refusal, never a server error."""
    requisition, ana, ben, cleo = world
    login(manager)
    url = f"/requisitions/{requisition.id}/pipeline/applications/{ana.id}/move"
    for data in (
        {"target": "\x00"},
        {"target": "x" * 10000},
        {"target": "final_round", "version": "abc"},
        {"target": "final_round", "version": "99999999999999"},
        {},
    ):
        r = client.post(url, data=data)
        assert r.status_code == 422, (data, r.status_code)
    for data in (
        {"action": "move", "application_ids": "1,abc"},
        {"action": "zzz", "application_ids": "1"},
        {"action": "log_call", "application_ids": ",".join(["1"] * 300)},
        {
            "action": "close",
            "application_ids": "1",
            "outcome": "hired",
            "closure_method": "recorded",
            "note": "x",
        },
    ):
        r = client.post("/bulk/apply", data=data)
        assert r.status_code in (302, 422), (data, r.status_code)
    r = client.get("/bulk/drafts?ids=abc,,999999999999999999999999")
    assert r.status_code == 302
    r = client.post("/bulk/drafts/send", data={"draft_ids": "\x00"})
    assert r.status_code == 302
