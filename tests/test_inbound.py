"""Inbound mail through the processing path: replies, automatic answers, bounces, unmatched mail.

Each message is built from an email HireTrack really sent (rendered, delivered by the worker)
and handed to `receive`, the one path behind both the IMAP fetcher and `POST /api/v1/inbound`.
"""

import re
from datetime import timedelta
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import getaddresses

import pytest
from sqlalchemy import select

from hiretrack.cadence.queries import CadenceStatus, cadence_for
from hiretrack.candidates.models import Application, Candidate, Direction, Touchpoint
from hiretrack.candidates.privacy import anonymise_candidate, export_candidate
from hiretrack.candidates.services import ClosureNote, change_stage, update_candidate
from hiretrack.dashboard.queries import dashboard_statements, load_dashboard
from hiretrack.database import utcnow
from hiretrack.demo.seed import seed_demo
from hiretrack.extensions import db
from hiretrack.inbound.models import InboundKind, InboundStatus, MatchedBy
from hiretrack.inbound.parsing import html_to_text, new_text
from hiretrack.inbound.services import attach, discard, receive
from hiretrack.messages.models import OutboxEmail, OutboxStatus
from hiretrack.messages.services import choose_template, send_message
from hiretrack.ops.retention import run_retention
from hiretrack.status.services import sent_emails
from tests.inbound_support import inbound_messages
from tests.mail_builders import delivery_status, out_of_office, reply_to
from tests.test_query_counts import counting_queries

OFFER_QUESTION = "I have another offer, can you tell me by Friday?"


def staff_notices(app, subject_part: str) -> list:
    """Staff emails queued to managers whose subject contains subject_part."""
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(OutboxEmail).where(
                OutboxEmail.recipient_user_id.is_not(None),
                OutboxEmail.subject.contains(subject_part),
            )
        )
    )


# --- What we send ------------------------------------------------------------------------------


def test_candidate_email_replies_to_the_manager_and_the_tracking_address(send_update):
    sent = send_update()

    manager = sent.application.requisition.manager
    addresses = [address for _, address in getaddresses([str(sent.message["Reply-To"])])]
    assert addresses == [manager.email, f"replies+{sent.outbox.reply_token}@hiring.acme.example"]
    assert len(sent.outbox.reply_token) == 24


def test_without_a_reply_address_the_reply_goes_to_the_manager_only(app, ctx, make_application):
    application = make_application()
    manager = application.requisition.manager
    outbox = send_message(manager, application, choose_template(manager, "check_in")).outbox

    assert outbox.reply_token is None
    assert manager.email in outbox.reply_to and "+" not in outbox.reply_to


# --- Replies -----------------------------------------------------------------------------------


def test_a_reply_becomes_an_inbound_email_touchpoint_and_makes_the_application_due(
    tracking_app, send_update
):
    sent = send_update(stage="final_round")
    assert cadence_for([sent.application.id])[sent.application.id].status == CadenceStatus.ON_TRACK

    raw = reply_to(
        sent.message, f"Hi,\n\n{OFFER_QUESTION}\n\nThanks", sender=sent.candidate_address
    )
    received = receive(raw, source="api")
    db.session.commit()

    (message,) = inbound_messages()
    assert received.created
    assert (message.kind, message.status, message.matched_by) == (
        InboundKind.REPLY,
        InboundStatus.RECORDED,
        MatchedBy.TOKEN,
    )
    assert message.counted and message.application_id == sent.application.id
    assert message.outbox_email_id == sent.outbox.id
    assert message.body_text == f"Hi,\n\n{OFFER_QUESTION}\n\nThanks"
    touchpoint = db.session.get(Touchpoint, message.touchpoint_id)
    assert (touchpoint.direction, touchpoint.channel) == (Direction.INBOUND, "email")
    assert OFFER_QUESTION in touchpoint.note and "wrote:" not in touchpoint.note
    assert cadence_for([sent.application.id])[sent.application.id].status == CadenceStatus.DUE


