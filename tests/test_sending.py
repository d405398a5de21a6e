"""Sending: compose one message, drafts in bulk, scheduled sends, guardrails, the outbox page."""

import re
from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from flask import url_for
from sqlalchemy import func, select

from hiretrack.candidates.models import Application, Touchpoint
from hiretrack.database import utcnow
from hiretrack.errors import ValidationFailed
from hiretrack.extensions import db
from hiretrack.messages import services
from hiretrack.messages.models import Draft, DraftStatus, OutboxEmail, OutboxStatus
from hiretrack.messages.services import choose_template, release_due_scheduled, send_message


def count(model, **where) -> int:
    query = select(func.count()).select_from(model)
    for name, value in where.items():
        query = query.where(getattr(model, name) == value)
    return db.session.scalar(query)


def compose_data(template, **overrides) -> dict:
    data = {
        "template": template.slug,
        "subject": template.subject,
        "body": template.body,
        "promised_next_update": "",
        "send_when": "now",
        "submit": "Send",
    }
    data.update(overrides)
    return data


def template_by_slug(slug):
    from hiretrack.messages.models import EmailTemplate

    return db.session.scalars(select(EmailTemplate).where(EmailTemplate.slug == slug)).one()


@pytest.fixture
def manager(make_user):
    return make_user("manager", name="Grace Hopper")


# --- Compose one message --------------------------------------------------------------------------


def test_compose_suggests_a_template_and_shows_it_rendered(
    client, manager, make_application, login
):
    application = make_application(manager=manager)
    login(manager)

    page = client.get(f"/applications/{application.id}/compose")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    # A candidate we never wrote to gets the acknowledgement first.
    assert f"We received your application for {application.requisition.title}" in html
    assert f"Dear {application.candidate.first_name}," in html
    assert 'name="promised_next_update"' in html and 'value="20' in html  # a default date
    # A template named after its category is listed once by name, not "Hold notice: Hold notice".
    options = re.findall(r"<option value=\"[\w-]+\"[^>]*>([^<]*)</option>", html)
    assert "Hold notice" in options
    assert not any(label.partition(": ")[0] == label.partition(": ")[2] for label in options)

    by_category = client.get(f"/applications/{application.id}/compose?category=delay")
    assert "still waiting on an internal approval" in by_category.get_data(as_text=True)
    assert client.get(f"/applications/{application.id}/compose?category=nope").status_code == 404


def test_compose_and_send_writes_one_touchpoint_and_one_outbox_row(
    app, client, manager, make_application, login
):
    application = make_application(manager=manager)
    template = template_by_slug("check-in")
    login(manager)
    promised = (utcnow() + timedelta(days=3)).date()

    response = client.post(
        f"/applications/{application.id}/compose",
        data=compose_data(
            template,
            body=template.body + "\nP.S. Thank you for your patience.\n",
            promised_next_update=promised.isoformat(),
        ),
    )

    assert response.status_code == 302
    with app.test_request_context():
        expected = (
            url_for("candidates.detail", candidate_id=application.candidate_id)
            if "candidates.detail" in app.view_functions
            else url_for("messages.outbox")
        )
    assert response.headers["Location"].endswith(expected)
    [outbox] = db.session.scalars(select(OutboxEmail)).all()
    [touchpoint] = db.session.scalars(select(Touchpoint).where(Touchpoint.channel == "email"))
    assert outbox.status == OutboxStatus.QUEUED and outbox.application_id == application.id
    assert outbox.to_address == application.candidate.email
    assert "P.S. Thank you for your patience." in outbox.body_text
    assert f"Dear {application.candidate.first_name}" in outbox.body_text
    assert "/status/" in outbox.body_text and "…" not in outbox.body_text  # a real status link
    assert touchpoint.outbox_email_id == outbox.id
    assert touchpoint.promised_next_update == promised
    assert touchpoint.occurred_at is None  # contact counts once delivered
    assert "Queued for delivery" in client.get(expected).get_data(as_text=True)


def test_a_failure_after_the_outbox_insert_leaves_nothing_behind(
    client, manager, make_application, login
):
    application = make_application(manager=manager)
    template = template_by_slug("check-in")
    login(manager)
    yesterday = (utcnow() - timedelta(days=1)).date()

    # The touchpoint is written after the outbox row is flushed; its refusal must undo both.
    response = client.post(
        f"/applications/{application.id}/compose",
        data=compose_data(template, promised_next_update=yesterday.isoformat()),
    )

    assert response.status_code == 422
    assert "cannot be in the past" in response.get_data(as_text=True)
    assert count(OutboxEmail) == 0 and count(Touchpoint, channel="email") == 0


