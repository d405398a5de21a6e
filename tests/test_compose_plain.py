"""Compose in plain words: managers edit the message as it will be sent, never template source."""

import html as html_module
from datetime import timedelta

import pytest
from sqlalchemy import select

from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.formatting import long_date
from hiretrack.holds.services import place_hold
from hiretrack.messages.context import default_promise
from hiretrack.messages.models import Draft, EmailTemplate, OutboxEmail
from hiretrack.messages.wording import check_promise_is_worded, wording_source

SYNTAX = ("{{", "{%", "{#")


@pytest.fixture
def manager(make_user):
    return make_user("manager", name="Grace Hopper")


def _template(slug: str) -> EmailTemplate:
    return db.session.scalars(select(EmailTemplate).where(EmailTemplate.slug == slug)).one()


def _field(html: str, name: str) -> str:
    if name == "body":
        return html.split('name="body"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0]
    return html.split(f'name="{name}"', 1)[1].split('value="', 1)[1].split('"', 1)[0]


def test_compose_shows_a_manager_the_message_in_plain_words(
    client, login, manager, make_application
):
    application = make_application(manager=manager)
    place_hold(
        manager,
        application.requisition,
        reason="budget",
        summary="Budget freeze",
        public_reason="We are waiting for a budget decision from head office.",
        owner_name="Head office",
    )
    db.session.commit()
    login(manager)
    for category in ("hold_notice", "check_in", "delay", "acknowledgement", "closure_cancelled"):
        html = client.get(f"/applications/{application.id}/compose?category={category}").get_data(
            as_text=True
        )
        assert not [s for s in SYNTAX if s in html], category
        assert f"Dear {application.candidate.first_name}" in _field(html, "body"), category
    hold_notice = client.get(f"/applications/{application.id}/compose?category=hold_notice")
    assert "waiting for a budget decision from head office" in hold_notice.get_data(as_text=True)


def test_the_edited_text_is_what_is_sent_with_a_real_status_link(
    client, login, manager, make_application
):
    application = make_application(manager=manager)
    login(manager)
    html = client.get(f"/applications/{application.id}/compose?category=check_in").get_data(
        as_text=True
    )
    subject = html_module.unescape(_field(html, "subject"))
    body = html_module.unescape(_field(html, "body")).lstrip("\n")
    assert "/status/…" in body
    edited = body.replace(f"Dear {application.candidate.first_name}", "Hello again Sam") + (
        "\nP.S. The {curly} braces stay as typed.\n"
    )
    response = client.post(
        f"/applications/{application.id}/compose",
        data={
            "template": "check-in",
            "subject": subject + " (personal)",
            "body": edited,
            "promised_next_update": _field(html, "promised_next_update"),
            "send_when": "now",
            "submit": "Send",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    outbox = db.session.scalars(select(OutboxEmail)).one()
    assert outbox.subject == subject + " (personal)"
    assert "Hello again Sam" in outbox.body_text and "{curly}" in outbox.body_text
    assert "/status/" in outbox.body_text and "…" not in outbox.body_text


def test_a_changed_promise_is_followed_by_untouched_words_and_checked_in_edited_ones(
    client, login, manager, make_application
):
    application = make_application(manager=manager)
    login(manager)
    html = client.get(f"/applications/{application.id}/compose?category=check_in").get_data(
        as_text=True
    )
    body = html_module.unescape(_field(html, "body")).lstrip("\n")
    said = default_promise(application, _template("check-in"))
    assert long_date(said) in body
    later = said - timedelta(days=1)
    edited = body.replace("Kind regards", "All the best")
    data = {
        "template": "check-in",
        "subject": "News",
        "body": edited,
        "promised_next_update": later.isoformat(),
        "send_when": "now",
        "submit": "Send",
    }
    refused = client.post(f"/applications/{application.id}/compose", data=data)
    assert refused.status_code == 422
    assert f"still says {long_date(said)}" in refused.get_data(as_text=True)
    data["body"] = edited.replace(long_date(said), long_date(later))
    assert client.post(f"/applications/{application.id}/compose", data=data).status_code == 302
    # Words left as shown follow the new date: the template writes it in.
    data["body"] = body.replace("\n", "\r\n")  # as a browser posts a textarea
    assert client.post(f"/applications/{application.id}/compose", data=data).status_code == 302
    first, second = db.session.scalars(select(OutboxEmail).order_by(OutboxEmail.id)).all()
    assert long_date(later) in first.body_text and "All the best" in first.body_text
    assert long_date(later) in second.body_text and long_date(said) not in second.body_text


def test_wording_helpers(app, ctx):
    with app.test_request_context():
        link = wording_source("See http://hiretrack.test/status/… for news")
    assert link == "See {{ status_link }} for news"
    today = utcnow().date()
    check_promise_is_worded("by Monday", today, today)  # unchanged date: nothing to check
    with pytest.raises(Exception, match="still says"):
        check_promise_is_worded(f"by {long_date(today)}", today, today + timedelta(days=2))


def test_template_lists_show_subjects_with_example_values(client, login, manager):
    login(manager)
    html = client.get("/templates").get_data(as_text=True)
    assert "Subject (with example values)" in html
    table = html.split("<table", 1)[1]
    assert not [s for s in SYNTAX if s in table]


def test_a_draft_is_edited_in_plain_words_and_untouched_words_follow_a_new_date(
    client, login, manager, make_requisition, make_application
):
    requisition = make_requisition(manager=manager)
    application = make_application(requisition=requisition)
    login(manager)
    client.post(f"/requisitions/{requisition.id}/drafts", data={"category": "check_in"})
    draft = db.session.scalars(select(Draft)).one()
    page = client.get(f"/drafts/{draft.id}/edit").get_data(as_text=True)
    assert not [s for s in SYNTAX if s in page]
    subject = html_module.unescape(_field(page, "subject"))
    body = html_module.unescape(_field(page, "body")).lstrip("\n")
    said = draft.promised_next_update
    later = said - timedelta(days=1)

    # Words left as shown keep following the template: the new date is written in for us.
    kept = client.post(
        f"/drafts/{draft.id}/edit",
        data={"subject": subject, "body": body, "promised_next_update": later.isoformat()},
    )
    assert kept.status_code == 302
    db.session.expire_all()
    draft = db.session.get(Draft, draft.id)
    assert draft.subject is None and draft.body is None  # still the template's own wording
    review = client.get(f"/drafts?requisition_id={requisition.id}").get_data(as_text=True)
    assert long_date(later) in review

    # Edited words that still name the old date are refused, saying so.
    page = client.get(f"/drafts/{draft.id}/edit").get_data(as_text=True)
    body = html_module.unescape(_field(page, "body")).lstrip("\n")
    edited = body.replace(f"Dear {application.candidate.first_name}", "Hello")
    refused = client.post(
        f"/drafts/{draft.id}/edit",
        data={"subject": subject, "body": edited, "promised_next_update": said.isoformat()},
    )
    assert refused.status_code == 422
    assert f"still says {long_date(later)}" in refused.get_data(as_text=True)
    saved = client.post(
        f"/drafts/{draft.id}/edit",
        data={"subject": subject, "body": edited, "promised_next_update": later.isoformat()},
    )
    assert saved.status_code == 302
    db.session.expire_all()
    draft = db.session.get(Draft, draft.id)
    assert draft.body.startswith("Hello") and "{{ status_link }}" in draft.body
