"""How a web request's transaction ends: a read-only one commits, one that wrote rolls back.

Committing a transaction that only read changes nothing in the database, and it keeps psycopg's
prepared statements (it forgets them all on ROLLBACK), so PostgreSQL reuses its plans. On
PostgreSQL a request reads without a transaction at all until its first write.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, event, func, select, table, update
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


@contextmanager
def server_messages(app, tmp_path) -> Iterator[list[str]]:
    """What psycopg sends PostgreSQL while the block runs, from libpq's trace of every pooled
    connection checked out meanwhile: simple queries as `Query "BEGIN"`, statements as
    `Parse "SELECT ..."` or, once prepared, `Bind`; and each round trip's `ReadyForQuery`."""
    with app.app_context():
        pool = db.engine.pool
    path = tmp_path / "libpq.trace"
    messages: list[str] = []
    with path.open("w") as trace:

        def start(dbapi_connection, _record, _proxy):
            dbapi_connection.pgconn.trace(trace.fileno())

        def stop(dbapi_connection, _record):
            if dbapi_connection is not None:
                dbapi_connection.pgconn.untrace()  # flushes the trace

        event.listen(pool, "checkout", start)
        event.listen(pool, "checkin", stop)
        try:
            yield messages
        finally:
            event.remove(pool, "checkout", start)
            event.remove(pool, "checkin", stop)
    # A message's line: time, F(rontend) or B(ackend), length, type, contents (which may go on
    # over more lines, as a statement's text does).
    message = re.compile(r"^[^\t]+\t([FB])\t\d+\t(\w+)\t ?(.*)$")
    for line in path.read_text().splitlines():
        found = message.match(line)
        if found and found.group(1, 2) in {("F", "Query"), ("F", "Parse"), ("F", "Bind")}:
            messages.append(f"{found[2]} {found[3]}")
        elif found and found.group(1, 2) == ("B", "ReadyForQuery"):
            messages.append(f"ReadyForQuery {found[3]}")


#: psycopg's transaction control, sent as simple queries.
_CONTROL = re.compile(r'Query "(BEGIN|COMMIT|ROLLBACK)[^"]*"$')  # BEGIN ISOLATION LEVEL ...


def _commands(messages: list[str]) -> list[str]:
    """The transaction control among `messages`: BEGIN, COMMIT, ROLLBACK."""
    return [found[1] for m in messages if (found := _CONTROL.match(m))]


def _statements(messages: list[str]) -> list[str]:
    """The statements among `messages`: bound (Parse too, until prepared) or, without
    parameters, simple queries."""
    return [
        m
        for m in messages
        if m.startswith("Bind") or (m.startswith("Query") and not _CONTROL.match(m))
    ]


@pytest.mark.skipif(not POSTGRES_URL, reason="psycopg's BEGIN and COMMIT: PostgreSQL only")
def test_a_read_only_request_on_postgresql_sends_no_begin_and_no_commit(
    app, client, login, make_user, tmp_path
):
    """The manager dashboard reads in autocommit: a round trip a statement, none for BEGIN
    (psycopg sends it on its own) and none for COMMIT."""
    login(make_user("manager"))
    client.get("/dashboard")

    with server_messages(app, tmp_path) as messages:
        response = client.get("/dashboard")

    assert response.status_code == 200
    statements = _statements(messages)
    assert statements and _commands(messages) == []
    assert messages.count("ReadyForQuery I") == len(statements)  # I: idle, outside a transaction
    with app.app_context(), db.engine.connect() as connection:
        # Back in the pool, the connection has its transactions again for whoever uses it next.
        assert not connection.connection.dbapi_connection.autocommit


@pytest.mark.parametrize("ends", ["raising", "committing"])
def test_a_get_that_writes_after_reading_commits_or_rolls_back_as_one(app, client, tmp_path, ends):
    """From its first write a request has a real transaction: a failure after it leaves
    nothing of what the request wrote, and a commit keeps it all."""

    @app.get("/_test/read-then-write")
    def read_then_write():
        db.session.scalar(select(func.count()).select_from(Department))
        db.session.add(Department(name="First"))
        db.session.flush()
        db.session.scalar(select(func.count()).select_from(Department))
        db.session.add(Department(name="Second"))
        db.session.flush()
        if ends == "raising":
            raise RuntimeError("after the first write")
        db.session.commit()
        return "written"

    with server_messages(app, tmp_path) if POSTGRES_URL else _nothing() as messages:
        if ends == "raising":
            with pytest.raises(RuntimeError):
                client.get("/_test/read-then-write")
        else:
            assert client.get("/_test/read-then-write").status_code == 200

    with app.app_context():
        assert _departments() == ([] if ends == "raising" else ["First", "Second"])
    if POSTGRES_URL:  # the first read outside the transaction, the rest inside it
        end = "ROLLBACK" if ends == "raising" else "COMMIT"
        assert _commands(messages) == ["BEGIN", end]
        begin = next(n for n, m in enumerate(messages) if m.startswith('Query "BEGIN'))
        assert len(_statements(messages[:begin])) == 1  # the first read, on its own
        assert "INSERT INTO department" in messages[begin + 2]  # BEGIN's answer, then the write


@contextmanager
def _nothing() -> Iterator[list[str]]:
    yield []


@pytest.mark.skipif(not POSTGRES_URL, reason="row locks: PostgreSQL only")
def test_a_locking_read_in_a_request_holds_its_lock_in_a_transaction(app, client):
    with app.app_context():
        db.session.add(Department(name="Locked"))
        db.session.commit()

    @app.get("/_test/lock")
    def lock():
        db.session.execute(select(Department).with_for_update()).all()
        # Locking a row gives the transaction an id; in autocommit it would have ended already.
        return str(db.session.scalar(select(func.pg_current_xact_id_if_assigned())))

    assert client.get("/_test/lock").get_data(as_text=True) != "None"


def test_a_request_streaming_rows_reads_them_in_a_transaction(app, client):
    """`yield_per` reads through a server-side cursor on PostgreSQL, which needs a transaction."""
    with app.app_context():
        db.session.add_all([Department(name=name) for name in ("A", "B", "C")])
        db.session.commit()

    @app.get("/_test/stream")
    def stream():
        names = select(Department.name).order_by(Department.name)
        return ",".join(db.session.scalars(names.execution_options(yield_per=2)))

    assert client.get("/_test/stream").get_data(as_text=True) == "A,B,C"
