"""The closure guarantee at every door: service, web form, JSON API and command line.

No application reaches a closed outcome without a closure email or a recorded closure, and no
requisition closes while candidates still wait for theirs.
"""

import pytest
from flask import url_for
from sqlalchemy import func, select

from hiretrack.auth.services import create_api_token
from hiretrack.candidates.models import Application, StageChange, Touchpoint
from hiretrack.candidates.services import ClosureNote, change_stage
from hiretrack.candidates.stages import CLOSED_OUTCOMES, Stage
from hiretrack.errors import ClosureRequired, ValidationFailed
from hiretrack.extensions import db
from hiretrack.messages.drafts import send_drafts
from hiretrack.messages.models import Draft, DraftStatus, OutboxEmail
from hiretrack.messages.services import choose_template, send_message
from hiretrack.requisitions.services import close_requisition, closure_pending_count


def reload(application: Application) -> Application:
    db.session.expire_all()
    return db.session.get(Application, application.id)


def closure_touchpoints(application: Application) -> list[Touchpoint]:
    return list(
        db.session.scalars(
            select(Touchpoint).where(
                Touchpoint.application_id == application.id, Touchpoint.is_closure.is_(True)
            )
        )
    )


def extend_offer(application: Application, approver) -> None:
    """Take a verbal-intent application through an approved, written offer."""
    from hiretrack.approvals.services import decide
    from hiretrack.offers.services import propose_offer

    manager = application.requisition.manager
    offer = propose_offer(manager, application, salary=60000, approver_id=approver.id)
    db.session.flush()
    for approval in offer.approvals:
        decide(approver, approval, "approved")
    change_stage(manager, application, "offer_approved")
    send_message(manager, application, choose_template(manager, "offer_cover"))
    db.session.commit()
    assert application.stage == Stage.OFFER_EXTENDED


@pytest.fixture
def many(make_application, make_candidate, make_user, make_requisition):
    """make many open applications on one requisition cheaply (one recruiter adds everyone)."""
    recruiter = make_user("recruiter")

    def make(count: int, requisition=None, stage: str = "final_round") -> list[Application]:
        requisition = requisition or make_requisition()
        return [
            make_application(
                requisition=requisition, candidate=make_candidate(actor=recruiter), stage=stage
            )
            for _ in range(count)
        ]

    return make


# --- The service ---------------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", ["not_selected", "withdrawn", "position_cancelled"])
def test_the_service_refuses_to_close_without_closure(make_application, outcome):
    application = make_application(stage="final_round")
    with pytest.raises(ClosureRequired, match="needs closure"):
        change_stage(application.requisition.manager, application, outcome)
    db.session.rollback()
    application = reload(application)
    assert application.is_open and application.closed_at is None
    assert [change.to_stage for change in application.stage_changes] == ["final_round"]


def test_an_offer_declined_needs_closure_too(make_application, make_user):
    application = make_application(stage="verbal_intent")
    extend_offer(application, make_user("approver"))
    with pytest.raises(ClosureRequired):
        change_stage(application.requisition.manager, application, "offer_declined")
    db.session.rollback()
    change_stage(
        application.requisition.manager,
        reload(application),
        "offer_declined",
        closure=ClosureNote("phone", "They took a counter-offer; we thanked them."),
    )
    db.session.commit()
    assert reload(application).stage == Stage.OFFER_DECLINED


def test_a_closure_note_records_a_closure_touchpoint_in_the_same_action(make_application):
    from hiretrack.holds.services import place_hold

    application = make_application(stage="final_round")
    manager = application.requisition.manager
    place_hold(manager, application.requisition, reason="budget", summary="Budget", owner_name="HQ")
    db.session.commit()
    change_stage(
        manager,
        application,
        "not_selected",
        closure=ClosureNote("phone", "Called to say we chose another candidate."),
    )
    db.session.commit()
    application = reload(application)
    assert (application.stage, application.closed_at is not None) == ("not_selected", True)
    (touchpoint,) = closure_touchpoints(application)
    assert (touchpoint.direction, touchpoint.channel, touchpoint.occurred_at is not None) == (
        "outbound",
        "phone",
        True,
    )
    assert touchpoint.note == "Called to say we chose another candidate."
    # The hold notice prepared earlier can no longer go out to a closed application.
    statuses = db.session.scalars(
        select(Draft.status).where(Draft.application_id == application.id)
    )
    assert set(statuses) == {DraftStatus.DISCARDED}


