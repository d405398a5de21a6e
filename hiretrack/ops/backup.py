"""Back up the database to a file and restore it: SQLite's online backup API, or pg_dump/pg_restore.

A SQLite backup is a consistent copy taken while the app keeps running; a PostgreSQL backup is a
custom-format `pg_dump -Fc` archive. The database settings come from the app's own URL, and a
PostgreSQL password is handed to the tools through their environment, never on the command line
(where `ps` would show it). See docs/operations.md for the schedule.
"""

import fcntl
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL

from hiretrack.database import sqlite_use_lock
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


class DatabaseInUse(BackupError):
    """Someone else uses the database: restoring now would drop what they write meanwhile."""


IN_USE_ADVICE = (
    "Restoring now would silently drop what they write during and after the restore, and ids "
    "they were given could be handed out again. Stop the web app and the workers first "
    "(systemctl stop hiretrack-web hiretrack-mail@* and the timers), then restore; or, if you "
    "are sure, pass --force."
)


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


def is_backup_file(path: Path) -> bool:
    """Whether path holds a backup `hiretrack backup` makes (by its first bytes, not its name)."""
    try:
        with path.open("rb") as handle:
            start = handle.read(len(SQLITE_HEADER))
    except OSError:
        return False
    return start.startswith(SQLITE_HEADER) or start.startswith(PG_CUSTOM_HEADER)


def prune_backups(folder: Path, older_than: datetime, keep: Path | None = None) -> list[Path]:
    """Delete the backups in folder last written before older_than; return them, oldest first.

    Backups hold everyone's personal data as it was: an erased person stays in them until they
    are deleted. Only files that are backups by their content are touched, never `keep`.
    """
    cutoff = older_than.timestamp()
    pruned = []
    candidates = sorted(
        (entry for entry in Path(folder).iterdir() if entry.is_file()),
        key=lambda entry: entry.stat().st_mtime,
    )
    for entry in candidates:
        if keep is not None and entry.resolve() == keep.resolve():
            continue
        if entry.stat().st_mtime < cutoff and is_backup_file(entry):
            entry.unlink()
            pruned.append(entry)
    return pruned


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


def _sqlite_high_water(connection: sqlite3.Connection) -> dict[str, int]:
    """The highest id AUTOINCREMENT has handed out, per table."""
    try:
        return dict(connection.execute("SELECT name, seq FROM sqlite_sequence"))
    except sqlite3.OperationalError:  # no AUTOINCREMENT table yet
        return {}


def _raise_high_water(connection: sqlite3.Connection, live: dict[str, int]) -> None:
    """Make AUTOINCREMENT continue after the ids the replaced database had handed out."""
    restored = _sqlite_high_water(connection)
    for table, seq in live.items():
        if table in restored and seq > restored[table]:
            connection.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = ?", (seq, table))
    connection.commit()


def _lock_sqlite_for_restore(live: Path, force: bool, warn: Callable[[str], None]) -> int:
    """Take the exclusive use lock; refuse (or, forced, warn) when other processes hold it."""
    descriptor = sqlite_use_lock(str(live))
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        message = (
            f"Another process is using the database {live} (the web app, a delivery worker or "
            "a scheduled command). "
        )
        if not force:
            raise DatabaseInUse(message + IN_USE_ADVICE) from None
        warn(
            "WARNING: "
            + message
            + "Restoring anyway (--force): what it writes meanwhile may be lost."
        )
        return descriptor
    return descriptor


def restore_sqlite(
    url: URL, path: Path, force: bool = False, warn: Callable[[str], None] = print
) -> None:
    """Copy a backup over the SQLite file through the backup API, with no one else using it.

    Afterwards AUTOINCREMENT continues past every id the replaced database had handed out, so
    rows created after the backup (now gone) never have their ids reused.
    """
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
        db.session.remove()
        db.engine.dispose()
        descriptor = _lock_sqlite_for_restore(live, force, warn)
        try:
            target = sqlite3.connect(live)
            try:
                high_water = _sqlite_high_water(target)
                source.backup(target)
                _raise_high_water(target, high_water)
            finally:
                target.close()
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_SH)  # this process still uses the database
    finally:
        source.close()


def _postgresql_users() -> list[str]:
    """Other sessions connected to this database, described for the person restoring."""
    rows = db.session.execute(
        text(
            "SELECT coalesce(nullif(application_name, ''), 'unnamed client'), "
            "coalesce(host(client_addr), 'local socket'), count(*) "
            "FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
            "GROUP BY 1, 2 ORDER BY 1, 2"
        )
    ).all()
    return [f"{count} connection(s) of {name} from {address}" for name, address, count in rows]


def _postgresql_high_water() -> dict[str, int]:
    """The last value each sequence of the schema has handed out."""
    rows = db.session.execute(
        text(
            "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename), last_value "
            "FROM pg_sequences WHERE schemaname = current_schema() AND last_value IS NOT NULL"
        )
    ).all()
    return dict(rows)


def _raise_postgresql_high_water(live: dict[str, int]) -> None:
    """Make each sequence continue after the ids the replaced database had handed out."""
    restored = _postgresql_high_water()
    for sequence, value in live.items():
        if value > restored.get(sequence, 0):
            db.session.execute(
                text("SELECT setval(:sequence, :value)"), {"sequence": sequence, "value": value}
            )
    db.session.commit()


def restore_postgresql(
    url: URL, path: Path, force: bool = False, warn: Callable[[str], None] = print
) -> None:
    """Replace the database's objects with the dump's (pg_restore --clean), no one else connected.

    Sequences then continue past every id the replaced database had handed out.
    """
    path = _check_backup_file(path, PG_CUSTOM_HEADER, "PostgreSQL (pg_dump -Fc)")
    conninfo, environment = libpq_connection(url)
    db.session.remove()
    db.engine.dispose()
    users = _postgresql_users()
    if users:
        message = f"Others are connected to the database: {'; '.join(users)}. "
        if not force:
            db.session.remove()
            raise DatabaseInUse(message + IN_USE_ADVICE)
        warn("WARNING: " + message + "Restoring anyway (--force): what they write may be lost.")
    high_water = _postgresql_high_water()
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
    _raise_postgresql_high_water(high_water)
    db.session.remove()


def restore(path: Path | str, *, force: bool = False, warn: Callable[[str], None] = print) -> str:
    """Restore the app's database from a backup file; returns the kind of database restored.

    Refused with DatabaseInUse while another process uses the database, unless forced (then
    `warn` is told who).
    """
    url = database_url()
    if url.get_backend_name() == "sqlite":
        restore_sqlite(url, Path(path), force, warn)
        return "sqlite"
    if url.get_backend_name() == "postgresql":
        restore_postgresql(url, Path(path), force, warn)
        return "postgresql"
    raise BackupError(f"Restoring {url.get_backend_name()} databases is not supported.")
