"""Erasure leaves no bytes: after anonymising, the address is in neither the file nor its WAL.

The byte checks run on a SQLite file; on PostgreSQL the retention run vacuums the tables it
changed (see docs/operations.md).
"""

import os
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import text

from hiretrack.database import utcnow
from hiretrack.extensions import db
from tests.conftest import POSTGRES_URL
from tests.test_privacy import EMAIL, history  # noqa: F401  (the fixture: a full history)

sqlite_only = pytest.mark.skipif(bool(POSTGRES_URL), reason="reads a SQLite file's bytes")


@pytest.fixture
def database_url(database_url, tmp_path) -> str:
    """On SQLite, a file in WAL mode instead of the in-memory database: there are bytes to read."""
    return database_url if POSTGRES_URL else f"sqlite:///{tmp_path / 'erasure.sqlite'}"


def files_holding(app, needle: str) -> list[str]:
    """Which of the database's files (main, -wal) hold these bytes."""
    path = Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
    found = []
    for file in (path, path.with_name(path.name + "-wal")):
        if file.exists() and needle.encode() in file.read_bytes():
            found.append(file.name)
    return found


@sqlite_only
def test_anonymising_on_request_leaves_the_address_in_no_file(app, history, client, login):  # noqa: F811
    assert files_holding(app, EMAIL)  # the test reads the right bytes: it is there before
    login(history["recruiter"])
    done = client.post(
        f"/candidates/{history['candidate_id']}/anonymise",
        data={"reason": "candidate_request", "confirm": "y"},
    )
    assert done.status_code == 302
    db.session.remove()
    assert files_holding(app, EMAIL) == []


@sqlite_only
def test_the_retention_run_leaves_the_address_in_no_file(app, history, runner):  # noqa: F811
    assert files_holding(app, EMAIL)
    with time_machine.travel(utcnow() + timedelta(days=400), tick=False):
        result = runner.invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "Anonymised 1 candidate(s)." in result.output
    db.session.remove()
    assert files_holding(app, EMAIL) == []


def test_backup_prunes_backups_older_than_the_retention_period(app, runner, tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    long_ago = (utcnow() - timedelta(days=400)).timestamp()  # retention: 12 months
    last_month = (utcnow() - timedelta(days=30)).timestamp()
    for name, content, when in [
        ("hiretrack-old.sqlite", b"SQLite format 3\x00 old", long_ago),
        ("hiretrack-old.dump", b"PGDMP old", long_ago),
        ("notes.txt", b"not a backup", long_ago),
        ("hiretrack-recent.sqlite", b"SQLite format 3\x00 recent", last_month),
    ]:
        (folder / name).write_bytes(content)
        os.utime(folder / name, (when, when))

    result = runner.invoke(args=["backup", str(folder / "hiretrack-new.sqlite"), "--prune"])

    assert result.exit_code == 0, result.output
    assert "older than 12 month(s), the retention period" in result.output
    assert sorted(path.name for path in folder.iterdir()) == [
        "hiretrack-new.sqlite",
        "hiretrack-recent.sqlite",
        "notes.txt",
    ]
    shorter = runner.invoke(
        args=["backup", str(folder / "hiretrack-newer.sqlite"), "--prune", "--keep-days", "7"]
    )
    assert shorter.exit_code == 0, shorter.output
    assert "hiretrack-recent.sqlite (older than 7 day(s))" in shorter.output


@pytest.mark.skipif(not POSTGRES_URL, reason="needs PostgreSQL")
def test_the_retention_run_vacuums_the_tables_it_changed(app, history, runner):  # noqa: F811
    started = db.session.scalar(text("SELECT now()"))
    db.session.commit()
    with time_machine.travel(utcnow() + timedelta(days=400), tick=False):
        result = runner.invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    vacuumed = dict(
        db.session.execute(
            text(
                "SELECT relname, last_vacuum FROM pg_stat_user_tables WHERE relname IN "
                "('candidate', 'touchpoint', 'outbox_email', 'audit_entry')"
            )
        ).all()
    )
    assert len(vacuumed) == 4
    assert all(when is not None and when >= started for when in vacuumed.values()), vacuumed
