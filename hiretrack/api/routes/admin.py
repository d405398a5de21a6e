"""JSON API v1: departments and staff users (admin)."""

import secrets

from sqlalchemy import select

from hiretrack.admin.models import Department
from hiretrack.admin.services import create_department
from hiretrack.api import presenters as present
from hiretrack.api import schemas as s
from hiretrack.api.blueprint import api
from hiretrack.auth import access
from hiretrack.auth.models import Role, User
from hiretrack.auth.services import create_user
from hiretrack.extensions import db

UserPage = s.page_of(s.UserOut)
DepartmentPage = s.page_of(s.DepartmentOut)


@api.operation(
    "GET",
    "/departments",
    summary="List departments",
    tag="Admin",
    response=DepartmentPage,
    query=s.PageQuery,
)
def list_departments(user: User, query: s.PageQuery):
    """List every department, by name."""
    statement = select(Department).order_by(Department.name, Department.id)
    return DepartmentPage.model_validate(present.paginate(statement, query, lambda rows: rows))


@api.operation(
    "POST",
    "/departments",
    summary="Add a department (admin)",
    tag="Admin",
    response=s.DepartmentOut,
    status=201,
    body=s.DepartmentCreate,
)
def add_department(user: User, body: s.DepartmentCreate):
    """Add a department; names are unique, ignoring case."""
    access.require_role(user, Role.ADMIN)
    department = create_department(user, body.name)
    db.session.commit()
    return s.DepartmentOut.model_validate(department)


@api.operation(
    "GET",
    "/users",
    summary="List users (admin)",
    tag="Admin",
    response=UserPage,
    query=s.UserQuery,
)
def list_users(user: User, query: s.UserQuery):
    """List staff users, optionally of one role."""
    access.require_role(user, Role.ADMIN)
    statement = select(User).order_by(User.id)
    if query.role is not None:
        statement = statement.where(User.role == query.role)
    return UserPage.model_validate(present.paginate(statement, query, lambda rows: rows))


@api.operation(
    "POST",
    "/users",
    summary="Add a user (admin)",
    tag="Admin",
    response=s.UserCreated,
    status=201,
    body=s.UserCreate,
)
def add_user(user: User, body: s.UserCreate):
    """Add a staff user; without a password, one is generated and shown once in the answer."""
    access.require_role(user, Role.ADMIN)
    generated = None if body.password else secrets.token_urlsafe(18)
    created = create_user(
        body.email,
        body.name,
        body.role,
        body.password or generated,
        actor=user,
        phone=body.phone or "",
    )
    db.session.commit()
    return s.UserCreated.model_validate(
        {**s.UserOut.model_validate(created).model_dump(), "initial_password": generated}
    )
