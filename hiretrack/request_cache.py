"""Values a web request computes once and then reuses: the settings, the reader's time zone.

Kept on the request object, not on `g`: an application context (and its `g`) can outlive many
requests (a CLI command, a test), while each request has its own request object.
"""

from collections.abc import Callable
from typing import TypeVar

from flask import has_request_context, request

T = TypeVar("T")

_ATTRIBUTE = "_hiretrack_once"


def once_per_request(name: str, compute: Callable[[], T]) -> T:
    """Return compute()'s value, computed once per request (every time outside a request)."""
    if not has_request_context():
        return compute()
    cache = getattr(request, _ATTRIBUTE, None)
    if cache is None:
        cache = {}
        setattr(request, _ATTRIBUTE, cache)
    if name not in cache:
        cache[name] = compute()
    return cache[name]


def forget(name: str) -> None:
    """Drop a remembered value, e.g. after the request changed what it was computed from."""
    if has_request_context():
        getattr(request, _ATTRIBUTE, {}).pop(name, None)


def remember(name: str, value: object) -> None:
    """Keep a value this request has already computed, for a later reader (see `remembered`)."""
    if has_request_context():
        cache = getattr(request, _ATTRIBUTE, None)
        if cache is None:
            cache = {}
            setattr(request, _ATTRIBUTE, cache)
        cache[name] = value


def remembered(name: str, default: object = None) -> object:
    """A value `remember` (or `once_per_request`) kept in this request, else `default`."""
    if not has_request_context():
        return default
    return getattr(request, _ATTRIBUTE, {}).get(name, default)
