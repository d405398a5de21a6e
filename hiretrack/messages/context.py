"""What a candidate email's template sees, and rendering one application's message with it.

`build_context` gathers the allow-listed plain values (never ORM objects) for one application;
`render_for` renders stored or edited wording with them and checks the result can be a header.
Template management (`messages.templates`) and sending (`messages.services`) both build on
this module.
"""

import re
from dataclasses import replace
from datetime import date

from hiretrack.admin.services import effective_settings
from hiretrack.cadence.calendar import business_days_after
from hiretrack.candidates.models import Application
from hiretrack.candidates.stages import LABELS, Stage
from hiretrack.database import utcnow
from hiretrack.errors import ValidationFailed
from hiretrack.formatting import long_date
from hiretrack.holds.models import Hold
from hiretrack.holds.queries import open_holds_for_application
from hiretrack.messages.headers import HeaderInjectionError, check_header_value
from hiretrack.messages.models import CLOSURE_OUTCOMES, EmailTemplate
from hiretrack.messages.rendering import (
    PlainContext,
    RenderBudgetExhausted,
    RenderedEmail,
    TemplateError,
    plain_context,
    render_email,
)
from hiretrack.urls import external_url


class RenderingTimeUsedUp(ValidationFailed):
    """The page's or batch's rendering time ran out before this message: nothing is wrong with it
    that another, smaller batch would not fix, unless its template is the slow one."""


def default_promise(
    application: Application, template: EmailTemplate, today: date | None = None
) -> date | None:
    """The "next update" date a message promises by default: the template's days, capped by cadence."""
    if template.category in CLOSURE_OUTCOMES:
        return None
    return promise_date(application, template.promise_business_days, today)


def promise_date(
    application: Application, promise_business_days: int | None, today: date | None = None
) -> date | None:
    """The date `promise_business_days` from today, never later than the cadence allows."""
    if not application.is_open:
        return None
    settings = effective_settings()
    cadence = application.requisition.cadence_business_days or settings.cadence_business_days
    days = min(promise_business_days or cadence, cadence)
    return business_days_after(today or utcnow().date(), days, settings.holidays)


def build_context(
    application: Application,
    *,
    hold: Hold | None = None,
    promised_next_update: date | None = None,
    status_link: str = "",
) -> PlainContext:
    """The allow-listed plain values a template may use; never ORM objects.

    Checked and frozen once here, so render_email does not copy them again. Without a hold,
    the application's oldest open hold (if any) is looked up.
    """
    if hold is None:
        holds = open_holds_for_application(application)
        hold = holds[0] if holds else None
    return plain_context(
        context_values(
            application,
            hold,
            promised_next_update=promised_next_update,
            status_link=status_link,
            company_name=effective_settings().company_name,
            today=utcnow().date(),
        )
    )


def context_values(
    application: Application,
    hold: Hold | None,
    *,
    promised_next_update: date | None,
    status_link: str,
    company_name: str,
    today: date,
) -> dict:
    """The names every email template sees, from objects already loaded (no query of its own).

    `build_context` is the way in for one message; bulk callers that have loaded the holds of
    many applications at once call this directly.
    """
    candidate, requisition = application.candidate, application.requisition
    manager = requisition.manager
    return {
        "candidate": {
            "name": candidate.name,
            "first_name": candidate.first_name,
            "email": candidate.email or "",
        },
        "application": {
            "stage_label": LABELS[Stage(application.stage)],
            "applied_on": long_date(application.opened_at.date()),
            "promised_update_passed": application.promised_next_update is not None
            and application.promised_next_update < today,
        },
        "requisition": {"title": requisition.title, "department": requisition.department.name},
        "manager": {"name": manager.name, "email": manager.email, "phone": manager.phone or ""},
        "company": {"name": company_name},
        "hold": {
            "public_reason": hold.public_reason,
            # A date that has passed is no date to expect news by: the sentence is left out.
            "expected_clear_date": long_date(hold.expected_clear_date)
            if hold.expected_clear_date and hold.expected_clear_date >= today
            else None,
            # ...but the template can still say honestly that the expected date went by.
            "expected_clear_date_passed": hold.expected_clear_date is not None
            and hold.expected_clear_date < today,
            "cancellation_reason": hold.public_cancellation_reason
            if hold.outcome == "cancelled"
            else "",
        }
        if hold
        else None,
        "next_update_date": long_date(promised_next_update),
        "status_link": status_link,
        "today": long_date(today),
    }


#: A date as a message writes it: "16 November 2026", also after a weekday ("Monday 16 November
#: 2026"), which the pattern need not match: the date is the same, and looking for the weekday
#: at every word cost the delivery worker a third of the search (19 -> 13 µs a message).
WRITTEN_DATE = re.compile(
    r"\b(\d{1,2}) (January|February|March|April|May|June|July|August|September|October|"
    r"November|December),? (\d{4})\b"
)
_MONTH_NUMBERS = {
    name: number
    for number, name in enumerate(
        [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ],
        start=1,
    )
}


def past_dates_named(text: str, today: date, allowed: set[date] = frozenset()) -> list[date]:
    """The dates written out in `text` that are before today, except the `allowed` ones."""
    found = []
    for match in WRITTEN_DATE.finditer(text):
        day, month, year = match.groups()
        try:
            # Not strptime: it is most of the delivery worker's premise check per message.
            named = date(int(year), _MONTH_NUMBERS[month], int(day))
        except ValueError:
            continue
        if named < today and named not in allowed and named not in found:
            found.append(named)
    return found


def past_date_warnings(application: Application, text: str, today: date) -> tuple[str, ...]:
    """Warn about each past date a message names, as if it were still to come.

    A hold's expected date that has passed is left out of the context; a date typed into the
    wording, or a custom template's, is caught here. The application date is allowed.
    """
    return tuple(
        f"This message names {long_date(named)}, a date that has passed. Make sure it does "
        "not present it as still to come: say what happens now instead."
        for named in past_dates_named(text, today, {application.opened_at.date()})
    )


def render_for(
    application: Application,
    subject_source: str,
    body_source: str,
    *,
    hold: Hold | None = None,
    promised_next_update: date | None = None,
    status_link: str = "",
) -> RenderedEmail:
    """Render a message for one application, with header values checked after rendering."""
    context = build_context(
        application,
        hold=hold,
        promised_next_update=promised_next_update,
        status_link=status_link or preview_status_link(),
    )
    try:
        rendered = render_email(subject_source, body_source, context)
    except RenderBudgetExhausted as error:
        raise RenderingTimeUsedUp(error.message, {"body": [error.message]}) from None
    except TemplateError as error:
        # A stored template can still fail on real data (e.g. hold.public_reason with no hold).
        located = f"line {error.line}: {error.message}" if error.line else error.message
        raise ValidationFailed(
            f"This message cannot be rendered: {error}", {error.field or "body": [located]}
        ) from None
    try:
        check_header_value(rendered.subject, "Subject")
    except HeaderInjectionError as error:
        raise ValidationFailed(str(error), {"subject": [str(error)]}) from None
    today = utcnow().date()
    warnings = past_date_warnings(application, f"{rendered.subject}\n{rendered.text}", today)
    return replace(rendered, warnings=warnings) if warnings else rendered


def preview_status_link() -> str:
    """A status link as a preview shows it: the real address, with "…" for the secret token.

    Plain-word compose shows it in the editable text and puts the real link back at send.
    """
    return external_url("status.page", token="-").rpartition("/")[0] + "/…"
