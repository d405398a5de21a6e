"""Each web request's render allowance, and a per-person quota of rendering time per minute.

One request may render for REQUEST_RENDER_BUDGET seconds (`rendering.watchdog`); without a
quota, twenty such requests at once would still hold every worker. So the time a person's
requests spend rendering is also counted per minute (per user, or per client address for
requests without a session, e.g. the API), in the database like the sign-in throttle, and once
past `HIRETRACK_RENDER_SECONDS_PER_MINUTE` their renders are refused at once until the minute
ends: their pages answer quickly with a clear message, and other people's requests get the
workers.
"""

from datetime import timedelta

from flask import Flask, current_app, g, request
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from hiretrack.auth import throttle
from hiretrack.extensions import db
from hiretrack.messages.rendering import (
    REQUEST_RENDER_BUDGET,
    Allowance,
    close_allowance,
    current_allowance,
    open_allowance,
)

QUOTA_WINDOW = timedelta(minutes=1)
#: Requests that render for less than this are not counted (nearly all of them): no write.
COUNTED_FROM_SECONDS = 0.25


def quota_key() -> str:
    """Whose rendering time this request spends: the signed-in user's, else the client's."""
    if current_user.is_authenticated:
        return f"render:user:{current_user.id}"
    api_user = g.get("api_user")
    if api_user is not None:
        return f"render:user:{api_user.id}"
    return f"render:ip:{request.remote_addr or '-'}"


def refuse_when_quota_used(allowance: Allowance) -> None:
    """Before a request's first render: refuse them all while its person's quota is used up."""
    key = quota_key()
    wait = throttle.seconds_blocked(key)
    if wait:
        per_minute = current_app.config["RENDER_SECONDS_PER_MINUTE"]
        allowance.refuse(
            f"Rendering stopped: your pages may render templates for {per_minute:g} seconds a "
            f"minute, and that time is used up. Wait {wait} seconds and reload; a template is "
            "too slow: simplify it."
        )


def charge_quota(spent: float) -> None:
    """Count a request's rendering time against its person's quota (its own transaction)."""
    limit = int(current_app.config["RENDER_SECONDS_PER_MINUTE"] * 1000)
    try:
        db.session.rollback()
        throttle.record_cost(quota_key(), int(spent * 1000), limit, QUOTA_WINDOW, QUOTA_WINDOW)
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()  # a lost count only makes the quota more lenient


def register_render_allowance(app: Flask) -> None:
    """Open a render allowance for every request and charge what it spent to the quota."""

    @app.before_request
    def open_render_allowance() -> None:
        g.outer_render_allowance = open_allowance(REQUEST_RENDER_BUDGET, refuse_when_quota_used)
        g.render_allowance = current_allowance()

    @app.teardown_request
    def close_render_allowance(error: BaseException | None) -> None:
        allowance = g.pop("render_allowance", None)
        if allowance is None:
            return
        close_allowance(g.pop("outer_render_allowance", None))
        if allowance.spent >= COUNTED_FROM_SECONDS:
            charge_quota(allowance.spent)
