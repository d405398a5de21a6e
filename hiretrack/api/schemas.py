"""The JSON shapes of API v1: pydantic models that validate requests and describe responses.

The same classes feed the OpenAPI document (see `hiretrack.api.openapi`), so what the document
promises is exactly what the endpoints accept and return. Request bodies are strict (no "5" for
5, no unknown fields); query strings are parsed leniently because everything in them is text.
Field names are part of the public contract: add fields freely, never rename one.
"""

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    create_model,
)

from hiretrack.approvals.models import ApprovalKind, Decision
from hiretrack.auth.models import Role
from hiretrack.cadence.queries import CadenceStatus
from hiretrack.candidates.models import Channel, Direction
from hiretrack.candidates.stages import Stage
from hiretrack.holds.models import HoldOutcome, HoldReason
from hiretrack.messages.models import DraftStatus, OutboxStatus, TemplateCategory
from hiretrack.offers.models import OfferStatus
from hiretrack.requisitions.models import RequisitionStatus

#: Ids are database integers; anything outside this range cannot name a row.
ID_MAX = 2**31 - 1
#: Whole numbers in bodies are bounded so no value can overflow a database column.
INT_MAX = 2**31 - 1
#: Template slugs as stored: lower-case letters, digits, dashes and underscores.
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,79}$"
#: Offsets past this page would ask the database for absurd OFFSETs.
MAX_PAGE = 1_000_000
MAX_PER_PAGE = 200


def _no_nul(value: str) -> str:
    """Refuse NUL characters: PostgreSQL cannot store them and no real text contains them."""
    if "\x00" in value:
        raise ValueError("Must not contain NUL (\\u0000) characters.")
    return value


def _to_utc(value: datetime) -> datetime:
    """Normalise an aware time to UTC, refusing ones that fall outside the representable years."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("Out of range.") from None


Id = Annotated[int, Field(ge=1, le=ID_MAX)]
Count = Annotated[int, Field(ge=0, le=INT_MAX)]
Version = Annotated[
    int,
    Field(
        ge=1,
        le=INT_MAX,
        description="The `version` you read; a stale one is refused with 409, nothing is changed.",
    ),
]
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]


def Text(max_length: int, min_length: int = 0, **field: Any) -> Any:  # noqa: N802  (a type factory)
    """A string type of bounded length without NUL characters."""
    return Annotated[
        str,
        Field(min_length=min_length, max_length=max_length, **field),
        AfterValidator(_no_nul),
    ]


Note = Text(5000)
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. EUR.")]
Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]


class RequestBody(BaseModel):
    """Base of every JSON request body: exact types, no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid")


class QueryString(BaseModel):
    """Base of every query string: text parsed into the declared types; unknown names ignored."""

    model_config = ConfigDict(extra="ignore")


class Output(BaseModel):
    """Base of every response shape; readable straight from ORM objects."""

    model_config = ConfigDict(
        from_attributes=True, json_schema_serialization_defaults_required=True
    )


# --- Problems and pages --------------------------------------------------------------------------


