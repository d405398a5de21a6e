"""Business days: weekends and, when configured, public holidays from the `holidays` package."""

from datetime import date, timedelta
from functools import lru_cache

import holidays as holidays_package


def validate_holiday_calendar(code: str) -> tuple[str, str | None]:
    """Parse "GB-ENG" or "DE" into (country, subdivision); raise ValueError with the choices."""
    country, _, subdivision = code.strip().upper().partition("-")
    supported = holidays_package.list_supported_countries()
    if country not in supported:
        raise ValueError(
            f"Unknown holiday country '{country}'. Use an ISO code such as GB, US, DE."
        )
    if subdivision and subdivision not in supported[country]:
        choices = ", ".join(supported[country][:20])
        raise ValueError(
            f"Unknown subdivision '{subdivision}' for {country}. Choices include: {choices}."
        )
    return country, subdivision or None


@lru_cache(maxsize=64)
def holiday_dates(code: str | None, year: int) -> frozenset[date]:
    """The public holidays of one year for a calendar code (empty without a code)."""
    if not code:
        return frozenset()
    country, subdivision = validate_holiday_calendar(code)
    return frozenset(holidays_package.country_holidays(country, subdiv=subdivision, years=year))


def is_business_day(day: date, code: str | None) -> bool:
    return day.weekday() < 5 and day not in holiday_dates(code, day.year)


def add_business_days(start: date, count: int, code: str | None) -> date:
    """Return the day `count` business days after start (count >= 0; 0 means the next business day
    on or after start)."""
    day = start
    while not is_business_day(day, code):
        day += timedelta(days=1)
    remaining = count
    while remaining > 0:
        day += timedelta(days=1)
        if is_business_day(day, code):
            remaining -= 1
    return day


def business_days_after(day: date, count: int, code: str | None) -> date:
    """The business day `count` business days after `day`, counted from the last business day on
    or before it: five business days after a Saturday is the next Friday, as from that Friday.

    The cadence counts this way (docs/cadence.md), so a promise or a scheduled send made on a
    weekend falls on the day the cadence would, not one business day later."""
    return add_business_days(business_day_on_or_before(day, code), count, code)


def business_days_between(start: date, end: date, code: str | None) -> int:
    """Count business days after start up to and including end (0 when end <= start)."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if is_business_day(day, code):
            count += 1
    return count


def business_day_on_or_before(day: date, code: str | None) -> date:
    """The last business day on or before `day` (a promise for Sunday is kept by Friday)."""
    while not is_business_day(day, code):
        day -= timedelta(days=1)
    return day
