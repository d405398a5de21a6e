"""One-time submission tokens for the web's send forms: a repeated submission does nothing.

Each render of a send form carries a fresh random `submission_token`. The first POST with it
claims the token (`hiretrack.idempotency`), does the work and stores where it redirected and
what it flashed, all in one transaction; a second POST with the same token (a double click, a
reload, the back button) waits for the first, then shows exactly that result without sending
anything again.
"""

import json
import re
import secrets
from collections.abc import Callable
from functools import wraps

from flask import Response, flash, redirect, request, session
from flask_login import current_user
from wtforms import HiddenField

from hiretrack.idempotency.services import (
    StoredResponse,
    begin,
    fingerprint,
    run_claimed,
)

FIELD = "submission_token"
#: How long a repeated submission waits for the first one's result.
WAIT_SECONDS = 20.0
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def new_submission_token() -> str:
    """A fresh token for one render of a form."""
    return secrets.token_urlsafe(24)


def submission_token_field() -> HiddenField:
    """The hidden field that carries the form's one-time token."""
    return HiddenField(default=new_submission_token)


def submitted_once(view: Callable) -> Callable:
    """Let each submission token take effect once; repeats show the first result again.

    A submission without a token (an old page, a script) is handled as before. A submission
    that did not end in a redirect (the form came back with errors, a preview) gives the
    token back, so correcting the form and sending it again works.
    """

    @wraps(view)
    def wrapper(*args, **kwargs):
        token = request.form.get(FIELD, "") if request.method == "POST" else ""
        if not _TOKEN.fullmatch(token) or not current_user.is_authenticated:
            return view(*args, **kwargs)
        asked = fingerprint("POST", request.path, b"")
        outcome = begin(current_user.id, f"form:{token}", asked, wait=WAIT_SECONDS)
        if isinstance(outcome, StoredResponse):
            for category, message in json.loads(outcome.body):
                flash(message, category)
            return redirect(outcome.location or request.path)
        flashed_before = len(session.get("_flashes", []))

        def result_to_store(response) -> StoredResponse | None:
            if not (isinstance(response, Response) and response.status_code in (301, 302, 303)):
                return None
            flashed = [list(item) for item in session.get("_flashes", [])[flashed_before:]]
            return StoredResponse(
                response.status_code,
                "application/json",
                json.dumps(flashed),
                response.headers.get("Location"),
            )

        return run_claimed(outcome, lambda: view(*args, **kwargs), result_to_store)

    return wrapper
