"""Keep the calendar_day table filled, so business-day arithmetic can happen inside SQL."""

from datetime import date, timedelta

from flask import current_app
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from hiretrack.cadence.calendar import is_business_day
from hiretrack.cadence.models import BusinessCalendar, CalendarDay
from hiretrack.database import utcnow
from hiretrack.extensions import db

YEARS_BACK = 6
DAYS_AHEAD = 3 * 366


def wanted_range(today: date) -> tuple[date, date]:
    """The days the calendar should cover: some years back for old anchors, three years ahead."""
    return date(today.year - YEARS_BACK, 1, 1), today + timedelta(days=DAYS_AHEAD)


def ensure_calendar(holidays_code: str | None, today: date | None = None) -> None:
    """Make sure calendar_day covers today's range for this holiday calendar; rebuild if not.

    Checked once per process and day (the result is remembered on the app), so pages pay for it
    only after midnight or a settings change.
    """
    today = today or utcnow().date()
    code = holidays_code or ""
    cache = current_app.extensions.setdefault("hiretrack_calendar", set())
    if (code, today) in cache:
        return
    first, last = wanted_range(today)
    built = db.session.scalars(select(BusinessCalendar).limit(1)).first()
    if (
        built is None
        or built.holidays_code != code
        or built.first_day > first
        or built.last_day < today + timedelta(days=366)
    ):
        try:
            rebuild_calendar(code, first, last)
        except IntegrityError:
            # Another process rebuilt it at the same moment; its rows are as good as ours.
            db.session.rollback()
            return
    # rebuild_calendar replaces the set: look it up again rather than adding to the old one.
    current_app.extensions["hiretrack_calendar"].add((code, today))


def rebuild_calendar(code: str, first: date, last: date) -> None:
    """Replace every calendar_day row, numbering business days from `first`; commits."""
    rows, number, day = [], 0, first
    while day <= last:
        business = is_business_day(day, code or None)
        if business:
            number += 1
        rows.append({"day": day, "is_business_day": business, "business_day_number": number})
        day += timedelta(days=1)
    db.session.execute(delete(CalendarDay))
    db.session.execute(insert(CalendarDay), rows)
    db.session.execute(delete(BusinessCalendar))
    db.session.add(BusinessCalendar(holidays_code=code, first_day=first, last_day=last))
    db.session.commit()
    current_app.extensions["hiretrack_calendar"] = set()
