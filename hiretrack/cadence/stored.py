"""The cadence dates each open application stores, and the one function that computes them.

A status changes with time passing, but the dates it is compared with change only when something
happens: a contact, a promise, a stage change, a hold placed or cleared, a cadence or holiday
setting. So each open application stores those dates, computed here with the business calendar,
and "ghosted", "overdue", "due" and "on track" are comparisons of them with today that an index
serves (see `hiretrack.cadence.queries` and docs/cadence.md):

- `next_update_due`: the earliest of the promised update (moved back to a business day), the
  cadence from the last contact (final round onwards), the business day after an unanswered
  inbound contact, the business day after an update was requested;
- `due_from`: the last business day before `next_update_due`, the first day it counts as due;
- `ghosted_on`: the first day the candidate has been silent for more than twice the cadence
  (final round onwards);
- `silent_since`: the last business day on or before the anchor (the last contact, else the
  opening), from which business days of silence are counted; ordering by it is ordering by
  silence.

Every writer goes through `compute_stored_cadence`: the session hook below recomputes the
application rows a flush changes, and `recompute_stored_cadence` rewrites many at once (the
`hiretrack cadence recompute` command, a cadence or holiday setting saved, the delivery worker).
"""

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, astuple, dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from sqlalchemy import bindparam, event, func, inspect, select, update
from sqlalchemy.orm import Session

from hiretrack.admin.models import OrganisationSettings
from hiretrack.admin.services import effective_settings
from hiretrack.cadence import tally
from hiretrack.cadence.calendar import business_day_on_or_before, business_days_after
from hiretrack.candidates.models import Application
from hiretrack.candidates.stages import OPEN_STAGES, Stage
from hiretrack.database import utcnow
from hiretrack.request_cache import forget
from hiretrack.requisitions.models import Requisition

#: Stages at which the candidate waits on a decision, so the cadence clock runs (final round on).
CADENCE_STAGES = frozenset(OPEN_STAGES - {Stage.INTERVIEWING})

#: The Application columns this module keeps, in `StoredCadence` order.
STORED_COLUMNS = ("next_update_due", "due_from", "ghosted_on", "silent_since")
#: The Application columns the stored ones are computed from.
FACT_COLUMNS = (
    "stage",
    "closed_at",
    "opened_at",
    "last_contact_at",
    "last_inbound_at",
    "promised_next_update",
    "update_requested_at",
)
#: Rows rewritten per statement by `recompute_stored_cadence`.
RECOMPUTE_CHUNK = 2_000


@dataclass(frozen=True)
class CadenceFacts:
    """What an application's stored cadence dates depend on, besides the holiday calendar."""

    stage: str
    closed_at: datetime | None
    opened_at: datetime | None
    last_contact_at: datetime | None
    last_inbound_at: datetime | None
    promised_next_update: date | None
    update_requested_at: datetime | None
    cadence_days: int


@dataclass(frozen=True)
class StoredCadence:
    """The dates an application stores; all None once it is closed."""

    next_update_due: date | None = None
    due_from: date | None = None
    ghosted_on: date | None = None
    silent_since: date | None = None


