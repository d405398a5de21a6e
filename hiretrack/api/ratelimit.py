"""Rate limits on /api/v1: per token, per client address, and failed authentications per client.

Counting and windows are the `limits` library's fixed-window strategy; the counters live where
every worker and host sees them: Redis when HIRETRACK_REDIS_URL is set, else the app's database
(`hiretrack.api.limits_storage`). Three policies, each a `limits` string from the settings:

- HIRETRACK_API_RATE_LIMIT: requests per token (keyed by a hash of the token, never the token);
- HIRETRACK_API_CLIENT_RATE_LIMIT: requests per client address, whatever the token (the address
  is `request.remote_addr`, which the deployment's ProxyFix sets from the proxy's header);
- HIRETRACK_API_AUTH_FAILURE_LIMIT: answers of 401 per client address; past it the address is
  refused with 429 until the window ends, valid token or not.

A refused request answers 429 with `Retry-After`. Every answer carries `RateLimit-Limit`,
`RateLimit-Remaining` and `RateLimit-Reset` (seconds until the window ends, as the IETF draft has
it) for the policy closest to refusing the caller. If the store cannot be reached the request is
served without limits and the failure logged: an outage of Redis must not take the API down.
"""

import hashlib
import logging
import math
import time
from dataclasses import dataclass, field
from functools import partial

from flask import Blueprint, Flask, Response, current_app, g, request
from limits import RateLimitItem
from limits.errors import StorageError
from limits.storage import RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter

from hiretrack.api.auth import bearer_token
from hiretrack.api.limits_storage import DatabaseStorage
from hiretrack.config import parse_rate
from hiretrack.error_pages import problem

log = logging.getLogger(__name__)

#: Settings (without the HIRETRACK_ prefix) holding each policy, and what it limits.
POLICY_SETTINGS = {
    "token": "API_RATE_LIMIT",
    "client": "API_CLIENT_RATE_LIMIT",
    "auth-failure": "API_AUTH_FAILURE_LIMIT",
}
#: First part of every counter key; tests sharing one Redis set their own.
KEY_PREFIX_SETTING = "API_RATE_LIMIT_KEY_PREFIX"
#: A Redis that does not answer within this many seconds counts as down.
REDIS_TIMEOUT = 1.0

EXTENSION = "hiretrack_api_rate_limits"


class RateLimited(Exception):
    """A policy refuses the request: answered 429 with Retry-After."""

    def __init__(self, detail: str, retry_after: int):
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


@dataclass(frozen=True)
class Counter:
    """One policy's limit as applied to this request: the limit and the key it counts under."""

    item: RateLimitItem
    identifiers: tuple[str, ...]


@dataclass
class RequestLimits:
    """What the checks before the view counted, for the headers after it."""

    client: str
    requests: list[Counter] = field(default_factory=list)
    failures: list[Counter] = field(default_factory=list)
    refused: Counter | None = None
    unavailable: bool = False


