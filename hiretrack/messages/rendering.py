"""Render user-editable candidate emails safely: sandboxed, bounded, and from plain data only.

Hiring managers edit subject and body templates in the browser, so a template is untrusted code.
It is compiled only in `_EmailSandbox`, which

1. sees only plain data (`plain_context`), never live objects such as ORM rows;
2. may read only an allow-list of attributes, and refuses the rest as "not allowed in templates";
3. cannot grow a value, a loop, a recursion, the text it creates or its output past fixed limits,
   each checked before Python allocates the result;
4. is interrupted by a watchdog thread once it runs past its time limit, in any thread.

The HTML part is derived from the rendered text, so it has no template of its own to get wrong;
it is derived when first used (queueing a message), not when drafts are reviewed.
"""

from __future__ import annotations

import ctypes
import functools
import html
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, MappingView, MutableMapping
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, NamedTuple, TypeVar

from jinja2 import meta, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import Template
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.filters import do_replace, sync_do_join, sync_do_sum
from jinja2.nodes import EvalContext
from jinja2.runtime import LoopContext, Macro, StrictUndefined, TemplateReference, Undefined
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import Cycler, Joiner, Namespace, missing, pass_environment, pass_eval_context

from hiretrack.messages.headers import HeaderInjectionError, check_header_value

__all__ = [
    "DEFAULT_TIME_LIMIT",
    "TEMPLATE_VARIABLES",
    "PlainContext",
    "RenderedEmail",
    "TemplateError",
    "TemplateProblem",
    "TemplateRenderError",
    "TemplateVariable",
    "fallback",
    "plain_context",
    "render_email",
    "sample_context",
    "validate_template",
]

T = TypeVar("T")

# --- Limits --------------------------------------------------------------------------------------

DEFAULT_TIME_LIMIT = 1.0  # seconds of wall-clock time for one render_email call
MAX_SUBJECT_SOURCE = 1_000  # characters of subject template
MAX_BODY_SOURCE = 20_000  # characters of body template
MAX_SUBJECT_LENGTH = 300  # characters of rendered subject
MAX_BODY_LENGTH = 100_000  # characters of rendered body
MAX_VALUE_SIZE = 100_000  # characters any one value (text, list, dict) may take when printed
MAX_TEXT_CREATED = 1_000_000  # characters of new text one render may create, buffered or not
MAX_RANGE = 1_000  # numbers range() may produce
MAX_LOOP_ITERATIONS = 10_000  # for-loop iterations in one render
MAX_CALL_DEPTH = 50  # nested calls of macros, caller() and recursive loop()
MAX_INTEGER_BITS = 128  # size of whole numbers that * and ** may produce
MAX_CONTEXT_DEPTH = 8  # nesting of dicts and lists in a render context
MAX_NESTING = 40  # depth of a template's syntax tree: compiling slows with its cube

_WATCHDOG_TICK = 0.02  # seconds between the watchdog's checks while renders are running
_REINTERRUPT_AFTER = 0.25  # seconds before interrupting again a render that ignored it

# --- Results and errors --------------------------------------------------------------------------


class TemplateError(Exception):
    """A stored email template cannot be used as written; says where, for the editor."""

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.field = field  # "subject", "body", or None when it concerns both
        self.line = line  # line in that field's template, when known
        self.message = message

    def __str__(self) -> str:
        location = [self.field] if self.field else []
        if self.line is not None:
            location.append(f"line {self.line}")
        return f"{' '.join(location)}: {self.message}" if location else self.message


class TemplateRenderError(TemplateError):
    """Rendering failed or was refused: a syntax error, a forbidden construct, a limit, a bug."""


class RenderTimeout(BaseException):
    """Raised inside a rendering thread by the watchdog when the render's time is up.

    A BaseException, so that code reachable from a template that catches Exception cannot
    swallow it. It never leaves this module: renders turn it into TemplateRenderError.
    """


