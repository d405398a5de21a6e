"""The retention run: anonymise candidates whose every application closed long enough ago.

Safe to run from cron as often as you like: it only picks candidates not yet anonymised, commits
one candidate at a time (a stopped run keeps what it finished, the next run carries on), and
skips, without failing the run, a candidate whose anonymisation is refused for now (an email to
them being sent at that moment).
"""

import calendar
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from sqlalchemy import and_, exists, not_, or_, select
from sqlalchemy.orm.exc import StaleDataError

from hiretrack.api.limits_storage import purge_expired
from hiretrack.auth.throttle import purge_stale
from hiretrack.candidates.models import Application, Candidate
from hiretrack.candidates.privacy import anonymise_candidate, erase_leftovers
from hiretrack.database import utcnow
from hiretrack.errors import DomainError
from hiretrack.extensions import db
from hiretrack.idempotency.services import purge_expired_keys
from hiretrack.inbound.privacy import erase_unlinked_before

RETENTION_ACTOR = "retention run"


def retention_months() -> int:
    """The configured retention period in months (HIRETRACK_RETENTION_MONTHS), at least 1."""
    raw = current_app.config.get("RETENTION_MONTHS", 12)
    try:
        months = int(raw)
    except (TypeError, ValueError):
        raise ValueError(
            f"HIRETRACK_RETENTION_MONTHS must be a whole number, not {raw!r}."
        ) from None
    if months < 1:
        raise ValueError("HIRETRACK_RETENTION_MONTHS must be at least 1.")
    return months


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (the 31st becomes the month's end)."""
    month_index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(month_index, 12)
    month += 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def retention_cutoff(now: datetime | None = None, months: int | None = None) -> datetime:
    """Applications closed before this moment are past the retention period."""
    return months_before(now or utcnow(), months if months is not None else retention_months())


def due_for_anonymisation(cutoff: datetime):
    """Select the ids of candidates to anonymise: every application closed before cutoff.

    A candidate who never applied to anything is due once they were added before cutoff.
    """
    recent_or_open = exists().where(
        Application.candidate_id == Candidate.id,
        or_(Application.closed_at.is_(None), Application.closed_at >= cutoff),
    )
    any_application = exists().where(Application.candidate_id == Candidate.id)
    return (
        select(Candidate.id)
        .where(
            Candidate.anonymised_at.is_(None),
            not_(recent_or_open),
            or_(any_application, and_(not_(any_application), Candidate.created_at < cutoff)),
        )
        .order_by(Candidate.id)
    )


@dataclass
class RetentionReport:
    """What a run did (or, in a dry run, would do)."""

    cutoff: datetime
    dry_run: bool
    due: list[tuple[int, str]] = field(default_factory=list)  # (id, name) in a dry run
    anonymised: list[int] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (id, why)
    throttle_counters_purged: int = 0
    inbound_mail_erased: int = 0
    rate_limit_counters_purged: int = 0
    idempotency_keys_purged: int = 0
    leftovers_erased: bool = True  # SQLite's WAL checkpointed / PostgreSQL vacuumed


def run_retention(
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> RetentionReport:
    """Anonymise every candidate past the retention period, committing one at a time."""
    cutoff = retention_cutoff(now)
    ids = list(db.session.scalars(due_for_anonymisation(cutoff)))
    report = RetentionReport(cutoff=cutoff, dry_run=dry_run)
    if dry_run:
        if ids:
            report.due = [
                (candidate_id, name)
                for candidate_id, name in db.session.execute(
                    select(Candidate.id, Candidate.name)
                    .where(Candidate.id.in_(ids))
                    .order_by(Candidate.id)
                )
            ]
        return report
    for candidate_id in ids:
        # Checked again: someone may have applied them to a new requisition since the list.
        still_due = db.session.scalar(
            due_for_anonymisation(cutoff).where(Candidate.id == candidate_id)
        )
        try:
            if still_due is not None:
                candidate = db.session.get(Candidate, candidate_id)
                anonymise_candidate(None, candidate, "retention", actor_label=RETENTION_ACTOR)
                db.session.commit()
                report.anonymised.append(candidate_id)
        except DomainError as error:
            db.session.rollback()
            report.skipped.append((candidate_id, error.message))
        except StaleDataError:
            db.session.rollback()
            report.skipped.append((candidate_id, "changed by someone else during the run"))
        if progress is not None:
            progress(1)
    # Login, status-page and API counters name IP addresses, emails and token hashes: keep them
    # no longer than the limits need them.
    report.throttle_counters_purged = purge_stale(now)
    report.rate_limit_counters_purged = purge_expired(now)
    report.idempotency_keys_purged = purge_expired_keys(now)
    # Unmatched and discarded mail belongs to no candidate's record, so no anonymisation
    # reaches it: it is cleared on the same schedule.
    report.inbound_mail_erased = erase_unlinked_before(cutoff)
    db.session.commit()
    report.leftovers_erased = erase_leftovers(vacuum=True)
    return report
