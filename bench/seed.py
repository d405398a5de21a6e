"""Fill a database with a large, believable HireTrack company for the benchmarks.

    python bench/seed.py --applications 100000 [--database-url URL] [--reset]

For N applications: about 0.62 N candidates, 10 N touchpoints, N / 50 requisitions, N / 200 users
(managers, approvers, recruiters, admins), open holds (some past their expected clear date),
resolved holds, approval chains, offers, stage history, an outbox (sent, failed, unconfirmed and
queued mail), closed applications each with its closure touchpoint, and update feedback.

The rows are written with bulk statements: one executemany per chunk on SQLite (WAL, synchronous
off for the load), COPY on PostgreSQL. The application's denormalised contact columns
(last_contact_at, last_inbound_at, promised_next_update, update_requested_at) are computed from
the very touchpoints written, by the rules of `hiretrack.candidates.services.apply_contact`, and
broken promises and ghosted applications are recorded as yesterday's reminders run would have.
The logins run.py uses are written to bench/credentials.json (gitignored).
"""

import argparse
import random
import secrets
import sys
import time as timer
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from itertools import accumulate
from typing import Any

import click
from benchlib import (
    BENCH_PASSWORD,
    bench_app,
    database_url,
    dialect_of,
    save_credentials,
    sqlalchemy_url,
    sqlite_path,
)

from hiretrack.demo.seed import FIRST_NAMES, LAST_NAMES  # the bench's people extend the demo's

DAY = 86_400
HISTORY_DAYS = 800  # how far back the company's records go
FUTURE_DAYS = 400  # promised dates and expected clear dates lie ahead of today
OUTBOX_DAYS = 14  # outbox rows are kept for the mail of the last 14 days
CHUNK_APPLICATIONS = 4_000  # applications (with their touchpoints and mail) per write

DEPARTMENTS = [
    "Engineering",
    "Data",
    "Product",
    "Design",
    "Sales",
    "Marketing",
    "Customer Success",
    "Finance",
    "People",
    "Legal",
    "Operations",
    "Security",
    "Infrastructure",
    "Research",
    "Support",
    "Procurement",
    "Facilities",
    "Communications",
    "Partnerships",
    "Quality",
]
TITLES = [
    "Backend Engineer",
    "Frontend Engineer",
    "Data Engineer",
    "Data Scientist",
    "Product Manager",
    "Product Designer",
    "Account Executive",
    "Sales Development Representative",
    "Marketing Manager",
    "Content Strategist",
    "Customer Success Manager",
    "Financial Analyst",
    "Accountant",
    "HR Business Partner",
    "Recruiter",
    "Legal Counsel",
    "Operations Analyst",
    "Security Engineer",
    "Site Reliability Engineer",
    "Research Scientist",
    "Support Specialist",
    "Buyer",
    "Office Manager",
    "Communications Lead",
    "Partner Manager",
    "QA Engineer",
    "Engineering Manager",
    "Mobile Engineer",
    "Platform Engineer",
    "Technical Writer",
]
LEVELS = ["", "Senior ", "Staff ", "Junior ", "Lead ", "Principal "]
FIRST = [
    *FIRST_NAMES,
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Ken",
    "Radia",
    "Margaret",
    "Tim",
]
LAST = [
    *LAST_NAMES,
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Thompson",
    "Perlman",
    "Hamilton",
    "Berners-Lee",
    "Svensson",
    "Dubois",
    "Papadopoulos",
    "Kaur",
    "Mensah",
    "Silva",
    "Jensen",
    "Horvat",
    "Yilmaz",
]
HOLD_REASONS = [
    ("budget", "Budget sign-off pending at head office", "a budget review"),
    ("freeze", "Hiring freeze announced for the quarter", "a company-wide hiring pause"),
    ("headcount", "Headcount not yet confirmed in the plan", "confirmation of the team's plan"),
    ("reorg", "Team re-organisation under way", "a change in how the team is organised"),
    ("compensation", "Salary band above the approved range", "a review of the offer terms"),
]
APPLICATION_HOLD_REASONS = [
    ("visa", "Visa sponsorship being checked", "a visa check"),
    ("background_check", "Background check still running", "a background check"),
]
OPEN_STAGES = [
    ("interviewing", 35),
    ("final_round", 30),
    ("verbal_intent", 15),
    ("offer_approved", 7),
    ("offer_extended", 8),
    ("accepted", 5),
]
OFFER_STAGES = {"offer_approved", "offer_extended", "accepted", "hired"}
CATEGORY_BY_OUTCOME = {
    "not_selected": "closure_not_selected",
    "withdrawn": "closure_withdrawn",
    "position_cancelled": "closure_cancelled",
}
BODY = (
    "Dear {first},\n\nHere is where your application for the {title} role stands: {news} "
    "I would rather tell you that plainly than leave you wondering.\n\nI will write again by "
    "{promise}, whether or not there is news. Your status page is always current:\n"
    "https://hiretrack.bench/status/{token}\n\nIf anything changes on your side, just reply to "
    "this email.\n\nKind regards,\n{manager}\nAcme Widgets\n"
)


