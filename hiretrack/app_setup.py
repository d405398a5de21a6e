"""The steps of `create_app`, one function each, so the factory reads like a table of contents."""

import logging
import secrets

from flask import Flask, g, request

import hiretrack.admin.routes
import hiretrack.api.routes
import hiretrack.approvals.routes
import hiretrack.auth.cli
import hiretrack.auth.routes
import hiretrack.bulk.routes
import hiretrack.cadence.cli
import hiretrack.cadence.stored  # noqa: F401  (its session hook keeps stored cadence dates true)
import hiretrack.candidates.cli
import hiretrack.candidates.data_cli
import hiretrack.candidates.privacy_routes  # noqa: F401  (adds its views to the candidates blueprint)
import hiretrack.candidates.routes
import hiretrack.dashboard.routes
import hiretrack.demo.cli
import hiretrack.holds.routes
import hiretrack.inbound.cli
import hiretrack.inbound.routes
import hiretrack.messages.cli
import hiretrack.messages.requisition_counts  # noqa: F401  (create_all installs its triggers)
import hiretrack.messages.routes
import hiretrack.models  # noqa: F401  (every table must be known before create_all/migrate)
import hiretrack.ops.cli
import hiretrack.ops.routes
import hiretrack.pipeline.routes
import hiretrack.reports.cli
import hiretrack.reports.routes
import hiretrack.requisitions.closure_pending  # noqa: F401  (its hook keeps closure pending true)
import hiretrack.requisitions.routes
import hiretrack.search.routes
import hiretrack.status.routes
from hiretrack import error_pages, formatting
from hiretrack.auth.services import load_user_from_session_token
from hiretrack.database import end_read_only_transaction
from hiretrack.extensions import csrf, db, login_manager, migrate
from hiretrack.messages.render_quota import register_render_allowance
from hiretrack.ops.logs import setup_logging
from hiretrack.resources import resource_dir
from hiretrack.submissions import new_submission_token
from hiretrack.web import link_pattern, template_url_for

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def register_extensions(app: Flask) -> None:
    """Bind the database, migrations, logins and CSRF protection to this app."""
    db.init_app(app)
    migrate.init_app(app, db, directory=str(resource_dir("migrations")))
    login_manager.init_app(app)
    csrf.init_app(app)
    login_manager.user_loader(load_user_from_session_token)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"


def register_blueprints(app: Flask) -> None:
    """Register each feature's blueprint; the API is exempt from CSRF (it uses bearer tokens).

    `candidates.privacy_routes` adds the data pages (export, anonymise, import) to the
    candidates blueprint, so it is imported above, before that blueprint is registered.
    """
    app.register_blueprint(hiretrack.auth.routes.bp)
    app.register_blueprint(hiretrack.dashboard.routes.bp)
    app.register_blueprint(hiretrack.candidates.routes.bp)
    app.register_blueprint(hiretrack.requisitions.routes.bp)
    app.register_blueprint(hiretrack.pipeline.routes.bp)
    app.register_blueprint(hiretrack.bulk.routes.bp)
    app.register_blueprint(hiretrack.holds.routes.bp)
    app.register_blueprint(hiretrack.approvals.routes.bp)
    app.register_blueprint(hiretrack.messages.routes.bp)
    app.register_blueprint(hiretrack.reports.routes.bp)
    app.register_blueprint(hiretrack.search.routes.bp)
    app.register_blueprint(hiretrack.admin.routes.bp)
    app.register_blueprint(hiretrack.status.routes.bp)
    app.register_blueprint(hiretrack.ops.routes.bp)
    app.register_blueprint(hiretrack.inbound.routes.bp)
    app.register_blueprint(hiretrack.api.routes.bp)
    csrf.exempt(hiretrack.api.routes.bp)


def register_errorhandlers(app: Flask) -> None:
    """Turn domain errors and HTTP errors into friendly pages (web) or problem+json (API)."""
    error_pages.register(app)


def register_request_hooks(app: Flask) -> None:
    """Give every request an id for the logs, a render allowance, and the security headers.

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

    # However many emails a page renders, together they may hold this worker only so long.
    register_render_allowance(app)

    app.context_processor(formatting.template_helpers)
    app.add_template_global(link_pattern)
    app.add_template_global(template_url_for, name="url_for")
    app.add_template_global(new_submission_token)
    app.add_template_filter(formatting.reject_page)
    logging.getLogger("hiretrack").setLevel(logging.INFO)
    setup_logging(app)


def register_commands(app: Flask) -> None:
    """Add each feature's CLI commands to the `hiretrack` command group."""
    for command in (
        *hiretrack.auth.cli.COMMANDS,
        *hiretrack.demo.cli.COMMANDS,
        *hiretrack.messages.cli.COMMANDS,
        *hiretrack.cadence.cli.COMMANDS,
        *hiretrack.reports.cli.COMMANDS,
        *hiretrack.ops.cli.COMMANDS,
        *hiretrack.candidates.cli.COMMANDS,
        *hiretrack.candidates.data_cli.COMMANDS,
        *hiretrack.inbound.cli.COMMANDS,
    ):
        app.cli.add_command(command)
