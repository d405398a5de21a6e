"""The dashboard's rows as the page shows them: each row's HTML written once in Python.

A template call (a macro, `url_for`, a date filter) costs several times the Python it runs, and
so does each `{{ value }}` (an escape and a Markup each, 17 a row, 450 a page: with the
attribute look-ups, a third of the page's time). Each row is one string here, its texts
escaped once each and its links, numbers and labels (safe by construction) formatted in; the
template prints the rows as they come. `ROW_HTML` is the row's markup, as the template had it.
"""

from datetime import date

from markupsafe import Markup, escape

from hiretrack.cadence.queries import CadenceStatus
from hiretrack.candidates.stages import LABELS
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

#: Each status's badge and each stage's label, escaped once per process.
STATUS_BADGES = {
    status: f'<span class="badge badge-{escape(status.value)}">{escape(label)}</span>'
    for status, label in STATUS_LABELS.items()
}
STAGE_LABELS = {stage.value: str(escape(label)) for stage, label in LABELS.items()}

#: One row of the table (`{escaped}` values only). The blank lines and indents are the ones the
#: template printed, so the page reads the same byte for byte.
ROW_HTML = """<tr>
      <th scope="row"><a href="{candidate_url}">{name}</a></th>
      <td data-label="Requisition"><a href="{requisition_url}">{title}</a></td>
      <td data-label="Stage">{stage}</td>
      <td data-label="Update status">{badge}</td>
      <td data-label="Business days silent">{silent}</td>
      <td data-label="Last contact">{last_contact}</td>
      <td data-label="Next update due">{next_due}</td>
      <td data-label="Blocked by">{blocked_by}</td>
      <td data-label="Failed deliveries">{failed}</td>
      <td>
        {action}
      </td>
    </tr>"""

#: The action cell of a row the user may write to.
ACTION_HTML = """
          <label class="bulk-pick"><input type="checkbox" class="bulk-select" name="application_id" value="{application_id}" form="bulk-form" aria-label="Select {name}{title_in_brackets}"><span aria-hidden="true">Select</span></label>
          <a class="button small-button" href="{compose_url}">Send update<span class="visually-hidden"> to {name}</span></a>
          <br><small>Suggested: {suggested}</small>
        """  # noqa: E501

NOTHING_BLOCKS = '<span class="muted">Nothing</span>'
OVERDUE_HOLD = ' <span class="badge badge-overdue">Overdue hold</span>'
SUGGESTED = {
    TemplateCategory.HOLD_NOTICE.value: "hold notice",
    TemplateCategory.CHECK_IN.value: "check-in",
}


def shown_rows(rows: list[WaitingRow], today: date) -> list[Markup]:
    """The table's rows as HTML; four `url_for` calls and two or three escapes a row."""
    candidate_url = link_pattern("candidates.detail", "candidate_id").escaped()
    requisition_url = link_pattern("requisitions.detail", "requisition_id").escaped()
    compose_url = {
        category: link_pattern("messages.compose", "application_id", category=category).escaped()
        for category in SUGGESTED
    }
    zone = user_timezone()
    shown = []
    for row in rows:
        name, title = escape(row.candidate_name), escape(row.requisition_title)
        summary = row.hold.summary if row.hold else None
        if summary is None:
            blocked_by = NOTHING_BLOCKS
        else:
            overdue = row.hold.is_overdue(today)
            blocked_by = f"{escape(summary)}{OVERDUE_HOLD if overdue else ''}"
        action = ""
        if row.can_send:
            action = ACTION_HTML.format(
                application_id=int(row.application_id),
                name=name,
                title_in_brackets=f" ({title})" if title else "",
                compose_url=compose_url[row.suggested_category](row.application_id),
                suggested=SUGGESTED[row.suggested_category],
            )
        # Dates print as letters, digits and a zone's short name ("Wed 25 Nov 2026 14:05 CET"):
        # nothing to escape.
        last_contact = local_datetime(row.last_contact_at, zone) if row.last_contact_at else "Never"
        failed = row.failed_deliveries
        shown.append(
            Markup(
                ROW_HTML.format(
                    candidate_url=candidate_url(row.candidate_id),
                    name=name,
                    requisition_url=requisition_url(row.requisition_id),
                    title=title,
                    stage=STAGE_LABELS[row.stage],
                    badge=STATUS_BADGES[row.status],
                    silent=int(row.business_days_silent),
                    last_contact=last_contact,
                    next_due=local_date(row.next_update_due),
                    blocked_by=blocked_by,
                    failed=f'<span class="badge badge-overdue">{int(failed)} failed</span>'
                    if failed
                    else "0",
                    action=action,
                )
            )
        )
    return shown
