"""Run a delivery worker's database work on a thread of its own, while its main thread sends.

A send mostly waits on the mail server's reply, and the wait releases the GIL: the next claim
can be claimed, checked and built meanwhile. The main thread keeps the sending, so a signal
(SIGTERM, Ctrl+C), which Python handles on the main thread, stops it between two messages as
before. The tasks run one at a time, in the caller's app context and so in its database
session (Flask-SQLAlchemy scopes the session by app context), which the main thread leaves
alone until it has waited for the task it submitted last.
"""

import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Self, TypeVar

T = TypeVar("T")


class Bookkeeper:
    """One thread that runs submitted tasks in order, each in a copy of the caller's context."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="delivery-books")

    def submit(self, task: Callable[..., T], *args: object) -> "Future[T]":
        """Queue `task(*args)`; the caller's app context (and session) is the task's."""
        return self._executor.submit(contextvars.copy_context().run, task, *args)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._executor.shutdown(wait=True)
