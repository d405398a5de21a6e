"""Tell the hiring manager what came back: a reply they may not have seen, or a bounce."""

from hiretrack.candidates.models import Application
from hiretrack.inbound.models import InboundKind, InboundMessage
from hiretrack.messages.models import OutboxEmail
from hiretrack.status.services import notify_manager


def tell_manager(
    application: Application,
    *,
    subject: str,
    what: str,
    message: InboundMessage,
    reason: str | None = None,
) -> OutboxEmail:
    """Queue a staff email to the application's manager about one received message."""
    return notify_manager(
        application,
        subject=subject,
        template="inbound",
        what=what,
        text=message.body_text,
        attachments=message.attachments,
        reason=reason,
        kind=message.kind,
        counted=message.counted,
        reply_to_candidate=message.kind != InboundKind.BOUNCE,
    )
