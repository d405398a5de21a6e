"""The steps of `create_app`, one function each, so the factory reads like a table of contents."""

import logging
import secrets
from importlib import import_module

from flask import Flask, g, request

from hiretrack.database import end_read_only_transaction
from hiretrack.extensions import csrf, db, login_manager, migrate
from hiretrack.resources import resource_dir

#: Every feature package with a `routes.py` exposing a blueprint named `bp`.
BLUEPRINT_PACKAGES = (
    "auth",
    "dashboard",
    "candidates",
    "requisitions",
    "holds",
    "approvals",
    "messages",
    "reports",
    "admin",
    "status",
    "ops",
    "inbound",
    "api",
)

#: Every package with a `cli.py` exposing click commands in `COMMANDS`.
CLI_PACKAGES = (
    "auth",
    "demo",
    "messages",
    "cadence",
    "reports",
    "ops",
    "candidates",
    "inbound",
)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def _optional_module(name: str):
    """Import a feature module if that feature has been built; features land one at a time."""
    try:
        return import_module(name)
    except ModuleNotFoundError as error:
        if error.name != name:
            raise
        return None


def register_extensions(app: Flask) -> None:
    """Bind the database, migrations, logins and CSRF protection to this app."""
    import hiretrack.models  # noqa: F401  (every table must be known before create_all/migrate)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(resource_dir("migrations")))
    login_manager.init_app(app)
    csrf.init_app(app)

    from hiretrack.auth.services import load_user_from_session_token

    login_manager.user_loader(load_user_from_session_token)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"


def register_blueprints(app: Flask) -> None:
    """Register each feature's blueprint; the API is exempt from CSRF (it uses bearer tokens)."""
    for package in BLUEPRINT_PACKAGES:
        module = _optional_module(f"hiretrack.{package}.routes")
        if module is None:
            continue
        app.register_blueprint(module.bp)
        if package in ("api",):
            csrf.exempt(module.bp)


def register_errorhandlers(app: Flask) -> None:
    """Turn domain errors and HTTP errors into friendly pages (web) or problem+json (API)."""
    from hiretrack.error_pages import register

    register(app)


def register_request_hooks(app: Flask) -> None:
    """Give every request an id for the logs and every response the security headers.

    A request that only read ends its transaction with a commit (see
    `database.end_read_only_transaction`), so PostgreSQL keeps its prepared plans.
    """

    @app.before_request
    def assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = (
            incoming if incoming.isalnum() and len(incoming) <= 64 else secrets.token_hex(8)
        )

    @app.after_request
    def set_security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers["X-Request-ID"] = g.get("request_id", "")
        return response

    @app.teardown_request
    def commit_read_only_transaction(error: BaseException | None) -> None:
        if error is None:
            end_read_only_transaction(db.session())

    @app.context_processor
    def template_helpers():
        from hiretrack import formatting

        return formatting.template_helpers()

    from hiretrack.formatting import reject_page

    app.add_template_filter(reject_page)
    logging.getLogger("hiretrack").setLevel(logging.INFO)

    from hiretrack.ops.logs import setup_logging

    setup_logging(app)


def register_commands(app: Flask) -> None:
    """Add each feature's CLI commands to the `hiretrack` command group."""
    for package in CLI_PACKAGES:
        module = _optional_module(f"hiretrack.{package}.cli")
        if module is None:
            continue
        for command in module.COMMANDS:
            app.cli.add_command(command)
