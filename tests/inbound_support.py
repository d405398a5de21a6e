"""Shared pieces of the inbound mail tests: an app that tracks replies, and a sent message."""

from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy

import pytest
from sqlalchemy import select

from hiretrack.candidates.models import Application
from hiretrack.extensions import db
from hiretrack.inbound.models import InboundMessage
from hiretrack.messages.backends import SENT_MAIL_KEY
from hiretrack.messages.delivery import deliver_batch
from hiretrack.messages.models import OutboxEmail
from hiretrack.messages.services import choose_template, send_message

REPLY_ADDRESS = "replies@hiring.acme.example"


@dataclass
class Sent:
    """One candidate email that went out: its row, its application, and the bytes as received."""

    outbox: OutboxEmail
    application: Application
    message: EmailMessage

    @property
    def candidate_address(self) -> str:
        return self.application.candidate.email


@pytest.fixture
def tracking_app(app):
    """The app with reply tracking on and the memory mail backend (what was sent is kept)."""
    app.config.update(REPLY_ADDRESS=REPLY_ADDRESS, MAIL_BACKEND="memory")
    return app


def sent_messages(app) -> list[EmailMessage]:
    """Every message the memory backend delivered, parsed."""
    return [
        BytesParser(policy=default_policy).parsebytes(envelope.content)
        for envelope in app.extensions.get(SENT_MAIL_KEY, [])
    ]


@pytest.fixture
def send_update(tracking_app, ctx, make_application):
    """Send a check-in to a (new) application through the real services and deliver it."""

    def send(application: Application | None = None, **application_options) -> Sent:
        application = application or make_application(**application_options)
        manager = application.requisition.manager
        sent = send_message(manager, application, choose_template(manager, "check_in"))
        db.session.commit()
        deliver_batch("test-worker")
        outbox = db.session.get(OutboxEmail, sent.outbox.id)
        message = next(
            m for m in sent_messages(tracking_app) if m["Message-ID"] == outbox.message_id
        )
        return Sent(outbox, db.session.get(Application, application.id), message)

    return send


def inbound_messages() -> list[InboundMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(InboundMessage).order_by(InboundMessage.id)))