def test_the_manager_is_told_only_when_the_reply_did_not_reach_them(tracking_app, send_update):
    sent = send_update()
    manager = sent.application.requisition.manager

    # Reply-To named the manager and the tracking address: the manager already has it.
    receive(reply_to(sent.message, "Thanks!", sender=sent.candidate_address), source="api")
    db.session.commit()
    assert staff_notices(tracking_app, "replied") == []

    # A candidate writing to the tracking address alone (matched by In-Reply-To here).
    raw = reply_to(sent.message, OFFER_QUESTION, sender=sent.candidate_address)
    raw = raw.replace(manager.email.encode(), b"nobody@elsewhere.example")
    receive(raw, source="api")
    db.session.commit()
    (notice,) = staff_notices(tracking_app, "replied")
    assert notice.to_address == manager.email
    assert OFFER_QUESTION in notice.body_text
    assert "due on your dashboard" in notice.body_text


def test_a_name_no_header_can_carry_still_reaches_the_manager(tracking_app, send_update):
    """A stored name or role with a control character or an encoded-word opener (the API took
    them) once made the reply notice's subject refuse itself: a 500, and the manager never told."""
    sent = send_update()
    manager = sent.application.requisition.manager
    sent.application.candidate.name = "Ana\x05 =?utf-8?Q?Silva?="
    sent.application.requisition.title = "Data\x7flead"
    db.session.commit()
    raw = reply_to(sent.message, OFFER_QUESTION, sender=sent.candidate_address)
    raw = raw.replace(manager.email.encode(), b"nobody@elsewhere.example")

    receive(raw, source="api")
    db.session.commit()

    (notice,) = staff_notices(tracking_app, "replied")
    assert notice.subject == "Ana = ?utf-8?Q?Silva?= replied about Data lead"
    assert OFFER_QUESTION in notice.body_text


def test_threading_headers_match_when_there_is_no_token(tracking_app, send_update):
    sent = send_update()
    raw = reply_to(sent.message, "Yes, Tuesday works.", sender="other.address@example.net")
    raw = raw.replace(f"+{sent.outbox.reply_token}".encode(), b"")

    receive(raw, source="api")
    db.session.commit()

    (message,) = inbound_messages()
    assert (message.matched_by, message.application_id) == (
        MatchedBy.IN_REPLY_TO,
        sent.application.id,
    )
    assert message.counted
    assert "not the address on file" in message.note


def test_a_forged_token_matches_nothing_and_attaches_to_no_one_else(
    tracking_app, send_update, make_application
):
    sent = send_update()
    other = send_update()
    forged = "a" * 24
    raw = reply_to(sent.message, "Hello", sender="stranger@example.net")
    raw = raw.replace(sent.outbox.reply_token.encode(), forged.encode())
    raw = raw.replace(sent.outbox.message_id.encode(), b"<not-ours@example.net>")

    receive(raw, source="api")
    db.session.commit()

    (message,) = inbound_messages()
    assert (message.kind, message.status) == (InboundKind.UNMATCHED, InboundStatus.OPEN)
    assert message.application_id is None
    assert "reply token is not one of ours" in message.note
    for application in (sent.application, other.application):
        assert db.session.get(Application, application.id).last_inbound_at is None


def test_the_sender_matches_only_a_candidate_with_exactly_one_open_application(
    tracking_app, ctx, make_application, make_candidate
):
    candidate = make_candidate(email="ana@example.org")
    first = make_application(candidate=candidate)
    letter = (
        b"From: Ana <ana@example.org>\r\nTo: replies@hiring.acme.example\r\n"
        b"Subject: Question\r\nMessage-ID: <q1@example.org>\r\n\r\nAny news?\r\n"
    )
    receive(letter, source="api")
    db.session.commit()
    assert (inbound_messages()[0].matched_by, inbound_messages()[0].application_id) == (
        MatchedBy.SENDER,
        first.id,
    )

    make_application(candidate=db.session.get(Candidate, candidate.id))
    receive(letter.replace(b"<q1@", b"<q2@"), source="api")
    db.session.commit()
    assert inbound_messages()[1].kind == InboundKind.UNMATCHED


