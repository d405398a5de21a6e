"""How much one render may spend, and the checks that charge each new value against it.

Every limit is checked before Python allocates the result, so a short template cannot build a
huge value: a value, a loop, a recursion, the text it creates and its output all stop at a size.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, MappingView
from dataclasses import dataclass
from typing import Any, TypeVar

from jinja2.exceptions import SecurityError

T = TypeVar("T")

DEFAULT_TIME_LIMIT = 1.0  # seconds of wall-clock time for one render_email call
SAVE_TIME_LIMIT = 0.1  # seconds one email may take against the worst-case context, when saved
REQUEST_RENDER_BUDGET = 3.0  # seconds of rendering one web request or one batch may spend
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

# --- The render's budget -------------------------------------------------------------------------


class LimitExceeded(Exception):
    """A template hit one of the limits above while running."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass(eq=False, slots=True)
class Budget:
    """What one render may still spend: the watchdog reads the deadline, the template the rest."""

    deadline: float
    field: str | None = None
    text_created: int = 0
    loop_iterations: int = 0
    call_depth: int = 0
    interrupted_at: float | None = None


class _CurrentRender(threading.local):
    budget: Budget | None = None


current_render = _CurrentRender()


def current_budget() -> Budget:
    """The budget of the render running in this thread."""
    budget = current_render.budget
    if budget is None:
        raise RuntimeError("Email templates render only through render_email()")
    return budget


# --- Sizes ---------------------------------------------------------------------------------------

CONTAINERS = (list, tuple, set, frozenset, Mapping, MappingView)
VALUE_TOO_BIG = f"A value in the template grew past {MAX_VALUE_SIZE:,} characters"


def printed_size(value: Any, limit: int = MAX_VALUE_SIZE) -> int:
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
        elif isinstance(item, CONTAINERS):
            size += 2 + 2 * len(item)
            pending.extend(item)
        elif isinstance(item, int):
            size += item.bit_length() // 3 + 1
        else:
            size += 1
    return size


def check_size(value: T) -> T:
    """Return value if it fits in MAX_VALUE_SIZE; refuse it otherwise."""
    if isinstance(value, str):
        too_big = len(value) > MAX_VALUE_SIZE
    elif isinstance(value, CONTAINERS):
        too_big = printed_size(value) > MAX_VALUE_SIZE
    else:
        return value
    if too_big:
        raise LimitExceeded(VALUE_TOO_BIG)
    return value


def admit(value: T) -> T:
    """Check a value the template just created, and charge new text to the render's budget."""
    if not isinstance(value, str):
        return check_size(value)
    if len(value) > MAX_VALUE_SIZE:
        raise LimitExceeded(VALUE_TOO_BIG)
    budget = current_render.budget
    if budget is not None:
        budget.text_created += len(value)
        if budget.text_created > MAX_TEXT_CREATED:
            raise LimitExceeded(
                f"The template created more than {MAX_TEXT_CREATED:,} characters of text"
            )
    return value


def bounded_concat(parts: Iterable[str]) -> str:
    """Join buffered output ({% set %} blocks, macros, filter blocks), refusing huge results."""
    parts = parts if isinstance(parts, list) else list(parts)
    if sum(map(len, parts)) > MAX_VALUE_SIZE:
        raise LimitExceeded(VALUE_TOO_BIG)
    return admit("".join(parts))


def finalize(value: Any) -> str:
    """Convert printed values to text, charging any new text to the render's budget."""
    if type(value) is str:
        return value
    return admit(str(value))


def check_operation(operator: str, left: Any, right: Any) -> None:
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
        raise LimitExceeded("That number is too large for a template")


def _check_product(left: Any, right: Any) -> None:
    """Check number * number and the repetition of text and lists."""
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INTEGER_BITS:
            raise LimitExceeded("That number is too large for a template")
    elif isinstance(right, int):
        _check_repetition(left, right)
    elif isinstance(left, int):
        _check_repetition(right, left)


def _check_repetition(sequence: Any, times: int) -> None:
    """Check `sequence * times` from the sequence's size, without building it."""
    repeatable = isinstance(sequence, (str, list, tuple))
    if repeatable and times > 1 and printed_size(sequence) * times > MAX_VALUE_SIZE:
        raise LimitExceeded(VALUE_TOO_BIG)


def _check_sum(left: Any, right: Any) -> None:
    """Check the concatenation of text or lists."""
    sequences = (str, list, tuple)
    if not (isinstance(left, sequences) and isinstance(right, sequences)):
        return
    if printed_size(left) + printed_size(right) > MAX_VALUE_SIZE:
        raise LimitExceeded(VALUE_TOO_BIG)
