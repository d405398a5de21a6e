"""Tie a received message to one of our emails and its application, or to nothing.

In order: the reply token in the plus-addressed tracking address; for a delivery report, the
Message-ID of our message that it quotes; In-Reply-To, then References, against the Message-IDs
of the emails we sent; last, the sender's address, only when it belongs to a candidate with
exactly one open application. A token or Message-ID that is not ours matches nothing and the
next rule is tried, so a forged token can never attach mail to another candidate.
"""

import re
from dataclasses import dataclass, field

from sqlalchemy import func, select

from hiretrack.auth.models import User
from hiretrack.candidates.models import Application, Candidate
from hiretrack.extensions import db
from hiretrack.inbound.models import MatchedBy
from hiretrack.inbound.parsing import ReadMessage
from hiretrack.messages.models import OutboxEmail

#: Reply tokens as `new_reply_token` makes them: lower-case base32, so case-folding MTAs keep them.
TOKEN_PATTERN = r"[a-z2-7]{24}"


@dataclass
class Match:
    """What a message was tied to, how, and anything worth noting about the attempt."""

    application: Application | None = None
    outbox: OutboxEmail | None = None
    matched_by: MatchedBy | None = None
    notes: list[str] = field(default_factory=list)


def reply_tokens(recipients: tuple[str, ...], reply_address: str | None) -> list[str]:
    """The tokens in recipient addresses of the form `<local>+<token>@<domain>`.

    Only addresses built on the configured tracking address count; any `+tag` on another
    address is someone else's business.
    """
    if not reply_address:
        return []
    local, _, domain = reply_address.lower().rpartition("@")
    pattern = re.compile(rf"{re.escape(local)}\+([^@]+)@{re.escape(domain)}")
    tokens = []
    for address in recipients:
        found = pattern.fullmatch(address.lower())
        if found:
            tokens.append(found.group(1))
    return list(dict.fromkeys(tokens))


def _outbox_by_token(token: str) -> OutboxEmail | None:
    if not re.fullmatch(TOKEN_PATTERN, token):
        return None
    return db.session.scalars(
        select(OutboxEmail).where(
            OutboxEmail.reply_token == token, OutboxEmail.application_id.is_not(None)
        )
    ).first()


def outbox_by_message_ids(
    message_ids: tuple[str, ...], *, candidates_only: bool
) -> OutboxEmail | None:
    """Our email with one of these Message-IDs, preferring the last one named."""
    if not message_ids:
        return None
    query = select(OutboxEmail).where(OutboxEmail.message_id.in_(list(message_ids)))
    if candidates_only:
        query = query.where(OutboxEmail.application_id.is_not(None))
    found = {row.message_id: row for row in db.session.scalars(query)}
    for message_id in reversed(message_ids):
        if message_id in found:
            return found[message_id]
    return None


def application_for_sender(address: str) -> Application | None:
    """The one open application of the candidate with this address, or None if not exactly one."""
    if not address:
        return None
    applications = list(
        db.session.scalars(
            select(Application)
            .join(Candidate, Candidate.id == Application.candidate_id)
            .where(func.lower(Candidate.email) == address.lower(), Application.closed_at.is_(None))
            .limit(2)
        )
    )
    return applications[0] if len(applications) == 1 else None


def staff_user(address: str) -> User | None:
    """The HireTrack user with this address (a manager answering all), if any."""
    if not address:
        return None
    return db.session.scalars(select(User).where(func.lower(User.email) == address.lower())).first()


def match_message(read: ReadMessage, reply_address: str | None) -> Match:
    """Find the email and application a received message belongs to (see the module docstring)."""
    match = Match()
    for token in reply_tokens(read.recipients, reply_address):
        outbox = _outbox_by_token(token)
        if outbox is not None:
            return Match(outbox.application, outbox, MatchedBy.TOKEN, match.notes)
        match.notes.append("Its reply token is not one of ours; matched by other means.")
    if read.report is not None and read.report.original_message_id:
        outbox = outbox_by_message_ids((read.report.original_message_id,), candidates_only=False)
        if outbox is not None:
            return Match(outbox.application, outbox, MatchedBy.ORIGINAL_MESSAGE, match.notes)
    for message_ids, matched_by in (
        (read.in_reply_to, MatchedBy.IN_REPLY_TO),
        (read.references, MatchedBy.REFERENCES),
    ):
        outbox = outbox_by_message_ids(message_ids, candidates_only=True)
        if outbox is not None:
            return Match(outbox.application, outbox, matched_by, match.notes)
    if read.report is None:
        application = application_for_sender(read.from_address)
        if application is not None:
            return Match(application, None, MatchedBy.SENDER, match.notes)
    return match
