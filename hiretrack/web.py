"""Helpers the web views share: pagination, domain errors shown on forms, links for long tables."""

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask import current_app, has_request_context, request, url_for
from flask_wtf import FlaskForm
from markupsafe import escape
from sqlalchemy import Select, func, select
from wtforms import DateField, IntegerField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import NumberRange, Optional, ValidationError
from wtforms.widgets import HiddenInput, TextInput

from hiretrack.auth.models import User
from hiretrack.database import utcnow
from hiretrack.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from hiretrack.extensions import db
from hiretrack.formatting import DAY_INPUT_FORMATS
from hiretrack.text import text_problem

PER_PAGE = 25
MAX_PAGE = 100_000

#: Status code for a form sent back with errors: the browser shows it, tools see the refusal.
FORM_REJECTED = 422


DAY_RENDER = {"placeholder": "e.g. 2026-12-11", "autocomplete": "off"}


class DayField(DateField):
    """A date typed as the pages show dates ("11 Dec 2026", or 2026-12-11), not in the browser's format."""

    widget = TextInput()

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("format", list(DAY_INPUT_FORMATS))
        kwargs["render_kw"] = {**DAY_RENDER, **(kwargs.get("render_kw") or {})}
        super().__init__(label, validators, **kwargs)


class Form(FlaskForm):
    """Base form: dates typed as the pages show them, and every text field checked as plain text.

    A one-line field (StringField and its kinds) must be a single line, a text area may hold line
    breaks and tabs but no other control character (`hiretrack.text`, the API's rule too).
    """

    class Meta:
        def bind_field(self, form, unbound_field, options):
            if unbound_field.field_class is DateField:
                # Typed as the pages show dates, not in the browser's own date format.
                options["format"] = list(DAY_INPUT_FORMATS)
                options["widget"] = TextInput()
                options["render_kw"] = {
                    **DAY_RENDER,
                    **(unbound_field.kwargs.get("render_kw") or {}),
                }
            return unbound_field.bind(form=form, **options)

    def validate(self, extra_validators=None) -> bool:
        """Check the fields, then their text.

        The text check runs after the validator chains, where `Optional` cannot clear it: a
        value of only line breaks or separators (which `str.strip` removes) would pass Optional.
        """
        valid = super().validate(extra_validators)
        return text_fields_valid(self) and valid


def text_fields_valid(form: FlaskForm) -> bool:
    """Add `hiretrack.text`'s refusal to each text field holding a character it refuses."""
    valid = True
    for field in form:
        if not isinstance(field, StringField) or not isinstance(field.data, str):
            continue
        label = field.label.text or field.name
        problem = text_problem(field.data, label, multi_line=isinstance(field, TextAreaField))
        if problem:
            valid = False
            if problem not in field.errors:
                field.errors = [*field.errors, problem]
    return valid


def page_number(param: str = "page") -> int:
    """Read a page number from the query string; anything odd means the first page."""
    raw = request.args.get(param, "1")
    try:
        number = int(raw)
    except (TypeError, ValueError):
        return 1
    return min(max(number, 1), MAX_PAGE)


@dataclass
class Page:
    """One page of a list, with what the pager macro needs to link to its neighbours."""

    items: list
    page: int
    per_page: int
    total: int
    param: str = "page"

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return min(self.page - 1, self.pages)

    @property
    def next_num(self) -> int:
        return self.page + 1

    @property
    def first_index(self) -> int:
        return (self.page - 1) * self.per_page


