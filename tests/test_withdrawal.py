"""Every message true when it lands: delivery withdraws a message whose premise no longer holds.

Through the pages a manager uses (compose, resolve a hold, send drafts, the outbox and the
candidate's page) and `hiretrack outbox deliver`, then the rules one by one on the services.
"""

import threading
from datetime import date, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.holds.services import place_hold
from hiretrack.messages.claims import claim_due
from hiretrack.messages.context import past_dates_named
from hiretrack.messages.delivery import deliver_batch
from hiretrack.messages.drafts import review_draft
from hiretrack.messages.models import Draft, DraftStatus, EmailTemplate, OutboxEmail, OutboxStatus
from hiretrack.messages.outbox import queue_email
from hiretrack.messages.premise import withdrawal_reason
from hiretrack.messages.services import send_message
from tests.api_support import token_for


def template(slug: str) -> EmailTemplate:
    return db.session.scalars(select(EmailTemplate).where(EmailTemplate.slug == slug)).one()


def compose(client, application, slug: str, **overrides):
    """Send (or schedule) one message from the candidate's compose page."""
    chosen = template(slug)
    data = {
        "template": chosen.slug,
        "subject": chosen.subject,
        "body": chosen.body,
        "promised_next_update": "",
        "send_when": "now",
        "submit": "Send",
    } | overrides
    response = client.post(f"/applications/{application.id}/compose", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)


def send_hold_drafts(client, hold_id: int) -> None:
    """Send every draft the hold prepared, from the drafts page."""
    ids = ",".join(
        str(draft.id)
        for draft in db.session.scalars(
            select(Draft).where(Draft.hold_id == hold_id, Draft.status == DraftStatus.PENDING)
        )
    )
    response = client.post("/drafts/send", data={"hold_id": hold_id, "draft_ids": ids})
    assert response.status_code == 302


def delivered_subjects(app) -> list[str]:
    """The subjects of the messages the file backend wrote, i.e. what reached the candidates."""
    folder = Path(app.config["MAIL_FILE_DIR"])
    subjects = []
    for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
        for line in path.read_text().splitlines():
            if line.startswith("Subject: "):
                subjects.append(line.removeprefix("Subject: "))
    return subjects


@pytest.fixture
def held(make_user, make_application):
    """An application on a requisition put on hold, and the hold, committed."""
    manager = make_user("manager")
    application = make_application(manager=manager)
    hold = place_hold(
        manager,
        application.requisition,
        reason="budget",
        summary="Budget line frozen",
        public_reason="an internal budget decision",
        owner_name="Finance",
    ).hold
    db.session.commit()
    return manager, application, hold


def test_a_hold_notice_queued_before_the_cancellation_is_withdrawn_and_the_closure_goes(
    app, client, login, runner, held
):
    manager, application, hold = held
    login(manager)
    compose(client, application, "hold-notice")
    [notice] = db.session.scalars(select(OutboxEmail)).all()
    assert (notice.category, notice.hold_id, notice.written_at_stage) == (
        "hold_notice",
        hold.id,
        "interviewing",
    )

    resolved = client.post(
        f"/holds/{hold.id}/resolve",
        data={"resolve-outcome": "cancelled", "resolve-note": "", "resolve-version": "1"},
    )
    assert resolved.status_code == 302
    send_hold_drafts(client, hold.id)
    result = runner.invoke(args=["outbox", "deliver", "--once"])

    assert "1 sent" in result.output and "1 withdrawn" in result.output
    [subject] = delivered_subjects(app)
    assert "the position has been cancelled" in subject
    db.session.expire_all()
    notice = db.session.get(OutboxEmail, notice.id)
    assert notice.status == OutboxStatus.WITHDRAWN
    assert notice.withdrawn_reason.startswith("The application closed")
    outbox_page = client.get("/outbox").get_data(as_text=True)
    assert "Withdrawn: no longer true" in outbox_page
    assert "Not sent: The application closed" in outbox_page
    timeline = client.get(f"/candidates/{application.candidate_id}").get_data(as_text=True)
    assert "Not sent: The application closed" in timeline
    token = token_for(manager)
    api = client.get(
        "/api/v1/outbox?status=withdrawn", headers={"Authorization": f"Bearer {token}"}
    )
    [row] = api.get_json()["items"]
    assert (row["id"], row["hold_id"], row["written_at_stage"]) == (
        notice.id,
        hold.id,
        "interviewing",
    )
    assert row["withdrawn_reason"] == notice.withdrawn_reason