class Problem(Output):
    """An RFC 9457 problem: every error the API answers has this shape."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=False)

    type: str = Field(description="Always `about:blank`: `title` names the kind of problem.")
    title: str
    status: int
    detail: str = Field(description="What went wrong and what to do about it, for a person.")
    errors: dict[str, list[str]] | None = Field(
        default=None, description="For 422: each field that was refused, with its messages."
    )


class PageQuery(QueryString):
    page: int = Field(default=1, ge=1, le=MAX_PAGE, description="Page number, from 1.")
    per_page: int = Field(
        default=50, ge=1, le=MAX_PER_PAGE, description=f"Items per page (at most {MAX_PER_PAGE})."
    )


def page_of(item: type[BaseModel]) -> type[BaseModel]:
    """A list response of `item`: {"items", "page", "per_page", "total"}."""
    return create_model(
        f"{item.__name__.removesuffix('Out')}Page",
        __base__=Output,
        __doc__=f"One page of {item.__name__} items.",
        items=(list[item], ...),
        page=(int, ...),
        per_page=(int, ...),
        total=(int, Field(description="How many items match, over all pages.")),
    )


# --- Users and departments -----------------------------------------------------------------------


class UserOut(Output):
    """A staff user (never a candidate)."""

    id: int
    email: str
    name: str
    role: Role
    phone: str | None
    active: bool
    timezone: str | None
    created_at: datetime


class UserCreated(UserOut):
    initial_password: str | None = Field(
        default=None,
        description="Set when no password was sent: the generated password, shown only once.",
    )


class UserCreate(RequestBody):
    email: Text(254, 1)
    name: Text(200, 1)
    role: Role
    password: Text(200, 10) | None = Field(
        default=None, description="At least 10 characters; omit it to have one generated."
    )
    phone: Text(40) | None = None


class UserQuery(PageQuery):
    role: Role | None = None


class DepartmentOut(Output):
    id: int
    name: str
    created_at: datetime


class DepartmentCreate(RequestBody):
    name: Text(120, 1)


# --- Requisitions and approvals ------------------------------------------------------------------


class RequisitionOut(Output):
    """An opening to fill, with its lifecycle status."""

    id: int
    title: str
    department_id: int
    department_name: str
    manager_id: int
    manager_name: str
    headcount: int
    salary_min: int | None
    salary_max: int | None
    currency: str
    status: RequisitionStatus
    cadence_business_days: int | None
    auto_check_in: bool
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    version: int


class RequisitionCreate(RequestBody):
    title: Text(200, 1)
    department_id: Id
    manager_id: Id | None = Field(
        default=None, description="Defaults to you; a manager always creates their own."
    )
    headcount: Annotated[int, Field(ge=1, le=INT_MAX)] = 1
    salary_min: Count | None = None
    salary_max: Count | None = None
    currency: Currency = "EUR"
    status: RequisitionStatus = Field(
        default=RequisitionStatus.DRAFT, description="A new requisition is `draft` or `open`."
    )
    cadence_business_days: Annotated[int, Field(ge=1, le=INT_MAX)] | None = None
    auto_check_in: bool = False


class RequisitionUpdate(RequestBody):
    """Only the fields you send change."""

    title: Text(200, 1) = None
    department_id: Id = None
    manager_id: Id = None
    headcount: Annotated[int, Field(ge=1, le=INT_MAX)] = None
    salary_min: Count | None = None
    salary_max: Count | None = None
    currency: Currency = None
    cadence_business_days: Annotated[int, Field(ge=1, le=INT_MAX)] | None = None
    auto_check_in: bool = None
    status: Literal["pending_approval", "filled", "cancelled"] = Field(
        default=None,
        description=(
            "Move the lifecycle on: `pending_approval` submits a draft for approval; `filled` "
            "and `cancelled` close it (refused with 409 while candidates still wait on closure)."
        ),
    )
    version: Version = None


class RequisitionQuery(PageQuery):
    status: RequisitionStatus | None = None
    department_id: Id | None = None


class ApprovalOut(Output):
    """One step of an approval chain on a requisition (or on an offer)."""

    id: int
    requisition_id: int
    offer_id: int | None
    kind: ApprovalKind
    approver_id: int
    approver_name: str
    requested_by_id: int | None
    due_date: date | None
    decision: Decision
    note: str
    created_at: datetime
    decided_at: datetime | None
    version: int


class ApprovalCreate(RequestBody):
    kind: ApprovalKind
    approver_id: Id
    due_date: date | None = None


class ApprovalDecisionIn(RequestBody):
    decision: Literal["approved", "rejected"]
    note: Note = ""
    version: Version = None


class ApprovalQuery(PageQuery):
    decision: Decision | None = None
    requisition_id: Id | None = None


# --- Holds and drafts ----------------------------------------------------------------------------


class HoldStatus(StrEnum):
    OPEN = "open"
    OVERDUE = "overdue"
    RESOLVED = "resolved"


class HoldOut(Output):
    """Something stopping an offer from going out, with its owner and expected clear date."""

    id: int
    requisition_id: int
    application_id: int | None
    reason: HoldReason
    summary: str
    public_reason: str = Field(description="The only words about the hold a candidate sees.")
    internal_notes: str
    owner_id: int | None
    owner_name: str = Field(description="The owning user's name, or the name given for the owner.")
    opened_at: datetime
    expected_clear_date: date | None
    resolved_at: datetime | None
    outcome: HoldOutcome | None
    resolution_note: str
    status: HoldStatus
    version: int


class HoldBrief(Output):
    """A hold as listed on an application it blocks."""

    id: int
    reason: HoldReason
    summary: str
    expected_clear_date: date | None
    overdue: bool


class HoldCreate(RequestBody):
    reason: HoldReason
    summary: Text(300, 1) = Field(description="For your team; candidates never see it.")
    public_reason: Text(300) = Field(default="", description="What candidates may be told.")
    owner_id: Id | None = Field(default=None, description="The user who owns the hold, or ...")
    owner_name: Text(200) | None = Field(
        default=None, description="... a name for an owner outside HireTrack ('Head office')."
    )
    expected_clear_date: date | None = None
    internal_notes: Note = ""


class HoldResolve(RequestBody):
    outcome: HoldOutcome
    note: Note = ""
    version: Version = None


class HoldQuery(PageQuery):
    status: HoldStatus | None = None
    requisition_id: Id | None = None


class DraftOut(Output):
    """A personalised message prepared for review; nothing is sent until it is confirmed."""

    id: int
    application_id: int
    candidate_id: int
    candidate_name: str
    template: str = Field(description="The template's slug.")
    category: TemplateCategory
    hold_id: int | None
    subject: str | None = Field(description="An edited subject, or null to use the template's.")
    body: str | None = Field(description="An edited body, or null to use the template's.")
    promised_next_update: date | None
    status: DraftStatus
    created_at: datetime
    sent_at: datetime | None
    outbox_id: int | None


class HoldWithDrafts(Output):
    """A hold and the drafts its placing or resolving prepared, one per stranded candidate."""

    hold: HoldOut
    drafts: list[DraftOut]


class DraftQuery(PageQuery):
    status: DraftStatus = DraftStatus.PENDING
    hold_id: Id | None = None
    requisition_id: Id | None = None


class DraftSend(RequestBody):
    ids: list[Id] = Field(min_length=1, max_length=500)


class DraftSent(Output):
    draft_id: int
    status: DraftStatus
    application_id: int
    application_stage: Stage
    touchpoint_id: int
    outbox_id: int
    outbox_status: OutboxStatus


class DraftsSent(Output):
    """Every draft was sent (a failing draft stops the whole batch with 422 instead)."""

    sent: int
    results: list[DraftSent]


# --- Candidates, applications, touchpoints -------------------------------------------------------


class CandidateOut(Output):
    id: int
    name: str
    email: str | None = Field(description="Null once the candidate's data was anonymised.")
    phone: str | None
    created_at: datetime
    anonymised_at: datetime | None
    version: int


class CandidateCreate(RequestBody):
    name: Text(200, 1)
    email: Text(254, 1)
    phone: Text(40) | None = None


class CandidateUpdate(RequestBody):
    """Only the fields you send change."""

    name: Text(200, 1) = None
    email: Text(254, 1) = None
    phone: Text(40) | None = None
    version: Version = None


class CandidateQuery(PageQuery):
    email: Text(254) | None = Field(default=None, description="Exact address, any case.")


class CandidateAnonymise(RequestBody):
    """Why the candidate's data is removed: a fixed list, so the audit log holds no free text."""

    reason: Literal["candidate_request", "retention", "other"] = Field(
        default="candidate_request",
        description="candidate_request (they asked), retention (the period passed) or other.",
    )