def test_a_reply_to_a_closed_application_is_recorded_without_reopening_it(
    tracking_app, send_update
):
    sent = send_update()
    manager = sent.application.requisition.manager
    change_stage(
        manager, sent.application, "withdrawn", closure=ClosureNote("phone", "Called to confirm.")
    )
    db.session.commit()

    receive(reply_to(sent.message, "Thank you!", sender=sent.candidate_address), source="api")
    db.session.commit()

    (message,) = inbound_messages()
    application = db.session.get(Application, sent.application.id)
    assert (message.kind, message.application_id, message.counted) == (
        InboundKind.REPLY,
        application.id,
        False,
    )
    assert message.touchpoint_id is None
    assert "closed" in message.note
    assert application.stage == "withdrawn" and application.last_inbound_at is None


def test_a_reply_from_a_hiretrack_user_does_not_count_as_the_candidates(tracking_app, send_update):
    sent = send_update()
    manager = sent.application.requisition.manager

    receive(reply_to(sent.message, "Looping in HR.", sender=manager.email), source="api")
    db.session.commit()

    (message,) = inbound_messages()
    assert message.kind == InboundKind.REPLY and not message.counted
    assert db.session.get(Application, sent.application.id).last_inbound_at is None


def test_html_is_reduced_to_text_with_no_remote_content_and_attachments_by_name_only(
    tracking_app, send_update
):
    sent = send_update()
    html = (
        "<html><head><style>p{color:red}</style><script>alert('x')</script></head><body>"
        "<p>Here is my <b>portfolio</b>.<img src='https://tracker.example/pixel.png'></p>"
        "<div class='gmail_quote'>On Monday, Maria wrote:<blockquote>old text</blockquote></div>"
        "</body></html>"
    )
    raw = reply_to(
        sent.message,
        "Here is my portfolio.",
        sender=sent.candidate_address,
        html=html,
        attachments=(("cv.pdf", b"%PDF-1.4 " + b"x" * 2000, "application/pdf"),),
    )

    receive(raw, source="api")
    db.session.commit()

    (message,) = inbound_messages()
    assert message.body_text == "Here is my portfolio."
    assert message.attachments == [
        {"name": "cv.pdf", "size": 2009, "content_type": "application/pdf"}
    ]
    assert "PDF-1.4" not in message.body_text
    assert html_to_text(html) == "Here is my portfolio.\n\nOn Monday, Maria wrote:\n> old text"
    assert "alert" not in html_to_text(html) and "tracker" not in html_to_text(html)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Top post.\n\nOn Mon, 1 Dec 2026, Maria <m@x> wrote:\n> old\n> older", "Top post."),
        ("> question?\nanswer one\n> second?\nanswer two", "answer one\nanswer two"),
        ("Sounds good.\n\n-----Original Message-----\nFrom: Maria\nold", "Sounds good."),
        (
            "Fine.\n\nFrom: Maria Lopez\nSent: Monday\nTo: Ana\nSubject: Update\n\nold",
            "Fine.",
        ),
        ("Thanks,\nAna\n-- \nAna Silva | +44 20 7946 0000", "Thanks,\nAna"),
        ("Yes!\n\nSent from my iPhone", "Yes!"),
        (
            "On Tue, 2 Dec 2026 at 09:00, Maria Lopez <\nmaria@acme.example> wrote:\n> q\n\nBelow.",
            "Below.",
        ),
    ],
)
def test_new_text_drops_quoted_history_and_signatures(text, expected):
    assert new_text(text) == expected


# --- Automatic answers and delivery reports ----------------------------------------------------


def test_an_out_of_office_answer_is_recorded_but_is_not_contact(tracking_app, send_update):
    sent = send_update(stage="final_round")

    receive(out_of_office(sent.message, sender=sent.candidate_address), source="api")
    db.session.commit()

    (message,) = inbound_messages()
    assert (message.kind, message.application_id, message.counted) == (
        InboundKind.AUTO_REPLY,
        sent.application.id,
        False,
    )
    assert "auto-replied" in message.automatic_reason
    application = db.session.get(Application, sent.application.id)
    assert application.last_inbound_at is None
    assert cadence_for([application.id])[application.id].status == CadenceStatus.ON_TRACK
    assert staff_notices(tracking_app, "") == []


