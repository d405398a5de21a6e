"""The stage machine, its guardrails, and protection against concurrent edits."""

import pytest
from sqlalchemy.orm.exc import StaleDataError

from hiretrack.approvals.services import decide
from hiretrack.candidates.models import Application, Touchpoint
from hiretrack.candidates.services import ClosureNote, change_stage
from hiretrack.candidates.stages import (
    CLOSED_OUTCOMES,
    TRANSITIONS,
    Stage,
    allowed_next_stages,
    check_transition,
)
from hiretrack.errors import ClosureRequired, GuardrailRefused, StaleVersion, TransitionNotAllowed
from hiretrack.extensions import db
from hiretrack.offers.models import OfferStatus
from hiretrack.offers.services import propose_offer


def test_every_stage_has_declared_transitions():
    assert set(TRANSITIONS) == set(Stage)
    for stage in CLOSED_OUTCOMES | {Stage.HIRED}:
        assert TRANSITIONS[stage] == frozenset()


def test_verbal_intent_cannot_jump_to_written_offer():
    with pytest.raises(TransitionNotAllowed, match="Verbal intent .* to Written offer extended"):
        check_transition("verbal_intent", "offer_extended")


def test_unknown_stage_lists_the_valid_names():
    with pytest.raises(TransitionNotAllowed, match="interviewing, final_round"):
        check_transition("interviewing", "promoted")


def test_allowed_next_stages_are_in_lifecycle_order():
    assert allowed_next_stages("final_round")[:2] == [Stage.INTERVIEWING, Stage.VERBAL_INTENT]


def test_invalid_stage_change_is_refused_and_nothing_changes(make_application):
    application = make_application(stage="interviewing")
    with pytest.raises(TransitionNotAllowed):
        change_stage(application.requisition.manager, application, "accepted")
    assert application.stage == "interviewing"


def test_closed_outcome_without_closure_is_refused(make_application):
    application = make_application(stage="final_round")
    with pytest.raises(ClosureRequired, match="needs closure"):
        change_stage(application.requisition.manager, application, "not_selected")
    db.session.rollback()
    assert db.session.get(Application, application.id).closed_at is None


def test_closure_recorded_by_phone_closes_with_a_closure_touchpoint(make_application):
    application = make_application(stage="final_round")
    manager = application.requisition.manager
    change_stage(
        manager,
        application,
        "not_selected",
        closure=ClosureNote(channel="phone", note="Called and explained, with feedback."),
    )
    db.session.commit()
    assert application.stage == "not_selected" and application.closed_at is not None
    closure = (
        db.session.query(Touchpoint).filter_by(application_id=application.id, is_closure=True).one()
    )
    assert closure.channel == "phone" and closure.occurred_at is not None


def test_closure_by_phone_needs_a_note(make_application):
    application = make_application(stage="final_round")
    with pytest.raises(Exception, match="note is required"):
        change_stage(
            application.requisition.manager,
            application,
            "withdrawn",
            closure=ClosureNote(channel="phone", note="  "),
        )


def test_offer_approved_needs_an_approved_offer(make_application, make_user):
    application = make_application(stage="verbal_intent", salary_min=50000, salary_max=60000)
    manager = application.requisition.manager
    with pytest.raises(GuardrailRefused, match="no approved offer"):
        change_stage(manager, application, "offer_approved")
    approver = make_user("approver")
    offer = propose_offer(manager, application, 55000, approver.id)
    assert [a.kind for a in offer.approvals] == ["offer"]
    decide(approver, offer.approvals[0], "approved")
    assert offer.status == OfferStatus.APPROVED
    change_stage(manager, application, "offer_approved")
    assert application.stage == "offer_approved"


def test_offer_outside_the_band_needs_compensation_approval(make_application, make_user):
    application = make_application(stage="verbal_intent", salary_min=50000, salary_max=60000)
    offer = propose_offer(
        application.requisition.manager, application, 70000, make_user("approver").id
    )
    assert sorted(a.kind for a in offer.approvals) == ["compensation", "offer"]


def test_changing_an_approved_offer_asks_again_and_returns_to_verbal_intent(
    make_application, make_user
):
    application = make_application(stage="verbal_intent", salary_min=50000, salary_max=60000)
    manager, approver = application.requisition.manager, make_user("approver")
    offer = propose_offer(manager, application, 55000, approver.id)
    decide(approver, offer.approvals[0], "approved")
    change_stage(manager, application, "offer_approved")
    propose_offer(manager, application, 58000, approver.id)
    assert application.stage == "verbal_intent"
    assert offer.status == OfferStatus.PENDING_APPROVAL
    assert sorted(a.decision for a in offer.approvals) == ["pending", "superseded"]


def test_stale_version_is_refused_with_a_clear_message(make_application):
    application = make_application(stage="interviewing")
    old_version = application.version
    change_stage(application.requisition.manager, application, "final_round")
    db.session.commit()
    with pytest.raises(StaleVersion, match="changed by someone else"):
        change_stage(
            application.requisition.manager,
            application,
            "verbal_intent",
            expected_version=old_version,
        )


def test_two_sessions_editing_the_same_application_cannot_both_win(app, make_application):
    application = make_application(stage="interviewing")
    application_id = application.id
    db.session.commit()
    with app.app_context():
        first = db.session.get(Application, application_id)
        # A second, independent session loads and changes the same row first.
        other = db.session.session_factory()
        try:
            second = other.get(Application, application_id)
            second.stage = "final_round"
            other.commit()
        finally:
            other.close()
        first.stage = "withdrawn"
        with pytest.raises(StaleDataError):
            db.session.commit()
        db.session.rollback()
