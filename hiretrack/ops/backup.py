"""Back up the database to a file and restore it: SQLite's online backup API, or pg_dump/pg_restore.

A SQLite backup is a consistent copy taken while the app keeps running; a PostgreSQL backup is a
custom-format `pg_dump -Fc` archive. The database settings come from the app's own URL, and a
PostgreSQL password is handed to the tools through their environment, never on the command line
(where `ps` would show it). See docs/operations.md for the schedule.
"""

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from hiretrack.extensions import db

#: URL query parameters that are libpq connection settings (the rest are SQLAlchemy's own).
LIBPQ_PARAMETERS = frozenset(
    {
        "host",
        "hostaddr",
        "port",
        "sslmode",
        "sslcert",
        "sslkey",
        "sslrootcert",
        "sslcrl",
        "sslpassword",
        "target_session_attrs",
        "connect_timeout",
        "application_name",
        "options",
        "service",
        "passfile",
        "gssencmode",
        "channel_binding",
    }
)

SQLITE_HEADER = b"SQLite format 3\x00"
PG_CUSTOM_HEADER = b"PGDMP"


class BackupError(RuntimeError):
    """A backup or restore could not be done; the message says why and what to do."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    kind: str  # "sqlite" | "postgresql"


def database_url() -> URL:
    return db.engine.url


def _sqlite_file(url: URL) -> Path:
    if not url.database or url.database == ":memory:" or url.query.get("mode") == "memory":
        raise BackupError(
            "This app uses an in-memory SQLite database: there is nothing to back up."
        )
    return Path(url.database)


def _quote_conninfo(value: str) -> str:
    """Quote a libpq keyword value (single quotes, with quotes and backslashes escaped)."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def libpq_connection(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq conninfo string without the password, and the environment carrying it."""
    settings: dict[str, str] = {}
    if url.host:
        settings["host"] = url.host
    if url.port:
        settings["port"] = str(url.port)
    if url.username:
        settings["user"] = url.username
    if url.database:
        settings["dbname"] = url.database
    for name, value in url.query.items():
        if name in LIBPQ_PARAMETERS:
            settings[name] = value if isinstance(value, str) else value[-1]
    conninfo = " ".join(f"{name}={_quote_conninfo(value)}" for name, value in settings.items())
    environment = dict(os.environ)
    if url.password:
        environment["PGPASSWORD"] = str(url.password)
    return conninfo, environment


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} was not found on PATH. Install the PostgreSQL client tools of the server's "
            "major version or newer (Debian/Ubuntu: apt-get install postgresql-client), then "
            "try again."
        )
    return found


def _run(command: list[str], environment: dict[str, str], what: str) -> None:
    result = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip() or f"exit status {result.returncode}"
        raise BackupError(f"{what} failed: {detail}")


def _check_target(path: Path) -> Path:
    """Refuse to overwrite a file, and create the folder the backup goes into."""
    path = Path(path).expanduser()
    if path.exists():
        raise BackupError(f"{path} already exists; choose a new file name (e.g. with the date).")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BackupError(f"Cannot create the folder {path.parent}: {error.strerror}.") from None
    return path


def backup_sqlite(url: URL, path: Path) -> None:
    """Copy a live SQLite database page by page (consistent even while others write)."""
    source_path = _sqlite_file(url)
    if not source_path.is_file():
        raise BackupError(f"The database file {source_path} does not exist.")
    partial = path.with_name(path.name + ".partial")
    source = sqlite3.connect(source_path)
    try:
        target = sqlite3.connect(partial)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()
    os.replace(partial, path)


def backup_postgresql(url: URL, path: Path) -> None:
    """Dump a PostgreSQL database with pg_dump in its custom format (-Fc)."""
    conninfo, environment = libpq_connection(url)
    partial = path.with_name(path.name + ".partial")
    try:
        _run(
            [_tool("pg_dump"), "--format=custom", f"--file={partial}", f"--dbname={conninfo}"],
            environment,
            "pg_dump",
        )
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)


def backup(path: Path | str) -> BackupResult:
    """Back up the app's database to a new file at path."""
    path = _check_target(Path(path))
    url = database_url()
    if url.get_backend_name() == "sqlite":
        backup_sqlite(url, path)
        kind = "sqlite"
    elif url.get_backend_name() == "postgresql":
        backup_postgresql(url, path)
        kind = "postgresql"
    else:
        raise BackupError(f"Backups of {url.get_backend_name()} databases are not supported.")
    return BackupResult(path=path, size=path.stat().st_size, kind=kind)


def _check_backup_file(path: Path, header: bytes, kind: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise BackupError(f"There is no backup file at {path}.")
    with path.open("rb") as handle:
        if handle.read(len(header)) != header:
            raise BackupError(
                f"{path} is not a {kind} backup made by `hiretrack backup` for this database."
            )
    return path


def restore_sqlite(url: URL, path: Path) -> None:
    """Copy a backup over the live SQLite file through the backup API (it takes the locks)."""
    path = _check_backup_file(path, SQLITE_HEADER, "SQLite")
    live = _sqlite_file(url)
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (verdict,) = source.execute("PRAGMA quick_check").fetchone()
        if verdict != "ok":
            raise BackupError(f"{path} is damaged ({verdict}); it was not restored.")
        tables = {row[0] for row in source.execute("SELECT name FROM sqlite_master")}
        if "candidate" not in tables:
            raise BackupError(f"{path} is not a HireTrack database; it was not restored.")
        db.engine.dispose()
        target = sqlite3.connect(live)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()


def restore_postgresql(url: URL, path: Path) -> None:
    """Replace the database's objects with the dump's: pg_restore --clean --if-exists."""
    path = _check_backup_file(path, PG_CUSTOM_HEADER, "PostgreSQL (pg_dump -Fc)")
    conninfo, environment = libpq_connection(url)
    db.session.remove()
    db.engine.dispose()
    _run(
        [
            _tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={conninfo}",
            str(path),
        ],
        environment,
        "pg_restore",
    )


def restore(path: Path | str) -> str:
    """Restore the app's database from a backup file; returns the kind of database restored."""
    url = database_url()
    if url.get_backend_name() == "sqlite":
        restore_sqlite(url, Path(path))
        return "sqlite"
    if url.get_backend_name() == "postgresql":
        restore_postgresql(url, Path(path))
        return "postgresql"
    raise BackupError(f"Restoring {url.get_backend_name()} databases is not supported.")