def test_a_scheduled_still_on_hold_notice_never_arrives_after_moving_forward(
    app, client, login, held
):
    manager, application, hold = held
    login(manager)
    compose(client, application, "hold-notice", send_when="in_days", send_in_days="2")
    client.post(
        f"/holds/{hold.id}/resolve",
        data={"resolve-outcome": "cleared", "resolve-note": "", "resolve-version": "1"},
    )
    send_hold_drafts(client, hold.id)

    report = deliver_batch("worker-1", now=utcnow() + timedelta(days=5))

    assert (report.sent, report.withdrawn) == (1, 1)
    [subject] = delivered_subjects(app)
    assert "is moving again" in subject
    notice = db.session.scalars(
        select(OutboxEmail).where(OutboxEmail.category == "hold_notice")
    ).one()
    assert notice.withdrawn_reason.startswith("The hold it announces was cleared on")


def test_a_check_in_written_at_one_stage_is_withdrawn_once_the_application_moved_past_it(
    app, ctx, make_user, make_application
):
    from hiretrack.candidates.services import change_stage

    manager = make_user("manager")
    application = make_application(manager=manager, stage="final_round")
    check_in = send_message(manager, application, template("check-in")).outbox
    change_stage(manager, application, "verbal_intent")
    db.session.commit()

    assert deliver_batch("worker-1").withdrawn == 1
    assert "moved on from Final round to Verbal intent" in check_in.withdrawn_reason


def test_an_older_message_of_the_same_kind_is_superseded_and_only_the_newer_goes(
    app, ctx, make_user, make_application
):
    manager = make_user("manager")
    application = make_application(manager=manager)
    older = send_message(manager, application, template("check-in")).outbox
    newer = send_message(manager, application, template("check-in")).outbox
    db.session.commit()

    report = deliver_batch("worker-1")

    assert (report.sent, report.withdrawn) == (1, 1)
    assert older.status == OutboxStatus.WITHDRAWN and newer.status == OutboxStatus.SENT
    assert f"(#{newer.id}) replaced it" in older.withdrawn_reason


def test_a_hold_notice_sent_from_compose_drops_the_hold_notice_draft_waiting_for_the_same_person(
    client, login, held
):
    manager, application, hold = held
    waiting = db.session.scalars(
        select(Draft).where(Draft.application_id == application.id, Draft.hold_id == hold.id)
    ).one()
    assert waiting.status == DraftStatus.PENDING
    login(manager)

    compose(client, application, "hold-notice")

    db.session.refresh(waiting)
    assert waiting.status == DraftStatus.DISCARDED
    assert f"/drafts/{waiting.id}/edit" not in client.get("/drafts").get_data(as_text=True)


def test_a_worker_asked_to_stop_does_not_go_on_withdrawing_claim_after_claim(
    app, ctx, make_user, make_application
):
    from hiretrack.candidates.services import change_stage

    manager = make_user("manager")
    applications = [make_application(manager=manager, stage="final_round") for _ in range(3)]
    for application in applications:
        send_message(manager, application, template("check-in"))
        change_stage(manager, application, "verbal_intent")
    db.session.commit()
    stop = threading.Event()
    stop.set()

    assert claim_due("worker-1", 1, utcnow(), stop=stop) == []

    statuses = db.session.scalars(select(OutboxEmail.status).order_by(OutboxEmail.id)).all()
    assert statuses == [OutboxStatus.WITHDRAWN, OutboxStatus.QUEUED, OutboxStatus.QUEUED]
    assert claim_due("worker-1", 1, utcnow()) == []  # without a stop, it withdraws the rest
    assert set(db.session.scalars(select(OutboxEmail.status))) == {OutboxStatus.WITHDRAWN}


