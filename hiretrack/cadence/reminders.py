"""The daily reminders run: broken promises, ghosting, digests for managers and hold owners,
and automatic check-ins. Safe to start every hour from cron on several hosts at once.

Idempotency rests on ReminderDigest's unique (recipient_user_id, kind, sent_on): a run inserts
that row before it sends, in the same transaction as what it sends, so a second run (or a second
host) on the same day hits the constraint and sends nothing. See docs/cadence.md.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import partial

from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError

from hiretrack.admin.services import effective_settings
from hiretrack.auth.models import User
from hiretrack.cadence.business_calendar import ensure_calendar
from hiretrack.cadence.models import ReminderDigest
from hiretrack.cadence.queries import CADENCE_LABELS, CadenceStatus, as_date, cadence_query
from hiretrack.cadence.upkeep import count_broken_promises, count_newly_ghosted, prepare_run
from hiretrack.candidates.models import Application, Candidate
from hiretrack.candidates.stages import LABELS, PROMISED_STAGES, Stage
from hiretrack.database import retry_when_ended_for_another, utcnow
from hiretrack.errors import DomainError
from hiretrack.extensions import db
from hiretrack.formatting import local_date
from hiretrack.holds.models import Hold
from hiretrack.holds.queries import stranded_count
from hiretrack.messages.drafts import drafts_waiting_by_manager
from hiretrack.messages.models import Draft, DraftStatus, OutboxEmail, OutboxStatus
from hiretrack.messages.outbox import queue_staff_email
from hiretrack.messages.rendering import TemplateError
from hiretrack.messages.services import choose_template, send_message
from hiretrack.requisitions.models import CLOSED_REQUISITION_STATUSES, Requisition
from hiretrack.urls import external_url


class DigestKind:
    """The kinds of ReminderDigest rows: one of each per recipient and day at most."""

    MANAGER = "manager_digest"
    HOLD_OWNER = "hold_owner_digest"
    AUTO_CHECK_IN = "auto_check_in"


#: How each kind of reminder is named in `hiretrack reminders run --dry-run`.
DIGEST_KIND_LABELS = {
    DigestKind.MANAGER: "manager digest",
    DigestKind.HOLD_OWNER: "hold owner digest",
    DigestKind.AUTO_CHECK_IN: "auto check-in",
}


NEEDS_ATTENTION = (CadenceStatus.GHOSTED, CadenceStatus.OVERDUE, CadenceStatus.DUE)
#: Stages where "no decision yet, nothing has changed" is true, so a check-in may go unattended.
AUTO_CHECK_IN_STAGES = frozenset({Stage.FINAL_ROUND, Stage.VERBAL_INTENT})
IN_FLIGHT = (OutboxStatus.SCHEDULED, OutboxStatus.QUEUED, OutboxStatus.SENDING)


@dataclass(frozen=True)
class WaitingCandidate:
    """One due, overdue or ghosted application, as a line of a manager's digest."""

    application_id: int
    candidate_id: int
    candidate_name: str
    requisition_title: str
    stage: str
    status: CadenceStatus
    next_update_due: date | None
    business_days_silent: int
    update_in_flight: bool

    @property
    def status_label(self) -> str:
        return CADENCE_LABELS[self.status]

    @property
    def stage_label(self) -> str:
        return LABELS[Stage(self.stage)]


@dataclass(frozen=True)
class OverdueHold:
    """An open hold past its expected clear date, with the candidates it strands."""

    hold_id: int
    summary: str
    requisition_title: str
    manager_id: int
    owner_id: int | None
    owner_label: str
    expected_clear_date: date
    days_overdue: int
    stranded: int
    stranded_after_verbal_intent: int


@dataclass
class Digest:
    """One digest email to plan or send: a manager's worklist or a hold owner's overdue holds."""

    kind: str
    recipient: User
    candidates: list[WaitingCandidate] = field(default_factory=list)
    holds: list[OverdueHold] = field(default_factory=list)
    already_sent: bool = False
    drafts: int = 0  # drafts waiting for the manager's review: a line in a digest that goes anyway

    def summary(self) -> str:
        """A one-line description for the dry-run table and the logs."""
        parts = []
        for status in NEEDS_ATTENTION:
            count = sum(1 for c in self.candidates if c.status == status)
            if count:
                parts.append(f"{count} {CADENCE_LABELS[status].lower()}")
        if self.holds:
            stranded = sum(h.stranded for h in self.holds)
            parts.append(f"{_plural(len(self.holds), 'overdue hold')} stranding {stranded}")
        return ", ".join(parts)


@dataclass(frozen=True)
class CheckIn:
    """An automatic "still waiting" email to send for a manager on an auto check-in requisition."""

    application_id: int
    candidate_name: str
    manager: User
    status: CadenceStatus


