"""The migrations build exactly the models' schema from empty, and can go down and up again."""

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from hiretrack import create_app
from hiretrack.extensions import db
from tests.conftest import POSTGRES_URL, base_config, postgres_database_url


@pytest.fixture
def empty_database_url(tmp_path):
    """A brand-new empty database of the kind under test."""
    if not POSTGRES_URL:
        yield f"sqlite:///{tmp_path / 'migrated.sqlite'}"
        return
    url = make_url(postgres_database_url())
    name = f"{url.database}_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_upgrade_from_empty_matches_the_models_and_downgrade_round_trips(
    empty_database_url, tmp_path
):
    app = create_app(base_config(empty_database_url, tmp_path))
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
        assert differences == []
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert "application" in inspect(db.engine).get_table_names()
        db.engine.dispose()