def test_closures_and_staff_emails_always_go(app, ctx, make_user, make_application):
    manager = make_user("manager")
    application = make_application(manager=manager)
    closure = send_message(manager, application, template("closure-not-selected")).outbox
    staff = queue_email(
        to_address=manager.email,
        to_name=manager.name,
        subject="Your digest",
        body_text="Nothing waits.",
        body_html="<p>Nothing waits.</p>",
        recipient=manager,
    )
    db.session.commit()

    assert withdrawal_reason(closure) is None and withdrawal_reason(staff) is None
    assert deliver_batch("worker-1").withdrawn == 0


def test_moving_forward_is_withdrawn_when_a_new_hold_was_placed_after_it(
    app, ctx, make_user, make_application
):
    manager = make_user("manager")
    application = make_application(manager=manager)
    moving = send_message(manager, application, template("moving-forward")).outbox
    db.session.commit()
    with time_machine.travel(utcnow() + timedelta(minutes=5)):
        place_hold(
            manager,
            application.requisition,
            reason="visa",
            summary="Visa check",
            owner_name="Legal",
            application=application,
        )
        db.session.commit()
        assert "A new hold was placed" in withdrawal_reason(moving)


# --- No past date promised as the future ---------------------------------------------------------


def test_a_hold_notice_after_its_expected_date_says_so_and_what_happens_now(
    client, login, make_user, make_application
):
    from hiretrack.formatting import long_date

    manager = make_user("manager")
    application = make_application(manager=manager)
    expected = utcnow().date() + timedelta(days=2)
    hold = place_hold(
        manager,
        application.requisition,
        reason="budget",
        summary="Budget",
        public_reason="an internal budget decision",
        owner_name="Finance",
        expected_clear_date=expected,
    ).hold
    db.session.commit()
    login(manager)
    before = client.get(f"/drafts?hold_id={hold.id}").get_data(as_text=True)
    assert f"We currently expect to know more by {long_date(expected)}" in before

    with time_machine.travel(utcnow() + timedelta(days=5)):
        page = client.get(f"/drafts?hold_id={hold.id}").get_data(as_text=True)

    assert "the date we were given has passed without a decision" in page
    assert long_date(expected) not in page
    assert "Check before sending" not in page  # the default wording quotes no past date


def test_review_and_preview_warn_when_the_wording_names_a_past_date(
    client, login, make_user, make_application
):
    from hiretrack.formatting import long_date

    manager = make_user("manager")
    application = make_application(manager=manager)
    hold = place_hold(
        manager, application.requisition, reason="budget", summary="Budget", owner_name="Finance"
    ).hold
    db.session.commit()
    [draft] = db.session.scalars(select(Draft).where(Draft.hold_id == hold.id)).all()
    past = long_date(utcnow().date() - timedelta(days=18))
    body = f"Dear {{{{ candidate.first_name }}}},\n\nWe expect to know more by {past}.\n"
    login(manager)

    preview = client.post(
        "/templates/preview",
        json={"application_id": application.id, "subject": "Update", "body": body},
    )
    [warning] = preview.get_json()["warnings"]
    assert f"names {past}, a date that has passed" in warning
    saved = client.post(
        f"/drafts/{draft.id}/edit",
        data={"subject": "Update", "body": body, "promised_next_update": ""},
    )
    assert saved.status_code == 302
    review = client.get(f"/drafts?hold_id={hold.id}").get_data(as_text=True)
    assert f"Check before sending:</strong> This message names {past}" in review
    applied = long_date(application.opened_at.date())
    assert (
        client.post(
            "/templates/preview",
            json={
                "application_id": application.id,
                "subject": "Hi",
                "body": f"You applied {applied}.",
            },
        ).get_json()["warnings"]
        == []
    )