class _LimitExceeded(Exception):
    """A template hit one of the limits above while running."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class RenderedEmail:
    """A rendered email: text as the template produced it, HTML derived from that text."""

    subject: str
    text: str

    @functools.cached_property
    def html(self) -> str:
        """The HTML part, derived on first use: reviewing a draft needs only the text."""
        return _text_to_html(self.text)


@dataclass(frozen=True)
class TemplateProblem:
    """One thing wrong with a template, located for the editor (line None: the whole field)."""

    field: str | None
    line: int | None
    message: str


# --- The variables templates may use -------------------------------------------------------------


@dataclass(frozen=True)
class TemplateVariable:
    """One entry in the catalogue shown beside the template editor."""

    description: str
    example: str | None = None  # None for a group: its example is its fields
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
            "When the hold is expected to end; may be empty.", "Friday 11 December 2026", True
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

_GROUP_FIELDS: Mapping[str, tuple[str, ...]] = {
    group: tuple(
        name.partition(".")[2] for name in TEMPLATE_VARIABLES if name.startswith(f"{group}.")
    )
    for group in TEMPLATE_VARIABLES
    if any(name.startswith(f"{group}.") for name in TEMPLATE_VARIABLES)
}
_TOP_LEVEL_NAMES = tuple(name for name in TEMPLATE_VARIABLES if "." not in name)


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


# --- Sizes ---------------------------------------------------------------------------------------

_CONTAINERS = (list, tuple, set, frozenset, Mapping, MappingView)
_VALUE_TOO_BIG = f"A value in the template grew past {MAX_VALUE_SIZE:,} characters"


def _printed_size(value: Any, limit: int = MAX_VALUE_SIZE) -> int:
    """Estimate how many characters `value` prints as, giving up once past `limit`.

    Shared references let a short template build a huge value ([a, a] nested twenty deep), so
    sizes are counted through every level rather than trusting the outermost length.
    """
    size = 0
    pending = [value]
    while pending and size <= limit:
        item = pending.pop()
        if isinstance(item, str):
            size += len(item)
        elif isinstance(item, Mapping):
            size += 2 + 4 * len(item)
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, _CONTAINERS):
            size += 2 + 2 * len(item)
            pending.extend(item)
        elif isinstance(item, int):
            size += item.bit_length() // 3 + 1
        else:
            size += 1
    return size


def _check_size(value: T) -> T:
    """Return value if it fits in MAX_VALUE_SIZE; refuse it otherwise."""
    if isinstance(value, str):
        too_big = len(value) > MAX_VALUE_SIZE
    elif isinstance(value, _CONTAINERS):
        too_big = _printed_size(value) > MAX_VALUE_SIZE
    else:
        return value
    if too_big:
        raise _LimitExceeded(_VALUE_TOO_BIG)
    return value


def _admit(value: T) -> T:
    """Check a value the template just created, and charge new text to the render's budget."""
    if not isinstance(value, str):
        return _check_size(value)
    if len(value) > MAX_VALUE_SIZE:
        raise _LimitExceeded(_VALUE_TOO_BIG)
    budget = _current.budget
    if budget is not None:
        budget.text_created += len(value)
        if budget.text_created > MAX_TEXT_CREATED:
            raise _LimitExceeded(
                f"The template created more than {MAX_TEXT_CREATED:,} characters of text"
            )
    return value


def _bounded_concat(parts: Iterable[str]) -> str:
    """Join buffered output ({% set %} blocks, macros, filter blocks), refusing huge results."""
    parts = parts if isinstance(parts, list) else list(parts)
    if sum(map(len, parts)) > MAX_VALUE_SIZE:
        raise _LimitExceeded(_VALUE_TOO_BIG)
    return _admit("".join(parts))


def _finalize(value: Any) -> str:
    """Convert printed values to text, charging any new text to the render's budget."""
    if type(value) is str:
        return value
    return _admit(str(value))


def _check_operation(operator: str, left: Any, right: Any) -> None:
    """Refuse `left operator right` if its result would be too big, before computing it."""
    if operator == "%" and isinstance(left, str):
        raise SecurityError("Formatting text with % is not allowed in templates; join text with ~")
    if operator == "**":
        _check_power(left, right)
    elif operator == "*":
        _check_product(left, right)
    elif operator == "+":
        _check_sum(left, right)


def _check_power(base: Any, exponent: Any) -> None:
    """Estimate the bits of base ** exponent for whole numbers."""
    if not (isinstance(base, int) and isinstance(exponent, int)) or abs(base) < 2:
        return
    if exponent > 0 and base.bit_length() * exponent > MAX_INTEGER_BITS:
        raise _LimitExceeded("That number is too large for a template")


def _check_product(left: Any, right: Any) -> None:
    """Check number * number and the repetition of text and lists."""
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INTEGER_BITS:
            raise _LimitExceeded("That number is too large for a template")
    elif isinstance(right, int):
        _check_repetition(left, right)
    elif isinstance(left, int):
        _check_repetition(right, left)


def _check_repetition(sequence: Any, times: int) -> None:
    """Check `sequence * times` from the sequence's size, without building it."""
    repeatable = isinstance(sequence, (str, list, tuple))
    if repeatable and times > 1 and _printed_size(sequence) * times > MAX_VALUE_SIZE:
        raise _LimitExceeded(_VALUE_TOO_BIG)


