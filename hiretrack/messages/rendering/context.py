"""What a template may see: the catalogue of variables, and contexts of plain data only."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

from hiretrack.messages.rendering.limits import MAX_CONTEXT_DEPTH

# --- The variables templates may use -------------------------------------------------------------


@dataclass(frozen=True)
class TemplateVariable:
    """One entry in the catalogue shown beside the template editor."""

    description: str
    example: str | bool | None = None  # None for a group: its example is its fields
    optional: bool = False  # may be None or empty in a real email


#: Every variable a template may use, in the order the editor lists them. A dotted name is a
#: field of the group named before the dot. Dates arrive formatted for reading.
TEMPLATE_VARIABLES: Mapping[str, TemplateVariable] = MappingProxyType(
    {
        "candidate": TemplateVariable("The person the email is for."),
        "candidate.name": TemplateVariable("Their full name.", "Ada Lovelace"),
        "candidate.first_name": TemplateVariable(
            'Their first name, for greetings: {{ candidate.first_name | fallback("there") }}.',
            "Ada",
        ),
        "candidate.email": TemplateVariable("Their email address.", "ada@example.com"),
        "application": TemplateVariable("The candidate's application for this role."),
        "application.stage_label": TemplateVariable(
            "Its current stage, as candidates see it.", "Interview"
        ),
        "application.applied_on": TemplateVariable(
            "The date they applied.", "Monday 2 November 2026"
        ),
        "application.promised_update_passed": TemplateVariable(
            "True when the update last promised to them is late (its date has passed): say "
            "sorry, never repeat the old date.",
            False,
        ),
        "requisition": TemplateVariable("The role they applied for."),
        "requisition.title": TemplateVariable("The job title.", "Senior Backend Engineer"),
        "requisition.department": TemplateVariable(
            "The department hiring.", "Platform Engineering"
        ),
        "manager": TemplateVariable("The hiring manager, who signs the email."),
        "manager.name": TemplateVariable("Their full name.", "Grace Hopper"),
        "manager.email": TemplateVariable("Their email address.", "grace@example.com"),
        "manager.phone": TemplateVariable(
            "Their phone number; may be empty.", "+44 20 7946 0018", True
        ),
        "company": TemplateVariable("Your organisation."),
        "company.name": TemplateVariable("Its name, as candidates know it.", "Northwind Analytics"),
        "hold": TemplateVariable(
            "The hold on this application; empty when there is none, so test it first: "
            "{% if hold %}...{% endif %}.",
            optional=True,
        ),
        "hold.public_reason": TemplateVariable(
            "The reason for the hold that candidates may see.", "a budget review"
        ),
        "hold.expected_clear_date": TemplateVariable(
            "When the hold is expected to end; empty when none was given or that date has passed.",
            "Friday 11 December 2026",
            True,
        ),
        "hold.expected_clear_date_passed": TemplateVariable(
            "True when the hold was expected to end by a date that has now passed: say so, and "
            "what happens now, never that date as still to come.",
            False,
        ),
        "hold.cancellation_reason": TemplateVariable(
            "When the hold ended in cancellation, what candidates may be told about it; may be "
            "empty. Closures use this, never the public reason, which described a wait.",
            "the budget for the role was withdrawn",
            True,
        ),
        "next_update_date": TemplateVariable(
            "The date the email promises the next update by; may be empty.",
            "Tuesday 1 December 2026",
            True,
        ),
        "status_link": TemplateVariable(
            "The candidate's private status page.", "https://jobs.example.com/status/7f3a9c2e"
        ),
        "today": TemplateVariable("Today's date.", "Tuesday 24 November 2026"),
    }
)

GROUP_FIELDS: Mapping[str, tuple[str, ...]] = {
    group: tuple(
        name.partition(".")[2] for name in TEMPLATE_VARIABLES if name.startswith(f"{group}.")
    )
    for group in TEMPLATE_VARIABLES
    if any(name.startswith(f"{group}.") for name in TEMPLATE_VARIABLES)
}
TOP_LEVEL_NAMES = tuple(name for name in TEMPLATE_VARIABLES if "." not in name)


def sample_context(*, include_optional: bool = True) -> dict[str, Any]:
    """Build example values from the catalogue, for previews and for validating templates.

    With include_optional=False every optional value is None, as in an email about an
    application without a hold: validation renders both ways.
    """
    context: dict[str, Any] = {}
    for name, variable in TEMPLATE_VARIABLES.items():
        *groups, leaf = name.split(".")
        parent: dict[str, Any] | None = context
        for group in groups:
            parent = parent[group] if parent is not None else None
        if parent is None:
            continue  # a field of an optional group that is empty in this sample
        if variable.optional and not include_optional:
            parent[leaf] = None
        else:
            parent[leaf] = {} if variable.example is None else variable.example
    return context


#: The longest text any template value can hold (a hold's public reason: 300 characters).
LONGEST_VALUE = 300
_LONG_WORDS = "Wolfeschlegelsteinhausen Bergerdorff-Amadeus O'Neill-Smythe "


def worst_case_context() -> dict[str, Any]:
    """Every optional value present and every text as long as a real one can be.

    A template's cost often grows with its values (loops over a name, filters on a reason), so
    the cost check when saving renders this rather than the short examples.
    """
    longest = (_LONG_WORDS * (LONGEST_VALUE // len(_LONG_WORDS) + 1))[:LONGEST_VALUE]

    def lengthen(values: dict[str, Any]) -> dict[str, Any]:
        return {
            key: lengthen(value) if isinstance(value, dict) else longest
            for key, value in values.items()
        }

    return lengthen(sample_context())


# --- Plain data only -----------------------------------------------------------------------------

_PLAIN_TYPES = frozenset({type(None), bool, int, float, str, date, datetime})


class PlainContext(Mapping[str, Any]):
    """A render context that `plain_context` checked and froze: render_email uses it as it is.

    Only plain_context makes these, so a context of this type is known to hold plain data and
    is not copied again (build_context returns one; the renders that follow reuse it).
    """

    __slots__ = ("_values",)
    _values: Mapping[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("Make a PlainContext with plain_context(), which checks the values")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("A PlainContext cannot be changed")

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"PlainContext({self._values!r})"


def _frozen_context(values: dict[str, Any]) -> PlainContext:
    """Wrap values that plain_context just copied, read-only: nothing else refers to them."""
    context = object.__new__(PlainContext)
    object.__setattr__(context, "_values", MappingProxyType(values))
    return context


def plain_context(mapping: Mapping[str, Any]) -> PlainContext:
    """Check that a render context holds only plain data and return a frozen deep copy.

    The sandbox lets a template read any public attribute of what it is given, so an ORM object
    would expose everything reachable from it; plain copies expose only what was chosen.
    A PlainContext is already such a copy and is returned as it is.
    """
    if type(mapping) is PlainContext:
        return mapping
    if not isinstance(mapping, Mapping):
        raise TypeError(f"A template context must be a mapping, not {type(mapping).__name__}")
    try:
        return _frozen_context(_plain_mapping(mapping, 0))
    except _NotPlain as error:
        where = "".join(reversed(error.path))
        raise TypeError(f"context{where} {error.problem}") from None


def plain_values(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    """The checked, read-only values of plain_context(mapping), as Jinja's render takes them."""
    return plain_context(mapping)._values