def test_the_context_says_when_a_hold_date_or_a_promise_has_passed(
    ctx, make_user, make_application
):
    from hiretrack.messages.context import build_context

    manager = make_user("manager")
    application = make_application(manager=manager)
    hold = place_hold(
        manager,
        application.requisition,
        reason="budget",
        summary="Budget",
        owner_name="Finance",
        expected_clear_date=utcnow().date() + timedelta(days=1),
    ).hold
    application.promised_next_update = utcnow().date() + timedelta(days=1)
    db.session.commit()

    now = build_context(application, hold=hold)
    assert not now["hold"]["expected_clear_date_passed"]
    assert not now["application"]["promised_update_passed"]
    with time_machine.travel(utcnow() + timedelta(days=3)):
        later = build_context(application, hold=hold)
    assert (
        later["hold"]["expected_clear_date_passed"] and later["hold"]["expected_clear_date"] is None
    )
    assert later["application"]["promised_update_passed"]


# --- A closure that does not contradict itself -----------------------------------------------------


def test_cancelling_through_a_hold_tells_the_ending_in_its_own_words(client, login, held):
    manager, application, hold = held
    login(manager)

    client.post(
        f"/holds/{hold.id}/resolve",
        data={
            "resolve-outcome": "cancelled",
            "resolve-public_cancellation_reason": "the budget for the role was withdrawn",
            "resolve-version": "1",
        },
    )

    page = client.get(f"/drafts?hold_id={hold.id}").get_data(as_text=True)
    assert "has been cancelled (the budget for the role was withdrawn)" in page
    assert "an internal budget decision" not in page  # the wait's reason is not the ending's