@pytest.mark.parametrize(
    "subject",
    ["Out of Office: An update", "Automatic reply: An update", "Abwesenheitsnotiz: Ihr Update"],
)
def test_out_of_office_subjects_without_headers_are_automatic(tracking_app, send_update, subject):
    sent = send_update()
    raw = reply_to(sent.message, "I am away.", sender=sent.candidate_address, quote=False)
    raw = raw.replace(b"Subject: Re: ", f"Subject: {subject} ".encode(), 1)

    receive(raw, source="api")
    db.session.commit()

    assert inbound_messages()[0].kind == InboundKind.AUTO_REPLY


def test_a_permanent_failure_bounces_our_email_and_flags_the_address(tracking_app, send_update):
    sent = send_update(stage="final_round")
    manager = sent.application.requisition.manager
    assert db.session.get(Application, sent.application.id).last_contact_at is not None
    report = delivery_status(
        sent.outbox.message_id,
        sent.candidate_address,
        action="failed",
        status="5.1.1",
        diagnostic="550 5.1.1 <x>: Recipient address rejected: User unknown",
    )

    receive(report, source="api")
    db.session.commit()

    (message,) = inbound_messages()
    assert (message.kind, message.matched_by, message.outbox_email_id) == (
        InboundKind.BOUNCE,
        MatchedBy.ORIGINAL_MESSAGE,
        sent.outbox.id,
    )
    assert message.report_status == "5.1.1" and "User unknown" in message.report_diagnostic
    outbox = db.session.get(OutboxEmail, sent.outbox.id)
    assert outbox.status == OutboxStatus.BOUNCED
    assert "User unknown" in outbox.last_error
    application = db.session.get(Application, sent.application.id)
    candidate = application.candidate
    assert candidate.email_bounced_at is not None and "5.1.1" in candidate.email_bounce_reason
    # The email no longer counts as contact: the candidate was never informed.
    assert application.last_contact_at is None and application.update_requested_at is not None
    assert sent_emails(application) == []
    with tracking_app.test_request_context("/dashboard"):
        figures, _ = load_dashboard(manager, dashboard_statements(manager))
    assert figures.failed_deliveries == 1
    (notice,) = staff_notices(tracking_app, "bounced")
    assert notice.to_address == manager.email and "User unknown" in notice.body_text
    assert (
        f"{candidate.name}, your candidate for {application.requisition.title}, did not "
        "receive your email: their mail server refused it." in notice.body_text
    )
    assert notice.reply_to is None  # replying to the address that bounced would bounce too

    # A second report about the same message changes nothing more.
    receive(report.replace(b"mx.example.org>", b"mx2.example.org>", 1), source="api")
    db.session.commit()
    assert len(staff_notices(tracking_app, "bounced")) == 1

    # Correcting the address clears the flag.
    update_candidate(manager, candidate, email="fixed@example.org")
    db.session.commit()
    assert db.session.get(Candidate, candidate.id).email_bounced_at is None


def test_a_delay_report_is_recorded_only(tracking_app, send_update):
    sent = send_update()
    report = delivery_status(
        sent.outbox.message_id,
        sent.candidate_address,
        action="delayed",
        status="4.4.1",
        diagnostic="451 4.4.1 Connection timed out; will keep trying",
    )

    receive(report, source="api")
    db.session.commit()

    (message,) = inbound_messages()
    assert (message.kind, message.outbox_email_id) == (InboundKind.DELAY, sent.outbox.id)
    assert db.session.get(OutboxEmail, sent.outbox.id).status == OutboxStatus.SENT
    candidate = db.session.get(Candidate, sent.application.candidate_id)
    assert candidate.email_bounced_at is None
    assert db.session.get(Application, sent.application.id).last_contact_at is not None
    assert staff_notices(tracking_app, "") == []


