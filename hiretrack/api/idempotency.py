"""The API's `Idempotency-Key` header: a POST with a key takes effect once, whatever the retries.

Stripe's semantics: the first request with a key does the work and its answer is stored for
24 hours; the same key with the same request answers that response again (with
`Idempotent-Replayed: true`) without doing anything; the same key with another request is 422;
a repeat that arrives while the first still works waits for its answer, then 409 if it takes
too long. A refused request (an error) stores nothing, so a retry with the key does the work.
The work and its stored answer are committed together (`run_claimed`), so a crash or an
exception between the two cannot leave a key that was worked on but never answered.
"""

from collections.abc import Callable

from flask import Response, request

from hiretrack.auth.models import User
from hiretrack.idempotency.services import (
    StoredResponse,
    begin,
    check_key,
    fingerprint,
    run_claimed,
)

HEADER = "Idempotency-Key"
#: How long a repeat waits for the first request's answer before answering 409.
WAIT_SECONDS = 10.0


def idempotent(user: User, run: Callable[[], Response]) -> Response:
    """Run the operation once per key of this user; replay its stored answer to repeats."""
    key = check_key(request.headers[HEADER])
    asked = fingerprint(request.method, request.full_path, request.get_data(cache=True))
    outcome = begin(user.id, key, asked, wait=WAIT_SECONDS)
    if isinstance(outcome, StoredResponse):
        return replay(outcome)
    return run_claimed(outcome, run, _answer_to_store)


def _answer_to_store(response: Response) -> StoredResponse | None:
    """What repeats of a successful request answer; None for a refusal, which keeps nothing."""
    if response.status_code >= 400 or response.is_streamed:
        return None
    return StoredResponse(
        response.status_code,
        response.mimetype,
        response.get_data(as_text=True),
        response.headers.get("Location"),
    )


def replay(stored: StoredResponse) -> Response:
    """The first request's answer, marked as a replay."""
    response = Response(stored.body, status=stored.status, mimetype=stored.content_type)
    if stored.location:
        response.headers["Location"] = stored.location
    response.headers["Idempotent-Replayed"] = "true"
    return response
