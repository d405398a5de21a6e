"""The dashboard's rows as the page shows them: links, dates and labels computed once in Python.

A template call (a macro, `url_for`, a date filter) costs several times the Python it runs; a
25-row table made about 250 of them a request, half of the page's time. Each row's text is
computed here, so the template only prints values.
"""

from dataclasses import dataclass
from datetime import date

from hiretrack.cadence.queries import CadenceStatus
from hiretrack.dashboard.queries import WaitingRow
from hiretrack.formatting import local_date, local_datetime, user_timezone
from hiretrack.messages.models import TemplateCategory
from hiretrack.web import link_pattern

#: The words of each cadence badge (the `cadence_badge` macro's labels).
STATUS_LABELS = {
    CadenceStatus.GHOSTED: "Ghosted",
    CadenceStatus.OVERDUE: "Overdue",
    CadenceStatus.DUE: "Due",
    CadenceStatus.ON_TRACK: "On track",
}


@dataclass(slots=True)
class ShownRow:
    """One waiting application, every value as the table prints it."""

    application_id: int
    candidate_name: str
    candidate_url: str
    requisition_title: str
    requisition_url: str
    stage_label: str
    status: str
    status_label: str
    business_days_silent: int
    last_contact: str
    next_update_due: str
    hold_summary: str | None
    hold_overdue: bool
    failed_deliveries: int
    can_send: bool
    compose_url: str
    suggested: str


def shown_rows(rows: list[WaitingRow], today: date) -> list[ShownRow]:
    """The page's rows with their links and texts; four `url_for` calls for the whole table."""
    candidate_url = link_pattern("candidates.detail", "candidate_id")
    requisition_url = link_pattern("requisitions.detail", "requisition_id")
    compose_url = {
        category.value: link_pattern("messages.compose", "application_id", category=category.value)
        for category in (TemplateCategory.HOLD_NOTICE, TemplateCategory.CHECK_IN)
    }
    zone = user_timezone()
    return [
        ShownRow(
            application_id=row.application_id,
            candidate_name=row.candidate_name,
            candidate_url=candidate_url(row.candidate_id),
            requisition_title=row.requisition_title,
            requisition_url=requisition_url(row.requisition_id),
            stage_label=row.stage_label,
            status=row.status.value,
            status_label=STATUS_LABELS[row.status],
            business_days_silent=row.business_days_silent,
            last_contact=local_datetime(row.last_contact_at, zone)
            if row.last_contact_at
            else "Never",
            next_update_due=local_date(row.next_update_due),
            hold_summary=row.hold.summary if row.hold else None,
            hold_overdue=row.hold is not None and row.hold.is_overdue(today),
            failed_deliveries=row.failed_deliveries,
            can_send=row.can_send,
            compose_url=compose_url[row.suggested_category](row.application_id),
            suggested=(
                "hold notice"
                if row.suggested_category == TemplateCategory.HOLD_NOTICE.value
                else "check-in"
            ),
        )
        for row in rows
    ]
