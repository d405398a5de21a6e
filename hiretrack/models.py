"""Import every model so that SQLAlchemy's registry and Alembic's autogenerate see all tables."""

from hiretrack.admin.models import Department, OrganisationSettings
from hiretrack.api.models import RateLimitCounter
from hiretrack.approvals.models import Approval
from hiretrack.audit.models import AuditEntry
from hiretrack.auth.models import ApiToken, ThrottleCounter, User
from hiretrack.cadence.models import BusinessCalendar, CalendarDay, ReminderDigest
from hiretrack.candidates.models import Application, Candidate, StageChange, Touchpoint
from hiretrack.holds.models import Hold
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