@dataclass
class Requisition:
    id: int
    manager_id: int
    department_id: int
    status: str
    created_day: int
    end_day: int  # closing day for filled/cancelled, today otherwise
    title: str
    application_ids: list[int] = field(default_factory=list)
    open_hold_since: int | None = None  # seconds: the oldest open requisition-level hold


@dataclass(slots=True)
class Application:
    id: int
    requisition: Requisition
    opened: int  # seconds since the base day
    candidate_id: int = 0
    stage: str = "interviewing"
    closed: int | None = None
    stage_entered: int = 0
    touchpoints: int = 10
    hold_since: int | None = None  # an open hold strands it since then


class Formats:
    """How one database wants timestamps, dates and flags written, precomputed for speed."""

    def __init__(self, dialect: str, base_day) -> None:
        suffix = ".000000" if dialect == "sqlite" else "+00"
        self.days = [
            (base_day + timedelta(days=d)).isoformat() for d in range(HISTORY_DAYS + FUTURE_DAYS)
        ]
        self.times = [
            f" {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}{suffix}" for s in range(DAY)
        ]

    def ts(self, seconds: int | None) -> str | None:
        if seconds is None:
            return None
        day, second = divmod(seconds, DAY)
        return self.days[day] + self.times[second]

    def day(self, number: int | None) -> str | None:
        return None if number is None else self.days[number]