class _NotPlain(Exception):
    """A context value that is not plain data; the path to it is added on the way out."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[str] = []


def _plain_mapping(mapping: Mapping[Any, Any], depth: int) -> dict[str, Any]:
    """Copy a mapping's items, refusing anything but plain data (the common case inline)."""
    copy = {}
    for key, value in mapping.items():
        if type(key) is not str:
            key = _plain_key(key)
        if type(value) in _PLAIN_TYPES:
            copy[key] = value
        elif type(value) is dict and depth + 1 < MAX_CONTEXT_DEPTH:  # _plain_at, inlined
            try:
                copy[key] = MappingProxyType(_plain_mapping(value, depth + 1))
            except _NotPlain as error:
                error.path.append(f"[{key!r}]")
                raise
        else:
            copy[key] = _plain_at(key, value, depth)
    return copy


def _plain(value: Any, depth: int) -> Any:
    """Copy one value of a context, refusing anything but plain data."""
    if type(value) in _PLAIN_TYPES:
        return value
    if depth >= MAX_CONTEXT_DEPTH:
        raise _NotPlain(f"is nested more than {MAX_CONTEXT_DEPTH} levels deep")
    if isinstance(value, Mapping):
        return MappingProxyType(_plain_mapping(value, depth))
    if isinstance(value, (list, tuple)):
        return tuple(_plain_at(index, item, depth) for index, item in enumerate(value))
    for plain_type in (bool, int, float, str):
        if isinstance(value, plain_type):  # StrEnum, IntEnum: keep the value, drop the class
            return plain_type(value)
    raise _NotPlain(
        f"is a {type(value).__name__}; templates accept only str, int, float, bool, None, "
        "date, datetime and dicts, lists and tuples of those"
    )


def _plain_at(where: str | int, value: Any, depth: int) -> Any:
    """Copy a value found in a dict or list, naming where it was if it is not plain."""
    if type(value) in _PLAIN_TYPES:
        return value
    try:
        return _plain(value, depth + 1)
    except _NotPlain as error:
        error.path.append(f"[{where!r}]")
        raise


def _plain_key(key: Any) -> str:
    """Dict keys become attribute names in templates, so they must be text."""
    if not isinstance(key, str):
        raise _NotPlain(f"has a key that is not text: {type(key).__name__}")
    return str(key)