def test_a_crash_mid_send_rolls_back_the_outbox_row(
    client, manager, make_application, login, monkeypatch
):
    application = make_application(manager=manager)
    template = template_by_slug("check-in")
    login(manager)
    seen = {}

    def crash(actor, application, **values):
        seen["outbox_rows_at_crash"] = db.session.scalar(
            select(func.count()).select_from(OutboxEmail)
        )
        raise RuntimeError("the database connection dropped")

    monkeypatch.setattr(services, "log_touchpoint", crash)

    with pytest.raises(RuntimeError):
        client.post(f"/applications/{application.id}/compose", data=compose_data(template))

    assert seen["outbox_rows_at_crash"] == 1  # the failure really came after the insert
    assert count(OutboxEmail) == 0 and count(Touchpoint, channel="email") == 0


def test_an_offer_template_at_verbal_intent_is_refused_with_the_reason(
    client, manager, make_application, login
):
    application = make_application(manager=manager, stage="verbal_intent")
    template = template_by_slug("offer-cover")
    login(manager)

    page = client.get(f"/applications/{application.id}/compose?category=offer_cover")
    assert "No offer until it is in writing" in page.get_data(as_text=True)

    response = client.post(f"/applications/{application.id}/compose", data=compose_data(template))

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "No offer until it is in writing" in html and "only after it is approved" in html
    assert count(OutboxEmail) == 0 and count(Touchpoint) == 0
    assert db.session.get(Application, application.id).stage == "verbal_intent"


def test_an_approved_offer_can_be_sent_and_becomes_extended(
    ctx, manager, make_user, make_application
):
    from hiretrack.approvals.services import decide
    from hiretrack.candidates.services import change_stage
    from hiretrack.offers.services import propose_offer

    approver = make_user("approver")
    application = make_application(manager=manager, stage="verbal_intent")
    offer = propose_offer(manager, application, 60_000, approver.id)
    for approval in list(offer.approvals):
        decide(approver, approval, "approved")
    change_stage(manager, application, "offer_approved")
    db.session.commit()

    send_message(manager, application, choose_template(manager, "offer_cover"))
    db.session.commit()

    assert application.stage == "offer_extended"
    assert count(OutboxEmail, status=OutboxStatus.QUEUED) == 1


def test_a_closure_template_closes_the_application(client, manager, make_application, login):
    application = make_application(manager=manager, stage="final_round")
    template = template_by_slug("closure-not-selected")
    login(manager)

    response = client.post(f"/applications/{application.id}/compose", data=compose_data(template))

    assert response.status_code == 302
    application = db.session.get(Application, application.id)
    assert application.stage == "not_selected" and application.closed_at is not None
    [touchpoint] = db.session.scalars(select(Touchpoint).where(Touchpoint.channel == "email"))
    assert touchpoint.is_closure and touchpoint.promised_next_update is None
    closed_again = client.get(f"/applications/{application.id}/compose?category=check_in")
    assert "This application is closed" in closed_again.get_data(as_text=True)


def test_other_managers_and_approvers_cannot_compose(client, make_user, make_application, login):
    owner, other = make_user("manager"), make_user("manager")
    application = make_application(manager=owner)

    login(other)
    assert client.get(f"/applications/{application.id}/compose").status_code == 404
    assert (
        client.post(f"/applications/{application.id}/compose", data={"submit": "Send"}).status_code
        == 404
    )

    client.post("/logout")
    login(make_user("approver"))
    assert client.get(f"/applications/{application.id}/compose").status_code == 403


# --- Header injection is refused at send ------------------------------------------------------


@pytest.mark.parametrize(
    "subject",
    [
        '{{ "Update\\r\\nBcc: spy@example.org" }}',
        "Update {{ '\\n' }}Bcc: spy@example.org",
        "Update =?UTF-8?Q?=0A?=Bcc: spy@example.org",
        "Update =?UTF-8?B?Cg==?=Bcc: spy@example.org",
        "Update {{ '=?UTF-8?Q?=0D=0A?=' }}Bcc: spy@example.org",
    ],
)
def test_header_injection_in_the_subject_is_refused_at_send(
    client, manager, make_application, login, subject
):
    application = make_application(manager=manager)
    login(manager)

    response = client.post(
        f"/applications/{application.id}/compose",
        data=compose_data(template_by_slug("check-in"), subject=subject),
    )

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "control character" in html or "single line" in html
    assert count(OutboxEmail) == 0 and count(Touchpoint) == 0