def test_the_api_records_the_cancellation_wording_and_a_closure_without_it_gives_no_reason(
    client, held
):
    manager, application, hold = held
    token = token_for(manager)
    answer = client.post(
        f"/api/v1/holds/{hold.id}/resolve",
        json={"outcome": "cancelled", "public_cancellation_reason": "x" * 301},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 422
    answer = client.post(
        f"/api/v1/holds/{hold.id}/resolve",
        json={"outcome": "cancelled"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["hold"]["public_cancellation_reason"] == ""
    [draft] = db.session.scalars(
        select(Draft).where(Draft.hold_id == hold.id, Draft.status == DraftStatus.PENDING)
    ).all()
    text = review_draft(draft).rendered.text
    assert "has been cancelled, and that we will not be making an offer" in text


# --- Closing ends the work that waited on it ---------------------------------------------------


def offer_waiting_on(approver, application):
    """Propose an offer for an application at verbal intent; return its pending approval step."""
    from hiretrack.offers.services import propose_offer

    offer = propose_offer(application.requisition.manager, application, 50_000, approver.id)
    db.session.commit()
    [step] = offer.approvals
    return step


def test_cancelling_a_requisition_ends_its_holds_approvals_and_offers_and_deciding_one_is_409(
    client, login, make_user, make_application
):
    from hiretrack.approvals.models import Approval
    from hiretrack.holds.models import Hold
    from hiretrack.offers.models import Offer

    manager, approver = make_user("manager"), make_user("approver")
    promised = make_application(manager=manager, stage="verbal_intent")
    step = offer_waiting_on(approver, promised)
    visa = place_hold(
        manager,
        promised.requisition,
        reason="visa",
        summary="Visa",
        owner_id=approver.id,
        application=promised,
    ).hold
    budget = place_hold(
        manager, promised.requisition, reason="budget", summary="Budget", owner_name="Finance"
    ).hold
    db.session.commit()
    login(manager)
    client.post(
        f"/holds/{budget.id}/resolve", data={"resolve-outcome": "cancelled", "resolve-version": "1"}
    )

    db.session.expire_all()
    assert db.session.get(Hold, visa.id).outcome == "cancelled"
    assert db.session.get(Hold, visa.id).resolution_note == "The requisition was cancelled."
    assert db.session.get(Approval, step.id).decision == "withdrawn"
    assert db.session.get(Offer, step.offer_id).status == "withdrawn"
    assert "Visa" not in client.get("/holds").get_data(as_text=True)
    client.post("/logout")
    login(approver)
    assert "Visa" not in client.get("/approvals/").get_data(as_text=True)
    refused = client.post(
        f"/approvals/{step.id}/decide",
        data={"decision": "approved", "note": "", "version": str(step.version + 1)},
    )
    assert refused.status_code == 409
    assert "withdrawn: The requisition was cancelled." in refused.get_data(as_text=True)
    assert db.session.get(Approval, step.id).decision == "withdrawn"


def test_closing_one_application_withdraws_its_offer_approval_and_the_api_answers_409(
    client, make_user, make_application
):
    from hiretrack.candidates.services import ClosureNote, change_stage

    manager, approver = make_user("manager"), make_user("approver")
    application = make_application(manager=manager, stage="verbal_intent")
    step = offer_waiting_on(approver, application)
    change_stage(
        manager, application, "withdrawn", closure=ClosureNote("phone", "They took another job.")
    )
    db.session.commit()

    answer = client.post(
        f"/api/v1/approvals/{step.id}/decision",
        json={"decision": "approved"},
        headers={"Authorization": f"Bearer {token_for(approver)}"},
    )

    assert answer.status_code == 409
    assert "withdrawn: The application closed (Closed: withdrawn)." in answer.get_json()["detail"]


# --- Every redirect lands somewhere the actor may see; the manager hears of the drafts --------


def test_an_approver_clearing_a_hold_lands_on_it_and_the_manager_is_told_of_the_drafts(
    client, login, runner, make_user, make_application
):
    from hiretrack.messages.models import OutboxEmail

    manager = make_user("manager", name="Grace Hopper")
    approver = make_user("approver")
    application = make_application(manager=manager)
    hold = place_hold(
        manager, application.requisition, reason="budget", summary="Budget", owner_id=approver.id
    ).hold
    db.session.execute(
        Draft.__table__.update().values(status=DraftStatus.DISCARDED)
    )  # the hold notice was dealt with
    db.session.commit()
    login(approver)

    cleared = client.post(
        f"/holds/{hold.id}/resolve",
        data={"resolve-outcome": "cleared", "resolve-version": "1"},
        follow_redirects=True,
    )

    assert cleared.status_code == 200 and cleared.request.path == f"/holds/{hold.id}"
    assert "ready for Grace Hopper to review and send" in cleared.get_data(as_text=True)
    client.post("/logout")
    login(manager)
    dashboard = client.get("/dashboard").get_data(as_text=True)
    assert 'id="drafts-waiting"' in dashboard and "Drafts waiting for your review" in dashboard
    assert 'Drafts <span class="badge">1</span>' in dashboard  # in the navigation
    assert runner.invoke(args=["reminders", "run"]).exit_code == 0
    digest = db.session.scalars(
        select(OutboxEmail).where(OutboxEmail.recipient_user_id == manager.id)
    ).one()
    assert "1 draft on your requisitions waits for your review" in digest.body_text
    assert "http://hiretrack.test/drafts" in digest.body_text


# --- The close page leads to the closures ------------------------------------------------------


def test_the_close_page_prepares_and_opens_closures_while_hold_notices_wait(
    client, login, make_user, make_requisition, make_application
):
    from hiretrack.holds.models import Hold
    from hiretrack.requisitions.models import Requisition

    manager = make_user("manager")
    requisition = make_requisition(manager=manager)
    for _ in range(2):
        make_application(requisition=requisition)
    hold = place_hold(
        manager,
        requisition,
        reason="budget",
        summary="Budget",
        public_reason="a budget review",
        owner_name="Finance",
    ).hold
    db.session.commit()  # two hold notices now wait in draft
    login(manager)

    close_page = client.get(f"/requisitions/{requisition.id}/close").get_data(as_text=True)
    closures_url = f"/drafts?requisition_id={requisition.id}&amp;kind=closure"
    assert f'href="{closures_url}">Review and send their closures' in close_page
    prepared = client.post(
        f"/requisitions/{requisition.id}/drafts",
        data={"category": "closure_cancelled"},
        follow_redirects=True,
    )

    page = prepared.get_data(as_text=True)
    assert "2 drafts prepared" in page and "2 waiting drafts of another kind" in page
    assert page.count("the position has been cancelled") == 2
    assert "on hold for now" not in page
    ids = ",".join(
        str(draft.id)
        for draft in db.session.scalars(select(Draft).where(Draft.status == DraftStatus.PENDING))
    )
    sent = client.post(
        "/drafts/send",
        data={"requisition_id": requisition.id, "kind": "closure", "draft_ids": ids},
        follow_redirects=True,
    )
    assert "2 messages queued" in sent.get_data(as_text=True)
    closed = client.post(
        f"/requisitions/{requisition.id}/close",
        data={
            "status": "cancelled",
            "version": str(db.session.get(Requisition, requisition.id).version),
        },
    )
    assert closed.status_code == 302
    db.session.expire_all()
    assert db.session.get(Requisition, requisition.id).status == "cancelled"
    assert db.session.get(Hold, hold.id).resolution_note == "The requisition was cancelled."


# --- A whole claim checked at once ---------------------------------------------------------------


def test_one_claim_sends_the_true_messages_and_withdraws_each_untrue_one_with_its_audit_entry(
    app, ctx, make_user, make_application
):
    from hiretrack.audit.models import AuditEntry
    from hiretrack.candidates.services import change_stage

    manager = make_user("manager")
    true_one = send_message(manager, make_application(manager=manager), template("check-in"))
    moved = make_application(manager=manager, stage="final_round")
    moved_on = send_message(manager, moved, template("check-in")).outbox
    change_stage(manager, moved, "verbal_intent")
    twice = make_application(manager=manager)
    older = send_message(manager, twice, template("check-in")).outbox
    newer = send_message(manager, twice, template("check-in")).outbox
    closure = send_message(
        manager, make_application(manager=manager), template("closure-not-selected")
    ).outbox
    db.session.commit()

    report = deliver_batch("worker-1")

    assert (report.sent, report.withdrawn) == (3, 2)
    sent = {true_one.outbox.id, newer.id, closure.id}
    statuses = dict(db.session.execute(select(OutboxEmail.id, OutboxEmail.status)).all())
    assert {key for key, status in statuses.items() if status == OutboxStatus.SENT} == sent
    assert "moved on from Final round to Verbal intent" in moved_on.withdrawn_reason
    assert (
        older.withdrawn_reason
        == f"A newer still waiting: check-in message (#{newer.id}) replaced it."
    )
    assert (moved_on.claimed_by, older.claimed_by, older.withdrawn_at is not None) == (
        None,
        None,
        True,
    )
    entries = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "outbox.withdraw").order_by(AuditEntry.id)
    ).all()
    assert [(entry.entity_type, entry.entity_id, entry.actor_label) for entry in entries] == [
        ("outbox_email", moved_on.id, "delivery check"),
        ("outbox_email", older.id, "delivery check"),
    ]
    assert entries[1].before == {"status": "sending", "reason": None}
    assert entries[1].after == {"status": "withdrawn", "reason": older.withdrawn_reason}


def test_a_claims_premises_are_read_in_one_statement_whatever_its_size(
    app, ctx, make_user, make_application
):
    from sqlalchemy import event

    from hiretrack.messages.premise import withdrawal_reasons

    manager = make_user("manager")
    for _ in range(6):
        send_message(manager, make_application(manager=manager), template("check-in"))
    db.session.commit()
    rows = db.session.scalars(select(OutboxEmail).order_by(OutboxEmail.id)).all()  # as claimed
    statements: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        counts = []
        for claim in (rows[:1], rows):
            before = len(statements)
            assert withdrawal_reasons(claim) == {}
            counts.append(len(statements) - before)
    finally:
        event.remove(db.engine, "before_cursor_execute", note)

    assert counts == [1, 1]


def test_past_dates_named_reads_each_written_form_once_and_skips_impossible_dates():
    text = (
        "We wrote on Monday, 2 November 2026 and again on 2 November 2026; the panel met "
        "30 November 2026. Nothing happens on 31 February 2026, and we expect news by "
        "Friday 11 December 2026. You applied on 1 October 2026."
    )

    named = past_dates_named(text, date(2026, 12, 4), {date(2026, 10, 1)})

    assert named == [date(2026, 11, 2), date(2026, 11, 30)]