def test_a_closure_note_must_say_what_was_said(make_application):
    application = make_application(stage="final_round")
    with pytest.raises(ValidationFailed, match="Say how the candidate was told"):
        change_stage(
            application.requisition.manager,
            application,
            "withdrawn",
            closure=ClosureNote("phone", "   "),
        )
    db.session.rollback()
    assert reload(application).is_open


def test_sending_a_closure_email_closes_the_application(make_application):
    application = make_application(stage="final_round")
    manager = application.requisition.manager
    sent = send_message(manager, application, choose_template(manager, "closure_not_selected"))
    db.session.commit()
    application = reload(application)
    assert application.stage == Stage.NOT_SELECTED
    assert [t.id for t in closure_touchpoints(application)] == [sent.touchpoint.id]
    assert db.session.get(OutboxEmail, sent.outbox.id).status == "queued"


# --- The web form --------------------------------------------------------------------------------


def stage_url(app, application: Application) -> str:
    with app.test_request_context():
        return url_for("candidates.change_stage", application_id=application.id)


def test_the_web_form_refuses_to_close_without_closure(app, make_application, client, login):
    application = make_application(stage="final_round")
    login(application.requisition.manager)
    url = stage_url(app, application)
    response = client.post(url, data={"target": "withdrawn", "version": application.version})
    assert response.status_code == 422
    assert b"needs closure" in response.data
    assert reload(application).is_open
    response = client.post(
        url,
        data={
            "target": "withdrawn",
            "closure_method": "recorded",
            "closure_channel": "phone",
            "closure_note": "They called to withdraw; I confirmed it.",
            "version": application.version,
        },
    )
    assert response.status_code == 302
    application = reload(application)
    assert application.stage == Stage.WITHDRAWN
    assert closure_touchpoints(application)[0].note == "They called to withdraw; I confirmed it."


def test_the_web_form_needs_a_note_for_a_recorded_closure(app, make_application, client, login):
    application = make_application(stage="final_round")
    login(application.requisition.manager)
    response = client.post(
        stage_url(app, application),
        data={
            "target": "not_selected",
            "closure_method": "recorded",
            "closure_channel": "phone",
            "closure_note": "",
            "version": application.version,
        },
    )
    assert response.status_code == 422
    assert reload(application).is_open


# --- The API -------------------------------------------------------------------------------------


def bearer(user) -> dict[str, str]:
    _, plain = create_api_token(user, "test")
    db.session.commit()
    return {"Authorization": f"Bearer {plain}"}


def test_the_api_refuses_to_close_without_closure(make_application, client):
    application = make_application(stage="final_round")
    headers = bearer(application.requisition.manager)
    url = f"/api/v1/applications/{application.id}/transitions"
    response = client.post(url, json={"to": "not_selected"}, headers=headers)
    assert response.status_code == 409
    assert response.content_type.startswith("application/problem+json")
    assert response.json["title"] == "Closure required"
    assert reload(application).is_open
    response = client.post(
        url,
        json={"to": "not_selected", "closure": {"channel": "meeting", "note": "Told in person."}},
        headers=headers,
    )
    assert response.status_code == 200, response.json
    application = reload(application)
    assert application.stage == Stage.NOT_SELECTED
    assert closure_touchpoints(application)[0].channel == "meeting"


# --- The command line ----------------------------------------------------------------------------


def test_the_cli_refuses_to_close_without_closure(make_application, runner):
    application = make_application(stage="final_round")
    result = runner.invoke(
        args=["applications", "close", "--id", str(application.id), "--outcome", "withdrawn"]
    )
    assert result.exit_code == 1
    assert "needs closure" in result.output
    assert reload(application).is_open


