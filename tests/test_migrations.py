"""The migrations build exactly the models' schema from empty, and can go down and up again."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from hiretrack import create_app
from hiretrack.extensions import db
from hiretrack.messages.requisition_counts import trigger_names, trigger_statements
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
        assert partial_indexes() == model_partial_indexes(db.engine.dialect.name)
        assert installed_triggers() == expected_triggers(db.engine.dialect.name)
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert "application" in inspect(db.engine).get_table_names()
        db.engine.dispose()


def partial_indexes() -> set[str]:
    """The database's partial indexes (compare_metadata does not compare their conditions)."""
    inspector = inspect(db.engine)
    key = f"{db.engine.dialect.name}_where"
    return {
        index["name"]
        for table in inspector.get_table_names()
        for index in inspector.get_indexes(table)
        if index.get("dialect_options", {}).get(key) is not None
    }


def model_partial_indexes(dialect: str) -> set[str]:
    """The models' indexes with a condition on this database."""
    return {
        index.name
        for table in db.metadata.tables.values()
        for index in table.indexes
        if index.dialect_options[dialect]["where"] is not None
    }


def installed_triggers() -> set[str]:
    """The database's triggers: their SQL on SQLite, their names on PostgreSQL."""
    with db.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            query = "SELECT sql FROM sqlite_master WHERE type = 'trigger'"
        else:
            query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
        return set(connection.scalars(text(query)))


def expected_triggers(dialect: str) -> set[str]:
    """What create_all installs (hiretrack.messages.requisition_counts): the migrations must
    install the same, and a later one that rebuilds a table on SQLite must not lose them."""
    if dialect == "sqlite":
        return set(trigger_statements("sqlite"))
    return set(trigger_names())


def test_create_all_installs_the_same_triggers(app):
    with app.app_context():
        assert installed_triggers() == expected_triggers(db.engine.dialect.name)
