"""The migrations build exactly the models' schema from empty, and can go down and up again."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from hiretrack import create_app
from hiretrack.extensions import db
from tests.conftest import base_config, own_database


@pytest.fixture
def empty_database_url(tmp_path):
    """A brand-new empty database of the kind under test."""
    with own_database(tmp_path, "migrated") as url:
        yield url


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
