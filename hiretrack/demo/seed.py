"""A believable company for the demo: departments, people, requisitions in every state, a stalled
head-office hold, and about forty candidates with a history of contact (some of them overdue).

Records are created through the services, so they obey the same rules as real use; only their
timestamps are moved into the past afterwards, to give the story a history.
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from hiretrack.admin.models import Department, OrganisationSettings
from hiretrack.approvals.services import decide, request_approval
from hiretrack.auth.models import User
from hiretrack.auth.services import create_user
from hiretrack.candidates.models import Application, Candidate, Channel, Direction, Touchpoint
from hiretrack.candidates.services import (
    ClosureNote,
    apply_contact,
    apply_to_requisition,
    change_stage,
    create_candidate,
)
from hiretrack.database import utcnow
from hiretrack.demo.inbound import seed_inbound_mail
from hiretrack.extensions import db
from hiretrack.holds.services import place_hold
from hiretrack.messages.defaults import install_default_templates
from hiretrack.messages.models import Draft, DraftStatus
from hiretrack.offers.services import propose_offer
from hiretrack.requisitions.models import Requisition, RequisitionStatus
from hiretrack.requisitions.services import (
    create_requisition,
    open_applications,
    set_status,
    submit_for_approval,
)

DEMO_PASSWORD = "hiretrack-demo"


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    name: str


DEMO_USERS = (
    DemoLogin("manager", "maria.lopez@acme.example", "Maria Lopez"),
    DemoLogin("manager", "tom.becker@acme.example", "Tom Becker"),
    DemoLogin("manager", "aisha.khan@acme.example", "Aisha Khan"),
    DemoLogin("approver", "frank.mills@acme.example", "Frank Mills (Finance)"),
    DemoLogin("approver", "helen.ward@acme.example", "Helen Ward (Head office)"),
    DemoLogin("recruiter", "rita.recruiter@acme.example", "Rita Osei"),
    DemoLogin("admin", "admin@acme.example", "Alex Admin"),
)

FIRST_NAMES = [
    "Olivia",
    "Liam",
    "Noah",
    "Emma",
    "Sofia",
    "Mateo",
    "Chloe",
    "Arjun",
    "Mei",
    "Lucas",
    "Amara",
    "Jonas",
    "Priya",
    "Diego",
    "Hannah",
    "Kwame",
    "Yuki",
    "Elena",
    "Omar",
    "Freya",
    "Tariq",
    "Ines",
    "Ravi",
    "Zoe",
    "Felix",
    "Nadia",
    "Sami",
    "Greta",
    "Leon",
    "Maya",
    "Ivan",
    "Lena",
    "Hugo",
    "Aiko",
    "Bruno",
    "Clara",
    "Dev",
    "Esme",
    "Farah",
    "Gabriel",
]
LAST_NAMES = [
    "Nguyen",
    "Schmidt",
    "Okafor",
    "Rossi",
    "Kowalski",
    "Haddad",
    "Fernandes",
    "Larsen",
    "Tanaka",
    "Moreau",
    "Brennan",
    "Achebe",
    "Virtanen",
    "Costa",
    "Ibrahim",
    "Novak",
]


def is_seeded() -> bool:
    return bool(db.session.scalar(select(func.count()).select_from(User)))


def _days_ago(days: float) -> datetime:
    return utcnow() - timedelta(days=days)


def _backdate_application(application: Application, opened_days_ago: float) -> None:
    application.opened_at = _days_ago(opened_days_ago)
    application.stage_entered_at = _days_ago(max(opened_days_ago - 7, 1))
    for change in application.stage_changes:
        change.changed_at = application.stage_entered_at


def _contact(
    application: Application,
    days_ago: float,
    channel: str,
    note: str,
    promise_in_days: int | None,
    direction: str = Direction.OUTBOUND,
) -> None:
    """Add a past contact to the history, as if it had happened then."""
    when = _days_ago(days_ago)
    promise = (when + timedelta(days=promise_in_days)).date() if promise_in_days else None
    touchpoint = Touchpoint(
        application=application,
        direction=direction,
        channel=channel,
        note=note,
        promised_next_update=promise,
        created_at=when,
        occurred_at=when,
        created_by_id=application.requisition.manager_id,
    )
    db.session.add(touchpoint)
    apply_contact(application, touchpoint)


def seed_demo(rng: random.Random | None = None) -> None:
    """Fill an empty database with the demo company; commits.

    Each chapter of the story adds its requisitions and candidates in turn; the order matters
    only for the random names and phone numbers, so the demo is the same every time.
    """
    company = _DemoCompany(rng or random.Random(2026))
    company.stalled_head_office_hold()
    company.hiring_freeze()
    company.offers_awaiting_approval()
    company.everyday_pipelines()
    company.closed_candidacies()
    company.filled_requisition()
    company.cancelled_requisition()
    company.decided_and_pending_approvals()
    seed_inbound_mail()
    db.session.commit()


class _DemoCompany:
    """The demo's people, departments and open requisitions, and the steps that fill them."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        install_default_templates()
        db.session.add(
            OrganisationSettings(
                company_name="Acme Widgets", mail_from="Acme Widgets Hiring <hiring@acme.example>"
            )
        )
        users = {
            login.email: create_user(login.email, login.name, login.role, DEMO_PASSWORD)
            for login in DEMO_USERS
        }
        self.maria, self.tom, self.aisha = (users[u.email] for u in DEMO_USERS[:3])
        self.finance = users["frank.mills@acme.example"]
        self.head_office = users["helen.ward@acme.example"]
        self.recruiter = users["rita.recruiter@acme.example"]
        self.departments = {
            name: Department(name=name) for name in ("Engineering", "Sales", "Operations")
        }
        db.session.add_all(self.departments.values())
        db.session.flush()
        self._open_requisitions()
        self.names = iter(
            rng.sample([f"{f} {last}" for f in FIRST_NAMES for last in LAST_NAMES], 60)
        )

    def _open_requisitions(self) -> None:
        """The requisitions the story happens on, and two waiting for approval."""
        maria, tom, aisha = self.maria, self.tom, self.aisha
        self.backend = self.requisition(
            "Senior Backend Engineer", maria, "Engineering", "open", 70000, 90000
        )
        self.platform = self.requisition(
            "Platform Engineer", maria, "Engineering", "open", 65000, 85000
        )
        self.data = self.requisition("Data Analyst", tom, "Operations", "open", 50000, 62000)
        self.sales_lead = self.requisition("Sales Team Lead", tom, "Sales", "open", 60000, 75000)
        self.account = self.requisition("Account Executive", aisha, "Sales", "open", 45000, 60000)
        self.ops = self.requisition(
            "Operations Coordinator", aisha, "Operations", "open", 38000, 46000
        )
        draft = self.requisition("Frontend Engineer", maria, "Engineering", "draft", 60000, 80000)
        self.pending = self.requisition(
            "Logistics Planner", aisha, "Operations", "draft", 42000, 52000
        )
        due = (utcnow() + timedelta(days=5)).date()
        request_approval(aisha, self.pending, "budget", self.finance.id, due)
        submit_for_approval(aisha, self.pending)
        request_approval(maria, draft, "headcount", self.head_office.id, None)
        db.session.flush()

    def requisition(self, title, manager, department, status, low, high, **extra) -> Requisition:
        """A requisition opened sixty days ago, then moved to `status`."""
        req = create_requisition(
            manager,
            title=title,
            department_id=self.departments[department].id,
            salary_min=low,
            salary_max=high,
            currency="EUR",
            status="open",
            **extra,
        )
        req.created_at = _days_ago(60)
        if status != "open":
            req.status = status
        return req

    def candidate(self) -> Candidate:
        """The next person from the shuffled names, with an email and phone number."""
        name = next(self.names)
        email = name.lower().replace(" ", ".") + "@example.org"
        phone = f"+44 7700 9{self.rng.randint(10000, 99999)}"
        return create_candidate(self.recruiter, name, email, phone)

    def apply(self, req, stage, opened_days_ago, contacts) -> Application:
        """A new candidate's application, at `stage`, with past contacts."""
        application = apply_to_requisition(
            req.manager,
            self.candidate(),
            req,
            "final_round" if stage != "interviewing" else "interviewing",
        )
        if stage in ("verbal_intent", "offer_approved", "offer_extended", "accepted", "hired"):
            change_stage(req.manager, application, "verbal_intent")
        _backdate_application(application, opened_days_ago)
        for days_ago, channel, note, promise in contacts:
            _contact(application, days_ago, channel, note, promise)
        return application

    def stalled_head_office_hold(self) -> None:
        """Senior Backend Engineer: held by head office for "a budget technicality" for weeks."""
        apply, backend = self.apply, self.backend
        backend_apps = [
            apply(
                backend,
                "verbal_intent",
                40,
                [
                    (30, "meeting", "Final interview; told her we want to hire.", 3),
                    (21, "phone", "Said approval should clear in a day or so.", 2),
                ],
            ),
            apply(
                backend,
                "verbal_intent",
                38,
                [(25, "phone", "Verbal: we want you. Waiting on sign-off.", 5)],
            ),
            apply(backend, "final_round", 30, [(12, "email", "Invited to final round.", 5)]),
            apply(
                backend, "final_round", 28, [(6, "phone", "Final round done; decision pending.", 5)]
            ),
            apply(backend, "interviewing", 20, [(4, "email", "Second interview booked.", 5)]),
        ]
        hold = place_hold(
            self.maria,
            backend,
            reason="budget",
            owner_id=self.head_office.id,
            summary="Head office: 'budget technicality, cleared in a day or so'",
            public_reason="we are waiting on an internal budget approval",
            internal_notes="Helen says finance must re-baseline Q4 spend first. No date given.",
        ).hold
        hold.opened_at = _days_ago(21)
        hold.expected_clear_date = (utcnow() - timedelta(days=18)).date()
        for application in backend_apps:
            application.update_requested_at = hold.opened_at
        # The hold notices were never sent: the drafts are still waiting for Maria's review.
        for pending_draft in db.session.scalars(select(Draft).where(Draft.hold_id == hold.id)):
            pending_draft.created_at = hold.opened_at
            pending_draft.status = DraftStatus.PENDING

    def hiring_freeze(self) -> None:
        """Platform Engineer: a hiring freeze hold owned by finance, still within its date."""
        platform = self.platform
        self.apply(platform, "final_round", 18, [(3, "email", "Update: still deciding.", 5)])
        self.apply(platform, "interviewing", 10, [(2, "phone", "Phone screen went well.", 5)])
        self.apply(platform, "interviewing", 9, [])
        freeze = place_hold(
            self.maria,
            platform,
            reason="freeze",
            owner_id=self.finance.id,
            summary="Q1 hiring freeze pending board review",
            public_reason="a company-wide hiring pause",
            expected_clear_date=(utcnow() + timedelta(days=9)).date(),
        ).hold
        freeze.opened_at = _days_ago(4)
        for application in open_applications(platform):
            application.update_requested_at = freeze.opened_at
        db.session.flush()

    def offers_awaiting_approval(self) -> None:
        """Data Analyst: an offer being approved; Sales Team Lead: one outside the band.

        Around them, candidates on track or overdue, and an inbound call left unanswered.
        """
        apply, data, sales_lead, tom = self.apply, self.data, self.sales_lead, self.tom
        analyst = apply(
            data,
            "verbal_intent",
            35,
            [(8, "phone", "Verbal intent; offer terms being approved.", 3)],
        )
        propose_offer(
            tom, analyst, 58000, self.finance.id, due_date=(utcnow() + timedelta(days=2)).date()
        )
        apply(data, "final_round", 25, [(16, "email", "Thanks for the final interview.", 5)])
        apply(data, "final_round", 20, [(2, "email", "Checking in: decision next week.", 5)])
        apply(data, "interviewing", 14, [(9, "phone", "Case study sent.", 5)])
        apply(data, "interviewing", 6, [(1, "email", "Acknowledged application.", 5)])

        lead = apply(
            sales_lead,
            "verbal_intent",
            32,
            [(5, "meeting", "Told him we want him; terms to follow.", 4)],
        )
        propose_offer(
            tom,
            lead,
            82000,
            self.head_office.id,
            compensation_approver_id=self.finance.id,
            due_date=(utcnow() + timedelta(days=3)).date(),
        )
        caller = apply(sales_lead, "final_round", 22, [(7, "email", "Final round scheduled.", 5)])
        _contact(
            caller,
            1,
            "phone",
            "Candidate called asking for news; left a voicemail.",
            None,
            direction=Direction.INBOUND,
        )
        apply(sales_lead, "interviewing", 12, [(3, "phone", "Intro call.", 5)])
        apply(sales_lead, "interviewing", 11, [(15, "email", "Application received.", 5)])

    def everyday_pipelines(self) -> None:
        """Account Executive and Operations Coordinator: some candidates silent too long."""
        for days, contacts in (
            (26, [(14, "email", "Interview feedback shared.", 5)]),
            (19, [(2, "phone", "Scheduling the final round.", 4)]),
            (15, [(6, "email", "Thanks for interviewing.", 5)]),
            (8, [(1, "email", "Acknowledged application.", 5)]),
        ):
            self.apply(self.account, "final_round" if days > 14 else "interviewing", days, contacts)
        for days, contacts in (
            (24, [(19, "email", "Interview invite.", 5)]),
            (16, [(3, "phone", "Final round booked.", 5)]),
            (7, [(2, "email", "Acknowledged application.", 5)]),
        ):
            self.apply(self.ops, "final_round" if days > 14 else "interviewing", days, contacts)

    def closed_candidacies(self) -> None:
        """Closed candidacies, each with its closure recorded."""
        for req, outcome, note in (
            (self.account, "not_selected", "Called to explain we chose another candidate."),
            (self.data, "withdrawn", "Candidate accepted another offer; confirmed by phone."),
            (self.ops, "not_selected", "Told after the final round, with feedback."),
        ):
            application = self.apply(req, "final_round", 30, [(20, "email", "Final round.", 5)])
            change_stage(
                req.manager,
                application,
                outcome,
                closure=ClosureNote(channel=Channel.PHONE, note=note),
            )
            application.closed_at = _days_ago(self.rng.randint(3, 12))

    def filled_requisition(self) -> None:
        """A filled requisition: one hire, everyone else told."""
        aisha = self.aisha
        filled = self.requisition("Customer Success Manager", aisha, "Sales", "open", 48000, 58000)
        hire = self.apply(filled, "verbal_intent", 70, [(50, "email", "Offer discussion.", 3)])
        offer = propose_offer(aisha, hire, 52000, self.finance.id)
        for approval in offer.approvals:
            decide(self.finance, approval, "approved", "Within band.")
        for stage in ("offer_approved", "offer_extended", "accepted"):
            change_stage(aisha, hire, stage)
        other = self.apply(filled, "final_round", 65, [(45, "email", "Final round.", 5)])
        change_stage(
            aisha,
            other,
            "not_selected",
            closure=ClosureNote(channel=Channel.EMAIL, note="Sent a personal note with feedback."),
        )
        change_stage(aisha, hire, "hired", note="Started on the 1st.")
        set_status(aisha, filled, RequisitionStatus.FILLED, "requisition.filled")

    def cancelled_requisition(self) -> None:
        """A cancelled requisition: the position went, and both candidates were told."""
        tom = self.tom
        cancelled = self.requisition("Regional Sales Manager", tom, "Sales", "open", 70000, 85000)
        for _ in range(2):
            application = self.apply(
                cancelled, "final_round", 50, [(35, "email", "Final round.", 5)]
            )
            change_stage(
                tom,
                application,
                "position_cancelled",
                closure=ClosureNote(
                    channel=Channel.PHONE, note="Called: role cancelled in the re-org."
                ),
            )
        set_status(tom, cancelled, RequisitionStatus.CANCELLED, "requisition.cancelled")

    def decided_and_pending_approvals(self) -> None:
        """Approve one step so the approver view shows both decided and pending steps."""
        first_pending = db.session.scalars(
            select(Requisition).where(Requisition.id == self.pending.id)
        ).one()
        assert first_pending.status == RequisitionStatus.PENDING_APPROVAL
        decided = request_approval(self.maria, self.backend, "budget", self.finance.id, None)
        decide(self.finance, decided, "approved", "Budget line confirmed for 2026.")
