"""Presentation helpers shared by pages and emails: dates in the reader's time zone, labels."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app, request
from flask_login import current_user

from hiretrack.request_cache import once_per_request


def user_timezone() -> ZoneInfo:
    """Return the signed-in user's time zone, else the configured HIRETRACK_TIMEZONE.

    Looked up once per request (a table of dates asks for it on every row).
    """
    return once_per_request("user_timezone", _find_user_timezone)


def _find_user_timezone() -> ZoneInfo:
    name = getattr(current_user, "timezone", None) or current_app.config["TIMEZONE"]
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


#: How every page shows a date: "Wed 25 Nov 2026" (a time adds "14:05 CET" after it).
DATE_FORMAT = "%a %d %b %Y"
DATETIME_FORMAT = f"{DATE_FORMAT} %H:%M"


#: Dates typed into a form: year-month-day (how a form shows its date, in every browser and
#: locale, never 12/11 for either December or November), or as the pages show dates.
DAY_INPUT_FORMATS = ("%Y-%m-%d", "%d %b %Y", "%a %d %b %Y", "%d %B %Y", "%A %d %B %Y")


def parse_day(text: str) -> date:
    """Read a typed date in any of DAY_INPUT_FORMATS; ValueError when it is none of them."""
    cleaned = " ".join(text.replace(",", " ").split())
    for day_format in DAY_INPUT_FORMATS:
        try:
            return datetime.strptime(cleaned, day_format).date()
        except ValueError:
            continue
    raise ValueError(f"'{text[:40]}' is not a date")


def local_datetime(value: datetime | None, zone: ZoneInfo | None = None) -> str:
    """Format an aware datetime in the user's time zone, with the zone: "Wed 25 Nov 2026 14:05 CET".

    The zone is always shown, so a time read by someone in another office is not mistaken.
    A long table passes `zone` (the user's, looked up once).
    """
    if value is None:
        return "—"
    local = value.astimezone(zone or user_timezone())
    return f"{local.strftime(DATETIME_FORMAT)} {zone_abbreviation(local)}"


def zone_abbreviation(local: datetime) -> str:
    """The zone's short name at that moment ("CET", "CEST", "UTC"), or its offset ("UTC+04")."""
    name = local.tzname() or ""
    if name and name[0] in "+-":
        return f"UTC{name}"
    return name


def reader_zone_name() -> str:
    """The name of the zone the signed-in user reads times in, e.g. "Europe/Berlin"."""
    return user_timezone().key


def now_utc() -> datetime:
    """Now, timezone-aware (for pages that show an example time)."""
    return datetime.now(UTC)


def local_date(value: date | datetime | None) -> str:
    """Format a date (or the local date of a datetime) the one way pages show dates: "Wed 25 Nov 2026"."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = value.astimezone(user_timezone()).date()
    return value.strftime(DATE_FORMAT)


def long_date(value: date | None) -> str:
    """Format a date for candidate-facing text, e.g. "Tuesday 1 December 2026"."""
    if value is None:
        return ""
    return f"{value.strftime('%A')} {value.day} {value.strftime('%B %Y')}"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """Say a count in words that agree with it: "1 draft", "3 drafts", "2 replies"."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count} {word}"


#: The main navigation: (endpoint, label, roles that see it; None for everyone).
NAVIGATION = (
    ("dashboard.index", "Waiting on you", None),
    ("candidates.index", "Candidates", ("manager", "recruiter", "admin")),
    ("requisitions.index", "Requisitions", None),
    ("approvals.index", "My approvals", ("approver", "manager", "recruiter", "admin")),
    ("messages.templates", "Templates", ("manager", "recruiter", "admin")),
    ("messages.outbox", "Outbox", ("manager", "recruiter", "admin")),
    ("inbound.unmatched", "Unmatched mail", ("recruiter", "admin")),
    ("reports.index", "Reports", None),
    ("admin.index", "Admin", ("admin",)),
)


#: Pages whose blueprint is not their place in the navigation (by endpoint, or whole blueprint):
#: writing to a candidate belongs to Candidates, not Templates; drafts wait to join the Outbox.
NAVIGATION_OWNERS = {
    "messages.compose": "candidates.index",
    "messages.drafts": "messages.outbox",
    "messages.edit_draft": "messages.outbox",
    "messages.send_drafts": "messages.outbox",
    "messages.discard_draft": "messages.outbox",
    "messages.prepare_requisition_drafts": "messages.outbox",
    "bulk.drafts": "messages.outbox",
    "bulk.send_drafts": "messages.outbox",
    "holds": "requisitions.index",
    "pipeline": "requisitions.index",
}


def navigation_links() -> list[tuple[str, str]]:
    """The navigation entries the signed-in user's role may follow."""
    role = getattr(current_user, "role", None)
    return [
        (endpoint, label) for endpoint, label, roles in NAVIGATION if roles is None or role in roles
    ]


def reject_page(args: dict) -> dict:
    """Drop `page` from query arguments so pagination links can set their own."""
    return {k: v for k, v in args.items() if k != "page"}


def current_navigation_entry(links: list[tuple[str, str]]) -> str | None:
    """The one navigation entry to mark as current: the exact page, else its section's first entry."""
    endpoint = request.endpoint or ""
    endpoints = [e for e, _ in links]
    if endpoint in endpoints:
        return endpoint
    owner = NAVIGATION_OWNERS.get(endpoint) or NAVIGATION_OWNERS.get(endpoint.split(".")[0])
    if owner:
        return owner if owner in endpoints else None
    section = endpoint.split(".")[0]
    return next((e for e in endpoints if e.split(".")[0] == section), None)


def template_helpers() -> dict:
    """Names made available to every page template."""
    links = navigation_links() if getattr(current_user, "is_authenticated", False) else []
    return {
        "nav_current": current_navigation_entry(links),
        "local_datetime": local_datetime,
        "local_date": local_date,
        "long_date": long_date,
        "reader_zone_name": reader_zone_name,
        "now_utc": now_utc,
        "plural": plural,
        "nav_links": links,
    }