@dataclass
class ReminderPlan:
    """Everything one run would do on a day, computed before anything is written."""

    today: date
    digests: list[Digest]
    check_ins: list[CheckIn]
    check_ins_already_sent_for: set[int]
    broken_promises: int
    newly_ghosted: int

    @property
    def work_units(self) -> int:
        return len(self.digests) + len(self.check_ins)

    def check_ins_by_manager(self) -> dict[int, list[CheckIn]]:
        """Group check-ins so each manager's batch is claimed once a day."""
        groups: dict[int, list[CheckIn]] = {}
        for check_in in self.check_ins:
            groups.setdefault(check_in.manager.id, []).append(check_in)
        return groups


@dataclass
class ReminderReport:
    """What a run did, for the command's summary line."""

    broken_promises: int = 0
    newly_ghosted: int = 0
    digests_sent: int = 0
    digests_skipped: int = 0
    check_ins_sent: int = 0
    check_ins_skipped: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self, today: date) -> str:
        """One line for a person or a cron mail."""
        line = (
            f"Reminders for {today.isoformat()}: {_plural(self.digests_sent, 'digest')} queued, "
            f"{self.digests_skipped} already sent today; "
            f"{_plural(self.check_ins_sent, 'automatic check-in')} queued"
            + (f", {self.check_ins_skipped} already done today" if self.check_ins_skipped else "")
            + f"; {_plural(self.broken_promises, 'broken promise')} recorded; "
            f"{self.newly_ghosted} newly ghosted."
        )
        if self.problems:
            line += " Problems: " + "; ".join(self.problems)
        return line


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


# --- What is waiting, per person ----------------------------------------------------------------


def _update_in_flight():
    """SQL condition: an email to the candidate is scheduled, queued or being sent."""
    return exists().where(
        OutboxEmail.application_id == Application.id, OutboxEmail.status.in_(IN_FLIGHT)
    )


def waiting_candidates(today: date) -> dict[int, list[WaitingCandidate]]:
    """Due, overdue and ghosted applications per manager id, most urgent first, in one query."""
    query, columns = cadence_query(today)
    rows = db.session.execute(
        query.join(Candidate, Candidate.id == Application.candidate_id)
        .with_only_columns(
            Requisition.manager_id,
            Application.id,
            Candidate.id,
            Candidate.name,
            Requisition.title,
            Application.stage,
            columns.status,
            columns.next_update_due,
            columns.business_days_silent,
            _update_in_flight(),
        )
        .where(columns.status.in_([status.value for status in NEEDS_ATTENTION]))
        .order_by(columns.urgency, columns.next_update_due, Application.id)
    )
    result: dict[int, list[WaitingCandidate]] = {}
    for manager_id, *values in rows:
        (app_id, cand_id, name, title, stage, status, due, silent, in_flight) = values
        result.setdefault(manager_id, []).append(
            WaitingCandidate(
                app_id,
                cand_id,
                name,
                title,
                stage,
                CadenceStatus(status),
                as_date(due),
                int(silent or 0),
                bool(in_flight),
            )
        )
    return result


def overdue_holds(today: date) -> list[OverdueHold]:
    """Open holds past their expected clear date, oldest promise first, in one query."""
    rows = db.session.execute(
        select(
            Hold.id,
            Hold.summary,
            Requisition.title,
            Requisition.manager_id,
            Hold.owner_id,
            func.coalesce(User.name, Hold.owner_name, "unassigned").label("owner_label"),
            Hold.expected_clear_date,
            stranded_count().label("stranded"),
            stranded_count(PROMISED_STAGES).label("promised"),
        )
        .join(Requisition, Requisition.id == Hold.requisition_id)
        .outerjoin(User, User.id == Hold.owner_id)
        .where(Hold.resolved_at.is_(None), Hold.expected_clear_date < today)
        .order_by(Hold.expected_clear_date, Hold.id)
    )
    return [
        OverdueHold(
            hold_id=row.id,
            summary=row.summary,
            requisition_title=row.title,
            manager_id=row.manager_id,
            owner_id=row.owner_id,
            owner_label=row.owner_label,
            expected_clear_date=as_date(row.expected_clear_date),
            days_overdue=(today - as_date(row.expected_clear_date)).days,
            stranded=int(row.stranded),
            stranded_after_verbal_intent=int(row.promised),
        )
        for row in rows
    ]