class ApplicationOut(Output):
    """One candidate's candidacy for one requisition, with where it stands on cadence."""

    id: int
    candidate_id: int
    candidate_name: str
    requisition_id: int
    requisition_title: str
    stage: Stage
    stage_label: str
    open: bool
    opened_at: datetime
    stage_entered_at: datetime
    closed_at: datetime | None
    last_contact_at: datetime | None = Field(
        description="Last outbound contact that reached the candidate."
    )
    last_inbound_at: datetime | None
    promised_next_update: date | None
    cadence: CadenceStatus | None = Field(description="Null once the application is closed.")
    next_update_due: date | None
    business_days_silent: int | None
    open_holds: list[HoldBrief]
    allowed_next_stages: list[Stage]
    version: int


class ApplicationCreate(RequestBody):
    candidate_id: Id
    requisition_id: Id
    stage: Stage = Field(
        default=Stage.INTERVIEWING,
        description="A new application starts at `interviewing` or `final_round`.",
    )


class ApplicationQuery(PageQuery):
    requisition_id: Id | None = None
    candidate_id: Id | None = None
    stage: Stage | None = None
    cadence: CadenceStatus | None = Field(
        default=None, description="Only open applications have a cadence status."
    )
    open: bool | None = None


class ClosureIn(RequestBody):
    """How the candidate was told, for a closure given outside email (e.g. a phone call)."""

    channel: Channel
    note: Text(5000, 1)


class TransitionIn(RequestBody):
    to: Stage
    note: Note = ""
    closure: ClosureIn | None = Field(
        default=None,
        description="Needed to close without a closure email: how the candidate was told.",
    )
    version: Version = None


class TouchpointOut(Output):
    id: int
    application_id: int
    direction: Direction
    channel: Channel
    note: str
    promised_next_update: date | None
    is_closure: bool
    outbox_id: int | None
    created_at: datetime
    occurred_at: datetime | None = Field(
        description="When it reached the candidate: at once for a call, on delivery for an email."
    )
    created_by_id: int | None


class TouchpointCreate(RequestBody):
    direction: Direction
    channel: Channel
    note: Note = ""
    promised_next_update: date | None = None


class OutboxOut(Output):
    """One email to one recipient, sent later by the delivery worker."""

    id: int
    application_id: int | None
    template_id: int | None
    category: str | None
    to_address: str
    to_name: str
    subject: str
    status: OutboxStatus
    send_after: datetime | None
    next_attempt_at: datetime
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    created_at: datetime
    message_id: str


