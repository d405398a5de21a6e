"""API v1 shapes: email templates, their versions and previews."""

from datetime import date, datetime
from typing import Annotated

from pydantic import Field

from hiretrack.api.schemas.base import (
    INT_MAX,
    Id,
    MultiLineText,
    Output,
    PageQuery,
    RequestBody,
    Text,
    Version,
)
from hiretrack.messages.models import TemplateCategory


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
    body: MultiLineText(20000, 1)
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
    body: MultiLineText(20000, 1) = None
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
    body: MultiLineText(20000, 1)
    application_id: Id
    category: TemplateCategory | None = None
    promise_business_days: PromiseDays | None = None
    promised_next_update: date | None = None


class TemplatePreviewOut(Output):
    subject: str
    text: str
    html: str
    warnings: list[str] = Field(
        default_factory=list,
        description="What to check before sending, e.g. a date named that has already passed.",
    )