def _check_sum(left: Any, right: Any) -> None:
    """Check the concatenation of text or lists."""
    sequences = (str, list, tuple)
    if not (isinstance(left, sequences) and isinstance(right, sequences)):
        return
    if _printed_size(left) + _printed_size(right) > MAX_VALUE_SIZE:
        raise _LimitExceeded(_VALUE_TOO_BIG)


# --- Time limit: one watchdog thread for every rendering thread ----------------------------------

# PyThreadState_SetAsyncExc(thread id, exception) raises `exception` in that thread at its next
# bytecode boundary; a NULL exception clears one not yet raised. Our own prototype, so that we do
# not change the shared ctypes.pythonapi entry other libraries may configure differently.
_set_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
)
_NO_EXCEPTION = ctypes.py_object()


@dataclass(eq=False, slots=True)
class _Budget:
    """What one render may still spend: the watchdog reads the deadline, the template the rest."""

    deadline: float
    field: str | None = None
    text_created: int = 0
    loop_iterations: int = 0
    call_depth: int = 0
    interrupted_at: float | None = None


class _CurrentRender(threading.local):
    budget: _Budget | None = None


_current = _CurrentRender()


def _current_budget() -> _Budget:
    """The budget of the render running in this thread."""
    budget = _current.budget
    if budget is None:
        raise RuntimeError("Email templates render only through render_email()")
    return budget


class _Watchdog:
    """Interrupt renders that run past their deadline, whichever thread they run in.

    Signals work only in the main thread, so one daemon thread keeps {thread id: budget} and
    raises RenderTimeout in a late thread. Registering is two dict operations under a lock; the
    thread sleeps on a condition while no render is running.
    """

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # threads do not survive fork

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._renders_started = threading.Condition(self._lock)
        self._budgets: dict[int, _Budget] = {}
        self._thread: threading.Thread | None = None
        self._idle = False  # waiting for a render to start

    def watch(self, budget: _Budget) -> None:
        """Start watching the calling thread's render."""
        with self._lock:
            self._budgets[threading.get_ident()] = budget
            if self._idle:
                self._idle = False
                self._renders_started.notify()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="render-watchdog", daemon=True
                )
                self._thread.start()

    def unwatch(self) -> None:
        """Stop watching the calling thread, clearing an interrupt that has not arrived yet.

        The watchdog interrupts only under the lock and only threads it watches, so once this
        returns no RenderTimeout can reach the caller. Safe to call twice.
        """
        thread_id = threading.get_ident()
        with self._lock:
            budget = self._budgets.pop(thread_id, None)
            if budget is not None and budget.interrupted_at is not None:
                _set_async_exc(thread_id, _NO_EXCEPTION)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._budgets:
                    self._idle = True
                    self._renders_started.wait()
                self._interrupt_overdue(time.monotonic())
            time.sleep(_WATCHDOG_TICK)

    def _interrupt_overdue(self, now: float) -> None:
        """Raise RenderTimeout in each thread past its deadline (again if it was swallowed)."""
        for thread_id, budget in self._budgets.items():
            if now < budget.deadline:
                continue
            if (
                budget.interrupted_at is not None
                and now - budget.interrupted_at < _REINTERRUPT_AFTER
            ):
                continue
            budget.interrupted_at = now
            _set_async_exc(thread_id, RenderTimeout)


_WATCHDOG = _Watchdog()


def _with_time_limit(seconds: float, work: Callable[[], T]) -> T:
    """Run work() with a fresh budget and deadline; a late render becomes TemplateRenderError."""
    if not seconds > 0:
        raise ValueError("time_limit must be a positive number of seconds")
    budget = _Budget(deadline=time.monotonic() + seconds)
    try:
        try:
            _current.budget = budget
            _WATCHDOG.watch(budget)
            return work()
        finally:
            _WATCHDOG.unwatch()
            _current.budget = None
    except RenderTimeout:
        # The interrupt may land anywhere above, even in the finally: unwatch again, idempotently.
        _WATCHDOG.unwatch()
        _current.budget = None
        unit = "second" if seconds == 1 else "seconds"
        raise TemplateRenderError(
            f"The template took longer than {seconds:g} {unit} to render", field=budget.field
        ) from None


# --- Filters and globals -------------------------------------------------------------------------


