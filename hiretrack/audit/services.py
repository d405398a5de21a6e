"""Record who changed what. Every service that changes a record calls `record_change`."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect

from hiretrack.audit.models import AuditEntry
from hiretrack.extensions import db

#: Columns never copied into the audit log.
SECRET_COLUMNS = frozenset({"password_hash", "session_token", "token_hash"})


def snapshot(obj: Any) -> dict[str, Any]:
    """Return the column values of a model instance as JSON-safe data, secrets left out."""
    values: dict[str, Any] = {}
    for column in inspect(obj).mapper.column_attrs:
        if column.key in SECRET_COLUMNS:
            continue
        value = getattr(obj, column.key)
        if isinstance(value, datetime | date):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        values[column.key] = value
    return values


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict, dict]:
    """Keep only the fields that differ, so each entry says exactly what changed."""
    keys = [
        k for k in after if before.get(k) != after.get(k) and k not in ("version", "updated_at")
    ]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def _unwrap(obj: Any) -> Any:
    """Return the real object behind a proxy such as Flask-Login's current_user."""
    getter = getattr(obj, "_get_current_object", None)
    return getter() if getter is not None else obj


def record_change(
    actor: Any,
    action: str,
    entity: Any,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    actor_label: str | None = None,
) -> AuditEntry:
    """Add an audit entry to the current transaction (so it commits or rolls back with the change)."""
    entity = _unwrap(entity)
    actor = _unwrap(actor)
    db.session.flush()
    if after is None:
        after = snapshot(entity)
    if before is not None:
        before, after = changed_fields(before, after)
    entry = AuditEntry(
        actor_id=getattr(actor, "id", None),
        actor_label=actor_label or getattr(actor, "email", None) or "system",
        action=action,
        entity_type=type(entity).__tablename__,
        entity_id=getattr(entity, "id", None),
        before=before,
        after=after,
    )
    db.session.add(entry)
    return entry
