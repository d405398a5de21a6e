"""The Jinja sandbox email templates run in: filters, globals, allowed attributes, size checks."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, TypeVar

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.filters import do_replace, sync_do_join, sync_do_sum
from jinja2.nodes import EvalContext
from jinja2.runtime import LoopContext, Macro, StrictUndefined, TemplateReference, Undefined
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import Cycler, Joiner, Namespace, missing, pass_environment, pass_eval_context

from hiretrack.messages.rendering.limits import (
    CONTAINERS,
    MAX_CALL_DEPTH,
    MAX_LOOP_ITERATIONS,
    MAX_RANGE,
    MAX_VALUE_SIZE,
    VALUE_TOO_BIG,
    LimitExceeded,
    admit,
    bounded_concat,
    check_operation,
    check_size,
    current_budget,
    finalize,
    printed_size,
)

T = TypeVar("T")

# --- Filters and globals -------------------------------------------------------------------------


def fallback(value: Any, default: Any = "") -> Any:
    """Use `default` when a value is missing, None or blank, so no email says "Dear ,"."""
    if value is None or isinstance(value, Undefined):
        return default
    if isinstance(value, str):
        return value if value.strip() else default
    if isinstance(value, CONTAINERS) and len(value) == 0:
        return default
    return value


@pass_eval_context
def _join(eval_ctx: EvalContext, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    """Jinja's join, refused before joining if the separator would repeat into a huge result."""
    items = list(value)
    if printed_size(items) + len(str(d)) * len(items) > MAX_VALUE_SIZE:
        raise LimitExceeded(VALUE_TOO_BIG)
    return sync_do_join(eval_ctx, items, d, attribute)


@pass_eval_context
def _replace(eval_ctx: EvalContext, s: Any, old: Any, new: Any, count: int | None = None) -> str:
    """Jinja's replace, refused before replacing if the result would be huge."""
    text, old_text, new_text = str(s), str(old), str(new)
    occurrences = text.count(old_text) if old_text else len(text) + 1
    if isinstance(count, int) and count >= 0:
        occurrences = min(occurrences, count)
    if len(text) + occurrences * (len(new_text) - len(old_text)) > MAX_VALUE_SIZE:
        raise LimitExceeded(VALUE_TOO_BIG)
    return do_replace(eval_ctx, s, old, new, count)


@pass_environment
def _sum(
    environment: SandboxedEnvironment, iterable: Any, attribute: Any = None, start: Any = 0
) -> Any:
    """Jinja's sum, for numbers only: summing lists copies them quadratically."""
    if not isinstance(start, (int, float)):
        raise SecurityError("sum() adds only numbers in templates")
    return sync_do_sum(environment, iterable, attribute, start)


LOOP_COUNTER = "_count_loop_iterations"


def _count_loop_iterations(iterable: Iterable[T]) -> Iterator[T]:
    """Charge each for-loop iteration to the render (wrapped round every loop when compiling)."""
    budget = current_budget()
    for item in iterable:
        budget.loop_iterations += 1
        if budget.loop_iterations > MAX_LOOP_ITERATIONS:
            raise LimitExceeded(f"Loops may run at most {MAX_LOOP_ITERATIONS:,} times in one email")
        yield item


def _range(*args: int) -> range:
    """range() capped at MAX_RANGE numbers: the shortest way to write an enormous loop."""
    numbers = range(*args)
    try:
        too_long = len(numbers) > MAX_RANGE
    except OverflowError:  # longer than sys.maxsize
        too_long = True
    if too_long:
        raise LimitExceeded(f"range() may produce at most {MAX_RANGE:,} numbers in templates")
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
        return admit(filter_function(*args, **kwargs))

    return checked


def _email_filters(defaults: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """The filters templates may use."""
    filters = {name: defaults[name] for name in _KEPT_FILTERS}
    filters.update(join=_join, replace=_replace, sum=_sum, fallback=fallback)
    filters = {name: _size_checked(function) for name, function in filters.items()}
    filters[LOOP_COUNTER] = _count_loop_iterations
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
        super().__init__(undefined=_MissingValue, autoescape=False, finalize=finalize)
        self.concat = bounded_concat  # joins {% set %} blocks and macro output
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
            check_size(args)  # f(a, a, a, ...) would otherwise build a huge *varargs
        if kwargs:
            check_size(kwargs)
        budget = current_budget()
        if budget.call_depth >= MAX_CALL_DEPTH:
            raise LimitExceeded(
                f"Macros may call each other at most {MAX_CALL_DEPTH} deep (does one call itself?)"
            )
        budget.call_depth += 1
        try:
            result = super().call(context, obj, *args, **kwargs)
        finally:
            budget.call_depth -= 1
        return admit(result)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """Apply +, *, ** or % after checking the result will be small enough."""
        check_operation(operator, left, right)
        return admit(self.binop_table[operator](left, right))

    def join_strings(self, values: tuple[Any, ...]) -> str:
        """Evaluate `a ~ b ~ ...` as text, refusing results past MAX_VALUE_SIZE."""
        return bounded_concat([str(value) for value in values])

    def check_size(self, value: T) -> T:
        """Check a list, tuple or dict display the template just built."""
        return check_size(value)


ENVIRONMENT = _EmailSandbox()
