"""Domain errors raised by services; the web turns them into flash messages, the API into problem+json."""


class DomainError(Exception):
    """A request the domain refuses, with a message meant for the person who made it."""

    status = 409
    title = "Conflict"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """The object does not exist, or the current user may not see it (we never say which)."""

    status = 404
    title = "Not found"


class PermissionDenied(DomainError):
    """The user's role does not allow this action at all."""

    status = 403
    title = "Forbidden"


class ValidationFailed(DomainError):
    """Input is well formed but not acceptable; `errors` maps field names to messages."""

    status = 422
    title = "Validation failed"

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.errors = errors or {}


class TransitionNotAllowed(DomainError):
    """An application stage change that the stage machine does not allow."""

    title = "Stage change not allowed"


class GuardrailRefused(DomainError):
    """A rule that protects the candidate refused the action (e.g. no offer until it is in writing)."""

    title = "Refused by a guardrail"


class ClosureRequired(GuardrailRefused):
    """An application was about to close without a closure message or closure touchpoint."""

    title = "Closure required"


class StaleVersion(DomainError):
    """Someone else changed the object since it was loaded; reload and try again."""

    title = "Changed by someone else"


class WrittenAtOnce(DomainError):
    """The database ended this request's transaction in favour of another one writing the same
    rows at the same moment (a PostgreSQL deadlock): nothing was saved, and trying again works."""

    status = 503
    title = "Busy: try again"