def paginate(
    query: Select,
    *,
    per_page: int = PER_PAGE,
    param: str = "page",
    scalars: bool = True,
    total: int | None = None,
) -> Page:
    """Run one page of query (two SQL statements: the count and the page), however long the list.

    Pass `total` when the caller has already counted the rows (the dashboard's counters do),
    to save the count.
    """
    number = page_number(param)
    if total is None:
        total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    offset = (number - 1) * per_page
    if offset >= (total or 0) and number > 1:
        # Past the end (an old link): show the last page rather than an empty one.
        number = max(1, -(-(total or 0) // per_page))
        offset = (number - 1) * per_page
    result = db.session.execute(query.limit(per_page).offset(offset))
    items = list(result.scalars()) if scalars else list(result)
    return Page(items=items, page=number, per_page=per_page, total=total or 0, param=param)


def paginate_list(items: list, *, per_page: int = PER_PAGE, param: str = "page") -> Page:
    """Paginate a list already in memory (e.g. a merged timeline)."""
    number = page_number(param)
    pages = max(1, -(-len(items) // per_page))
    number = min(number, pages)
    start = (number - 1) * per_page
    return Page(items[start : start + per_page], number, per_page, len(items), param)


def show_errors(form: FlaskForm, error: DomainError, field_names: dict[str, str] | None = None):
    """Put a refused action's message on the form: per field where the service named one."""
    field_names = field_names or {}
    placed = False
    if isinstance(error, ValidationFailed):
        for key, messages in error.errors.items():
            name = field_names.get(key, key)
            field = getattr(form, name, None) if name else None
            if field is not None and hasattr(field, "errors"):
                errors = list(field.errors) if isinstance(field.errors, list | tuple) else []
                field.errors = errors + [m for m in messages if m not in errors]
                placed = True
    form.form_errors.append(error.message)
    return placed


def run_service(form: FlaskForm, action, field_names: dict[str, str] | None = None):
    """Call a service for a valid form; a refusal becomes form errors and the transaction rolls back.

    NotFound and PermissionDenied pass through to the error pages: they are about the object,
    not the input. Returns (True, result) on success (not yet committed), else (False, None).
    """
    try:
        return True, action()
    except (NotFound, PermissionDenied):
        raise
    except DomainError as error:
        db.session.rollback()
        show_errors(form, error, field_names)
        return False, None


def link_pattern(endpoint: str, id_name: str, **values: Any) -> "LinkPattern":
    """Links to `endpoint` for many ids (the `link_pattern` of page templates)."""
    return LinkPattern(endpoint, id_name, **values)


class LinkPattern:
    """Links to one endpoint for many ids, for the cost of one `url_for` (long tables).

    `url_for` walks the URL map on every call; a 25-row table with three links a row spent
    a tenth of the dashboard's time there. Called with an id, this formats it into the URL
    built once with a placeholder id.
    """

    PLACEHOLDER = 9_090_909_090_909

    def __init__(self, endpoint: str, id_name: str, **values: Any) -> None:
        # With the placeholder, the same link on every request: remembered as the others are.
        url = template_url_for(endpoint, **{id_name: self.PLACEHOLDER}, **values)
        self._before, _, self._after = url.partition(str(self.PLACEHOLDER))

    def __call__(self, object_id: int) -> str:
        return f"{self._before}{int(object_id)}{self._after}"

    def escaped(self) -> "LinkPattern":
        """The same links HTML-escaped (once, not per id), for markup written in Python."""
        links = object.__new__(LinkPattern)
        links._before, links._after = str(escape(self._before)), str(escape(self._after))
        return links


#: Most links `template_url_for` remembers per process (a page's links are a few dozen; links
#: with ids or query arguments could otherwise grow without end).
URL_MEMO_SIZE = 4096


def template_url_for(endpoint: str, **values: Any) -> str:
    """`url_for` in templates, remembered per process for the links every page repeats.

    Building a URL walks the URL map; the navigation, the counters and the filters of a page
    print some thirty links on every request, a tenth of the dashboard's time. A relative link
    depends only on the endpoint, its values and where the app is mounted (the script root),
    and no `url_defaults` hook adds anything, so the built link is reused. Blueprint-relative
    endpoints ('.name') and options ('_external', '_anchor', ...) are built every time.
    """
    if (
        endpoint.startswith(".")
        or any(name.startswith("_") for name in values)
        or not has_request_context()
    ):
        return url_for(endpoint, **values)
    key = (request.script_root, endpoint, *sorted(values.items()))
    memo = current_app.extensions.setdefault("hiretrack_urls", {})
    try:
        return memo[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable value, e.g. a list for a repeated query argument
        return url_for(endpoint, **values)
    if len(memo) >= URL_MEMO_SIZE:
        memo.clear()
    memo[key] = built = url_for(endpoint, **values)
    return built


def today() -> date:
    return utcnow().date()


class DateWithin:
    """WTForms validator: a date within a sensible window around today, with a plain message."""

    def __init__(self, days_back: int = 0, days_ahead: int = 2 * 366, what: str = "The date"):
        self.days_back, self.days_ahead, self.what = days_back, days_ahead, what

    def __call__(self, form, field) -> None:
        if field.data is None:
            return
        first = today() - timedelta(days=self.days_back)
        last = today() + timedelta(days=self.days_ahead)
        if not first <= field.data <= last:
            if self.days_back == 0:
                raise ValidationError(f"{self.what} must be between today and {last.isoformat()}.")
            raise ValidationError(
                f"{self.what} must be between {first.isoformat()} and {last.isoformat()}."
            )


def as_choices(pairs) -> list[SelectChoice]:
    """Turn (value, label) pairs into WTForms select choices."""
    return [SelectChoice(value, label) for value, label in pairs]


def optional_int(value) -> int | None:
    """Coerce a select's value to an int, with the empty choice meaning None."""
    if value in (None, "", "None"):
        return None
    return int(value)


def VersionField() -> IntegerField:  # noqa: N802  (reads like the field class it builds)
    """The hidden version a form was loaded at, so a second editor cannot silently overwrite."""
    return IntegerField(
        widget=HiddenInput(),
        validators=[Optional(), NumberRange(min=1, max=2**31 - 1)],
    )


def version_of(form) -> int | None:
    return form.version.data if form.version.data else None


def user_choices(roles: tuple[str, ...] | None = None, *, include_none: str | None = None):
    """Active users as select choices, labelled "Name (role)", in one query."""
    query = select(User.id, User.name, User.role).where(User.active.is_(True))
    if roles:
        query = query.where(User.role.in_(roles))
    choices = [
        (user_id, f"{name} ({role})")
        for user_id, name, role in db.session.execute(query.order_by(User.name, User.id))
    ]
    return as_choices(([(None, include_none)] if include_none else []) + choices)