def test_a_bounce_about_a_message_we_do_not_know_is_unmatched(tracking_app, ctx):
    report = delivery_status(
        "<unknown@elsewhere.example>",
        "someone@example.org",
        action="failed",
        status="5.1.1",
        diagnostic="550 User unknown",
    )
    receive(report, source="api")
    db.session.commit()

    (message,) = inbound_messages()
    assert (message.kind, message.status) == (InboundKind.UNMATCHED, InboundStatus.OPEN)
    assert "cannot find" in message.note


# --- Unmatched mail, duplicates, size -----------------------------------------------------------


def test_unmatched_mail_can_be_attached_to_an_application_and_then_counts(
    tracking_app, ctx, make_application, make_user
):
    application = make_application(stage="final_round")
    recruiter = make_user("recruiter")
    letter = (
        b"From: Someone <someone.else@example.net>\r\nTo: replies@hiring.acme.example\r\n"
        b"Subject: About my application\r\nMessage-ID: <u1@example.net>\r\n\r\n"
        b"Is there any news?\r\n"
    )
    receive(letter, source="api")
    db.session.commit()
    (message,) = inbound_messages()
    assert (message.kind, message.status) == (InboundKind.UNMATCHED, InboundStatus.OPEN)

    attach(recruiter, message, db.session.get(Application, application.id))
    db.session.commit()

    (message,) = inbound_messages()
    assert (message.kind, message.status, message.matched_by, message.counted) == (
        InboundKind.REPLY,
        InboundStatus.ATTACHED,
        MatchedBy.PERSON,
        True,
    )
    assert cadence_for([application.id])[application.id].status == CadenceStatus.DUE


def test_discarding_unmatched_mail_removes_its_text(tracking_app, ctx, make_user):
    receive(
        b"From: spam@example.net\r\nSubject: Buy\r\nMessage-ID: <s@example.net>\r\n\r\nBuy now\r\n",
        source="api",
    )
    db.session.commit()
    (message,) = inbound_messages()

    discard(make_user("admin"), message)
    db.session.commit()

    (message,) = inbound_messages()
    assert (message.status, message.body_text) == (InboundStatus.DISCARDED, "")


def test_the_same_message_twice_is_recorded_once(tracking_app, send_update):
    sent = send_update()
    raw = reply_to(sent.message, OFFER_QUESTION, sender=sent.candidate_address)

    first = receive(raw, source="api")
    db.session.commit()
    second = receive(raw, source="imap")
    db.session.commit()

    assert first.created and not second.created
    assert second.message.id == first.message.id
    assert len(inbound_messages()) == 1
    inbound = db.session.scalars(
        select(Touchpoint).where(
            Touchpoint.application_id == sent.application.id,
            Touchpoint.direction == Direction.INBOUND,
        )
    ).all()
    assert len(inbound) == 1


def test_an_oversized_message_is_recorded_by_its_headers_only(tracking_app, send_update):
    tracking_app.config["INBOUND_MAX_BYTES"] = 64 * 1024
    sent = send_update()
    raw = reply_to(
        sent.message,
        "See attached.",
        sender=sent.candidate_address,
        attachments=(("video.mp4", b"\x00" * 200_000, "video/mp4"),),
    )

    receive(raw, source="api")
    db.session.commit()

    (message,) = inbound_messages()
    assert (message.kind, message.status) == (InboundKind.UNMATCHED, InboundStatus.OPEN)
    assert message.size_bytes == len(raw)
    assert message.body_text == "" and message.attachments == []
    assert message.subject.startswith("Re: ") and "Too large to read" in message.note
    assert db.session.get(Application, sent.application.id).last_inbound_at is None


def test_garbage_is_recorded_as_unmatched_not_an_error(tracking_app, ctx):
    for raw in (b"", b"\x00\xff\xfe not an email", b"Subject: =?utf-8?q?=ZZ?=\r\n\r\n\xff"):
        receive(raw, source="api")
        db.session.commit()
    assert {message.kind for message in inbound_messages()} == {InboundKind.UNMATCHED}


