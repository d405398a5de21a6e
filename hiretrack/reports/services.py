"""The four reports, and the one door every caller builds them through: `build_report`.

Each report has its own module (`holds`, `approvals`, `cadence`, `closure`) whose function
returns a `Report` whose tables hold SQL queries (GROUP BY, window functions), built in named
steps; nothing loops over rows to compute a figure. The page, the CSV and JSON exports and the
CLI all run the same queries, within the same access scope, so they always agree.

Business days come from the calendar_day table (see hiretrack/cadence/business_calendar.py);
cadence statuses come from `hiretrack.cadence.queries.cadence_query`, the one definition of
"overdue" and "ghosted". See docs/reports.md for what each figure means.
"""

from collections.abc import Mapping
from datetime import date

from sqlalchemy import text

from hiretrack.auth.models import User
from hiretrack.database import utcnow
from hiretrack.errors import ValidationFailed
from hiretrack.extensions import db
from hiretrack.reports import approvals, cadence, closure, holds
from hiretrack.reports.approvals import approvals_report
from hiretrack.reports.cadence import cadence_report
from hiretrack.reports.closure import closure_report
from hiretrack.reports.filters import department_choices, parse_filters
from hiretrack.reports.holds import AGE_BUCKETS, holds_report
from hiretrack.reports.tables import Report

REPORTS = {
    "holds": holds.TITLE,
    "approvals": approvals.TITLE,
    "cadence": cadence.TITLE,
    "closure": closure.TITLE,
}

REPORT_FUNCTIONS = {
    "holds": holds_report,
    "approvals": approvals_report,
    "cadence": cadence_report,
    "closure": closure_report,
}


def build_report(
    name: str, user: User, values: Mapping[str, str | None], today: date | None = None
) -> Report:
    """Parse the filters and build the named report for this user (the one door for all callers)."""
    today = today or utcnow().date()
    filters = parse_filters(values, today, default_period=name != "holds")
    if filters.department_id is not None and filters.department_id not in dict(
        department_choices(user)
    ):
        # Outside the user's scope: answered like a department that does not exist.
        raise ValidationFailed(
            "Please correct the report filters.",
            {"department": ["Unknown department: choose one from the list."]},
        )
    report = REPORT_FUNCTIONS[name](user, filters, today)
    # After building: building may fill the calendar and commit, which ends SET LOCAL.
    _tune_postgresql()
    return report


def _tune_postgresql() -> None:
    """Plan this transaction's report queries for what they do: read every row, once.

    JIT off: the business-day joins can make the planner over-estimate row counts by orders of
    magnitude, so it would JIT-compile queries that then run in milliseconds. And
    cursor_tuple_fraction 1: the exports stream rows through a server-side cursor, for which
    PostgreSQL by default plans to return the first tenth of the rows fast, which for the closure
    ledger chose nested loops that took ten times as long over all of them.
    """
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL jit = off"))
        db.session.execute(text("SET LOCAL cursor_tuple_fraction = 1"))


__all__ = [
    "AGE_BUCKETS",
    "REPORTS",
    "approvals_report",
    "build_report",
    "cadence_report",
    "closure_report",
    "department_choices",
    "holds_report",
    "parse_filters",
]
