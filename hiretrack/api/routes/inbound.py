"""JSON API v1: inbound mail. Relays post raw messages; users list what came back.

`POST /inbound` takes one raw message (`Content-Type: message/rfc822`, an admin's token) and
hands it to `hiretrack.inbound.services.receive`, the path the IMAP fetcher uses too.
"""

import sys

from flask import request

from hiretrack.api import presenters as present
from hiretrack.api import schemas as s
from hiretrack.api.blueprint import api
from hiretrack.api.operations import json_response
from hiretrack.api.problems import MalformedBody
from hiretrack.auth import access
from hiretrack.auth.models import Role, User
from hiretrack.extensions import db
from hiretrack.inbound.queries import inbound_query
from hiretrack.inbound.services import max_bytes, receive

RAW_MESSAGE = {
    "message/rfc822": {
        "schema": {"type": "string", "contentMediaType": "message/rfc822"},
        "example": "From: ana@example.org\r\nSubject: Re: An update\r\n\r\nThanks!\r\n",
    }
}


InboundPage = s.page_of(s.InboundOut)


def present_inbound(message) -> s.InboundOut:
    return s.InboundOut.model_validate(
        {
            **present.columns(message),
            "outbox_id": message.outbox_email_id,
            "text": message.body_text,
        }
    )


def _read_at_most(count: int) -> bytes:
    """Read the request body up to `count` bytes (a stream may hand it over in pieces)."""
    chunks, total = [], 0
    while total < count:
        chunk = request.stream.read(min(count - total, 1024 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


@api.operation(
    "POST",
    "/inbound",
    summary="Receive one raw email (admin)",
    tag="Inbound mail",
    response=s.InboundOut,
    status=201,
    raw_body=RAW_MESSAGE,
    other_statuses={200: "This message was received before: the earlier record."},
)
def receive_inbound(user: User):
    """Record one raw email (RFC 5322) as the IMAP fetcher would, and say what it became.

    For relays that post inbound mail. 201 with the new record; 200 with the earlier one when
    the same message (by Message-ID) was received before, so a retried post records nothing
    twice. A message over HIRETRACK_INBOUND_MAX_BYTES is recorded by its headers only.
    """
    access.require_role(user, Role.ADMIN)
    if request.mimetype != "message/rfc822":
        raise MalformedBody("Send one raw email with 'Content-Type: message/rfc822'.")
    limit = max_bytes()
    # The app-wide request limit is for forms and JSON: a message is read up to its own limit,
    # and a larger one is still recorded (by the headers within the first `limit` bytes).
    request.max_content_length = sys.maxsize
    raw = _read_at_most(limit + 1)
    if not raw.strip():
        raise MalformedBody("The request body is empty: send one raw email.")
    size = max(len(raw), request.content_length or 0)
    received = receive(raw, source="api", size=size)
    db.session.commit()
    return json_response(present_inbound(received.message), 201 if received.created else 200)


@api.operation(
    "GET",
    "/inbound",
    summary="List received mail",
    tag="Inbound mail",
    response=InboundPage,
    query=s.InboundQuery,
)
def list_inbound(user: User, query: s.InboundQuery):
    """List received messages, newest first: replies, automatic answers, bounces, delays and
    unmatched mail (the last only for recruiters and admins, who see every application)."""
    statement = inbound_query(
        access.visible_applications(user),
        kind=query.kind,
        application_id=query.application_id,
        since=query.since,
    )
    return InboundPage.model_validate(
        present.paginate(statement, query, lambda rows: [present_inbound(row) for row in rows])
    )
