"""Import every model so that SQLAlchemy's registry and Alembic's autogenerate see all tables."""

from sqlalchemy import Integer

from hiretrack.admin.models import Department, OrganisationSettings
from hiretrack.api.models import RateLimitCounter
from hiretrack.approvals.models import Approval
from hiretrack.audit.models import AuditEntry
from hiretrack.auth.models import ApiToken, ThrottleCounter, User
from hiretrack.cadence.models import BusinessCalendar, CalendarDay, ReminderDigest
from hiretrack.candidates.models import Application, Candidate, StageChange, Touchpoint
from hiretrack.database import Base
from hiretrack.holds.models import Hold
from hiretrack.idempotency.models import IdempotencyKey
from hiretrack.inbound.models import InboundMessage
from hiretrack.messages.models import Draft, EmailTemplate, EmailTemplateVersion, OutboxEmail
from hiretrack.offers.models import Offer
from hiretrack.requisitions.models import Requisition
from hiretrack.status.models import StatusLink, UpdateFeedback

__all__ = [
    "ApiToken",
    "Application",
    "Approval",
    "AuditEntry",
    "BusinessCalendar",
    "CalendarDay",
    "Candidate",
    "Department",
    "Draft",
    "EmailTemplate",
    "EmailTemplateVersion",
    "Hold",
    "IdempotencyKey",
    "InboundMessage",
    "Offer",
    "OrganisationSettings",
    "OutboxEmail",
    "RateLimitCounter",
    "ReminderDigest",
    "Requisition",
    "StageChange",
    "StatusLink",
    "ThrottleCounter",
    "Touchpoint",
    "UpdateFeedback",
    "User",
]


def _autoincrement_on_sqlite() -> None:
    """Make SQLite remember the highest id it handed out (AUTOINCREMENT), as PostgreSQL does.

    Without it SQLite gives a new row the highest id in the table plus one, so the id of a row
    deleted last, or of rows a restore dropped, goes to someone else.
    """
    for table in Base.metadata.tables.values():
        key = list(table.primary_key.columns)
        if len(key) == 1 and isinstance(key[0].type, Integer):
            table.dialect_kwargs["sqlite_autoincrement"] = True


_autoincrement_on_sqlite()