def check_in_candidates(today: date) -> list[tuple[int, str, int, CadenceStatus]]:
    """Applications to check in with automatically: (id, candidate name, manager id, status).

    Only where the requisition opted in, the candidate waits on a decision, nothing changed that
    a person must explain (no update requested, no unanswered question, no pending draft), and
    no email to them is already on its way.
    """
    query, columns = cadence_query(today)
    pending_draft = exists().where(
        Draft.application_id == Application.id, Draft.status == DraftStatus.PENDING
    )
    rows = db.session.execute(
        query.join(Candidate, Candidate.id == Application.candidate_id)
        .with_only_columns(Application.id, Candidate.name, Requisition.manager_id, columns.status)
        .where(
            Requisition.auto_check_in.is_(True),
            Requisition.status.not_in([s.value for s in CLOSED_REQUISITION_STATUSES]),
            Application.stage.in_([s.value for s in AUTO_CHECK_IN_STAGES]),
            columns.status.in_([status.value for status in NEEDS_ATTENTION]),
            Application.update_requested_at.is_(None),
            ~columns.awaiting_reply,
            Candidate.email.is_not(None),
            ~pending_draft,
            ~_update_in_flight(),
        )
        .order_by(Requisition.manager_id, Application.id)
    )
    return [(app_id, name, manager_id, CadenceStatus(s)) for app_id, name, manager_id, s in rows]


# --- Planning -----------------------------------------------------------------------------------


def _sent_today(today: date) -> set[tuple[int, str]]:
    rows = db.session.execute(
        select(ReminderDigest.recipient_user_id, ReminderDigest.kind).where(
            ReminderDigest.sent_on == today
        )
    )
    return {(user_id, kind) for user_id, kind in rows}


def _active_users(ids: set[int]) -> dict[int, User]:
    if not ids:
        return {}
    users = db.session.scalars(select(User).where(User.id.in_(ids), User.active.is_(True)))
    return {user.id: user for user in users}


def plan_digests(today: date) -> list[Digest]:
    """Each manager's and hold owner's digest for the day (active users with something to say)."""
    waiting = waiting_candidates(today)
    holds = overdue_holds(today)
    drafts = drafts_waiting_by_manager()
    owners = {hold.owner_id for hold in holds if hold.owner_id is not None}
    managers = set(waiting) | {hold.manager_id for hold in holds}
    users = _active_users(managers | owners)
    sent = _sent_today(today)
    digests = []
    for manager_id in sorted(managers & users.keys()):
        digests.append(
            Digest(
                DigestKind.MANAGER,
                users[manager_id],
                candidates=waiting.get(manager_id, []),
                holds=[hold for hold in holds if hold.manager_id == manager_id],
                already_sent=(manager_id, DigestKind.MANAGER) in sent,
                drafts=drafts.get(manager_id, 0),
            )
        )
    for owner_id in sorted(owners & users.keys()):
        digests.append(
            Digest(
                DigestKind.HOLD_OWNER,
                users[owner_id],
                holds=[hold for hold in holds if hold.owner_id == owner_id],
                already_sent=(owner_id, DigestKind.HOLD_OWNER) in sent,
            )
        )
    return digests


def plan_check_ins(today: date) -> tuple[list[CheckIn], set[int]]:
    """The automatic check-ins due today, and the managers whose batch already went today."""
    rows = check_in_candidates(today)
    users = _active_users({manager_id for _, _, manager_id, _ in rows})
    sent = _sent_today(today)
    done = {uid for uid in users if (uid, DigestKind.AUTO_CHECK_IN) in sent}
    check_ins = [
        CheckIn(app_id, name, users[manager_id], status)
        for app_id, name, manager_id, status in rows
        if manager_id in users
    ]
    return check_ins, done


def plan_reminders(today: date, *, count_updates: bool = True) -> ReminderPlan:
    """Work out what a run would do today, writing nothing (beyond the calendar cache)."""
    ensure_calendar(effective_settings().holidays, today)
    check_ins, done = plan_check_ins(today)
    return ReminderPlan(
        today=today,
        digests=plan_digests(today),
        check_ins=check_ins,
        check_ins_already_sent_for=done,
        broken_promises=count_broken_promises(today) if count_updates else 0,
        newly_ghosted=count_newly_ghosted(today) if count_updates else 0,
    )


# --- Sending ------------------------------------------------------------------------------------


def claim(recipient: User, kind: str, today: date) -> ReminderDigest | None:
    """Insert today's ReminderDigest row for this recipient and kind; None if one exists.

    Call with nothing else pending: on a clash the session is rolled back. On PostgreSQL a
    second host's insert waits for the first host's transaction and then fails, so the two can
    never both send.
    """
    digest = ReminderDigest(recipient_user_id=recipient.id, kind=kind, sent_on=today)
    db.session.add(digest)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return None
    return digest