def test_the_cli_records_a_closure_given_by_phone(make_application, runner):
    application = make_application(stage="final_round")
    args = ["applications", "close", "--id", str(application.id), "--outcome", "withdrawn"]
    result = runner.invoke(args=[*args, "--channel", "phone", "--note", "They withdrew by phone."])
    assert result.exit_code == 0, result.output
    assert "closed as 'Closed: withdrawn'" in result.output
    application = reload(application)
    assert application.stage == Stage.WITHDRAWN
    (touchpoint,) = closure_touchpoints(application)
    assert (touchpoint.channel, touchpoint.note) == ("phone", "They withdrew by phone.")
    change = db.session.scalars(
        select(StageChange).where(StageChange.to_stage == "withdrawn")
    ).one()
    assert change.changed_by_id == application.requisition.manager_id


def test_the_cli_needs_a_note_with_a_channel(make_application, runner):
    application = make_application(stage="final_round")
    result = runner.invoke(
        args=[
            *("applications", "close", "--id", str(application.id)),
            *("--outcome", "not_selected", "--channel", "phone"),
        ]
    )
    assert result.exit_code == 1
    assert "Say how the candidate was told" in result.output
    assert reload(application).is_open


def test_the_cli_sends_a_closure_template(make_application, runner):
    application = make_application(stage="final_round")
    slug = choose_template(application.requisition.manager, "closure_withdrawn").slug
    result = runner.invoke(
        args=[
            *("applications", "close", "--id", str(application.id)),
            *("--outcome", "withdrawn", "--template", slug),
        ]
    )
    assert result.exit_code == 0, result.output
    assert f"Closure email queued to {application.candidate.email}" in result.output
    application = reload(application)
    assert application.stage == Stage.WITHDRAWN
    (touchpoint,) = closure_touchpoints(application)
    assert touchpoint.outbox_email.category == "closure_withdrawn"


@pytest.mark.parametrize(
    ("category", "outcome", "message"),
    [
        ("closure_withdrawn", "not_selected", "closes an application as 'Closed: withdrawn'"),
        ("check_in", "withdrawn", "not a closure"),
    ],
)
def test_the_cli_refuses_a_template_that_does_not_close_as_asked(
    make_application, runner, category, outcome, message
):
    application = make_application(stage="final_round")
    slug = choose_template(application.requisition.manager, category).slug
    result = runner.invoke(
        args=[
            *("applications", "close", "--id", str(application.id)),
            *("--outcome", outcome, "--template", slug),
        ]
    )
    assert result.exit_code == 1
    assert message in result.output
    assert reload(application).is_open
    assert db.session.scalar(select(func.count(OutboxEmail.id))) == 0


def test_the_cli_refuses_bad_combinations_and_other_managers(make_application, make_user, runner):
    application = make_application(stage="final_round")
    base = ["applications", "close", "--id", str(application.id), "--outcome", "withdrawn"]
    both = runner.invoke(args=[*base, "--template", "x", "--channel", "phone", "--note", "n"])
    assert both.exit_code == 2
    assert "not both" in both.output
    lonely_note = runner.invoke(args=[*base, "--note", "told them"])
    assert lonely_note.exit_code == 2
    stranger = make_user("manager")
    other = runner.invoke(args=[*base, "--channel", "phone", "--note", "n", "--as", stranger.email])
    assert other.exit_code == 1
    assert "No such application" in other.output
    missing = runner.invoke(
        args=["applications", "close", "--id", "999999", "--outcome", "withdrawn"]
    )
    assert (missing.exit_code, "There is no application 999999." in missing.output) == (1, True)
    assert reload(application).is_open


def test_the_cli_lists_applications_by_cadence(make_application, runner):
    import time_machine

    with time_machine.travel("2026-03-02 10:00Z", tick=False):
        waiting = make_application(stage="final_round")
    with time_machine.travel("2026-03-10 10:00Z", tick=False):
        fresh = make_application(stage="final_round")
        overdue = runner.invoke(args=["applications", "list", "--cadence", "overdue"])
        everyone = runner.invoke(args=["applications", "list"])
    assert overdue.exit_code == 0, overdue.output
    assert waiting.candidate.name in overdue.output
    assert "Mon 09 Mar 2026" in overdue.output
    assert fresh.candidate.name not in overdue.output
    assert everyone.output.index(waiting.candidate.name) < everyone.output.index(
        fresh.candidate.name
    )


