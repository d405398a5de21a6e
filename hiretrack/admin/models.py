"""Departments and the organisation-wide settings an admin maintains in the web UI."""

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from hiretrack.database import utcnow
from hiretrack.extensions import db


class Department(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrganisationSettings(db.Model):
    """One row of settings that override the configuration defaults once an admin saves them."""

    id: Mapped[int] = mapped_column(primary_key=True)
    company_name: Mapped[str | None] = mapped_column(String(200))
    mail_from: Mapped[str | None] = mapped_column(String(254))
    cadence_business_days: Mapped[int | None]
    holidays: Mapped[str | None] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
