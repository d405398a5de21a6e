"""Pytest plugin: real gunicorn workers on a database the test can seed (see tests/live_gunicorn.py)."""

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask_migrate import upgrade

from hiretrack import create_app
from hiretrack.extensions import db
from hiretrack.messages.defaults import install_default_templates
from tests.conftest import POSTGRES_URL, base_config, empty_all_tables
from tests.live_gunicorn import LiveGunicorn


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory) -> Path:
    """A SQLite file migrated from empty, with the default templates; each test copies it."""
    path = tmp_path_factory.mktemp("live-database") / "migrated.sqlite"
    app = create_app(base_config(f"sqlite:///{path}", path.parent))
    with app.app_context():
        upgrade()
        install_default_templates()
        db.session.commit()
        db.engine.dispose()
    return path


@pytest.fixture
def live_database_url(database_url, tmp_path, request) -> str:
    """A database gunicorn's workers share with the test: a SQLite file, or the PostgreSQL one."""
    if POSTGRES_URL:
        return database_url
    path = tmp_path / "live.sqlite"
    shutil.copyfile(request.getfixturevalue("migrated_sqlite_file"), path)
    return f"sqlite:///{path}"


@pytest.fixture
def live_app(live_database_url, tmp_path) -> Iterator[Flask]:
    """An app on the live database, for seeding and checks; PostgreSQL is emptied afterwards."""
    app = create_app(base_config(live_database_url, tmp_path))
    if POSTGRES_URL:
        with app.app_context():
            install_default_templates()
            db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        if POSTGRES_URL:
            empty_all_tables()
        db.engine.dispose()


@pytest.fixture
def live_gunicorn(live_app, live_database_url, tmp_path) -> Iterator[Callable[..., LiveGunicorn]]:
    """Start gunicorn on the live database: `live_gunicorn(workers=3, HIRETRACK_X="...")`.

    Every server started is stopped at the end of the test, before `live_app` empties the
    database.
    """
    servers: list[LiveGunicorn] = []

    def start(workers: int = 2, **env: str) -> LiveGunicorn:
        server = LiveGunicorn(live_database_url, workers=workers, env=env, directory=tmp_path)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()
