"""Fixtures: an app per test on a clean database, opt-in app context, and factories.

SQLite in memory by default. With HIRETRACK_TEST_DATABASE_URL set, every test runs on that
PostgreSQL database: the schema is built once per session by the real migrations, and each test
starts from empty tables (truncated after each test), so tests that commit from several
connections or threads (delivery workers, the live server for the browser) see real behaviour.
"""

import itertools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pytest
from flask import has_app_context
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from hiretrack import create_app
from hiretrack.extensions import db

pytest_plugins = [
    "tests.plugins.smtp",
    "tests.plugins.live_gunicorn",
    "tests.plugins.imap",
    "tests.inbound_support",
]

POSTGRES_URL = os.environ.get("HIRETRACK_TEST_DATABASE_URL")
#: The browser tests drive this Chromium (Debian: apt-get install chromium); without it they skip.
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery staple"


def base_config(database_url: str, tmp_path) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": False,
        "MAIL_BACKEND": "file",
        "MAIL_FILE_DIR": str(tmp_path / "mail"),
        "BASE_URL": "http://hiretrack.test",
        "COMPANY_NAME": "Acme Widgets",
        "MAIL_FROM": "Acme Hiring <hiring@acme.example>",
        # API rate limits stay on (every answer carries their headers) but out of the way;
        # tests of the limits set their own.
        "API_RATE_LIMIT": "1000000 per hour",
        "API_CLIENT_RATE_LIMIT": "1000000 per hour",
        "API_AUTH_FAILURE_LIMIT": "1000000 per hour",
    }


def postgres_database_url() -> str:
    from hiretrack.config import DEFAULTS  # noqa: F401  (keeps config import side-effect free)

    url = POSTGRES_URL
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


@contextmanager
def own_database(tmp_path, label: str) -> Iterator[str]:
    """A new, empty database of the pass's kind for one test (a file on SQLite; beside the test
    database on PostgreSQL, dropped afterwards), for tests that migrate, restore or share it with
    a server process."""
    if not POSTGRES_URL:
        yield f"sqlite:///{tmp_path / f'{label}.sqlite'}"
        return
    url = make_url(postgres_database_url())
    name = f"{url.database}_{label}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def pytest_collection_modifyitems(config, items) -> None:
    """Skip the browser tests, saying why, where Chromium is not installed."""
    if os.path.exists(CHROMIUM):
        return
    skip = pytest.mark.skip(reason=f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    """The test database: in-memory SQLite, or on PostgreSQL a database of this run's own beside
    the one named (created, migrated from empty, dropped at the end), so that two runs given the
    same URL at once never drop each other's tables."""
    if not POSTGRES_URL:
        yield "sqlite://"
        return
    session_path = tmp_path_factory.mktemp("session")
    with own_database(session_path, f"run{os.getpid()}") as url:
        app = create_app(base_config(url, session_path))
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
            db.engine.dispose()
        yield url
        # Connections still open (the app fixtures' engines) are ended by DROP ... WITH (FORCE).


def empty_all_tables() -> None:
    """Remove every row (PostgreSQL), keeping the migrated schema for the next test."""
    names = ", ".join(f'"{table.name}"' for table in db.metadata.sorted_tables)
    with db.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def app(database_url, tmp_path):
    """A fresh app on an empty database, with the default email templates installed."""
    app = create_app(base_config(database_url, tmp_path))
    app.test_client_class = IsolatedClient
    with app.app_context():
        if database_url.startswith("sqlite"):
            db.create_all()
        from hiretrack.messages.defaults import install_default_templates

        install_default_templates()
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        if not database_url.startswith("sqlite"):
            empty_all_tables()
        db.engine.dispose()


@pytest.fixture
def ctx(app):
    """Push an application context for tests that call services directly."""
    with app.app_context():
        yield app
        db.session.rollback()


class IsolatedClient(FlaskClient):
    """A test client whose every request runs in its own app context, as in production.

    Without this, a request made while a test holds an app context (to call services) would
    share that context's `g` and database session, hiding bugs such as a cached current user.
    Objects the test loaded before a request may be stale after it: re-read them.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        if has_app_context():
            db.session.expire_all()
        return response


@pytest.fixture
def client(app):
    app.test_client_class = IsolatedClient
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


_sequence = itertools.count(1)


@pytest.fixture
def make_user(ctx):
    """Create a user: make_user(role="approver", email=...)."""
    from hiretrack.auth.services import create_user

    def make(role: str = "manager", **overrides):
        n = next(_sequence)
        user = create_user(
            overrides.pop("email", f"{role}{n}@acme.example"),
            overrides.pop("name", f"{role.title()} {n}"),
            role,
            overrides.pop("password", PASSWORD),
            phone=overrides.pop("phone", ""),
        )
        for key, value in overrides.items():
            setattr(user, key, value)
        db.session.commit()
        return user

    return make


@pytest.fixture
def make_department(ctx):
    from hiretrack.admin.models import Department

    def make(name: str | None = None):
        department = Department(name=name or f"Department {next(_sequence)}")
        db.session.add(department)
        db.session.commit()
        return department

    return make


@pytest.fixture
def make_requisition(ctx, make_user, make_department):
    """Create an open requisition: make_requisition(manager=..., salary_min=..., status=...)."""
    from hiretrack.requisitions.services import create_requisition

    def make(manager=None, department=None, **values):
        manager = manager or make_user("manager")
        department = department or make_department()
        values.setdefault("title", f"Engineer {next(_sequence)}")
        values.setdefault("status", "open")
        requisition = create_requisition(manager, department_id=department.id, **values)
        db.session.commit()
        return requisition

    return make


@pytest.fixture
def make_candidate(ctx, make_user):
    from hiretrack.candidates.services import create_candidate

    def make(actor=None, **values):
        n = next(_sequence)
        values.setdefault("name", f"Candidate Number{n}")
        values.setdefault("email", f"candidate{n}@example.org")
        candidate = create_candidate(actor or make_user("recruiter"), **values)
        db.session.commit()
        return candidate

    return make


@pytest.fixture
def make_application(ctx, make_requisition, make_candidate):
    """Create an application, optionally moved to a stage: make_application(stage="final_round")."""
    from hiretrack.candidates.services import apply_to_requisition, change_stage

    def make(requisition=None, candidate=None, stage: str = "interviewing", **kwargs):
        requisition = requisition or make_requisition(**kwargs)
        candidate = candidate or make_candidate()
        manager = requisition.manager
        start = stage if stage in ("interviewing", "final_round") else "final_round"
        application = apply_to_requisition(manager, candidate, requisition, start)
        if stage not in ("interviewing", "final_round"):
            change_stage(manager, application, "verbal_intent")
            if stage != "verbal_intent":
                raise ValueError("use the offers service to move past verbal intent in tests")
        db.session.commit()
        return application

    return make


@pytest.fixture
def login(client):
    """Sign a user in through the real login form."""

    def do_login(user, password: str = PASSWORD, follow: bool = False):
        return client.post(
            "/login", data={"email": user.email, "password": password}, follow_redirects=follow
        )

    return do_login


def today() -> date:
    from hiretrack.database import utcnow

    return utcnow().date()
