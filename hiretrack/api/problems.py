"""Errors the API answers itself, as application/problem+json (domain errors use error_pages).

Domain errors (NotFound 404, PermissionDenied 403, the 409 family, ValidationFailed 422) and HTTP
errors are already turned into problem+json for every /api/ path by `hiretrack.error_pages`; this
module adds what only the API meets: a missing token, a body that is not a JSON object, a body or
query string the schema refuses, a template that does not render, and a write that lost a race.
"""

from flask import Blueprint
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from hiretrack.api.auth import AuthenticationRequired
from hiretrack.error_pages import problem
from hiretrack.extensions import db
from hiretrack.messages.rendering import TemplateError

#: Shorter words for pydantic's messages where its own would puzzle an integrator.
MESSAGES = {
    "missing": "Required.",
    "extra_forbidden": "Unknown field: see /api/v1/openapi.json for the fields this takes.",
}


class MalformedBody(Exception):
    """The body is not a JSON object (400): nothing could be read from it."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


def field_errors(error: ValidationError, prefix: str = "") -> dict[str, list[str]]:
    """Turn pydantic's error list into {"field.path": [messages]}, as every 422 answers."""
    errors: dict[str, list[str]] = {}
    for item in error.errors(include_url=False, include_input=False):
        name = ".".join(str(part) for part in item["loc"]) or prefix or "body"
        message = MESSAGES.get(item["type"], item["msg"])
        if item["type"] == "value_error":
            # Our validators' own words, without pydantic's "Value error, " before them.
            message = str(item.get("ctx", {}).get("error", message))
        if message not in errors.setdefault(name, []):
            errors[name].append(message)
    return errors


def validation_problem(errors: dict[str, list[str]]):
    """A 422 naming each refused field."""
    detail = "Please correct these fields: " + ", ".join(errors) + "."
    return problem(422, "Validation failed", detail, errors=errors)


def handle_validation_error(error: ValidationError):
    db.session.rollback()
    return validation_problem(field_errors(error))


def handle_malformed_body(error: MalformedBody):
    db.session.rollback()
    return problem(400, "Bad Request", error.detail)


def handle_authentication_required(error: AuthenticationRequired):
    db.session.rollback()
    response = problem(401, "Unauthorized", error.detail)
    response.headers["WWW-Authenticate"] = 'Bearer realm="hiretrack"'
    return response


def handle_template_error(error: TemplateError):
    """A subject or body that does not render is the sender's input to fix: 422, with its line."""
    db.session.rollback()
    field = error.field or "body"
    where = f"line {error.line}: " if error.line is not None else ""
    return validation_problem({field: [f"{where}{error.message}"]})


def handle_integrity_error(error: IntegrityError):
    """Two requests created the same thing at once: the loser is told, nothing is half-saved."""
    db.session.rollback()
    return problem(
        409,
        "Conflict",
        "This conflicts with data saved at the same moment (for example the same email twice). "
        "Reload and try again.",
    )


def register(bp: Blueprint) -> None:
    """Attach the handlers above to the API blueprint."""
    bp.register_error_handler(ValidationError, handle_validation_error)
    bp.register_error_handler(MalformedBody, handle_malformed_body)
    bp.register_error_handler(AuthenticationRequired, handle_authentication_required)
    bp.register_error_handler(TemplateError, handle_template_error)
    bp.register_error_handler(IntegrityError, handle_integrity_error)