def test_a_message_nested_too_deeply_is_recorded_by_its_headers(tracking_app, ctx):
    body = b"text"
    for depth in range(3000):
        boundary = b"b%d" % depth
        body = (
            b'Content-Type: multipart/mixed; boundary="'
            + boundary
            + b'"\r\n\r\n--'
            + boundary
            + b"\r\n"
            + body
            + b"\r\n--"
            + boundary
            + b"--\r\n"
        )
    raw = b"From: someone@example.net\r\nSubject: Deep\r\nMessage-ID: <deep@example.net>\r\n" + body

    receive(raw, source="api")
    db.session.commit()

    (message,) = inbound_messages()
    assert (message.kind, message.subject) == (InboundKind.UNMATCHED, "Deep")
    assert "nested too deeply" in message.note


def test_received_at_is_now_not_the_senders_date(tracking_app, send_update):
    sent = send_update()
    raw = reply_to(
        sent.message,
        "Hi",
        sender=sent.candidate_address,
        headers={"X-Test": "1"},
    ).replace(b"Date: ", b"X-Old-Date: ", 1)
    raw = b"Date: Mon, 01 Jan 2001 00:00:00 +0000\r\n" + raw

    before = utcnow()
    receive(raw, source="api")
    db.session.commit()

    (message,) = inbound_messages()
    assert message.received_at >= before - timedelta(seconds=1)
    assert message.sent_at.year == 2001


def test_a_built_reply_is_a_valid_message(send_update):
    sent = send_update()
    raw = reply_to(sent.message, "Hi", sender=sent.candidate_address)
    parsed = BytesParser(policy=default_policy).parsebytes(raw)
    assert parsed["In-Reply-To"] == sent.outbox.message_id


# --- Pages ---------------------------------------------------------------------------------------


def test_recruiters_attach_unmatched_mail_from_its_page(
    tracking_app, client, login, make_user, make_application
):
    recruiter = make_user("recruiter")
    application = make_application(stage="final_round")
    name = application.candidate.name
    receive(
        b"From: Unknown <unknown@example.net>\r\nSubject: <b>Hello</b>\r\n"
        b"Message-ID: <page@example.net>\r\n\r\n<script>alert(1)</script> Any news?\r\n",
        source="api",
    )
    db.session.commit()
    (message,) = inbound_messages()
    login(recruiter)

    listing = client.get("/inbox/unmatched")
    assert listing.status_code == 200
    assert b"&lt;b&gt;Hello&lt;/b&gt;" in listing.data and b"<b>Hello</b>" not in listing.data
    page = client.get(f"/inbox/{message.id}", query_string={"q": name.split()[-1]})
    assert page.status_code == 200
    assert b"&lt;script&gt;" in page.data and b"<script>alert" not in page.data
    assert name.encode() in page.data

    response = client.post(
        f"/inbox/{message.id}/attach", data={"application_id": str(application.id)}
    )

    assert response.status_code == 302
    (message,) = inbound_messages()
    assert (message.status, message.application_id, message.counted) == (
        InboundStatus.ATTACHED,
        application.id,
        True,
    )
    assert client.post(f"/inbox/{message.id}/discard").status_code == 302
    assert inbound_messages()[0].status == InboundStatus.ATTACHED  # refused: already attached


def test_managers_cannot_reach_unmatched_mail(tracking_app, client, login, make_user):
    receive(b"From: a@example.net\r\nMessage-ID: <m@example.net>\r\n\r\nHi\r\n", source="api")
    db.session.commit()
    (message,) = inbound_messages()
    login(make_user("manager"))

    assert client.get("/inbox/unmatched").status_code == 403
    assert client.get(f"/inbox/{message.id}").status_code == 403
    refused = client.post(f"/inbox/{message.id}/discard", follow_redirects=True)
    assert b"Unmatched mail" not in refused.data
    assert inbound_messages()[0].status == InboundStatus.OPEN


