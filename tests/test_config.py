"""Configuration from HIRETRACK_* variables, and the refusal to run production insecurely."""

import pytest

from hiretrack import create_app
from hiretrack.config import DEVELOPMENT_BASE_URL, INSECURE_SECRET_KEY, ConfigurationError
from hiretrack.resources import resource_dir
from hiretrack.serving import served_url, use_served_url
from tests.conftest import POSTGRES_URL


def test_production_refuses_the_default_secret_key(monkeypatch):
    monkeypatch.setenv("HIRETRACK_ENV", "production")
    monkeypatch.delenv("HIRETRACK_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="HIRETRACK_SECRET_KEY"):
        create_app()
    monkeypatch.setenv("HIRETRACK_SECRET_KEY", INSECURE_SECRET_KEY)
    with pytest.raises(ConfigurationError, match="HIRETRACK_SECRET_KEY"):
        create_app()


def test_production_with_a_real_secret_sets_secure_cookies(monkeypatch):
    monkeypatch.setenv("HIRETRACK_ENV", "production")
    monkeypatch.setenv("HIRETRACK_BASE_URL", "https://jobs.acme.example")
    monkeypatch.setenv(
        "HIRETRACK_SECRET_KEY", "0123456789"
    )  # all digits: JSON would make it an int
    app = create_app()
    assert app.config["SECRET_KEY"] == "0123456789"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_production_refuses_a_missing_base_url(monkeypatch):
    """Links in emails would point at a development address no candidate can open."""
    monkeypatch.setenv("HIRETRACK_ENV", "production")
    monkeypatch.setenv("HIRETRACK_SECRET_KEY", "a-long-random-production-secret")
    monkeypatch.delenv("HIRETRACK_BASE_URL", raising=False)
    with pytest.raises(ConfigurationError, match="HIRETRACK_BASE_URL is not set"):
        create_app()


def test_without_a_base_url_development_links_follow_the_served_address(monkeypatch):
    monkeypatch.delenv("HIRETRACK_BASE_URL", raising=False)
    app = create_app()
    assert app.config["BASE_URL"] == DEVELOPMENT_BASE_URL
    assert use_served_url(app, served_url("0.0.0.0", 5611)) == "http://127.0.0.1:5611"
    assert app.config["BASE_URL"] == "http://127.0.0.1:5611"
    assert served_url("::", 8080) == "http://[::1]:8080"

    monkeypatch.setenv("HIRETRACK_BASE_URL", "https://jobs.acme.example/")
    configured = create_app()
    assert use_served_url(configured, served_url("127.0.0.1", 5611)) == (
        "https://jobs.acme.example"
    )


def test_settings_come_from_prefixed_environment(monkeypatch):
    monkeypatch.setenv("HIRETRACK_DATABASE_URL", "postgresql://u@db.internal/hiretrack")
    monkeypatch.setenv("HIRETRACK_SMTP_PORT", "2525")
    monkeypatch.setenv("HIRETRACK_HOLIDAYS", "GB-ENG")
    monkeypatch.setenv("HIRETRACK_BASE_URL", "https://jobs.acme.example/")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db.internal/hiretrack"
    assert app.config["SMTP_PORT"] == 2525
    assert app.config["HOLIDAYS"] == "GB-ENG"
    assert app.config["BASE_URL"] == "https://jobs.acme.example"


def test_default_database_is_sqlite_in_the_instance_folder(monkeypatch):
    monkeypatch.delenv("HIRETRACK_DATABASE_URL", raising=False)
    app = create_app()
    assert (
        app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{app.instance_path}/hiretrack.sqlite"
    )


def test_unknown_mail_backend_is_refused_with_a_clear_message(monkeypatch):
    monkeypatch.setenv("HIRETRACK_MAIL_BACKEND", "pigeon")
    with pytest.raises(ConfigurationError, match="smtp, file or console"):
        create_app()


def test_top_level_folders_are_found():
    assert (resource_dir("templates") / "base.html").is_file()
    assert (resource_dir("migrations") / "env.py").is_file()


def test_sqlite_files_get_wal_a_larger_cache_and_fsync_at_checkpoints(tmp_path):
    """Several workers share one SQLite file: readers must not block the delivery worker."""
    from sqlalchemy import text

    from hiretrack.database import SQLITE_CACHE_KIB
    from hiretrack.extensions import db
    from tests.conftest import base_config

    app = create_app(base_config(f"sqlite:///{tmp_path / 'tuned.sqlite'}", tmp_path))
    with app.app_context(), db.engine.connect() as connection:
        pragmas = {
            name: connection.execute(text(f"PRAGMA {name}")).scalar()
            for name in ("journal_mode", "synchronous", "cache_size")
        }
    assert pragmas == {"journal_mode": "wal", "synchronous": 1, "cache_size": -SQLITE_CACHE_KIB}


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL only")
def test_postgresql_connections_plan_prepared_statements_for_their_values(app):
    """A generic plan is blind to skew (failed deliveries among sent ones); see tune_postgresql."""
    from sqlalchemy import text

    from hiretrack.extensions import db

    with app.app_context():
        assert db.session.execute(text("SHOW plan_cache_mode")).scalar() == "auto"