def test_an_encoded_newline_in_a_candidates_name_never_reaches_a_subject(
    ctx, manager, make_candidate, make_application
):
    candidate = make_candidate(name="Eve =?UTF-8?Q?=0A?=Bcc: spy@example.org")
    application = make_application(manager=manager, candidate=candidate)
    template = choose_template(manager, "check_in")

    with pytest.raises(ValidationFailed) as refused:
        send_message(manager, application, template, subject="Hello {{ candidate.name }}")

    assert "control character" in refused.value.message
    db.session.rollback()
    assert count(OutboxEmail) == 0


# --- Drafts: bulk, reviewed, all-or-nothing -------------------------------------------------------


def test_bulk_drafts_for_a_requisition_are_all_or_nothing(
    client, manager, make_requisition, make_application, login
):
    requisition = make_requisition(manager=manager)
    applications = [make_application(requisition=requisition) for _ in range(3)]
    login(manager)

    prepared = client.post(f"/requisitions/{requisition.id}/drafts", data={"category": "check_in"})
    assert prepared.status_code == 302
    drafts = db.session.scalars(select(Draft).order_by(Draft.id)).all()
    assert [d.application_id for d in drafts] == [a.id for a in applications]

    review = client.get(f"/drafts?requisition_id={requisition.id}").get_data(as_text=True)
    assert "Send all 3" in review
    for application in applications:
        assert f"Dear {application.candidate.first_name}," in review

    broken = drafts[1]
    broken.body = "Dear {{ candidate.first_name }},\n\n{% if hold %}never closed\n"
    db.session.commit()
    ids = ",".join(str(d.id) for d in drafts)

    review = client.get(f"/drafts?requisition_id={requisition.id}").get_data(as_text=True)
    assert f"Draft {broken.id} cannot be sent" in review

    refused = client.post(
        "/drafts/send",
        data={"requisition_id": requisition.id, "draft_ids": ids},
        follow_redirects=True,
    )
    html = refused.get_data(as_text=True)
    name = applications[1].candidate.name
    assert "Nothing was sent" in html and f"draft {broken.id} ({name})" in html
    assert count(OutboxEmail) == 0 and count(Draft, status=DraftStatus.PENDING) == 3

    assert client.post(f"/drafts/{broken.id}/discard").status_code == 302
    remaining = ",".join(str(d.id) for d in drafts if d.id != broken.id)
    sent = client.post(
        "/drafts/send",
        data={"requisition_id": requisition.id, "draft_ids": remaining},
        follow_redirects=True,
    )

    assert "2 messages queued for delivery" in sent.get_data(as_text=True)
    assert count(OutboxEmail, status=OutboxStatus.QUEUED) == 2
    assert count(Draft, status=DraftStatus.SENT) == 2
    assert count(Draft, status=DraftStatus.DISCARDED) == 1


def test_preparing_again_skips_candidates_with_a_draft_waiting(
    client, manager, make_requisition, make_application, login
):
    requisition = make_requisition(manager=manager)
    make_application(requisition=requisition)
    login(manager)

    client.post(f"/requisitions/{requisition.id}/drafts", data={"category": "check_in"})
    again = client.post(
        f"/requisitions/{requisition.id}/drafts",
        data={"category": "delay"},
        follow_redirects=True,
    )

    assert "1 candidate already had a draft waiting and was skipped" in again.get_data(as_text=True)
    assert count(Draft) == 1
    offer = client.post(f"/requisitions/{requisition.id}/drafts", data={"category": "offer_cover"})
    assert offer.status_code == 302 and count(Draft) == 1


def test_a_changed_list_of_drafts_is_not_sent_blind(
    client, manager, make_requisition, make_application, login
):
    requisition = make_requisition(manager=manager)
    make_application(requisition=requisition)
    login(manager)
    client.post(f"/requisitions/{requisition.id}/drafts", data={"category": "check_in"})
    [first] = db.session.scalars(select(Draft)).all()
    make_application(requisition=requisition)
    client.post(f"/requisitions/{requisition.id}/drafts", data={"category": "check_in"})

    response = client.post(
        "/drafts/send",
        data={"requisition_id": requisition.id, "draft_ids": str(first.id)},
        follow_redirects=True,
    )

    assert "The drafts changed since you opened this page" in response.get_data(as_text=True)
    assert count(OutboxEmail) == 0