class ApiRateLimiter:
    """The policies and the shared store of one app."""

    def __init__(self, app: Flask):
        config = app.config
        self.policies = {
            kind: parse_rate(setting, config[setting]) for kind, setting in POLICY_SETTINGS.items()
        }
        self.prefix = str(config.get(KEY_PREFIX_SETTING) or "hiretrack")
        self.storage = storage_for(config.get("REDIS_URL"))
        self.strategy = FixedWindowRateLimiter(self.storage)

    def counters(self, kind: str, subject: str) -> list[Counter]:
        return [Counter(item, (self.prefix, kind, subject)) for item in self.policies[kind]]

    def seconds_left(self, counter: Counter) -> int:
        """Seconds until counter's window ends (0 when none is open)."""
        reset, _ = self.strategy.get_window_stats(counter.item, *counter.identifiers)
        return max(0, math.ceil(reset - time.time()))

    def check(self, state: RequestLimits, token: str | None) -> None:
        """Refuse (RateLimited) a client over its failures, else count the request."""
        state.failures = self.counters("auth-failure", state.client)
        subjects = [("client", state.client, "requests from your address")]
        if token is not None:
            digest = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:32]
            subjects.append(("token", digest, "requests with this token"))
        hits = [
            (counter, what)
            for kind, subject, what in subjects
            for counter in self.counters(kind, subject)
        ]
        count_request = getattr(self.storage, "count_request", None)
        if count_request is not None:
            # The database's store reads and counts them all in one go; the strategy's calls
            # below are then answered from what it read.
            count_request(
                [(_key(counter), counter.item.amount) for counter in state.failures],
                [
                    (_key(counter), counter.item.get_expiry(), counter.item.amount)
                    for counter, _ in hits
                ],
            )
        for counter in state.failures:
            if not self.strategy.test(counter.item, *counter.identifiers):
                self.refuse(state, counter, "failed authentications from your address")
        for counter, what in hits:
            state.requests.append(counter)
            if not self.strategy.hit(counter.item, *counter.identifiers):
                self.refuse(state, counter, what)

    def refuse(self, state: RequestLimits, counter: Counter, what: str) -> None:
        state.refused = counter
        retry_after = max(1, self.seconds_left(counter))
        raise RateLimited(
            f"Too many {what}: at most {counter.item.amount} per {_window(counter.item)}. "
            f"Try again in {retry_after} seconds.",
            retry_after,
        )

    def shown(self, state: RequestLimits, status: int) -> tuple[Counter, int, int] | None:
        """The policy the headers describe, with its remaining count and seconds to reset.

        The one that refused the request; after a failed authentication, the failures allowed;
        otherwise the request policy with the fewest requests left.
        """
        if state.refused is not None:
            candidates = [state.refused]
        elif status == 401:
            candidates = state.failures
        else:
            candidates = state.requests
        best = None
        for counter in candidates:
            reset, remaining = self.strategy.get_window_stats(counter.item, *counter.identifiers)
            seconds = max(0, math.ceil(reset - time.time()))
            if best is None or remaining < best[1]:
                best = (counter, remaining, seconds)
        return best

    def finish(self, state: RequestLimits, response: Response) -> None:
        """Count a failed authentication, then write the rate-limit headers."""
        if response.status_code == 401:
            for counter in state.failures:
                self.strategy.hit(counter.item, *counter.identifiers)
        shown = self.shown(state, response.status_code)
        if shown is None:
            return
        counter, remaining, seconds = shown
        response.headers["RateLimit-Limit"] = str(counter.item.amount)
        response.headers["RateLimit-Remaining"] = str(remaining)
        response.headers["RateLimit-Reset"] = str(seconds)
        if response.status_code == 429:
            response.headers["Retry-After"] = str(max(1, seconds))


def storage_for(redis_url: str | None) -> Storage:
    """Redis when configured (every host shares it), else the app's database."""
    if redis_url:
        return RedisStorage(
            str(redis_url),
            wrap_exceptions=True,
            socket_timeout=REDIS_TIMEOUT,
            socket_connect_timeout=REDIS_TIMEOUT,
        )
    return DatabaseStorage()


def _key(counter: Counter) -> str:
    """The key the strategy stores counter under."""
    return counter.item.key_for(*counter.identifiers)


def _window(item: RateLimitItem) -> str:
    name = item.GRANULARITY.name
    return name if item.multiples == 1 else f"{item.multiples} {name}s"


def limiter() -> ApiRateLimiter:
    """This app's limiter, built on first use from its settings."""
    extensions = current_app.extensions
    if EXTENSION not in extensions:
        extensions[EXTENSION] = ApiRateLimiter(current_app)
    return extensions[EXTENSION]


def _is_api_request(prefix: str) -> bool:
    return request.path == prefix or request.path.startswith(prefix + "/")


def check_rate_limits(prefix: str) -> None:
    """Before each API request: refuse a client or token over its limit, else count the request.

    Paths under the API that match no route (`/requisitions/abc`) count too, and get the headers.
    """
    if not _is_api_request(prefix):
        return
    state = g.hiretrack_api_limits = RequestLimits(client=request.remote_addr or "-")
    checker = limiter()
    try:
        checker.check(state, bearer_token())
    except StorageError:
        state.unavailable = True
        log.exception("API rate limits are not enforced: the counter store did not answer")


def add_rate_limit_headers(response: Response) -> Response:
    """After each API view: count a failed authentication and describe the limit in headers."""
    state = g.get("hiretrack_api_limits")
    if state is None or state.unavailable:
        return response
    try:
        limiter().finish(state, response)
    except StorageError:
        log.exception("API rate-limit headers left out: the counter store did not answer")
    return response


def handle_rate_limited(error: RateLimited):
    response = problem(429, "Too Many Requests", error.detail)
    response.headers["Retry-After"] = str(error.retry_after)
    return response


def register(bp: Blueprint) -> None:
    """Put every request under the API blueprint's prefix under the limits.

    The hooks are app-wide (filtered by path) rather than the blueprint's own, because Flask runs
    a blueprint's hooks only for URLs that matched one of its routes.
    """
    prefix = bp.url_prefix or ""
    bp.before_app_request(partial(check_rate_limits, prefix))
    bp.after_app_request(add_rate_limit_headers)
    bp.app_errorhandler(RateLimited)(handle_rate_limited)
