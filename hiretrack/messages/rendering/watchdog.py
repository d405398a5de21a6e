"""The time limits: one watchdog thread interrupts any render that runs past its deadline.

Each render has its own limit; a render allowance (`render_allowance`, opened for every web
request and around batches) also caps the rendering time of everything inside it, so many
renders that are each just under their limit still cannot hold a worker for long.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from hiretrack.messages.rendering.errors import RenderBudgetExhausted, TemplateRenderError
from hiretrack.messages.rendering.limits import Budget, current_render

T = TypeVar("T")

_WATCHDOG_TICK = 0.02  # seconds between the watchdog's checks while renders are running
_REINTERRUPT_AFTER = 0.25  # seconds before interrupting again a render that ignored it


class RenderTimeout(BaseException):
    """Raised inside a rendering thread by the watchdog when the render's time is up.

    A BaseException, so that code reachable from a template that catches Exception cannot
    swallow it. It never leaves `with_time_limit`, which turns it into TemplateRenderError.
    """


# PyThreadState_SetAsyncExc(thread id, exception) raises `exception` in that thread at its next
# bytecode boundary; a NULL exception clears one not yet raised. Our own prototype, so that we do
# not change the shared ctypes.pythonapi entry other libraries may configure differently.
_set_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
)
_NO_EXCEPTION = ctypes.py_object()


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
        self._budgets: dict[int, Budget] = {}
        self._thread: threading.Thread | None = None
        self._idle = False  # waiting for a render to start

    def watch(self, budget: Budget) -> None:
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


@dataclass(eq=False, slots=True)
class Allowance:
    """Rendering time left to the renders of one request or batch."""

    seconds: float  # as configured, for the message
    remaining: float
    spent: float = 0.0
    #: Called once, before the first render: may refuse the whole allowance (a quota used up).
    before_first_render: Callable[[Allowance], None] | None = None
    refusal: str | None = None

    def charge(self, seconds: float) -> None:
        self.spent += seconds
        self.remaining -= seconds

    def refuse(self, message: str) -> None:
        """Let no render start under this allowance, saying why."""
        self.remaining, self.refusal = 0.0, message

    def exhausted(self) -> RenderBudgetExhausted:
        if self.refusal is not None:
            return RenderBudgetExhausted(self.refusal)
        return RenderBudgetExhausted(
            f"Rendering stopped: templates may take {self.seconds:g} seconds in all for one "
            "page or batch, and that time is used up. A template is too slow: simplify it."
        )


class _CurrentAllowance(threading.local):
    allowance: Allowance | None = None


_current_allowance = _CurrentAllowance()


def current_allowance() -> Allowance | None:
    """The allowance the renders in this thread now draw on, if any."""
    return _current_allowance.allowance


def open_allowance(
    seconds: float, before_first_render: Callable[[Allowance], None] | None = None
) -> Allowance | None:
    """Let the renders that follow in this thread spend `seconds` in all; return the outer one.

    Inside another allowance the new one gets at most what the outer one has left, and what it
    spends is charged to the outer one when it closes.
    """
    outer = _current_allowance.allowance
    if outer is None:
        _current_allowance.allowance = Allowance(seconds, seconds, 0.0, before_first_render)
        return None
    _run_first_render_check(outer)  # a batch inside a request: the request's check comes first
    inner = Allowance(seconds, min(seconds, outer.remaining), 0.0, before_first_render)
    inner.refusal = outer.refusal
    _current_allowance.allowance = inner
    return outer


def _run_first_render_check(allowance: Allowance) -> None:
    """Run the allowance's check before its first render, once."""
    if allowance.before_first_render is not None:
        check, allowance.before_first_render = allowance.before_first_render, None
        check(allowance)


def close_allowance(outer: Allowance | None = None) -> None:
    """End the allowance open_allowance opened, restoring (and charging) the one it returned."""
    inner = _current_allowance.allowance
    if outer is not None and inner is not None:
        outer.charge(inner.spent)
    _current_allowance.allowance = outer


@contextmanager
def render_allowance(seconds: float) -> Iterator[None]:
    """Share `seconds` of rendering time among every render inside (a batch of drafts)."""
    outer = open_allowance(seconds)
    try:
        yield
    finally:
        close_allowance(outer)


def with_time_limit(seconds: float, work: Callable[[], T]) -> T:
    """Run work() within `seconds` and the open allowance; a late render becomes an error.

    The time spent is charged to the allowance; once it is used up, renders fail at once with
    RenderBudgetExhausted, without starting.
    """
    if not seconds > 0:
        raise ValueError("time_limit must be a positive number of seconds")
    allowance = _current_allowance.allowance
    if allowance is None:
        return _run_with_deadline(seconds, work, None)
    _run_first_render_check(allowance)
    if allowance.remaining <= 0:
        raise allowance.exhausted()
    started = time.monotonic()
    try:
        return _run_with_deadline(min(seconds, allowance.remaining), work, allowance)
    finally:
        allowance.charge(time.monotonic() - started)


def _run_with_deadline(seconds: float, work: Callable[[], T], allowance: Allowance | None) -> T:
    """Run work() with a fresh budget and deadline, interrupted by the watchdog when late."""
    budget = Budget(deadline=time.monotonic() + seconds)
    try:
        try:
            current_render.budget = budget
            _WATCHDOG.watch(budget)
            return work()
        finally:
            _WATCHDOG.unwatch()
            current_render.budget = None
    except RenderTimeout:
        # The interrupt may land anywhere above, even in the finally: unwatch again, idempotently.
        _WATCHDOG.unwatch()
        current_render.budget = None
        if allowance is not None and allowance.remaining <= seconds:
            raise allowance.exhausted() from None
        unit = "second" if seconds == 1 else "seconds"
        raise TemplateRenderError(
            f"The template took longer than {seconds:g} {unit} to render", field=budget.field
        ) from None