def _utc(moment: datetime | None) -> datetime | None:
    """A stored timestamp as an aware UTC datetime (SQLite hands some back naive)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@lru_cache(maxsize=16_384)
def _on_or_before(day: date, holidays: str | None) -> date:
    return business_day_on_or_before(day, holidays)


@lru_cache(maxsize=16_384)
def _business_days_on(day: date, count: int, holidays: str | None) -> date:
    """The business day `count` business days after the last business day on or before `day`."""
    return business_days_after(day, count, holidays)


def compute_stored_cadence(facts: CadenceFacts, holidays: str | None) -> StoredCadence:
    """The stored cadence dates of one application: the single definition every writer uses."""
    if facts.closed_at is not None or Stage(facts.stage) not in OPEN_STAGES:
        return StoredCadence()
    last_contact = _utc(facts.last_contact_at)
    last_inbound = _utc(facts.last_inbound_at)
    anchor = (last_contact or _utc(facts.opened_at) or utcnow()).date()
    clock_runs = Stage(facts.stage) in CADENCE_STAGES
    candidates = []
    if facts.promised_next_update is not None:
        candidates.append(_on_or_before(facts.promised_next_update, holidays))
    if clock_runs:
        candidates.append(_business_days_on(anchor, facts.cadence_days, holidays))
    if last_inbound is not None and (last_contact is None or last_inbound > last_contact):
        candidates.append(_business_days_on(last_inbound.date(), 1, holidays))
    if facts.update_requested_at is not None:
        requested = _utc(facts.update_requested_at).date()
        candidates.append(_business_days_on(requested, 1, holidays))
    next_due = min(candidates, default=None)
    return StoredCadence(
        next_update_due=next_due,
        due_from=_on_or_before(next_due - timedelta(days=1), holidays) if next_due else None,
        ghosted_on=(
            _business_days_on(anchor, 2 * facts.cadence_days + 1, holidays) if clock_runs else None
        ),
        silent_since=_on_or_before(anchor, holidays),
    )


def stored_values(application: Application) -> StoredCadence:
    """What the application stores now, as read from the object."""
    return StoredCadence(*(getattr(application, name) for name in STORED_COLUMNS))


# --- Keeping the stored dates true on every write ------------------------------------------------


def _facts_changed(application: Application) -> bool:
    state = inspect(application)
    if state.pending:
        return True
    return any(state.attrs[name].history.has_changes() for name in FACT_COLUMNS)


def _cadence_changed(requisition: Requisition) -> bool:
    return inspect(requisition).attrs.cadence_business_days.history.has_changes()


def _requisition_cadences(session: Session, applications: list[Application]) -> dict[int, int]:
    """Requisition cadence overrides (0 for none) by id, loading those not in the session."""
    wanted = {a.requisition_id for a in applications if a.__dict__.get("requisition") is None}
    known = {
        obj.id: obj.cadence_business_days
        for obj in session.identity_map.values()
        if isinstance(obj, Requisition) and obj.id in wanted
    }
    missing = wanted - set(known)
    if missing:
        rows = session.execute(
            select(Requisition.id, Requisition.cadence_business_days).where(
                Requisition.id.in_(missing)
            )
        )
        known.update(dict(rows.all()))
    return {key: value or 0 for key, value in known.items()}


def _apply_to_changed(session: Session, applications: list[Application]) -> None:
    settings = effective_settings()
    overrides = _requisition_cadences(session, applications)
    for application in applications:
        # Column defaults arrive only with the INSERT: a new row takes them now.
        if application.opened_at is None:
            application.opened_at = utcnow()
        if application.stage is None:
            application.stage = Stage.INTERVIEWING.value
        if application.__dict__.get("requisition") is not None:
            override = application.requisition.cadence_business_days
        else:
            override = overrides.get(application.requisition_id)
        facts = CadenceFacts(
            *(getattr(application, name) for name in FACT_COLUMNS),
            cadence_days=override or settings.cadence_business_days,
        )
        computed = compute_stored_cadence(facts, settings.holidays)
        if computed != stored_values(application):
            for name, value in zip(STORED_COLUMNS, astuple(computed), strict=True):
                setattr(application, name, value)


#: Session.info key: the requisitions whose applications to recompute after the flush (None: all).
_PENDING = "hiretrack_cadence_recompute"


@event.listens_for(Session, "before_flush")
def _keep_stored_cadence(session: Session, _flush_context, _instances) -> None:
    """Recompute the stored dates of the applications this flush changes.

    A saved cadence or holiday setting, or a requisition's own cadence, changes many rows:
    those are rewritten in bulk once the flush has written the setting.
    """
    changed = [*session.new, *session.dirty]
    settings_changed = any(
        isinstance(obj, OrganisationSettings)
        and (
            inspect(obj).pending
            or any(
                inspect(obj).attrs[name].history.has_changes()
                for name in ("cadence_business_days", "holidays")
            )
        )
        for obj in changed
    )
    if settings_changed:
        session.info[_PENDING] = None
        return
    requisition_ids = {
        obj.id
        for obj in session.dirty
        if isinstance(obj, Requisition) and obj.id is not None and _cadence_changed(obj)
    }
    if requisition_ids and session.info.get(_PENDING, set()) is not None:
        session.info[_PENDING] = session.info.get(_PENDING, set()) | requisition_ids
    applications = [obj for obj in changed if isinstance(obj, Application) and _facts_changed(obj)]
    with session.no_autoflush:
        if applications:
            _apply_to_changed(session, applications)
        _count_in_tally(session)


def _committed(application: Application, column: str) -> date | None:
    """The value a deleted application's column has in the database."""
    history = inspect(application).attrs[column].history
    if history.deleted or history.unchanged:
        return (history.deleted or history.unchanged)[0]
    return getattr(application, column)