def test_the_candidate_page_shows_the_bounce_and_the_mail_received(
    tracking_app, send_update, client, login
):
    sent = send_update()
    receive(
        delivery_status(
            sent.outbox.message_id,
            sent.candidate_address,
            action="failed",
            status="5.1.1",
            diagnostic="550 5.1.1 User unknown",
        ),
        source="api",
    )
    db.session.commit()
    login(sent.application.requisition.manager)

    page = client.get(f"/candidates/{sent.application.candidate_id}")

    assert page.status_code == 200
    assert b"Emails to this address bounce" in page.data
    assert b"Mail received (1)" in page.data and b"User unknown" in page.data


def test_the_demo_seeds_a_reply_an_out_of_office_a_bounce_and_unmatched_mail(app, ctx):
    seed_demo()

    kinds = sorted(message.kind for message in inbound_messages())
    assert kinds == ["auto_reply", "bounce", "reply", "unmatched"]


def test_recruiters_see_unmatched_mail_on_their_dashboard(tracking_app, client, login, make_user):
    receive(b"From: a@example.net\r\nMessage-ID: <d@example.net>\r\n\r\nHi\r\n", source="api")
    db.session.commit()

    login(make_user("recruiter"))
    with counting_queries(tracking_app) as statements:
        page = client.get("/dashboard").get_data(as_text=True)
    assert 'id="unmatched-mail"' in page
    assert re.search(r'id="unmatched-mail">\s*<strong>1</strong>', page)
    # Read with the other counters, in their statement: no round trip of its own.
    (counted,) = [statement for statement in statements if "inbound_message" in statement]
    assert "approval" in counted and "closure_pending" in counted
    client.post("/logout")
    login(make_user("manager"))
    assert b'id="unmatched-mail"' not in client.get("/dashboard").data


# --- Personal data -----------------------------------------------------------------------------


def test_inbound_text_is_exported_and_removed_by_anonymisation(
    tracking_app, send_update, make_user, client, login
):
    sent = send_update()
    candidate_id, address = sent.application.candidate_id, sent.candidate_address
    receive(reply_to(sent.message, "My private reply", sender=address), source="api")
    manager = sent.application.requisition.manager
    change_stage(manager, sent.application, "withdrawn", closure=ClosureNote("phone", "Called."))
    db.session.commit()
    # With no open application left, later mail from their address matches nothing.
    receive(
        f"From: {address}\r\nSubject: One more thing\r\nMessage-ID: <later@example.org>\r\n\r\n"
        "My unmatched note\r\n".encode(),
        source="api",
    )
    db.session.commit()
    recruiter = make_user("recruiter")
    candidate = db.session.get(Candidate, candidate_id)

    export = export_candidate(candidate)

    texts = [row["body_text"] for row in export["inbound_mail"]]
    assert texts == ["My private reply", "My unmatched note"]
    login(recruiter)
    page = client.get(f"/candidates/{candidate_id}/export")
    assert b"My unmatched note" in page.data and b"Emails received (2)" in page.data

    anonymise_candidate(recruiter, db.session.get(Candidate, candidate_id), "candidate_request")
    db.session.commit()

    for message in inbound_messages():
        assert (message.body_text, message.from_address, message.subject) == ("", "", "")
    stored = " ".join(
        f"{t.note}" for t in db.session.scalars(select(Touchpoint)) if t.application_id
    )
    assert "My private reply" not in stored


def test_retention_clears_unmatched_mail_past_the_retention_period(tracking_app, ctx):
    receive(
        b"From: stranger@example.net\r\nSubject: Hi\r\nMessage-ID: <old@example.net>\r\n\r\n"
        b"Old unmatched text\r\n",
        source="api",
    )
    db.session.commit()

    run_retention(now=utcnow() + timedelta(days=200))
    assert inbound_messages()[0].body_text == "Old unmatched text"

    report = run_retention(now=utcnow() + timedelta(days=400))
    assert report.inbound_mail_erased == 1
    (message,) = inbound_messages()
    assert (message.body_text, message.from_address) == ("", "")
