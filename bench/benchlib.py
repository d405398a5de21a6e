"""What seed.py and run.py share: where the bench database is, how to reach it, its credentials."""

import json
import os
import sys
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPOSITORY_DIR = BENCH_DIR.parent
DEFAULT_SQLITE_PATH = BENCH_DIR / "bench.sqlite"
#: Where seed.py leaves the logins run.py uses; BENCH_CREDENTIALS moves it (the smoke test does).
CREDENTIALS_PATH = Path(os.environ.get("BENCH_CREDENTIALS") or BENCH_DIR / "credentials.json")
RESULTS_PATH = BENCH_DIR / "results.json"

#: Every seeded user has this password (one scrypt hash shared by all: hashing 500 would take
#: longer than the rest of the seed).
BENCH_PASSWORD = "bench-password-2026"

# Run from a checkout without installing: the repository root must be importable.
if str(REPOSITORY_DIR) not in sys.path:
    sys.path.insert(0, str(REPOSITORY_DIR))


def database_url(given: str | None) -> str:
    """The database to use: --database-url, else HIRETRACK_DATABASE_URL, else bench/bench.sqlite."""
    url = given or os.environ.get("HIRETRACK_DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    return url


def sqlalchemy_url(url: str) -> str:
    """The URL with the psycopg 3 driver named, as the app itself rewrites it."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def dialect_of(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


def sqlite_path(url: str) -> Path | None:
    """The file behind a sqlite:/// URL (None for other databases)."""
    if not url.startswith("sqlite:///"):
        return None
    return Path(url.removeprefix("sqlite:///"))


def load_credentials(url: str) -> dict[str, Any]:
    """The logins seed.py wrote for this database, or a clear error saying how to get them."""
    stored = json.loads(CREDENTIALS_PATH.read_text()) if CREDENTIALS_PATH.exists() else {}
    entry = stored.get("databases", {}).get(url)
    if entry is None:
        raise SystemExit(
            f"No benchmark data for {url}: seed it first with\n"
            f"  python bench/seed.py --applications 100000 --database-url {url}"
        )
    return entry


def save_credentials(url: str, entry: dict[str, Any]) -> None:
    """Remember the logins for this database beside those of the others (gitignored file)."""
    stored = json.loads(CREDENTIALS_PATH.read_text()) if CREDENTIALS_PATH.exists() else {}
    stored.setdefault("databases", {})[url] = entry
    CREDENTIALS_PATH.write_text(json.dumps(stored, indent=2) + "\n")
    CREDENTIALS_PATH.chmod(0o600)


def bench_app(url: str, **overrides: Any):
    """A HireTrack app on the bench database (imported late: seed.py sets the path first)."""
    from hiretrack import create_app

    config = {"SQLALCHEMY_DATABASE_URI": sqlalchemy_url(url), "BASE_URL": "https://hiretrack.bench"}
    config.update(overrides)
    return create_app(config)
