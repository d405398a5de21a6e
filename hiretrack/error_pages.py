"""One place that maps errors to responses: flash + redirect or a page for the web, problem+json for the API."""

from flask import Flask, current_app, flash, jsonify, redirect, render_template, request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from hiretrack.auth.redirects import safe_next_url
from hiretrack.database import ended_for_another
from hiretrack.errors import DomainError, NotFound, StaleVersion, ValidationFailed, WrittenAtOnce
from hiretrack.extensions import db

STALE_MESSAGE = "Someone else changed this record while you were editing it. Reload and try again."
WRITTEN_AT_ONCE_MESSAGE = (
    "Someone else was saving changes to the same records at the same moment, so nothing of "
    "yours was saved. Please try again."
)


def wants_problem_json() -> bool:
    """API requests (and clients that ask for JSON) get problem+json instead of HTML."""
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def problem(status: int, title: str, detail: str, **extra):
    """Build an RFC 9457 problem+json response."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def _back_to_referrer():
    """Send the user back to the page the form was on, staying on this site."""
    return redirect(safe_next_url(request.referrer) or "/")


def handle_domain_error(error: DomainError):
    """Show a refused action to the person who asked, without losing what they had."""
    db.session.rollback()
    if wants_problem_json():
        extra = {"errors": error.errors} if isinstance(error, ValidationFailed) else {}
        return problem(error.status, error.title, error.message, **extra)
    if isinstance(error, NotFound):
        return render_template(
            "errors/error.html", status=404, title="Not found", detail=error.message
        ), 404
    if request.method == "GET":
        return render_template(
            "errors/error.html", status=error.status, title=error.title, detail=error.message
        ), error.status
    flash(error.message, "error")
    return _back_to_referrer()


def handle_stale_data(error: StaleDataError):
    """Two people edited the same record: the second is told, nothing is overwritten."""
    return handle_domain_error(StaleVersion(STALE_MESSAGE))


def handle_database_error(error: DBAPIError):
    """A deadlock or serialization failure is a busy moment, not a bug: say so and ask to retry.

    Everything the request wrote was rolled back with its transaction; API clients get 503 with
    Retry-After (an idempotency key is released with the rest, so the retry does the work).
    """
    if not ended_for_another(error):
        if current_app.testing:
            raise error
        return handle_unexpected(error)
    response = handle_domain_error(WrittenAtOnce(WRITTEN_AT_ONCE_MESSAGE))
    if isinstance(response, tuple):
        response = current_app.make_response(response)
    response.headers["Retry-After"] = "1"
    return response


def handle_http_error(error: HTTPException):
    """Render HTTP errors (404, 405, 413, CSRF 400...) without leaking internals."""
    if wants_problem_json():
        return problem(error.code or 500, error.name, error.description or error.name)
    return (
        render_template(
            "errors/error.html", status=error.code, title=error.name, detail=error.description
        ),
        error.code,
    )


def handle_unexpected(error: Exception):
    """Log a bug and answer with a page that gives the request id, never a stack trace."""
    from flask import g

    current_app.logger.exception("Unhandled error (request id %s)", g.get("request_id"))
    db.session.rollback()
    detail = f"Something went wrong on our side. Reference: {g.get('request_id', '-')}."
    if wants_problem_json():
        return problem(500, "Internal Server Error", detail)
    return render_template(
        "errors/error.html", status=500, title="Internal error", detail=detail
    ), 500


def register(app: Flask) -> None:
    """Attach the handlers above to the app."""
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(StaleDataError, handle_stale_data)
    app.register_error_handler(DBAPIError, handle_database_error)
    app.register_error_handler(HTTPException, handle_http_error)
    if not app.testing:
        app.register_error_handler(Exception, handle_unexpected)