def _digest_subject(digest: Digest) -> str:
    if digest.kind == DigestKind.HOLD_OWNER:
        return (
            f"HireTrack: {_plural(len(digest.holds), 'hold')} you own "
            f"{'is' if len(digest.holds) == 1 else 'are'} past the expected clear date"
        )
    parts = []
    if digest.candidates:
        parts.append(f"{_plural(len(digest.candidates), 'candidate')} waiting on an update")
    if digest.holds:
        parts.append(_plural(len(digest.holds), "overdue hold"))
    return "HireTrack: " + " and ".join(parts)


def digest_context(digest: Digest, today: date, checked_in: set[int]) -> dict:
    """What a digest's page templates see, with absolute links into HireTrack."""
    return {
        "digest": digest,
        "recipient": digest.recipient,
        "today": local_date(today),
        "local_date": local_date,
        "candidate_url": partial(external_url, "candidates.detail"),
        "holds_url": external_url("reports.holds"),
        "drafts_url": external_url("messages.drafts"),
        "checked_in": checked_in,
        "company": effective_settings().company_name,
    }


def send_digest(digest: Digest, today: date, checked_in: set[int]) -> bool:
    """Claim and queue one digest in one transaction; False if it already went today.

    Run again from scratch if PostgreSQL ends the transaction for a concurrent writer.
    """
    return retry_when_ended_for_another(
        partial(_send_digest, digest, today, checked_in), db.session, what="Sending a digest"
    )


def _send_digest(digest: Digest, today: date, checked_in: set[int]) -> bool:
    """One run of `send_digest`: claim, queue and commit."""
    claimed = claim(digest.recipient, digest.kind, today)
    if claimed is None:
        return False
    name = "manager_digest" if digest.kind == DigestKind.MANAGER else "hold_owner_digest"
    outbox = queue_staff_email(
        digest.recipient,
        subject=_digest_subject(digest),
        template=f"cadence/{name}",
        context=digest_context(digest, today, checked_in),
    )
    claimed.outbox_email_id = outbox.id
    db.session.commit()
    return True


def send_check_ins(manager: User, check_ins: list[CheckIn], today: date) -> tuple[set[int], list]:
    """Send a manager's automatic check-ins once a day; return the ids sent and any problems.

    The day's claim commits first and each email commits on its own, so one candidate's problem
    (say, a template a recruiter just broke) never holds back the others, and a crash part-way
    leaves the rest for tomorrow rather than risking a second copy today. Each of these
    transactions runs again from scratch if PostgreSQL ends it for a concurrent writer.
    """
    if not retry_when_ended_for_another(
        partial(_claim_check_ins, manager, today), db.session, what="Claiming check-ins"
    ):
        return set(), []
    sent, problems = set(), []
    for check_in in check_ins:
        try:
            retry_when_ended_for_another(
                partial(_send_check_in, manager, check_in.application_id),
                db.session,
                what="Sending a check-in",
            )
        except (DomainError, TemplateError) as error:
            db.session.rollback()
            message = getattr(error, "message", None) or str(error)
            problems.append(f"check-in to {check_in.candidate_name}: {message}")
            continue
        sent.add(check_in.application_id)
    return sent, problems


def _claim_check_ins(manager: User, today: date) -> bool:
    """Commit today's check-in claim for this manager; False if another run has it."""
    if claim(manager, DigestKind.AUTO_CHECK_IN, today) is None:
        return False
    db.session.commit()
    return True


def _send_check_in(manager: User, application_id: int) -> None:
    """One check-in in its own transaction, the application read afresh."""
    application = db.session.get(Application, application_id)
    send_message(manager, application, choose_template(manager, "check_in"))
    db.session.commit()


def execute_plan(
    plan: ReminderPlan, advance: Callable[[int], None] | None = None
) -> ReminderReport:
    """Send a plan's check-ins, then its digests (which say which check-ins went)."""
    advance = advance or (lambda _: None)
    report = ReminderReport()
    checked_in: set[int] = set()
    for check_ins in plan.check_ins_by_manager().values():
        sent, problems = send_check_ins(check_ins[0].manager, check_ins, plan.today)
        if not sent and not problems:
            report.check_ins_skipped += len(check_ins)
        checked_in |= sent
        report.check_ins_sent += len(sent)
        report.problems += problems
        advance(len(check_ins))
    for digest in plan.digests:
        if send_digest(digest, plan.today, checked_in):
            report.digests_sent += 1
        else:
            report.digests_skipped += 1
        advance(1)
    return report


def run_reminders(
    today: date | None = None, advance: Callable[[int], None] | None = None
) -> ReminderReport:
    """Do the whole daily run: promises, ghosting, check-ins, digests; repeat-safe all day."""
    today = today or utcnow().date()
    broken, ghosted = prepare_run(today)
    report = execute_plan(plan_reminders(today, count_updates=False), advance)
    report.broken_promises, report.newly_ghosted = broken, ghosted
    return report
