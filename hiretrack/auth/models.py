"""Users, their API tokens, and the login throttle counters shared by all workers."""

import secrets
from datetime import datetime
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from hiretrack.database import utcnow
from hiretrack.extensions import db


class Role(StrEnum):
    MANAGER = "manager"
    APPROVER = "approver"
    RECRUITER = "recruiter"
    ADMIN = "admin"


#: How each role is named on the pages.
ROLE_LABELS = {
    Role.MANAGER: "Hiring manager",
    Role.APPROVER: "Approver",
    Role.RECRUITER: "Recruiter",
    Role.ADMIN: "Admin",
}


#: Roles that see every department's requisitions, candidates and reports.
ORGANISATION_WIDE_ROLES = frozenset({Role.RECRUITER, Role.ADMIN})


def new_session_token() -> str:
    """Return a fresh per-user session token; rotating it ends every copy of the session cookie."""
    return secrets.token_urlsafe(32)


class User(UserMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    phone: Mapped[str | None] = mapped_column(String(40))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    timezone: Mapped[str | None] = mapped_column(String(64))
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token, unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    api_tokens: Mapped[list["ApiToken"]] = relationship(back_populates="user")

    def set_password(self, password: str) -> None:
        """Hash the password (scrypt) and end every existing session of this user."""
        self.password_hash = generate_password_hash(password)
        self.session_token = new_session_token()

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def get_id(self) -> str:
        """Flask-Login stores this in the cookie: the rotating token, never the primary key."""
        return self.session_token

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def sees_everything(self) -> bool:
        return self.role in ORGANISATION_WIDE_ROLES

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"


class ApiToken(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="api_tokens")


class ThrottleCounter(db.Model):
    """Failures (or hits) counted per key in a time window, in the database so every worker agrees."""

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    window_started_at: Mapped[datetime] = mapped_column(default=utcnow)
    count: Mapped[int] = mapped_column(default=0)
    blocked_until: Mapped[datetime | None]
