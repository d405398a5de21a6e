"""How a web request's transaction ends: a read-only one commits, one that wrote rolls back.

Committing a transaction that only read changes nothing in the database, and it keeps psycopg's
prepared statements (it forgets them all on ROLLBACK), so PostgreSQL reuses its plans.
"""

import pytest
from sqlalchemy import create_engine, func, select, table, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from hiretrack.admin.models import Department
from hiretrack.database import WROTE, end_read_only_transaction
from hiretrack.extensions import db
from tests.conftest import POSTGRES_URL


def _departments() -> list[str]:
    with db.engine.connect() as connection:  # a connection of its own: sees committed rows only
        return list(connection.scalars(select(Department.name).order_by(Department.name)))


def test_a_transaction_that_only_read_is_committed(ctx):
    db.session.scalar(select(func.count()).select_from(Department))
    assert db.session().in_transaction()
    end_read_only_transaction(db.session())
    assert not db.session().in_transaction()


@pytest.mark.parametrize(
    "write",
    [
        lambda: db.session.add(Department(name="Pending")),  # not flushed yet
        lambda: (db.session.add(Department(name="Flushed")), db.session.flush()),
        lambda: db.session.execute(update(Department).values(name="Renamed")),
    ],
    ids=["pending object", "flushed insert", "bulk update"],
)
def test_a_transaction_that_wrote_is_left_for_the_rollback(ctx, write):
    db.session.add(Department(name="Kept"))
    db.session.commit()
    write()
    end_read_only_transaction(db.session())
    assert db.session().in_transaction()
    db.session.rollback()
    assert _departments() == ["Kept"]


def test_the_mark_of_a_write_ends_with_its_transaction(ctx):
    db.session.add(Department(name="Sales"))
    db.session.flush()
    assert db.session.info.get(WROTE)
    db.session.commit()
    assert WROTE not in db.session.info
    db.session.scalar(select(Department.id))
    end_read_only_transaction(db.session())
    assert not db.session().in_transaction()


def test_a_request_that_writes_without_committing_keeps_nothing(app, client):
    """The end of a request commits only reads: an uncommitted write is still rolled back."""

    @app.get("/_test/write-without-commit")
    def write_without_commit():
        db.session.add(Department(name="Never saved"))
        db.session.flush()
        return "flushed"

    @app.get("/_test/read")
    def read():
        return str(db.session.scalar(select(func.count()).select_from(Department)))

    assert client.get("/_test/write-without-commit").status_code == 200
    assert client.get("/_test/read").get_data(as_text=True) == "0"
    with app.app_context():
        assert _departments() == []


@pytest.mark.skipif(not POSTGRES_URL, reason="psycopg's prepared statements: PostgreSQL only")
def test_postgresql_keeps_prepared_statements_across_read_only_requests(app, client):
    @app.get("/_test/prepared")
    def prepared():
        db.session.scalar(select(func.count()).select_from(Department))
        # A SELECT built with SQLAlchemy: text() could be anything, so it counts as a write.
        return str(
            db.session.scalar(select(func.count()).select_from(table("pg_prepared_statements")))
        )

    counts = [int(client.get("/_test/prepared").get_data(as_text=True)) for _ in range(8)]
    # psycopg prepares a statement on its sixth execution on a connection; it stays prepared.
    assert counts[-1] >= 1 and counts[-1] >= counts[-2]


@pytest.mark.skipif(not POSTGRES_URL, reason="a server-side disconnection: PostgreSQL only")
def test_a_pooled_connection_the_server_closed_is_replaced_before_a_request_uses_it(
    app, client, database_url
):
    @app.get("/_test/backend")
    def backend():
        return str(db.session.scalar(select(func.pg_backend_pid())))

    first = int(client.get("/_test/backend").get_data(as_text=True))
    administrator = create_engine(database_url, poolclass=NullPool)
    with administrator.begin() as connection:  # as a restart or an administrator would
        assert connection.scalar(select(func.pg_terminate_backend(first, 5000)))
    administrator.dispose()

    response = client.get("/_test/backend")

    assert response.status_code == 200
    assert int(response.get_data(as_text=True)) != first


def test_held_commits_reach_the_database_only_with_the_holders_own_commit(ctx):
    """`holding_commits` (an idempotent request's work): commits end savepoints, a rollback
    goes back to the last of them, and the holder commits or rolls back the whole."""

    def seen_inside() -> list[str]:
        return list(db.session.scalars(select(Department.name).order_by(Department.name)))

    for holder_commits in (False, True):
        with db.session().holding_commits():
            db.session.add(Department(name=f"Kept {holder_commits}"))
            db.session.commit()
            db.session.add(Department(name=f"Kept {holder_commits}"))  # names are unique
            with pytest.raises(IntegrityError):
                db.session.commit()
            db.session.rollback()  # back to the last commit, not to the start
            db.session.add(Department(name=f"Also kept {holder_commits}"))
            db.session.commit()
            db.session.add(Department(name="Left uncommitted"))
            db.session.flush()
            if POSTGRES_URL:  # another connection sees none of it (SQLite's tests share one)
                assert _departments() == []
        assert seen_inside() == [f"Also kept {holder_commits}", f"Kept {holder_commits}"]
        if holder_commits:
            db.session.commit()
        else:
            db.session.rollback()
        assert seen_inside() == (["Also kept True", "Kept True"] if holder_commits else [])
    assert _departments() == ["Also kept True", "Kept True"]
