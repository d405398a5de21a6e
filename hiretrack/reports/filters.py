"""What a report covers: the period and department, read and checked from a request or the CLI."""

from collections.abc import Mapping
from datetime import date, timedelta

from sqlalchemy import select

from hiretrack.admin.models import Department
from hiretrack.auth.access import report_requisitions
from hiretrack.auth.models import User
from hiretrack.cadence.business_calendar import YEARS_BACK
from hiretrack.database import utcnow
from hiretrack.errors import ValidationFailed
from hiretrack.extensions import db
from hiretrack.formatting import parse_day
from hiretrack.reports.tables import ReportFilters
from hiretrack.requisitions.models import Requisition

#: Reports over a period cover the last 30 days unless told otherwise.
DEFAULT_PERIOD_DAYS = 30


def parse_filters(
    values: Mapping[str, str | None], today: date | None = None, *, default_period: bool = True
) -> ReportFilters:
    """Read the period (`from`, `to`, ISO dates) and `department` (an id) a report should cover.

    With default_period, a missing period means the last DEFAULT_PERIOD_DAYS days; without it
    (the hold report) no period means "open holds only". Raises ValidationFailed per field.
    """
    today = today or utcnow().date()
    earliest, latest = date(today.year - YEARS_BACK, 1, 1), today + timedelta(days=366)
    errors: dict[str, list[str]] = {}
    parsed: dict[str, date | None] = {}
    for name in ("from", "to"):
        raw = (values.get(name) or "").strip()
        parsed[name] = None
        if not raw:
            continue
        try:
            day = parse_day(raw)
        except ValueError:
            errors[name] = [f"'{raw[:40]}' is not a date: use year-month-day, e.g. 2026-03-02."]
            continue
        if not earliest <= day <= latest:
            errors[name] = [
                f"Choose a date between {earliest.isoformat()} and {latest.isoformat()}."
            ]
            continue
        parsed[name] = day
    date_from, date_to = parsed["from"], parsed["to"]
    if date_from and date_to and date_from > date_to:
        errors["to"] = ["The end of the period is before its start."]
    department_id, department_name = None, None
    raw_department = (values.get("department") or "").strip()
    if raw_department:
        try:
            department_id = int(raw_department)
        except ValueError:
            department_id = None
        department_name = (
            db.session.scalar(select(Department.name).where(Department.id == department_id))
            if department_id is not None and 0 < department_id < 2**31
            else None
        )
        if department_name is None:
            errors["department"] = ["Unknown department: choose one from the list."]
    if errors:
        raise ValidationFailed("Please correct the report filters.", errors)
    if default_period:
        if date_to is None:
            date_to = max(today, date_from) if date_from else today
        if date_from is None:
            date_from = date_to - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    return ReportFilters(date_from, date_to, department_id, department_name)


def department_choices(user: User) -> list[tuple[int, str]]:
    """The departments whose figures the user may see, for the filter's list."""
    in_scope = select(Requisition.department_id).where(report_requisitions(user))
    rows = db.session.execute(
        select(Department.id, Department.name)
        .where(Department.id.in_(in_scope))
        .order_by(Department.name)
    )
    return [(department_id, name) for department_id, name in rows]