def test_editing_a_draft_validates_it_by_line(
    client, manager, make_requisition, make_application, login
):
    requisition = make_requisition(manager=manager)
    make_application(requisition=requisition)
    login(manager)
    client.post(f"/requisitions/{requisition.id}/drafts", data={"category": "check_in"})
    [draft] = db.session.scalars(select(Draft)).all()

    refused = client.post(
        f"/drafts/{draft.id}/edit",
        data={"subject": "Hello", "body": "Dear {{ candidate.first_name }},\n\n{{ bonus }}\n"},
    )
    assert refused.status_code == 422
    assert "line 3: Unknown variable &#39;bonus&#39;" in refused.get_data(as_text=True)

    saved = client.post(
        f"/drafts/{draft.id}/edit",
        data={"subject": "A personal note", "body": "Dear {{ candidate.first_name }},\n\nSoon.\n"},
    )
    assert saved.status_code == 302
    db.session.expire_all()
    draft = db.session.get(Draft, draft.id)
    assert draft.subject == "A personal note" and "Soon." in draft.body


def test_hold_drafts_are_reviewed_by_their_manager_only(
    client, manager, make_user, make_requisition, make_application, login
):
    from hiretrack.holds.services import place_hold

    requisition = make_requisition(manager=manager)
    application = make_application(requisition=requisition)
    result = place_hold(
        manager,
        requisition,
        reason="budget",
        summary="Finance froze the budget line",
        public_reason="a budget review",
        owner_name="Head office finance",
    )
    db.session.commit()
    hold_id = result.hold.id

    login(make_user("manager"))
    assert client.get(f"/drafts?hold_id={hold_id}").status_code == 404
    client.post("/logout")

    login(manager)
    page = client.get(f"/drafts?hold_id={hold_id}").get_data(as_text=True)
    assert "on hold for now (a budget review)" in page
    assert "Finance froze" not in page  # internal summary never reaches a candidate's email
    assert f"Dear {application.candidate.first_name}," in page
    assert client.get("/drafts?hold_id=not-a-number").status_code == 404


def test_a_hold_notice_never_names_a_clear_date_that_has_passed(ctx, manager, make_application):
    from hiretrack.holds.services import place_hold
    from hiretrack.messages.context import render_for

    application = make_application(manager=manager)
    hold = place_hold(
        manager,
        application.requisition,
        reason="budget",
        summary="Budget sign-off",
        public_reason="a budget review",
        owner_name="Head office finance",
        expected_clear_date=utcnow().date() + timedelta(days=2),
    ).hold
    template = template_by_slug("hold-notice")

    def notice() -> str:
        return render_for(application, template.subject, template.body, hold=hold).text

    assert "We currently expect to know more by" in notice()
    with time_machine.travel(utcnow() + timedelta(days=3)):
        assert "We currently expect to know more by" not in notice()
        assert "a budget review" in notice()


# --- Scheduled sends ------------------------------------------------------------------------------


def test_a_scheduled_closure_can_be_cancelled_until_it_goes_out(
    client, manager, make_application, login
):
    application = make_application(manager=manager)
    login(manager)

    response = client.post(
        f"/applications/{application.id}/compose",
        data=compose_data(
            template_by_slug("closure-not-selected"), send_when="in_days", send_in_days="2"
        ),
        follow_redirects=True,
    )

    assert "Scheduled for" in response.get_data(as_text=True)
    [outbox] = db.session.scalars(select(OutboxEmail)).all()
    assert outbox.status == OutboxStatus.SCHEDULED
    assert outbox.send_after.replace(tzinfo=UTC) > utcnow() + timedelta(days=1)
    assert outbox.send_after.replace(tzinfo=UTC).time() == time(9, 0)
    assert db.session.get(Application, application.id).is_open  # closes only when it goes out

    listing = client.get("/outbox").get_data(as_text=True)
    assert "Scheduled" in listing and outbox.subject in listing
    assert client.post(f"/outbox/{outbox.id}/cancel").status_code == 302

    db.session.expire_all()
    assert db.session.get(OutboxEmail, outbox.id).status == OutboxStatus.CANCELLED
    assert count(Touchpoint, channel="email") == 0
    assert db.session.get(Application, application.id).is_open
    again = client.post(f"/outbox/{outbox.id}/cancel", follow_redirects=True)
    assert "Only a scheduled message" in again.get_data(as_text=True)


