"""API v1 shapes: users and departments."""

from datetime import datetime

from pydantic import Field

from hiretrack.api.schemas.base import Output, PageQuery, RequestBody, Text
from hiretrack.auth.models import Role


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