def fallback(value: Any, default: Any = "") -> Any:
    """Use `default` when a value is missing, None or blank, so no email says "Dear ,"."""
    if value is None or isinstance(value, Undefined):
        return default
    if isinstance(value, str):
        return value if value.strip() else default
    if isinstance(value, _CONTAINERS) and len(value) == 0:
        return default
    return value


@pass_eval_context
def _join(eval_ctx: EvalContext, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    """Jinja's join, refused before joining if the separator would repeat into a huge result."""
    items = list(value)
    if _printed_size(items) + len(str(d)) * len(items) > MAX_VALUE_SIZE:
        raise _LimitExceeded(_VALUE_TOO_BIG)
    return sync_do_join(eval_ctx, items, d, attribute)


@pass_eval_context
def _replace(eval_ctx: EvalContext, s: Any, old: Any, new: Any, count: int | None = None) -> str:
    """Jinja's replace, refused before replacing if the result would be huge."""
    text, old_text, new_text = str(s), str(old), str(new)
    occurrences = text.count(old_text) if old_text else len(text) + 1
    if isinstance(count, int) and count >= 0:
        occurrences = min(occurrences, count)
    if len(text) + occurrences * (len(new_text) - len(old_text)) > MAX_VALUE_SIZE:
        raise _LimitExceeded(_VALUE_TOO_BIG)
    return do_replace(eval_ctx, s, old, new, count)


@pass_environment
def _sum(
    environment: SandboxedEnvironment, iterable: Any, attribute: Any = None, start: Any = 0
) -> Any:
    """Jinja's sum, for numbers only: summing lists copies them quadratically."""
    if not isinstance(start, (int, float)):
        raise SecurityError("sum() adds only numbers in templates")
    return sync_do_sum(environment, iterable, attribute, start)


_LOOP_COUNTER = "_count_loop_iterations"


def _count_loop_iterations(iterable: Iterable[T]) -> Iterator[T]:
    """Charge each for-loop iteration to the render (wrapped round every loop when compiling)."""
    budget = _current_budget()
    for item in iterable:
        budget.loop_iterations += 1
        if budget.loop_iterations > MAX_LOOP_ITERATIONS:
            raise _LimitExceeded(
                f"Loops may run at most {MAX_LOOP_ITERATIONS:,} times in one email"
            )
        yield item


def _range(*args: int) -> range:
    """range() capped at MAX_RANGE numbers: the shortest way to write an enormous loop."""
    numbers = range(*args)
    try:
        too_long = len(numbers) > MAX_RANGE
    except OverflowError:  # longer than sys.maxsize
        too_long = True
    if too_long:
        raise _LimitExceeded(f"range() may produce at most {MAX_RANGE:,} numbers in templates")
    return numbers


class _Namespace(Namespace):
    """namespace() that prints small however much it holds, so it cannot amplify a value."""

    def __repr__(self) -> str:
        return "<namespace>"


# Jinja's filters that suit plain-text email, each result size-checked. Left out: HTML ones
# (escape, safe, urlize, xmlattr, striptags), ones whose arguments multiply their output (center,
# indent, wordwrap, format, batch, slice, tojson, pprint) and random.
_KEPT_FILTERS = [
    "abs",
    "attr",
    "capitalize",
    "count",
    "d",
    "default",
    "dictsort",
    "filesizeformat",
    "first",
    "float",
    "groupby",
    "int",
    "items",
    "last",
    "length",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "reject",
    "rejectattr",
    "reverse",
    "round",
    "select",
    "selectattr",
    "sort",
    "string",
    "title",
    "trim",
    "truncate",
    "unique",
    "upper",
    "urlencode",
    "wordcount",
]


def _size_checked(filter_function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a filter so that what it returns is checked and charged like any new value."""

    @functools.wraps(filter_function)  # keeps jinja_pass_arg, which says what to pass first
    def checked(*args: Any, **kwargs: Any) -> Any:
        return _admit(filter_function(*args, **kwargs))

    return checked


def _email_filters(defaults: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """The filters templates may use."""
    filters = {name: defaults[name] for name in _KEPT_FILTERS}
    filters.update(join=_join, replace=_replace, sum=_sum, fallback=fallback)
    filters = {name: _size_checked(function) for name, function in filters.items()}
    filters[_LOOP_COUNTER] = _count_loop_iterations
    return filters


# --- The sandbox ---------------------------------------------------------------------------------

_JINJA_HELPERS = (LoopContext, Macro, Cycler, Joiner, Namespace, TemplateReference)
_ALLOWED_ATTRIBUTES: tuple[tuple[type | tuple[type, ...], frozenset[str]], ...] = (
    (
        str,
        frozenset(
            [
                "capitalize",
                "casefold",
                "count",
                "endswith",
                "find",
                "index",
                "isalnum",
                "isalpha",
                "isdigit",
                "islower",
                "isnumeric",
                "isspace",
                "istitle",
                "isupper",
                "lower",
                "lstrip",
                "partition",
                "removeprefix",
                "removesuffix",
                "rfind",
                "rindex",
                "rpartition",
                "rsplit",
                "rstrip",
                "split",
                "splitlines",
                "startswith",
                "strip",
                "swapcase",
                "title",
                "upper",
            ]
        ),
    ),
    (Mapping, frozenset({"get", "items", "keys", "values"})),
    ((list, tuple), frozenset({"count", "index"})),
    (
        datetime,
        frozenset(
            ["year", "month", "day", "hour", "minute", "weekday", "isoweekday", "isoformat", "date"]
        ),
    ),
    (date, frozenset(["year", "month", "day", "weekday", "isoweekday", "isoformat"])),
)


def _allowed_attribute(obj: Any, attribute: str) -> bool:
    """Whether a template may read `attribute` of a plain value (no others have any)."""
    for kind, names in _ALLOWED_ATTRIBUTES:
        if isinstance(obj, kind):
            return attribute in names
    return False


def _kind(obj: Any) -> str:
    """Name a value's type for messages."""
    if obj is None:
        return "An empty value (None)"
    for kind, description in (
        (str, "Text"),
        (bool, "A yes/no value"),
        ((int, float), "A number"),
        (Mapping, "A group of fields"),
        ((list, tuple), "A list"),
        (date, "A date"),
    ):
        if isinstance(obj, kind):
            return description
    return f"A {type(obj).__name__}"


class _MissingValue(StrictUndefined):
    """StrictUndefined whose messages a template author can act on."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        if self._undefined_obj is missing:
            return f"Unknown variable {self._undefined_name!r}"
        return f"{_kind(self._undefined_obj)} has no field {self._undefined_name!r}"


class _SizeCheckingCodeGenerator(CodeGenerator):
    """Compile `~` and list, tuple and dict displays through the environment's size checks."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.join_strings((")
        for value in node.nodes:
            self.visit(value, frame)
            self.write(", ")
        self.write("))")

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self._size_checked(super().visit_List, node, frame)

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self._size_checked(super().visit_Dict, node, frame)

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx == "load":  # not the targets of {% for a, b in ... %} or {% set a, b = ... %}
            self._size_checked(super().visit_Tuple, node, frame)
        else:
            super().visit_Tuple(node, frame)

    def _size_checked(self, visit: Callable[[Any, Frame], None], node: Any, frame: Frame) -> None:
        self.write("environment.check_size(")
        visit(node, frame)
        self.write(")")


# Every attribute instances of these types have (they have no __dict__ and no __getattr__).
_MAPPING_ATTRIBUTES: Mapping[type, frozenset[str]] = {
    kind: frozenset(dir(kind)) for kind in (dict, MappingProxyType)
}


class _EmailSandbox(SandboxedEnvironment):
    """The only environment candidate-email templates are compiled in."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})
    code_generator_class = _SizeCheckingCodeGenerator

    def __init__(self) -> None:
        super().__init__(undefined=_MissingValue, autoescape=False, finalize=_finalize)
        self.concat = _bounded_concat  # joins {% set %} blocks and macro output
        self.filters = _email_filters(self.filters)
        self.globals = {
            "range": _range,
            "cycler": Cycler,
            "joiner": Joiner,
            "namespace": _Namespace,
        }

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """A plain dict: these globals never change, and Jinja's ChainMap is slow to copy.

        Every render copies its template's globals into a new context, twice per email.
        """
        return {**self.globals, **(d or {})}

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Read `group.field` as an item first when the group's type has no such attribute.

        Jinja tries the attribute first and the item after the AttributeError; for a dict or
        a frozen group that has no attribute of that name the result is the same, without
        raising and catching an exception for every field a template prints.
        """
        attributes = _MAPPING_ATTRIBUTES.get(type(obj))
        if attributes is not None and attribute not in attributes:
            try:
                return obj[attribute]
            except (TypeError, LookupError):
                pass  # Jinja's path makes the undefined value that explains what is missing
        return super().getattr(obj, attribute)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        """Allow Jinja's own helpers' public attributes and an allow-list on plain values."""
        if attr.startswith("_"):
            return False
        if isinstance(obj, _JINJA_HELPERS):
            return super().is_safe_attribute(obj, attr, value)
        return _allowed_attribute(obj, attr)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        """Explain a refused attribute in the editor's terms."""
        owner = obj.__name__ if isinstance(obj, type) else type(obj).__name__
        return self.undefined(
            f"{owner}.{attribute} is not allowed in templates",
            name=attribute,
            obj=obj,
            exc=SecurityError,
        )

    def wrap_str_format(self, value: Any) -> None:
        """Never hand out str.format: it is not on the allow-list, so is_safe_attribute refuses it.

        The inherited version would return a sandboxed wrapper before that check is made.
        """
        return None

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Call from a template: bounded arguments, bounded nesting, checked result."""
        if args:
            _check_size(args)  # f(a, a, a, ...) would otherwise build a huge *varargs
        if kwargs:
            _check_size(kwargs)
        budget = _current_budget()
        if budget.call_depth >= MAX_CALL_DEPTH:
            raise _LimitExceeded(
                f"Macros may call each other at most {MAX_CALL_DEPTH} deep (does one call itself?)"
            )
        budget.call_depth += 1
        try:
            result = super().call(context, obj, *args, **kwargs)
        finally:
            budget.call_depth -= 1
        return _admit(result)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """Apply +, *, ** or % after checking the result will be small enough."""
        _check_operation(operator, left, right)
        return _admit(self.binop_table[operator](left, right))

    def join_strings(self, values: tuple[Any, ...]) -> str:
        """Evaluate `a ~ b ~ ...` as text, refusing results past MAX_VALUE_SIZE."""
        return _bounded_concat([str(value) for value in values])

    def check_size(self, value: T) -> T:
        """Check a list, tuple or dict display the template just built."""
        return _check_size(value)


_ENVIRONMENT = _EmailSandbox()
_KNOWN_NAMES = frozenset(_TOP_LEVEL_NAMES) | set(_ENVIRONMENT.globals) | {"loop", "caller"}

# --- Compiling -----------------------------------------------------------------------------------


class _Field(NamedTuple):  # a tuple, so the compile cache hashes it in C
    name: str
    max_source: int
    max_output: int


_SUBJECT = _Field("subject", MAX_SUBJECT_SOURCE, MAX_SUBJECT_LENGTH)
_BODY = _Field("body", MAX_BODY_SOURCE, MAX_BODY_LENGTH)

_FORBIDDEN_TAGS: Mapping[type[nodes.Node], str] = {
    nodes.Extends: "{% extends %}",
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from ... import %}",
    nodes.Block: "{% block %}",
    nodes.EvalContextModifier: "{% autoescape %}",
    nodes.ScopedEvalContextModifier: "{% autoescape %}",
}


@functools.lru_cache(maxsize=128)
def _compiled(field: _Field, source: str) -> Template:
    """Compile a template once per distinct source: compiling costs far more than rendering."""
    if len(source) > field.max_source:
        raise TemplateRenderError(
            f"The {field.name} template is longer than {field.max_source:,} characters",
            field=field.name,
        )
    try:
        tree = _ENVIRONMENT.parse(source)
        _reject_unsupported(tree)
        _count_iterations_of_every_loop(tree)
        return _ENVIRONMENT.from_string(tree)
    except TemplateSyntaxError as error:
        raise TemplateRenderError(
            error.message or str(error), field=field.name, line=error.lineno
        ) from None
    except (RecursionError, SyntaxError):  # SyntaxError: Python's own nesting limits
        raise TemplateRenderError("The template nests too deeply", field=field.name) from None


def _reject_unsupported(tree: nodes.Template) -> None:
    """Refuse deep nesting, tags that load other templates or change escaping, private names."""
    deepest = _deepest_node(tree)
    if deepest is not None:
        raise TemplateSyntaxError("The template nests too deeply", deepest.lineno)
    tag = next(tree.find_all(tuple(_FORBIDDEN_TAGS)), None)
    if tag is not None:
        message = f"{_FORBIDDEN_TAGS[type(tag)]} is not allowed in templates"
        raise TemplateSyntaxError(message, tag.lineno)
    for lookup in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.NSRef)):
        name = _literal_attribute(lookup)
        if name is not None and name.startswith("_"):
            message = f"{name!r} is not allowed in templates: names starting with _ are private"
            raise TemplateSyntaxError(message, lookup.lineno)


def _deepest_node(tree: nodes.Template) -> nodes.Node | None:
    """The first node nested deeper than MAX_NESTING, if any."""
    pending = [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_NESTING:
            return node
        pending.extend((child, depth + 1) for child in node.iter_child_nodes())
    return None


def _literal_attribute(node: nodes.Getattr | nodes.Getitem | nodes.NSRef) -> str | None:
    """The attribute name a lookup spells out in the template, if it does."""
    if isinstance(node, nodes.Getitem):
        constant = node.arg
        if isinstance(constant, nodes.Const) and isinstance(constant.value, str):
            return constant.value
        return None
    return node.attr


def _count_iterations_of_every_loop(tree: nodes.Template) -> None:
    """Route every for-loop's iterable through the loop counter, so nesting cannot multiply."""
    for loop in list(tree.find_all(nodes.For)):
        counted = nodes.Filter(loop.iter, _LOOP_COUNTER, [], [], None, None, lineno=loop.lineno)
        loop.iter = counted.set_environment(_ENVIRONMENT)


# --- Rendering -----------------------------------------------------------------------------------


def render_email(
    subject_source: str,
    body_source: str,
    context: Mapping[str, Any],
    *,
    time_limit: float = DEFAULT_TIME_LIMIT,
) -> RenderedEmail:
    """Render a stored subject and body for one candidate, refusing anything unsafe or unbounded.

    A context from plain_context (as build_context makes them) is used as it is; any other
    mapping is checked and copied first.
    """
    values = plain_context(context)._values
    subject, text = _with_time_limit(
        time_limit,
        lambda: (_render_subject(subject_source, values), _render_body(body_source, values)),
    )
    return RenderedEmail(subject=subject, text=text)


def _render_subject(source: str, values: Mapping[str, Any]) -> str:
    """Render the subject: one non-empty line that is safe as a header."""
    subject = _render_field(_SUBJECT, source, values).strip()
    if not subject:
        raise TemplateRenderError("The subject is empty", field=_SUBJECT.name)
    if len(subject.splitlines()) > 1:
        raise TemplateRenderError("The subject must be a single line", field=_SUBJECT.name)
    try:
        check_header_value(subject, "The subject")
    except HeaderInjectionError as error:
        raise TemplateRenderError(str(error), field=_SUBJECT.name) from None
    return subject


def _render_body(source: str, values: Mapping[str, Any]) -> str:
    """Render the plain-text body."""
    return _render_field(_BODY, source, values)


def _render_field(field: _Field, source: str, values: Mapping[str, Any]) -> str:
    """Render one field's template, turning every failure into a located TemplateRenderError."""
    if not isinstance(source, str):
        raise TypeError(f"The {field.name} template must be a str, not {type(source).__name__}")
    _current_budget().field = field.name
    template = _compiled(field, source)
    try:
        return _stream(template, values, field)
    except Exception as error:
        raise _render_error(field, error) from error


def _stream(template: Template, values: Mapping[str, Any], field: _Field) -> str:
    """Collect the output chunk by chunk, stopping as soon as it is longer than allowed."""
    parts: list[str] = []
    length = 0
    chunks = template.generate(values)
    try:
        for chunk in chunks:
            length += len(chunk)
            if length > field.max_output:
                raise _LimitExceeded(
                    f"The {field.name} is longer than {field.max_output:,} characters",
                    line=_paused_line(template, chunks),
                )
            parts.append(chunk)
    finally:
        chunks.close()
    return "".join(parts)


def _paused_line(template: Template, chunks: Iterator[str]) -> int | None:
    """The template line the render is paused at, between two chunks of output."""
    inner = getattr(chunks, "gi_yieldfrom", None)
    frame = getattr(inner, "gi_frame", None)
    return template.get_corresponding_lineno(frame.f_lineno) if frame else None


def _render_error(field: _Field, error: Exception) -> TemplateRenderError:
    """Describe an exception from a render for the template's author."""
    if isinstance(error, RecursionError):
        message = "The template nests too deeply"
    elif isinstance(error, MemoryError):
        message = "The template needs too much memory"
    else:
        message = str(error) or type(error).__name__
    if len(message) > 300:
        message = f"{message[:297]}..."
    if isinstance(error, _LimitExceeded) and error.line is not None:
        line: int | None = error.line
    else:
        line = _template_line(error)
    return TemplateRenderError(message, field=field.name, line=line)


def _template_line(error: BaseException) -> int | None:
    """The template line an error came from: Jinja rewrites template frames to those lines."""
    line = None
    trace = error.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == "<template>":
            line = trace.tb_lineno
        trace = trace.tb_next
    return line


# --- HTML part -----------------------------------------------------------------------------------

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)


def _text_to_html(text: str) -> str:
    """Derive the HTML part: escaped text, blank-line paragraphs, line breaks, http(s) links."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = (part.strip("\n") for part in _PARAGRAPH_BREAK.split(text))
    return "\n".join(_paragraph_html(paragraph) for paragraph in paragraphs if paragraph.strip())


def _paragraph_html(paragraph: str) -> str:
    if "://" in paragraph:
        lines = "<br>\n".join(_line_html(line) for line in paragraph.split("\n"))
    else:  # escaping leaves line breaks alone, so the whole paragraph can go at once
        lines = html.escape(paragraph).replace("\n", "<br>\n")
    return f"<p>{lines}</p>"


def _line_html(line: str) -> str:
    """Escape one line, turning http(s) URLs into links."""
    if "://" not in line:
        return html.escape(line)
    parts = []
    position = 0
    for match in _URL.finditer(line):
        url = _trim_url(match.group())
        parts.append(html.escape(line[position : match.start()]))
        parts.append(f'<a href="{html.escape(url)}">{html.escape(url)}</a>')
        position = match.start() + len(url)
    parts.append(html.escape(line[position:]))
    return "".join(parts)


def _trim_url(url: str) -> str:
    """Leave sentence punctuation and an unmatched closing bracket out of a link."""
    while url[-1] in ".,;:!?" or (url[-1] == ")" and url.count("(") < url.count(")")):
        url = url[:-1]
    return url


# --- Validation ----------------------------------------------------------------------------------

_WHEN_EMPTY = " (in an email where optional values, such as hold, are empty)"


def validate_template(subject_source: str, body_source: str) -> list[TemplateProblem]:
    """List everything wrong with a subject and body, by line, before anyone saves them."""
    fields = ((_SUBJECT, subject_source, _render_subject), (_BODY, body_source, _render_body))
    problems = [
        problem for field, source, _ in fields for problem in _static_problems(field, source)
    ]
    for values, note in (
        (sample_context(), ""),
        (sample_context(include_optional=False), _WHEN_EMPTY),
    ):
        for _, source, render in fields:
            problem = _render_problem(render, source, plain_context(values)._values, note)
            if problem and not any(
                (known.field, known.line) == (problem.field, problem.line) for known in problems
            ):
                problems.append(problem)
    return sorted(problems, key=lambda problem: (problem.field != "subject", problem.line or 0))


def _static_problems(field: _Field, source: str) -> list[TemplateProblem]:
    """Problems found without rendering: syntax, forbidden tags, unknown names in any branch."""
    try:
        _with_time_limit(DEFAULT_TIME_LIMIT, lambda: _compiled(field, source))
    except TemplateError as error:
        return [TemplateProblem(error.field, error.line, error.message)]
    tree = _ENVIRONMENT.parse(source)
    return _unknown_variable_problems(field, tree) + _unknown_field_problems(field, tree)


def _unknown_variable_problems(field: _Field, tree: nodes.Template) -> list[TemplateProblem]:
    """Names the template reads that are neither in the catalogue nor set in the template."""
    available = ", ".join(_TOP_LEVEL_NAMES)
    return [
        TemplateProblem(
            field.name,
            _first_line_using(tree, name),
            f"Unknown variable {name!r}. Available: {available}",
        )
        for name in sorted(meta.find_undeclared_variables(tree) - _KNOWN_NAMES)
    ]


def _first_line_using(tree: nodes.Template, name: str) -> int | None:
    return next(
        (node.lineno for node in tree.find_all(nodes.Name) if node.name == name),
        None,
    )


def _unknown_field_problems(field: _Field, tree: nodes.Template) -> list[TemplateProblem]:
    """Fields of catalogue groups that do not exist, e.g. candidate.frist_name."""
    assigned = {node.name for node in tree.find_all(nodes.Name) if node.ctx != "load"}
    problems = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        group = node.node.name if isinstance(node.node, nodes.Name) else None
        name = _literal_attribute(node)
        if group not in _GROUP_FIELDS or group in assigned or name is None:
            continue
        if name not in _GROUP_FIELDS[group]:
            fields = ", ".join(_GROUP_FIELDS[group])
            message = f"{group!r} has no field {name!r}. Its fields: {fields}"
            problems.append(TemplateProblem(field.name, node.lineno, message))
    return problems


def _render_problem(
    render: Callable[[str, Mapping[str, Any]], str],
    source: str,
    values: Mapping[str, Any],
    note: str,
) -> TemplateProblem | None:
    """Render against example values; report the first failure, if any."""
    try:
        _with_time_limit(DEFAULT_TIME_LIMIT, lambda: render(source, values))
    except TemplateError as error:
        return TemplateProblem(error.field, error.line, error.message + note)
    return None