def test_a_scheduled_closure_closes_the_application_when_released(
    client, manager, make_application, login
):
    application = make_application(manager=manager)
    login(manager)
    tomorrow = (utcnow() + timedelta(days=1)).date()
    client.post(
        f"/applications/{application.id}/compose",
        data=compose_data(
            template_by_slug("closure-not-selected"),
            send_when="at",
            send_on=tomorrow.isoformat(),
            send_time="10:30",
        ),
    )
    [outbox] = db.session.scalars(select(OutboxEmail)).all()
    assert outbox.send_after.replace(tzinfo=UTC) == datetime.combine(
        tomorrow, time(10, 30), tzinfo=UTC
    )

    assert release_due_scheduled(utcnow()) == 0
    assert release_due_scheduled(outbox.send_after.replace(tzinfo=UTC) + timedelta(minutes=1)) == 1
    db.session.commit()

    assert db.session.get(OutboxEmail, outbox.id).status == OutboxStatus.QUEUED
    assert db.session.get(Application, application.id).stage == "not_selected"


def test_scheduling_in_the_past_is_refused(client, manager, make_application, login):
    application = make_application(manager=manager)
    login(manager)
    yesterday = (utcnow() - timedelta(days=1)).date()

    response = client.post(
        f"/applications/{application.id}/compose",
        data=compose_data(
            template_by_slug("check-in"),
            send_when="at",
            send_on=yesterday.isoformat(),
            send_time="09:00",
        ),
    )

    assert response.status_code == 422
    assert "already passed" in response.get_data(as_text=True)
    assert count(OutboxEmail) == 0


# --- Outbox page ----------------------------------------------------------------------------------


def test_failed_deliveries_can_be_requeued_and_unconfirmed_marked_sent(
    client, manager, make_user, make_application, login
):
    application = make_application(manager=manager)
    template = choose_template(manager, "check_in")
    failed = send_message(manager, application, template).outbox
    unconfirmed = send_message(manager, application, template).outbox
    failed.status, failed.last_error = OutboxStatus.FAILED, "550 mailbox unavailable"
    unconfirmed.status = OutboxStatus.UNCONFIRMED
    db.session.commit()

    login(make_user("manager"))
    assert client.post(f"/outbox/{failed.id}/requeue").status_code == 404
    client.post("/logout")

    login(manager)
    page = client.get("/outbox").get_data(as_text=True)
    assert "Failed deliveries (2)" in page and "550 mailbox unavailable" in page
    assert "Re-queue" in page and "Mark as sent" in page

    assert client.post(f"/outbox/{failed.id}/requeue").status_code == 302
    assert client.post(f"/outbox/{unconfirmed.id}/mark-sent").status_code == 302
    db.session.expire_all()
    assert db.session.get(OutboxEmail, failed.id).status == OutboxStatus.QUEUED
    assert db.session.get(OutboxEmail, unconfirmed.id).status == OutboxStatus.SENT
    by_status = client.get("/outbox?status=queued").get_data(as_text=True)
    assert "Failed deliveries" not in by_status and failed.subject in by_status


def test_draft_buttons_carry_a_working_csrf_token(
    app, client, manager, make_requisition, make_application, login
):
    requisition = make_requisition(manager=manager)
    make_application(requisition=requisition)
    login(manager)
    client.post(f"/requisitions/{requisition.id}/drafts", data={"category": "check_in"})
    [draft] = db.session.scalars(select(Draft)).all()
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        page = client.get(f"/drafts?requisition_id={requisition.id}").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

        assert client.post(f"/drafts/{draft.id}/discard").status_code == 400
        assert count(Draft, status=DraftStatus.PENDING) == 1
        discarded = client.post(f"/drafts/{draft.id}/discard", data={"csrf_token": token})
        assert discarded.status_code == 302
        assert count(Draft, status=DraftStatus.DISCARDED) == 1
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_dates_years_ahead_are_taken_for_typos(client, manager, make_application, login):
    application = make_application(manager=manager)
    login(manager)
    far = (utcnow() + timedelta(days=5 * 365)).date().isoformat()

    for fields in (
        {"promised_next_update": far},
        {"send_when": "at", "send_on": far, "send_time": "09:00"},
    ):
        response = client.post(
            f"/applications/{application.id}/compose",
            data=compose_data(template_by_slug("check-in"), **fields),
        )
        assert response.status_code == 422
        assert "within the next year" in response.get_data(as_text=True)
    assert count(OutboxEmail) == 0
