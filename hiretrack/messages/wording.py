"""Messages in plain words: a template rendered for one candidate as editable text, and back.

Managers edit the message as it will be sent, never the template's source: the compose page
shows the template rendered for this candidate, and what they send is that text. The personal
status link, which is only issued at send time, shows as its preview address and becomes the
real link again when the message goes out.
"""

from dataclasses import dataclass
from datetime import date

from hiretrack.candidates.models import Application
from hiretrack.errors import ValidationFailed
from hiretrack.formatting import long_date
from hiretrack.messages.context import preview_status_link, render_for
from hiretrack.messages.drafts import render_draft
from hiretrack.messages.models import Draft, EmailTemplate
from hiretrack.messages.rendering import TemplateError, render_email, sample_context

#: What starts template syntax; a rendered value containing one is shown escaped.
DELIMITERS = ("{{", "{%", "{#")


@dataclass(frozen=True)
class Wording:
    """A message as a manager edits it: plain subject and body, and the date it promises."""

    subject: str
    body: str
    promised_next_update: date | None


def editable_wording(
    application: Application, template: EmailTemplate, promised_next_update: date | None
) -> Wording:
    """Render `template` for this candidate as the plain text the compose page shows.

    Raises ValidationFailed (with the line) when the template cannot be written for them.
    """
    rendered = render_for(
        application, template.subject, template.body, promised_next_update=promised_next_update
    )
    return Wording(_literal(rendered.subject), _literal(rendered.text), promised_next_update)


def draft_wording(draft: Draft) -> Wording:
    """A prepared draft as the plain text its edit page shows (with its hold and promise)."""
    rendered = render_draft(draft)
    return Wording(_literal(rendered.subject), _literal(rendered.text), draft.promised_next_update)


def source_for(text: str, shown: str | None, original_source: str) -> str:
    """What to send for one field: the original source where the words were left as shown.

    Untouched wording keeps following its template, so its dates and names stay right if
    the promise changes; edited wording is sent as written.
    """
    if shown is not None and _same_words(text, shown):
        return original_source
    return wording_source(text)


def _same_words(first: str, second: str) -> bool:
    """Equal but for line endings and surrounding blank space (browsers send CRLF)."""
    return first.replace("\r\n", "\n").strip() == second.replace("\r\n", "\n").strip()


def _literal(text: str) -> str:
    """Keep a rendered value that happens to look like template syntax as the words it is."""
    for delimiter in DELIMITERS:
        text = text.replace(delimiter, "{{ '" + delimiter + "' }}")
    return text


def wording_source(text: str) -> str:
    """The text a manager sends, as a template: the preview status link becomes the real one."""
    return text.replace(preview_status_link(), "{{ status_link }}")


def check_promise_is_worded(body: str, said: date | None, promised: date | None) -> None:
    """Refuse a message that still names the old promised date after the date was changed."""
    if said is None or promised is None or said == promised:
        return
    if long_date(said) in body and long_date(promised) not in body:
        raise ValidationFailed(
            f"The message still says {long_date(said)}, but you promise "
            f"{long_date(promised)}: change the date in the message too.",
            {"body": [f"Change {long_date(said)} to {long_date(promised)}."]},
        )


def example_subject(template: EmailTemplate) -> str:
    """The template's subject as it reads with example values, for lists of templates."""
    try:
        return render_email(template.subject, "-", sample_context()).subject
    except (TemplateError, ValueError):  # a broken template still lists, by its name
        return f"({template.name}: cannot be shown with example values)"
