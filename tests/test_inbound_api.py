"""`POST /api/v1/inbound` (raw messages from a relay) and `GET /api/v1/inbound`."""

import pytest

from hiretrack.cadence.queries import CadenceStatus, cadence_for
from hiretrack.extensions import db
from tests import api_support
from tests.api_support import PREFIX, assert_problem
from tests.inbound_support import inbound_messages
from tests.mail_builders import delivery_status, out_of_office, reply_to

as_user = api_support.as_user
make_staff = api_support.make_staff


@pytest.fixture
def post_raw(client):
    """post_raw(token, raw, content_type=...) -> the response to POST /api/v1/inbound."""

    def post(caller: api_support.ApiCaller, raw: bytes, content_type: str = "message/rfc822"):
        return client.post(
            f"{PREFIX}/inbound",
            data=raw,
            headers=caller.headers() | {"Content-Type": content_type},
        )

    return post


def test_a_relay_posts_a_reply_and_the_application_becomes_due(
    tracking_app, send_update, as_user, make_staff, post_raw
):
    sent = send_update(stage="final_round")
    admin = as_user(make_staff("admin"))
    raw = reply_to(sent.message, "Can you tell me by Friday?", sender=sent.candidate_address)

    response = post_raw(admin, raw)

    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["kind"], body["application_id"], body["counted"]) == (
        "reply",
        sent.application.id,
        True,
    )
    assert body["text"] == "Can you tell me by Friday?"
    assert body["outbox_id"] == sent.outbox.id and body["matched_by"] == "token"
    assert cadence_for([sent.application.id])[sent.application.id].status == CadenceStatus.DUE

    again = post_raw(admin, raw)
    assert again.status_code == 200 and again.get_json()["id"] == body["id"]
    assert len(inbound_messages()) == 1


def test_only_admins_post_and_only_raw_messages(
    tracking_app, send_update, as_user, make_staff, post_raw
):
    sent = send_update()
    raw = reply_to(sent.message, "Hi", sender=sent.candidate_address)

    assert_problem(post_raw(as_user(make_staff("recruiter")), raw), 403)
    assert_problem(post_raw(as_user(make_staff("manager")), raw), 403)
    assert_problem(post_raw(api_support.ApiCaller(None, None), raw), 401)
    admin = as_user(make_staff("admin"))
    assert_problem(post_raw(admin, raw, content_type="application/json"), 400)
    assert_problem(post_raw(admin, b"   "), 400)
    assert inbound_messages() == []


def test_an_oversized_post_is_recorded_by_its_headers(
    tracking_app, send_update, as_user, make_staff, post_raw
):
    tracking_app.config["INBOUND_MAX_BYTES"] = 64 * 1024
    sent = send_update()
    raw = reply_to(
        sent.message,
        "Big file.",
        sender=sent.candidate_address,
        attachments=(("scan.tiff", b"\x01" * 3_000_000, "image/tiff"),),
    )

    response = post_raw(as_user(make_staff("admin")), raw)

    assert response.status_code == 201
    body = response.get_json()
    assert body["kind"] == "unmatched" and "Too large" in body["note"]
    assert body["size_bytes"] == len(raw) and body["text"] == ""


def test_listing_filters_by_kind_and_application_within_what_the_caller_sees(
    tracking_app, send_update, as_user, make_staff, post_raw
):
    mine, theirs = send_update(), send_update()
    admin = as_user(make_staff("admin"))
    post_raw(admin, reply_to(mine.message, "Mine", sender=mine.candidate_address))
    post_raw(admin, out_of_office(theirs.message, sender=theirs.candidate_address))
    post_raw(
        admin,
        delivery_status(
            theirs.outbox.message_id,
            theirs.candidate_address,
            action="failed",
            status="5.1.1",
            diagnostic="550 unknown",
        ),
    )
    post_raw(admin, b"From: x@example.net\r\nMessage-ID: <x@example.net>\r\n\r\nWho?\r\n")

    everything = admin.get("/inbound").get_json()
    assert everything["total"] == 4
    assert [item["kind"] for item in everything["items"]] == [
        "unmatched",
        "bounce",
        "auto_reply",
        "reply",
    ]
    assert admin.get("/inbound", kind="bounce").get_json()["items"][0]["report_status"] == "5.1.1"
    only = admin.get("/inbound", application_id=theirs.application.id).get_json()
    assert {item["kind"] for item in only["items"]} == {"auto_reply", "bounce"}

    manager = as_user(db.session.merge(mine.application.requisition.manager))
    seen = manager.get("/inbound").get_json()
    assert [item["text"] for item in seen["items"]] == ["Mine"]
    assert_problem(manager.get("/inbound", kind="spam"), 422, "kind")