# --- Holds and requisitions ----------------------------------------------------------------------


def test_a_cancelled_hold_leaves_closure_pending_until_each_closure_is_sent(many):
    from hiretrack.holds.services import place_hold, resolve_hold

    applications = many(12)
    requisition = applications[0].requisition
    manager = requisition.manager
    hold = place_hold(
        manager, requisition, reason="freeze", summary="Hiring freeze", owner_name="Board"
    ).hold
    db.session.commit()
    assert closure_pending_count(requisition) == 0  # on hold, not yet closed
    drafts = resolve_hold(manager, hold, "cancelled", note="The freeze is permanent.").drafts
    db.session.commit()
    assert len(drafts) == 12
    assert {d.template.category for d in drafts} == {"closure_cancelled"}
    assert {d.application_id for d in drafts} == {a.id for a in applications}
    assert requisition.status == "cancelled"
    assert closure_pending_count(requisition) == 12
    send_drafts(manager, drafts[:5])
    db.session.commit()
    assert closure_pending_count(requisition) == 7
    for draft in drafts[5:]:
        send_drafts(manager, [draft])
        db.session.commit()
    assert closure_pending_count(requisition) == 0
    closed = db.session.scalars(
        select(Application.stage).where(Application.requisition_id == requisition.id)
    )
    assert set(closed) == {Stage.POSITION_CANCELLED.value}
    assert (
        db.session.scalar(
            select(func.count()).select_from(Touchpoint).where(Touchpoint.is_closure.is_(True))
        )
        == 12
    )


def test_an_accepted_candidate_on_a_cancelled_requisition_is_owed_closure(many, make_user):
    from hiretrack.holds.services import place_hold, resolve_hold

    accepted, _ = many(2, stage="verbal_intent")
    extend_offer(accepted, make_user("approver"))
    manager = accepted.requisition.manager
    change_stage(manager, accepted, "accepted")
    hold = place_hold(
        manager, accepted.requisition, reason="reorg", summary="Re-org", owner_name="CEO"
    ).hold
    db.session.commit()
    drafts = resolve_hold(manager, hold, "cancelled").drafts
    db.session.commit()
    assert len(drafts) == 2
    assert closure_pending_count(accepted.requisition) == 2


def test_a_requisition_cannot_close_while_candidates_wait_for_closure(many):
    applications = many(3)
    requisition = applications[0].requisition
    manager = requisition.manager
    for status in ("cancelled", "filled"):
        with pytest.raises(ClosureRequired, match="3 candidates still wait on this requisition"):
            close_requisition(manager, requisition, status)
        db.session.rollback()
    for application in applications:
        change_stage(
            manager, application, "position_cancelled", closure=ClosureNote("phone", "Told them.")
        )
    close_requisition(manager, requisition, "cancelled")
    db.session.commit()
    assert requisition.status == "cancelled"
    assert closure_pending_count(requisition) == 0


def test_a_requisition_is_filled_only_once_the_others_had_closure(many, make_user):
    hire, other = many(2, stage="verbal_intent")
    requisition = hire.requisition
    manager = requisition.manager
    extend_offer(hire, make_user("approver"))
    change_stage(manager, hire, "accepted")
    db.session.commit()
    with pytest.raises(ClosureRequired, match=other.candidate.name):
        close_requisition(manager, requisition, "filled")
    db.session.rollback()
    send_message(manager, other, choose_template(manager, "closure_not_selected"))
    close_requisition(manager, requisition, "filled")
    db.session.commit()
    assert requisition.status == "filled"
    # The accepted candidate is the hire, not someone owed closure.
    assert closure_pending_count(requisition) == 0


def test_every_closed_outcome_is_covered():
    """Guard against a new outcome slipping past these tests."""
    assert {s.value for s in CLOSED_OUTCOMES} == {
        "not_selected",
        "withdrawn",
        "position_cancelled",
        "offer_declined",
    }
