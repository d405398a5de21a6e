"""Readiness checks for load balancers and monitoring: database, migrations, outbox backlog.

Nothing here names a person, a host or a secret: the answers are public (no login), so they say
only whether each part works and how big the mail backlog is.
"""

from dataclasses import dataclass, field
from typing import Any

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.messages.after_delivery import outbox_summary
from hiretrack.resources import resource_dir


def migration_heads() -> set[str]:
    """The head revision(s) of the migrations shipped with this code."""
    return set(ScriptDirectory(str(resource_dir("migrations"))).get_heads())


def database_revisions() -> set[str]:
    """The revision(s) recorded in the database's alembic_version table (empty: never migrated)."""
    with db.engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


@dataclass
class Readiness:
    ready: bool
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"status": "ready" if self.ready else "not ready", "checks": self.checks}


def check_database() -> dict[str, Any]:
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return {"ok": False, "detail": "unreachable"}
    return {"ok": True}


def check_migrations() -> dict[str, Any]:
    heads = migration_heads()
    try:
        current = database_revisions()
    except SQLAlchemyError:
        return {"ok": False, "detail": "unknown (database unreachable)", "expected": sorted(heads)}
    if not current:
        detail = "not migrated: run `hiretrack db upgrade`"
    elif current == heads:
        detail = "current"
    else:
        detail = "behind or ahead of this code: run `hiretrack db upgrade`"
    return {
        "ok": current == heads,
        "detail": detail,
        "current": sorted(current),
        "expected": sorted(heads),
    }


def check_outbox() -> dict[str, Any]:
    """The mail backlog: informative for monitoring; it does not make the app unready."""
    try:
        now = utcnow()
        summary = outbox_summary(now)
    except SQLAlchemyError:
        db.session.rollback()
        return {"ok": False, "detail": "unknown (database unreachable)"}
    oldest_age = (
        int((now - summary.oldest_due_at).total_seconds())
        if summary.oldest_due_at is not None
        else None
    )
    return {
        "ok": True,
        "due_now": summary.due_now,
        "oldest_due_age_seconds": max(oldest_age, 0) if oldest_age is not None else None,
        "failed": summary.counts.get("failed", 0),
        "unconfirmed": summary.counts.get("unconfirmed", 0),
    }


def readiness() -> Readiness:
    """Check what the app needs to serve requests; the outbox figures ride along."""
    database = check_database()
    checks = {"database": database}
    if database["ok"]:
        checks["migrations"] = check_migrations()
        checks["outbox"] = check_outbox()
    else:
        checks["migrations"] = {"ok": False, "detail": "unknown (database unreachable)"}
        checks["outbox"] = {"ok": False, "detail": "unknown (database unreachable)"}
    ready = database["ok"] and checks["migrations"]["ok"]
    return Readiness(ready=ready, checks=checks)