def _count_in_tally(session: Session) -> None:
    """Count what this flush does to the stored dates in the cadence tally, before it runs.

    The tallied columns load their old value when set (`active_history`), so a change's
    history always holds the value the database has.
    """
    changes: tally.Changes = Counter()
    for obj in (*session.new, *session.dirty):
        if not isinstance(obj, Application):
            continue
        state = inspect(obj)
        before, after = {}, {}
        for column in tally.TALLIED_COLUMNS:
            history = state.attrs[column].history
            if history.has_changes():
                before[column] = history.deleted[0] if history.deleted else None
                after[column] = history.added[0] if history.added else None
        tally.count_change(changes, before, after)
    for obj in session.deleted:
        if isinstance(obj, Application):
            before = {column: _committed(obj, column) for column in tally.TALLIED_COLUMNS}
            tally.count_change(changes, before, {})
    tally.apply_changes(session.connection(), changes)


@event.listens_for(Session, "after_flush_postexec")
def _recompute_after_setting(session: Session, _flush_context) -> None:
    if _PENDING not in session.info:
        return
    requisition_ids = session.info.pop(_PENDING)
    forget("effective_settings")
    with session.no_autoflush:
        recompute_stored_cadence(session, requisition_ids)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Application):
            session.expire(obj, list(STORED_COLUMNS))


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


# --- Rewriting many at once ----------------------------------------------------------------------


def _fact_rows(session: Session, requisition_ids: Iterable[int] | None):
    query = (
        select(
            Application.id,
            *(getattr(Application, name) for name in FACT_COLUMNS),
            Requisition.cadence_business_days,
            *(getattr(Application, name) for name in STORED_COLUMNS),
        )
        .join(Requisition, Requisition.id == Application.requisition_id)
        .where(Application.closed_at.is_(None))
        .order_by(Application.id)
    )
    if requisition_ids is not None:
        query = query.where(Application.requisition_id.in_(list(requisition_ids)))
    return session.execute(query).all()


_REWRITE = (
    update(Application.__table__)
    .where(Application.__table__.c.id == bindparam("row_id"))
    .values({name: bindparam(f"new_{name}") for name in STORED_COLUMNS})
)


def write_stored(session: Session, changes: dict[int, StoredCadence]) -> None:
    """Write computed dates to their rows, one executemany statement per chunk.

    A derived value, not an edit: the version counter is left alone, as for `was_ghosted`.
    """
    rows = [
        {"row_id": row_id, **{f"new_{n}": getattr(values, n) for n in STORED_COLUMNS}}
        for row_id, values in changes.items()
    ]
    for start in range(0, len(rows), RECOMPUTE_CHUNK):
        session.connection().execute(_REWRITE, rows[start : start + RECOMPUTE_CHUNK])


def open_application_count(session: Session) -> int:
    """How many applications `recompute_stored_cadence` checks (for a progress bar)."""
    return session.scalar(
        select(func.count()).select_from(Application).where(Application.closed_at.is_(None))
    )


def recompute_stored_cadence(
    session: Session,
    requisition_ids: Iterable[int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """Recompute the stored dates of open applications (all, or those of some requisitions).

    Returns (applications checked, rows rewritten); only rows whose dates differ are written.
    `progress` is called with the number of applications checked since its last call.
    """
    settings = effective_settings()
    rows = _fact_rows(session, requisition_ids)
    changes: dict[int, StoredCadence] = {}
    width = len(FACT_COLUMNS)
    for number, row in enumerate(rows, start=1):
        facts = CadenceFacts(
            *row[1 : 1 + width],
            cadence_days=row[1 + width] or settings.cadence_business_days,
        )
        computed = compute_stored_cadence(facts, settings.holidays)
        if astuple(computed) != tuple(row[2 + width :]):
            changes[row[0]] = computed
        if progress is not None and number % RECOMPUTE_CHUNK == 0:
            progress(RECOMPUTE_CHUNK)
    if progress is not None and len(rows) % RECOMPUTE_CHUNK:
        progress(len(rows) % RECOMPUTE_CHUNK)
    write_stored(session, changes)
    if requisition_ids is None:
        tally.rebuild(session.connection())
    else:
        before = {row[0]: StoredCadence(*row[2 + width :]) for row in rows if row[0] in changes}
        counted: tally.Changes = Counter()
        for row_id, computed in changes.items():
            tally.count_change(counted, asdict(before[row_id]), asdict(computed))
        tally.apply_changes(session.connection(), counted)
    return len(rows), len(changes)