class OutboxQuery(PageQuery):
    status: OutboxStatus | None = None
    application_id: Id | None = None


class MessageSend(RequestBody):
    template: Slug = Field(description="The template's slug.")
    subject: Text(1000) | None = Field(default=None, description="Replace the subject.")
    body: Text(20000) | None = Field(default=None, description="Replace the body.")
    promised_next_update: date | None = None
    send_at: UtcDatetime | None = Field(
        default=None, description="Schedule for later; it can be cancelled until it goes out."
    )


class MessageSent(Output):
    touchpoint: TouchpointOut
    outbox: OutboxOut
    application: ApplicationOut


class OfferOut(Output):
    id: int
    application_id: int
    salary: int
    currency: str
    start_date: date | None
    status: OfferStatus
    created_at: datetime
    version: int
    approvals: list[ApprovalOut]


class OfferPropose(RequestBody):
    salary: Annotated[int, Field(ge=1, le=INT_MAX)]
    approver_id: Id
    currency: Currency | None = None
    start_date: date | None = None
    due_date: date | None = None
    compensation_approver_id: Id | None = Field(
        default=None, description="Asked when the salary is outside the band (default: approver)."
    )


# --- Templates -----------------------------------------------------------------------------------


class TemplateOut(Output):
    """An email template: shared (owner_id null) or a manager's personal variant."""

    id: int
    slug: str
    name: str
    category: TemplateCategory
    subject: str
    body: str
    promise_business_days: int | None = Field(
        description="The next update the template promises by default, in business days."
    )
    owner_id: int | None
    personal: bool
    is_active: bool
    current_version: int
    updated_at: datetime
    version: int


class TemplateVersionOut(Output):
    number: int
    name: str
    category: TemplateCategory
    subject: str
    body: str
    promise_business_days: int | None
    created_at: datetime
    created_by_id: int | None
    change_note: str


class TemplateDetail(TemplateOut):
    versions: list[TemplateVersionOut] = Field(description="Every saved version, newest first.")


PromiseDays = Annotated[int, Field(ge=1, le=60)]


class TemplateCreate(RequestBody):
    name: Text(120, 1)
    slug: Text(80, 1) = Field(description="Lowercase letters, digits and single hyphens.")
    category: TemplateCategory
    subject: Text(300, 1)
    body: Text(20000, 1)
    promise_business_days: PromiseDays | None = None
    personal: bool = Field(
        default=False, description="A personal variant, used for your own candidates."
    )
    change_note: Text(300) = ""


class TemplateUpdate(RequestBody):
    """Only the fields you send change; each change is saved as a new version."""

    name: Text(120, 1) = None
    slug: Text(80, 1) = None
    category: TemplateCategory = None
    subject: Text(300, 1) = None
    body: Text(20000, 1) = None
    promise_business_days: PromiseDays | None = None
    change_note: Text(300) = None
    is_active: bool = Field(default=None, description="false retires the template.")
    restore_version: Annotated[int, Field(ge=1, le=INT_MAX)] = Field(
        default=None, description="Bring back an earlier version's wording as a new version."
    )
    version: Version = None


class TemplateQuery(PageQuery):
    category: TemplateCategory | None = None
    active: bool | None = None


class TemplatePreviewIn(RequestBody):
    subject: Text(300, 1)
    body: Text(20000, 1)
    application_id: Id
    category: TemplateCategory | None = None
    promise_business_days: PromiseDays | None = None
    promised_next_update: date | None = None


class TemplatePreviewOut(Output):
    subject: str
    text: str
    html: str


# --- Reports -------------------------------------------------------------------------------------


class ReportName(StrEnum):
    HOLDS = "holds"
    APPROVALS = "approvals"
    CADENCE = "cadence"
    CLOSURE = "closure"


class ReportQuery(QueryString):
    date_from: date | None = Field(
        default=None, alias="from", description="First day of the period (YYYY-MM-DD)."
    )
    date_to: date | None = Field(
        default=None, alias="to", description="Last day of the period (YYYY-MM-DD)."
    )
    department: Id | None = Field(default=None, description="Only this department's figures.")
    format: Literal["json", "csv"] = Field(
        default="json", description="`csv` streams the report as one CSV file."
    )


class ReportFiltersOut(Output):
    model_config = ConfigDict(populate_by_name=True)

    date_from: date | None = Field(alias="from", serialization_alias="from")
    date_to: date | None = Field(alias="to", serialization_alias="to")
    department_id: int | None
    department: str | None


class ReportOut(Output):
    """A report: each table's rows (a list), or its totals (one object)."""

    report: ReportName
    title: str
    as_of: date
    filters: ReportFiltersOut
    tables: dict[str, list[dict[str, Any]] | dict[str, Any] | None]