class BulkWriter:
    """Write rows (tuples in column order) with executemany on SQLite and COPY on PostgreSQL."""

    def __init__(self, connection, dialect: str) -> None:
        self.connection, self.dialect = connection, dialect
        self.written: dict[str, int] = {}

    def write(self, table: str, columns: str, rows: list[tuple]) -> None:
        if not rows:
            return
        names = ", ".join(f'"{name}"' for name in columns.split())
        if self.dialect == "sqlite":
            marks = ", ".join("?" * len(columns.split()))
            self.connection.exec_driver_sql(
                f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows
            )
        else:
            driver = self.connection.connection.driver_connection
            with (
                driver.cursor() as cursor,
                cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        self.written[table] = self.written.get(table, 0) + len(rows)


class Company:
    """Plans the company in memory (cheap), then streams its rows to the database."""

    def __init__(self, applications: int, seed: int, dialect: str) -> None:
        self.n = applications
        self.rng = random.Random(seed)
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.today = self.now.date()
        base_day = self.today - timedelta(days=HISTORY_DAYS)
        self.base = datetime.combine(base_day, clock_time(), UTC)
        self.now_s = int((self.now - self.base).total_seconds())
        self.today_day = HISTORY_DAYS
        self.fmt = Formats(dialect, base_day)
        self.dialect = dialect
        self.users: list[tuple] = []
        self.managers: list[int] = []
        self.approvers: list[int] = []
        self.recruiters: list[int] = []
        self.admins: list[int] = []
        self.requisitions: list[Requisition] = []
        self.applications: list[Application] = []
        self.holds: list[tuple] = []
        self.templates: dict[str, int] = {}
        self.ids: dict[str, int] = {}
        self.stranded_requests: list[tuple[int, int, int, int]] = []  # app, hold, when, manager

    def next_id(self, table: str) -> int:
        self.ids[table] = self.ids.get(table, 0) + 1
        return self.ids[table]

    def day_of(self, seconds: int) -> int:
        return seconds // DAY

    def person(self, number: int) -> tuple[str, str]:
        first = FIRST[number % len(FIRST)]
        last = LAST[(number // len(FIRST) + number * 7) % len(LAST)]
        return first, last

    # --- Planning ----------------------------------------------------------------------------

    def plan_users(self, password_hash: str) -> None:
        total = max(12, round(self.n / 200))
        counts = {
            "manager": round(total * 0.70),
            "approver": round(total * 0.20),
            "recruiter": round(total * 0.08),
        }
        counts["admin"] = max(1, total - sum(counts.values()))
        created = self.fmt.ts(0)
        for role, count in counts.items():
            for _ in range(count):
                user_id = self.next_id("user")
                first, last = self.person(user_id * 13 + 5)
                email = f"{first.lower()}.{last.lower()}.{user_id}@acme.example"
                name = f"{first} {last}"
                if role == "approver":
                    name += " (Finance)" if user_id % 2 else " (Head office)"
                phone = f"+44 20 7946 {user_id % 10000:04d}"
                self.users.append(
                    (
                        user_id,
                        email,
                        name,
                        role,
                        phone,
                        password_hash,
                        True,
                        None,
                        secrets.token_urlsafe(32),
                        created,
                    )
                )
                {
                    "manager": self.managers,
                    "approver": self.approvers,
                    "recruiter": self.recruiters,
                    "admin": self.admins,
                }.get(role, []).append(user_id)

    def plan_requisitions(self) -> None:
        rng, today = self.rng, self.today_day
        count = max(5, round(self.n / 50))
        statuses = ["open", "on_hold", "pending_approval", "draft", "filled", "cancelled"]
        weights = list(accumulate([17, 5, 3, 2, 45, 28]))
        managers = self.managers
        for _ in range(count):
            status = statuses[bisect_left(weights, rng.random() * weights[-1])]
            if status in ("open", "on_hold"):
                created = today - rng.randint(10, 150)
                end = today
            elif status in ("filled", "cancelled"):
                created = rng.randint(0, today - 60)
                end = created + rng.randint(60, 240)
                if end >= today:
                    end = rng.randint(created + 30, today - 1)
            else:
                created = today - rng.randint(1, 30)
                end = today
            # Some managers hire far more than others.
            manager = managers[int(len(managers) * rng.random() ** 1.6)]
            title = rng.choice(LEVELS) + rng.choice(TITLES)
            self.requisitions.append(
                Requisition(
                    id=self.next_id("requisition"),
                    manager_id=manager,
                    department_id=rng.randint(1, len(DEPARTMENTS)),
                    status=status,
                    created_day=created,
                    end_day=end,
                    title=title,
                )
            )

    def plan_applications(self) -> None:
        rng, now_s = self.rng, self.now_s
        hiring = [
            r for r in self.requisitions if r.status in ("open", "on_hold", "filled", "cancelled")
        ]
        # Applications arrive at a steady rate: a requisition open longer collects more.
        cumulative = list(
            accumulate((r.end_day - r.created_day) * (0.5 + rng.random()) for r in hiring)
        )
        chosen = rng.choices(hiring, cum_weights=cumulative, k=self.n)
        planned = []
        for requisition in chosen:
            first = requisition.created_day * DAY
            last = requisition.end_day * DAY - (
                5 * DAY if requisition.end_day < self.today_day else 0
            )
            last = min(max(last, first + DAY), now_s - 3600)
            planned.append((rng.randint(first, last), requisition))
        planned.sort(key=lambda item: item[0])
        for opened, requisition in planned:
            application = Application(self.next_id("application"), requisition, opened)
            application.touchpoints = rng.randint(3, 17)
            requisition.application_ids.append(application.id)
            self.applications.append(application)
        for requisition in hiring:
            self.plan_outcomes(requisition)
        self.plan_candidates()

    def plan_outcomes(self, requisition: Requisition) -> None:
        """Stages and closing times: everyone on a closed requisition has an outcome."""
        rng, now_s = self.rng, self.now_s
        applications = [self.applications[i - 1] for i in requisition.application_ids]
        end = requisition.end_day * DAY + rng.randint(9 * 3600, 17 * 3600)
        hired = None
        if requisition.status == "filled" and applications:
            hired = rng.choice(applications)
        for application in applications:
            if application is hired:
                application.stage, application.closed = "hired", end
            elif requisition.status in ("filled", "cancelled"):
                if requisition.status == "cancelled" and rng.random() < 0.5:
                    application.stage, application.closed = "position_cancelled", end
                else:
                    application.stage = self.closed_outcome()
                    application.closed = rng.randint(
                        min(application.opened + DAY, end - 1), end - 1
                    )
            else:
                # Most candidacies end two to eight weeks after they start; the recent ones
                # are still open.
                duration = rng.randint(5, 60) * DAY + rng.randint(0, DAY)
                if rng.random() < 0.2 or application.opened + duration > now_s - 600:
                    application.stage = self.open_stage()
                else:
                    application.stage = self.closed_outcome()
                    application.closed = application.opened + duration
            if application.closed is not None:
                application.stage_entered = application.closed
            else:
                age = now_s - application.opened
                application.stage_entered = application.opened + int(age * rng.random() * 0.8)

    def closed_outcome(self) -> str:
        draw = self.rng.random()
        return "not_selected" if draw < 0.76 else "withdrawn" if draw < 0.95 else "offer_declined"

    def open_stage(self) -> str:
        draw, total = self.rng.random() * 100, 0
        for stage, weight in OPEN_STAGES:
            total += weight
            if draw < total:
                return stage
        return "interviewing"

    def plan_candidates(self) -> None:
        """About 0.62 candidates per application: some people apply to several roles."""
        rng = self.rng
        people = max(1, round(self.n * 0.62))
        pairs: set[tuple[int, int]] = set()
        for index, application in enumerate(self.applications):
            if index < people:
                candidate = index + 1
            else:
                candidate = rng.randint(1, people)
                while (candidate, application.requisition.id) in pairs:
                    candidate = rng.randint(1, people)
            pairs.add((candidate, application.requisition.id))
            application.candidate_id = candidate
        self.ids["candidate"] = people

    def plan_holds(self) -> None:
        """Open holds on held requisitions (many past their date), single-candidate holds,
        and the resolved holds of the past."""
        rng, today, now_s = self.rng, self.today_day, self.now_s
        approvers = self.approvers
        ts, day = self.fmt.ts, self.fmt.day

        def add(requisition, application_id, reason, opened, expected, resolved, outcome):
            code, summary, public = reason
            owner = rng.choice(approvers) if rng.random() < 0.8 else None
            hold_id = self.next_id("hold")
            self.holds.append(
                (
                    hold_id,
                    requisition.id,
                    application_id,
                    code,
                    summary,
                    "Raised with the budget owner; chasing weekly.",
                    public,
                    owner,
                    None if owner else "Head office",
                    ts(opened),
                    day(expected),
                    ts(resolved),
                    outcome,
                    "" if resolved is None else "Resolved after review.",
                    requisition.manager_id,
                    1,
                )
            )
            return hold_id

        for requisition in self.requisitions:
            if requisition.status == "on_hold" or (
                requisition.status == "open" and rng.random() < 0.03
            ):
                opened_day = today - rng.randint(2, min(60, today - requisition.created_day))
                opened = opened_day * DAY + rng.randint(9 * 3600, 17 * 3600)
                # About 40% are past the date they were "expected to clear" by.
                if rng.random() < 0.4:
                    expected = rng.randint(opened_day + 1, today - 1)
                else:
                    expected = today + rng.randint(0, 20)
                add(requisition, None, rng.choice(HOLD_REASONS), opened, expected, None, None)
                requisition.open_hold_since = opened
            if requisition.status in ("filled", "cancelled", "open") and rng.random() < 0.2:
                start = requisition.created_day * DAY
                stop = max(start + DAY, requisition.end_day * DAY - 10 * DAY)
                opened = rng.randint(start, stop)
                resolved = min(opened + rng.randint(3, 40) * DAY, now_s - DAY)
                outcome = "cancelled" if requisition.status == "cancelled" else "cleared"
                expected = self.day_of(opened) + rng.randint(1, 14)
                add(
                    requisition, None, rng.choice(HOLD_REASONS), opened, expected, resolved, outcome
                )
        for application in self.applications:
            requisition = application.requisition
            if application.closed is None and requisition.open_hold_since is not None:
                application.hold_since = requisition.open_hold_since
            if application.closed is None and rng.random() < 0.004:
                opened = max(application.opened + DAY, now_s - rng.randint(2, 30) * DAY)
                opened = min(opened, now_s - 3600)
                expected = self.day_of(opened) + rng.randint(3, 25)
                reason = rng.choice(APPLICATION_HOLD_REASONS)
                add(requisition, application.id, reason, opened, expected, None, None)
                application.hold_since = min(application.hold_since or opened, opened)

    # --- Rows ---------------------------------------------------------------------------------

    def silence(self) -> int:
        """How long ago an open application last heard from us, in seconds."""
        rng = self.rng
        draw = rng.random()
        if draw < 0.55:
            days = rng.uniform(0, 4)
        elif draw < 0.75:
            days = rng.uniform(4, 7)
        elif draw < 0.9:
            days = rng.uniform(7, 15)
        else:
            days = rng.uniform(15, 45)
        return int(days * DAY)

    def write_people(self, writer: BulkWriter, names: dict[int, tuple[str, str]]) -> None:
        """Departments, users and requisitions, then candidates (named after their first role)."""
        ts = self.fmt.ts
        writer.write(
            "department",
            "id name created_at",
            [(i + 1, name, ts(0)) for i, name in enumerate(DEPARTMENTS)],
        )
        writer.write(
            "user",
            "id email name role phone password_hash active timezone session_token created_at",
            self.users,
        )
        rows = []
        for r in self.requisitions:
            closed = r.status in ("filled", "cancelled")
            low = self.rng.randrange(40_000, 110_000, 5_000)
            rows.append(
                (
                    r.id,
                    r.title,
                    r.department_id,
                    r.manager_id,
                    2 if r.id % 10 == 0 else 1,
                    low,
                    low + 20_000,
                    "EUR",
                    r.status,
                    (3 if r.id % 2 else 7) if r.id % 10 == 3 else None,
                    r.id % 5 == 0,
                    ts(r.created_day * DAY + 9 * 3600),
                    ts(r.end_day * DAY + 12 * 3600 if closed else self.now_s - (r.id % 9) * DAY),
                    ts(r.end_day * DAY + 12 * 3600) if closed else None,
                    1,
                )
            )
        writer.write(
            "requisition",
            "id title department_id manager_id headcount salary_min salary_max currency status "
            "cadence_business_days auto_check_in created_at updated_at closed_at version",
            rows,
        )
        first_application: dict[int, Application] = {}
        for application in self.applications:
            first_application.setdefault(application.candidate_id, application)
        rows = []
        for candidate_id in range(1, self.ids["candidate"] + 1):
            application = first_application.get(candidate_id)
            first, last = self.person(candidate_id * 31 + 7)
            names[candidate_id] = (first, f"{first} {last}")
            rows.append(
                (
                    candidate_id,
                    f"{first} {last}",
                    f"{first.lower()}.{last.lower()}.{candidate_id}@example.org",
                    f"+44 7700 {candidate_id % 1000000:06d}",
                    application.requisition.manager_id if application else None,
                    ts(application.opened if application else 0),
                    None,
                    1,
                )
            )
        writer.write(
            "candidate",
            "id name email phone created_by_id created_at anonymised_at version",
            rows,
        )

    def write_activity(
        self, writer: BulkWriter, names: dict[int, tuple[str, str]], advance
    ) -> None:
        """Applications with their touchpoints and outbox rows, a chunk at a time."""
        for start in range(0, len(self.applications), CHUNK_APPLICATIONS):
            chunk = self.applications[start : start + CHUNK_APPLICATIONS]
            applications, outbox, touchpoints = [], [], []
            for application in chunk:
                applications.append(self.activity(application, names, outbox, touchpoints))
            writer.write(
                "application",
                "id candidate_id requisition_id stage opened_at stage_entered_at "
                "last_interview_on closed_at last_contact_at last_inbound_at "
                "promised_next_update update_requested_at was_ghosted version",
                applications,
            )
            writer.write(
                "outbox_email",
                "id application_id template_id category to_address to_name from_address "
                "reply_to subject body_text body_html message_id status next_attempt_at "
                "attempts last_error claimed_at claimed_by sent_at created_at created_by_id",
                outbox,
            )
            writer.write(
                "touchpoint",
                "id application_id direction channel note promised_next_update is_closure "
                "outbox_email_id created_at occurred_at promise_broken_on created_by_id",
                touchpoints,
            )
            advance(len(chunk))

    def activity(
        self,
        application: Application,
        names: dict[int, tuple[str, str]],
        outbox: list[tuple],
        touchpoints: list[tuple],
    ) -> tuple:
        """One application's touchpoints and mail; returns its row with the contact columns."""
        rng, now_s, ts, day = self.rng, self.now_s, self.fmt.ts, self.fmt.day
        random_ = rng.random
        start = application.opened
        closed = application.closed
        manager = application.requisition.manager_id
        # (when, outbound, channel, is_closure, queued)
        events: list[tuple[int, bool, str, bool, bool]] = []
        if closed is not None:
            count = application.touchpoints - 1
            span = max(closed - start, 60)
            for _ in range(count):
                outbound = random_() < 0.7
                events.append(
                    (start + int(span * random_()), outbound, self.channel(outbound), False, False)
                )
            if application.stage != "hired":
                channel = "email" if random_() < 0.85 else "phone"
                events.append((closed, True, channel, True, False))
        else:
            last_out = max(start + 60, now_s - self.silence())
            events.append((last_out, True, "email" if random_() < 0.7 else "phone", False, False))
            span = max(last_out - start, 60)
            for _ in range(application.touchpoints - 1):
                outbound = random_() < 0.7
                events.append(
                    (start + int(span * random_()), outbound, self.channel(outbound), False, False)
                )
            if random_() < 0.12:  # a question we have not answered yet
                events.append(
                    (last_out + int((now_s - last_out) * random_()), False, "email", False, False)
                )
            if random_() < 0.015:  # an email waiting for the delivery worker
                events.append((now_s - rng.randint(60, 3600), True, "email", False, True))
        events.sort()
        first_name, full_name = names[application.candidate_id]
        title = application.requisition.title
        outbox_from = now_s - OUTBOX_DAYS * DAY
        rows = []
        for when, outbound, channel, is_closure, queued in events:
            touchpoint_id = self.next_id("touchpoint")
            promise = None
            if outbound and not is_closure and random_() < 0.65:
                promise = self.day_of(when) + rng.randint(3, 8)
            occurred: int | None = when
            outbox_id = None
            created = when
            if outbound and channel == "email":
                created = when - 30
                if queued or when >= outbox_from:
                    status = "queued" if queued else "sent"
                    if not queued:
                        draw = random_()
                        status = (
                            "failed" if draw < 0.01 else "unconfirmed" if draw < 0.013 else "sent"
                        )
                    if status != "sent":
                        occurred = None
                    outbox_id = self.next_id("outbox_email")
                    outbox.append(
                        self.mail(
                            outbox_id,
                            application,
                            first_name,
                            full_name,
                            title,
                            status,
                            created,
                            occurred,
                            promise,
                            is_closure,
                        )
                    )
            if outbound:
                note = (
                    f"Email: an update on your application for {title}"
                    if channel == "email"
                    else ("Called to let them know where things stand")
                )
            else:
                note = "Candidate asked for an update" if channel == "email" else "Candidate called"
            if is_closure and channel != "email":
                note = "Told them by phone that the role went to another candidate"
            rows.append(
                [
                    touchpoint_id,
                    outbound,
                    occurred,
                    promise,
                    channel,
                    note,
                    is_closure,
                    outbox_id,
                    created,
                ]
            )
        # Contact columns, by the rules of apply_contact, and the promises that were broken.
        last_contact = last_inbound = promised = None
        pending_promise = None  # (row, promised day) of the last outbound contact
        for row in rows:
            _, outbound, occurred, promise = row[:4]
            row.append(None)  # promise_broken_on
            if occurred is None:
                continue
            if not outbound:
                last_inbound = occurred
                continue
            if pending_promise is not None and self.day_of(occurred) > pending_promise[1]:
                self.break_promise(pending_promise)
            pending_promise = None
            if promise is not None:
                pending_promise = (row, promise)
            last_contact, promised = occurred, promise
        if pending_promise is not None:
            self.break_promise(pending_promise)
        for row in rows:
            (
                touchpoint_id,
                outbound,
                occurred,
                promise,
                channel,
                note,
                is_closure,
                outbox_id,
                created,
                broken,
            ) = row
            touchpoints.append(
                (
                    touchpoint_id,
                    application.id,
                    "outbound" if outbound else "inbound",
                    channel,
                    note,
                    day(promise),
                    is_closure,
                    outbox_id,
                    ts(created),
                    ts(occurred),
                    day(broken),
                    manager if outbound else None,
                )
            )
        requested = None
        if application.hold_since is not None and (
            last_contact is None or last_contact < application.hold_since
        ):
            requested = application.hold_since
        last_interview = self.day_of(start + int((application.stage_entered - start) * 0.7))
        return (
            application.id,
            application.candidate_id,
            application.requisition.id,
            application.stage,
            ts(start),
            ts(application.stage_entered),
            day(last_interview),
            ts(closed),
            ts(last_contact),
            ts(last_inbound),
            day(promised),
            ts(requested),
            closed is not None and random_() < 0.04,
            1,
        )

    def break_promise(self, pending: tuple[list, int]) -> None:
        """Record a promise the next contact did not keep, as the daily run does the day after.

        Yesterday's broken promises are left for today's run to find.
        """
        row, promised = pending
        if promised < self.today_day - 1:
            row[-1] = promised + 1

    def channel(self, outbound: bool) -> str:
        draw = self.rng.random()
        if outbound:
            return "email" if draw < 0.6 else "phone" if draw < 0.9 else "meeting"
        return "email" if draw < 0.75 else "phone"

    def mail(
        self,
        outbox_id: int,
        application: Application,
        first_name: str,
        full_name: str,
        title: str,
        status: str,
        created: int,
        sent: int | None,
        promise: int | None,
        is_closure: bool,
    ) -> tuple:
        ts = self.fmt.ts
        category = (
            CATEGORY_BY_OUTCOME.get(application.stage, "closure_not_selected")
            if is_closure
            else "check_in"
        )
        news = (
            "we have decided not to go further, and I am sorry to bring that news."
            if is_closure
            else "there is no decision yet."
        )
        text = BODY.format(
            first=first_name,
            title=title,
            news=news,
            promise=self.fmt.day(promise) or "the end of next week",
            token=f"{outbox_id:012x}",
            manager="Your hiring manager",
        )
        html = "<p>" + text.replace("\n\n", "</p><p>").replace("\n", "<br>") + "</p>"
        return (
            outbox_id,
            application.id,
            self.templates.get(category),
            category,
            f"{first_name.lower()}.{application.candidate_id}@example.org",
            full_name,
            "Acme Hiring <hiring@acme.example>",
            "Hiring manager <manager@acme.example>",
            f"An update on your application for {title}",
            text,
            html,
            f"<bench-{outbox_id}@hiretrack.bench>",
            status,
            ts(created),
            0 if status == "queued" else 1 if status == "sent" else 3,
            "550 5.1.1 No such user" if status == "failed" else None,
            ts(created + 5) if status == "unconfirmed" else None,
            "bench-worker-1" if status == "unconfirmed" else None,
            ts(sent) if status == "sent" else None,
            ts(created),
            application.requisition.manager_id,
        )

    def write_decisions(self, writer: BulkWriter) -> None:
        """Holds, offers, approval chains, stage history, drafts and feedback."""
        rng, ts, day, today, now_s = self.rng, self.fmt.ts, self.fmt.day, self.today_day, self.now_s
        writer.write(
            "hold",
            "id requisition_id application_id reason summary internal_notes public_reason owner_id "
            "owner_name opened_at expected_clear_date resolved_at outcome resolution_note "
            "created_by_id version",
            self.holds,
        )
        offers, approvals = [], []

        def approval(requisition, kind, offer_id, decision, created, due, decided):
            approvals.append(
                (
                    self.next_id("approval"),
                    requisition.id,
                    offer_id,
                    kind,
                    rng.choice(self.approvers),
                    requisition.manager_id,
                    day(due),
                    decision,
                    "" if decision == "pending" else "Looks fine.",
                    ts(created),
                    ts(decided),
                    1,
                )
            )

        for requisition in self.requisitions:
            created = requisition.created_day * DAY + 10 * 3600
            kinds = ["budget"] + (["headcount"] if requisition.id % 2 else [])
            for kind in kinds:
                if requisition.status == "pending_approval" or (
                    requisition.status == "on_hold" and kind == "budget"
                ):
                    due = requisition.created_day + rng.randint(3, 20)
                    approval(
                        requisition, kind, None, "pending", created, min(due, today + 20), None
                    )
                elif requisition.status != "draft":
                    decided = created + rng.randint(1, 10) * DAY
                    approval(
                        requisition,
                        kind,
                        None,
                        "approved",
                        created,
                        None,
                        min(decided, now_s - DAY),
                    )
        for application in self.applications:
            stage = application.stage
            if stage not in OFFER_STAGES and not (stage == "verbal_intent" and rng.random() < 0.4):
                continue
            offer_id = self.next_id("offer")
            requisition = application.requisition
            made = max(application.stage_entered - 5 * DAY, application.opened)
            status = {
                "verbal_intent": "pending_approval",
                "offer_approved": "approved",
            }.get(stage, "extended")
            offers.append(
                (
                    offer_id,
                    application.id,
                    70_000 + (application.id % 40) * 1_000,
                    "EUR",
                    day(min(self.day_of(made) + 45, today + 90)),
                    status,
                    ts(made),
                    ts(application.stage_entered),
                    1,
                )
            )
            if status == "pending_approval":
                due = min(self.day_of(made) + rng.randint(2, 12), today + 10)
                approval(requisition, "offer", offer_id, "pending", made, due, None)
            else:
                approval(requisition, "offer", offer_id, "approved", made, None, made + DAY)
        writer.write(
            "offer",
            "id application_id salary currency start_date status created_at updated_at version",
            offers,
        )
        writer.write(
            "approval",
            "id requisition_id offer_id kind approver_id requested_by_id due_date decision note "
            "created_at decided_at version",
            approvals,
        )
        changes, drafts, feedback = [], [], []
        hold_of_requisition = {
            row[1]: row[0] for row in self.holds if row[2] is None and row[11] is None
        }
        hold_template = self.templates.get("hold_notice")
        for application in self.applications:
            manager = application.requisition.manager_id
            first_stage = (
                "final_round"
                if application.stage != "interviewing" and application.id % 3 == 0
                else "interviewing"
            )
            changes.append(
                (
                    self.next_id("stage_change"),
                    application.id,
                    None,
                    first_stage,
                    ts(application.opened),
                    manager,
                    "",
                )
            )
            if application.stage != first_stage:
                changes.append(
                    (
                        self.next_id("stage_change"),
                        application.id,
                        first_stage,
                        application.stage,
                        ts(application.stage_entered),
                        manager,
                        "",
                    )
                )
            hold_id = hold_of_requisition.get(application.requisition.id)
            if application.closed is None and hold_id is not None and rng.random() < 0.3:
                drafts.append(
                    (
                        self.next_id("draft"),
                        application.id,
                        hold_template,
                        hold_id,
                        None,
                        None,
                        None,
                        "pending",
                        ts(application.requisition.open_hold_since),
                        manager,
                        None,
                        None,
                    )
                )
            if (
                application.closed is not None
                and application.closed > now_s - 120 * DAY
                and rng.random() < 0.12
            ):
                feedback.append(
                    (
                        self.next_id("update_feedback"),
                        application.id,
                        rng.random() < 0.75,
                        ts(min(application.closed + 2 * DAY, now_s)),
                    )
                )
        writer.write(
            "stage_change",
            "id application_id from_stage to_stage changed_at changed_by_id note",
            changes,
        )
        writer.write(
            "draft",
            "id application_id template_id hold_id subject body promised_next_update status "
            "created_at created_by_id sent_at outbox_email_id",
            drafts,
        )
        writer.write("update_feedback", "id application_id useful created_at", feedback)


def reset_database(url: str, reset: bool) -> None:
    """Start from an empty database; refuse to drop data unless --reset says so."""
    from sqlalchemy import create_engine, inspect, text

    path = sqlite_path(url)
    if path is not None:
        if path.exists():
            if not reset:
                raise SystemExit(f"{path} exists: add --reset to replace it.")
            for suffix in ("", "-wal", "-shm", "-journal"):
                candidate = path.with_name(path.name + suffix)
                if candidate.exists():
                    candidate.unlink()
        return
    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.begin() as connection:
            if inspect(connection).get_table_names():
                if not reset:
                    raise SystemExit(
                        "That database already has tables: add --reset to drop everything in it."
                    )
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def skip_foreign_key_triggers(connection) -> None:
    """Skip per-row foreign key checks during the load (the rows are consistent by construction).

    Needs a superuser; elsewhere the load still works, only slower.
    """
    savepoint = connection.begin_nested()
    try:
        connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
    except Exception:  # noqa: BLE001  (not allowed: keep the checks)
        savepoint.rollback()
    else:
        savepoint.commit()


def typical_user(company: Company, role_ids: list[int]) -> int:
    """The user with the median number of open applications among those who have any."""
    open_counts: dict[int, int] = {}
    for application in company.applications:
        if application.closed is None:
            manager = application.requisition.manager_id
            open_counts[manager] = open_counts.get(manager, 0) + 1
    ranked = sorted((count, user) for user, count in open_counts.items() if user in role_ids)
    return ranked[len(ranked) // 2][1]


def seed(
    applications: int, url: str, reset: bool, random_seed: int, analyze: bool
) -> dict[str, Any]:
    from flask_migrate import upgrade
    from sqlalchemy import select, text
    from werkzeug.security import generate_password_hash

    from hiretrack.auth.models import User
    from hiretrack.auth.services import create_api_token
    from hiretrack.cadence.stored import recompute_stored_cadence
    from hiretrack.cadence.upkeep import mark_ghosted
    from hiretrack.extensions import db
    from hiretrack.messages.defaults import install_default_templates
    from hiretrack.messages.models import EmailTemplate
    from hiretrack.messages.requisition_counts import recount as recount_message_counts
    from hiretrack.requisitions.closure_pending import recount as recount_closure_pending

    started = timer.perf_counter()
    dialect = dialect_of(url)
    reset_database(url, reset)
    app = bench_app(url)
    company = Company(applications, random_seed, dialect)
    total_units = applications + applications // 4
    with app.app_context():
        upgrade()
        install_default_templates()
        db.session.commit()
        company.templates = {
            category: template_id
            for template_id, category in db.session.execute(
                select(EmailTemplate.id, EmailTemplate.category).where(
                    EmailTemplate.owner_id.is_(None)
                )
            )
        }
        with click.progressbar(
            length=total_units,
            label=f"Seeding {applications:,} applications",
            item_show_func=lambda phase: phase,
            file=sys.stderr,
        ) as bar:
            bar.update(0, "planning")
            company.plan_users(generate_password_hash(BENCH_PASSWORD))
            company.plan_requisitions()
            company.plan_applications()
            company.plan_holds()
            bar.update(applications // 20, "users, requisitions, candidates")
            with db.engine.begin() as connection:
                if dialect == "sqlite":
                    connection.exec_driver_sql("PRAGMA journal_mode=WAL")
                    connection.exec_driver_sql("PRAGMA synchronous=OFF")
                else:
                    skip_foreign_key_triggers(connection)
                writer = BulkWriter(connection, dialect)
                names: dict[int, tuple[str, str]] = {}
                company.write_people(writer, names)
                bar.update(0, "applications, touchpoints, outbox")
                company.write_activity(
                    writer, names, lambda n: bar.update(n, "applications, touchpoints, outbox")
                )
                bar.update(0, "holds, approvals, offers, history")
                company.write_decisions(writer)
                if dialect == "postgresql":
                    for table in writer.written:
                        connection.exec_driver_sql(
                            f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                            f'(SELECT COALESCE(MAX(id), 1) FROM "{table}"))'
                        )
            bar.update(0, "stored cadence dates")
            # Rows written in bulk skip the app's writers: store their cadence dates as
            # `hiretrack cadence recompute` would.
            recompute_stored_cadence(db.session)
            recount_closure_pending(db.session)
            # PostgreSQL's load runs as a replica, without triggers.
            recount_message_counts(db.session)
            db.session.commit()
            bar.update(applications // 10, "statistics and yesterday's reminders")
            if analyze:
                with db.engine.begin() as connection:
                    if dialect == "sqlite":
                        connection.exec_driver_sql("PRAGMA analysis_limit=1000")
                    connection.exec_driver_sql("ANALYZE")
            mark_ghosted(company.today)
            db.session.commit()
            manager = db.session.get(User, typical_user(company, company.managers))
            recruiter = db.session.get(User, company.recruiters[0])
            admin = db.session.get(User, company.admins[0])
            _, manager_token = create_api_token(manager, "benchmark")
            _, recruiter_token = create_api_token(recruiter, "benchmark")
            _, admin_token = create_api_token(admin, "benchmark")
            db.session.commit()
            open_for_manager = db.session.scalar(
                text(
                    "SELECT count(*) FROM application JOIN requisition "
                    "ON requisition.id = application.requisition_id "
                    "WHERE requisition.manager_id = :manager AND application.closed_at IS NULL"
                ),
                {"manager": manager.id},
            )
            bar.update(total_units)
        entry = {
            "applications": applications,
            "seeded_at": company.now.isoformat(),
            "password": BENCH_PASSWORD,
            "manager": {
                "id": manager.id,
                "email": manager.email,
                "open_applications": open_for_manager,
                "token": manager_token,
            },
            "recruiter": {"id": recruiter.id, "email": recruiter.email, "token": recruiter_token},
            "admin": {"id": admin.id, "email": admin.email, "token": admin_token},
            "rows": dict(writer.written),
        }
        db.session.remove()  # no open transaction may hold back what VACUUM can mark visible
        if analyze and dialect == "postgresql":
            vacuum_like_autovacuum(db.engine)
        db.engine.dispose()
    entry["seconds"] = round(timer.perf_counter() - started, 1)
    save_credentials(url, entry)
    return entry


def vacuum_like_autovacuum(engine) -> None:
    """VACUUM (ANALYZE) the loaded tables, as autovacuum does after a load in a deployment.

    Without it no page is marked all-visible (this server runs with autovacuum off), so every
    index-only scan reads the table too: the dashboard's counts read 1,300 outbox rows for the
    failed deliveries, and the figures would describe a database no deployment has.
    """
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM (ANALYZE)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--applications", type=int, default=100_000, help="applications to create")
    parser.add_argument(
        "--database-url", help="default: $HIRETRACK_DATABASE_URL or bench/bench.sqlite"
    )
    parser.add_argument("--reset", action="store_true", help="replace an existing bench database")
    parser.add_argument("--seed", type=int, default=2026, help="random seed (same data each time)")
    parser.add_argument("--no-analyze", action="store_true", help="skip ANALYZE after the load")
    args = parser.parse_args()
    if args.applications < 100:
        parser.error("--applications must be at least 100")
    url = database_url(args.database_url)
    entry = seed(args.applications, url, args.reset, args.seed, not args.no_analyze)
    rows = ", ".join(f"{table} {count:,}" for table, count in entry["rows"].items())
    print(f"Seeded {url} in {entry['seconds']} s: {rows}.")
    manager = entry["manager"]
    print(
        f"Bench manager {manager['email']} ({manager['open_applications']} open applications); "
        "logins and API tokens are in bench/credentials.json."
    )


if __name__ == "__main__":
    main()
