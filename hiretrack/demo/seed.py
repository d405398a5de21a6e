"""A believable company for the demo: departments, people, requisitions in every state, a stalled
head-office hold, and about forty candidates with a history of contact (some of them overdue).

Records are created through the services, so they obey the same rules as real use; the story
(hiretrack/demo/story.py) then dates each event: in order, on business days, in working hours.
"""

import random
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from hiretrack.admin.models import Department, OrganisationSettings
from hiretrack.approvals.services import decide, request_approval
from hiretrack.auth.models import User
from hiretrack.auth.services import create_user
from hiretrack.candidates.models import Application, Candidate, Channel
from hiretrack.candidates.services import ClosureNote, apply_to_requisition, create_candidate
from hiretrack.demo.inbound import seed_inbound_mail
from hiretrack.demo.story import (
    Step,
    StoryClock,
    backdate_hold,
    backdate_offer,
    close_with_closure,
    contact,
    inbound,
    interview,
    latest_event,
    play,
    stage,
)
from hiretrack.extensions import db
from hiretrack.holds.services import place_hold
from hiretrack.messages.defaults import install_default_templates
from hiretrack.messages.models import Draft, DraftStatus
from hiretrack.offers.services import propose_offer
from hiretrack.requisitions.models import Requisition, RequisitionStatus
from hiretrack.requisitions.services import (
    create_requisition,
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
    seed_inbound_mail(company.clock)
    db.session.commit()


class _DemoCompany:
    """The demo's people, departments and open requisitions, and the steps that fill them."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.clock = StoryClock()
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
        maria, tom, aisha, clock = self.maria, self.tom, self.aisha, self.clock
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
        draft = self.requisition(
            "Frontend Engineer", maria, "Engineering", "draft", 60000, 80000, created_days_ago=3
        )
        self.pending = self.requisition(
            "Logistics Planner", aisha, "Operations", "draft", 42000, 52000, created_days_ago=2
        )
        asked = request_approval(aisha, self.pending, "budget", self.finance.id, clock.ahead(3))
        asked.created_at = clock.at(1, after=self.pending.created_at)
        submit_for_approval(aisha, self.pending)
        asked = request_approval(maria, draft, "headcount", self.head_office.id, None)
        asked.created_at = clock.at(2, after=draft.created_at)
        db.session.flush()

    def requisition(
        self, title, manager, department, status, low, high, created_days_ago=60
    ) -> Requisition:
        """A requisition created `created_days_ago` days ago, then moved to `status`."""
        req = create_requisition(
            manager,
            title=title,
            department_id=self.departments[department].id,
            salary_min=low,
            salary_max=high,
            currency="EUR",
            status="open",
        )
        req.created_at = self.clock.at(created_days_ago)
        if status != "open":
            req.status = status
        return req

    def candidate(self, opened_at: datetime) -> Candidate:
        """The next person from the shuffled names, with an email and phone number."""
        name = next(self.names)
        email = name.lower().replace(" ", ".") + "@example.org"
        phone = f"+44 7700 9{self.rng.randint(10000, 99999)}"
        person = create_candidate(self.recruiter, name, email, phone)
        person.created_at = opened_at
        return person

    def apply(self, req, opened_days_ago: int, steps: list[Step]) -> Application:
        """A candidacy that opened then, at interviewing, with its history played in order."""
        opened_at = self.clock.at(opened_days_ago)
        application = apply_to_requisition(
            req.manager, self.candidate(opened_at), req, "interviewing"
        )
        application.opened_at = application.stage_entered_at = opened_at
        for change in application.stage_changes:
            change.changed_at = opened_at
        latest = opened_at
        for step in steps:
            latest = self.clock.at(step.days_ago, after=latest)
            play(self.clock, application, step, latest)
        return application

    def stalled_head_office_hold(self) -> None:
        """Senior Backend Engineer: held by head office for "a budget technicality" for weeks."""
        placed_at = self.clock.at(21)
        for opened_days_ago, steps in (
            (
                40,
                [
                    stage(36, "final_round"),
                    interview(31, "Final interview with the team: strong on system design."),
                    contact(30, Channel.PHONE, "Said we want to hire; offer after sign-off.", 3),
                    stage(30, "verbal_intent"),
                    contact(
                        18, Channel.PHONE, "Head office says approval clears in a day or so.", 2
                    ),
                ],
            ),
            (
                38,
                [
                    stage(33, "final_round"),
                    interview(27),
                    contact(25, Channel.PHONE, "Verbal: we want you. Waiting on sign-off."),
                    stage(25, "verbal_intent"),
                ],
            ),
            (
                30,
                [
                    stage(14, "final_round"),
                    contact(12, Channel.EMAIL, "Invited to the final round."),
                ],
            ),
            (
                28,
                [
                    stage(10, "final_round"),
                    interview(7),
                    contact(6, Channel.PHONE, "Final round done; told them a decision is pending."),
                ],
            ),
            (20, [contact(4, Channel.EMAIL, "Second interview booked.")]),
        ):
            self.apply(self.backend, opened_days_ago, steps)
        hold = place_hold(
            self.maria,
            self.backend,
            reason="budget",
            owner_id=self.head_office.id,
            summary="Head office: 'budget technicality, cleared in a day or so'",
            public_reason="we are waiting on an internal budget approval",
            internal_notes="Helen says finance must re-baseline Q4 spend first. No date given.",
        ).hold
        backdate_hold(hold, placed_at, expected=self.clock.promise(placed_at, 1))
        # The hold notices were never sent: the drafts are still waiting for Maria's review.
        for pending_draft in db.session.scalars(select(Draft).where(Draft.hold_id == hold.id)):
            pending_draft.status = DraftStatus.PENDING

    def hiring_freeze(self) -> None:
        """Platform Engineer: a hiring freeze hold owned by finance, still within its date."""
        platform = self.platform
        self.apply(
            platform,
            18,
            [
                stage(12, "final_round"),
                interview(8),
                contact(3, Channel.EMAIL, "Update: still deciding."),
            ],
        )
        self.apply(platform, 10, [contact(2, Channel.PHONE, "Phone screen went well.")])
        self.apply(platform, 9, [])
        freeze = place_hold(
            self.maria,
            platform,
            reason="freeze",
            owner_id=self.finance.id,
            summary="Q1 hiring freeze pending board review",
            public_reason="a company-wide hiring pause",
            expected_clear_date=self.clock.ahead(7),
        ).hold
        backdate_hold(freeze, self.clock.at(4))

    def offers_awaiting_approval(self) -> None:
        """Data Analyst: an offer being approved; Sales Team Lead: one outside the band.

        Around them, candidates on track or overdue, and an inbound call left unanswered.
        """
        apply, data, sales_lead, tom, clock = (
            self.apply,
            self.data,
            self.sales_lead,
            self.tom,
            self.clock,
        )
        analyst = apply(
            data,
            35,
            [
                stage(20, "final_round"),
                interview(10, "Final interview: presented the case study."),
                contact(8, Channel.PHONE, "Said we want to hire; offer terms being approved.", 3),
                stage(8, "verbal_intent"),
            ],
        )
        offer = propose_offer(tom, analyst, 58000, self.finance.id, due_date=clock.ahead(2))
        backdate_offer(offer, clock.at(8, after=latest_event(analyst)))
        apply(
            data,
            25,
            [
                stage(19, "final_round"),
                interview(17),
                contact(16, Channel.EMAIL, "Thanks for the final interview."),
            ],
        )
        apply(
            data,
            20,
            [
                stage(9, "final_round"),
                interview(4),
                contact(2, Channel.EMAIL, "Checking in: decision next week."),
            ],
        )
        apply(data, 14, [contact(9, Channel.PHONE, "Case study sent.")])
        apply(data, 6, [contact(5, Channel.EMAIL, "Acknowledged the application.")])

        lead = apply(
            sales_lead,
            32,
            [
                stage(14, "final_round"),
                interview(6, "Final interview with the sales director."),
                contact(5, Channel.MEETING, "Told the candidate we want them; terms to follow.", 4),
                stage(5, "verbal_intent"),
            ],
        )
        offer = propose_offer(
            tom,
            lead,
            82000,
            self.head_office.id,
            compensation_approver_id=self.finance.id,
            due_date=clock.ahead(3),
        )
        backdate_offer(offer, clock.at(4, after=latest_event(lead)))
        apply(
            sales_lead,
            22,
            [
                stage(9, "final_round"),
                interview(8),
                contact(
                    7, Channel.EMAIL, "Thanks for the final interview; decision due next week."
                ),
                inbound(1, Channel.PHONE, "Candidate called asking for news; left a voicemail."),
            ],
        )
        apply(sales_lead, 12, [contact(3, Channel.PHONE, "Intro call.")])
        apply(sales_lead, 16, [contact(15, Channel.EMAIL, "Application received.")])

    def everyday_pipelines(self) -> None:
        """Account Executive and Operations Coordinator: some candidates silent too long."""
        account, ops = self.account, self.ops
        for req, opened_days_ago, steps in (
            (
                account,
                26,
                [
                    stage(18, "final_round"),
                    interview(15),
                    contact(14, Channel.EMAIL, "Interview feedback shared."),
                ],
            ),
            (
                account,
                19,
                [
                    stage(8, "final_round"),
                    contact(2, Channel.PHONE, "Scheduling the final round.", 4),
                ],
            ),
            (
                account,
                15,
                [
                    stage(9, "final_round"),
                    interview(7),
                    contact(6, Channel.EMAIL, "Thanks for interviewing."),
                ],
            ),
            (account, 8, [contact(7, Channel.EMAIL, "Acknowledged the application.")]),
            (
                ops,
                24,
                [
                    contact(19, Channel.EMAIL, "Invited to a first interview."),
                    stage(12, "final_round"),
                ],
            ),
            (ops, 16, [stage(6, "final_round"), contact(3, Channel.PHONE, "Final round booked.")]),
            (ops, 7, [contact(6, Channel.EMAIL, "Acknowledged the application.")]),
        ):
            self.apply(req, opened_days_ago, steps)

    def closed_candidacies(self) -> None:
        """Closed candidacies, each with its closure recorded."""
        for req, outcome, note in (
            (self.account, "not_selected", "Called to explain we chose another candidate."),
            (self.data, "withdrawn", "Candidate accepted another offer; confirmed by phone."),
            (self.ops, "not_selected", "Told after the final round, with feedback."),
        ):
            application = self.apply(
                req,
                30,
                [
                    stage(24, "final_round"),
                    interview(21),
                    contact(20, Channel.EMAIL, "Thanks for the final round."),
                ],
            )
            close_with_closure(
                self.clock,
                application,
                self.rng.randint(3, 12),
                outcome,
                ClosureNote(channel=Channel.PHONE, note=note),
            )

    def filled_requisition(self) -> None:
        """A filled requisition: one hire, everyone else told."""
        aisha, clock = self.aisha, self.clock
        filled = self.requisition(
            "Customer Success Manager", aisha, "Sales", "open", 48000, 58000, created_days_ago=80
        )
        hire = self.apply(
            filled,
            70,
            [
                stage(60, "final_round"),
                interview(55),
                contact(52, Channel.PHONE, "Said we want to hire; terms to follow.", 3),
                stage(52, "verbal_intent"),
            ],
        )
        other = self.apply(
            filled,
            65,
            [stage(56, "final_round"), interview(53), contact(51, Channel.EMAIL, "Final round.")],
        )
        offer = propose_offer(aisha, hire, 52000, self.finance.id)
        backdate_offer(offer, clock.at(50, after=latest_event(hire)))
        for approval in offer.approvals:
            decide(self.finance, approval, "approved", "Within band.")
            approval.decided_at = clock.at(48, after=approval.created_at)
        latest = approval.decided_at
        for days_ago, to in ((48, "offer_approved"), (47, "offer_extended"), (45, "accepted")):
            latest = clock.at(days_ago, after=latest)
            play(clock, hire, stage(days_ago, to), latest)
        close_with_closure(
            clock,
            other,
            44,
            "not_selected",
            ClosureNote(channel=Channel.EMAIL, note="Sent a personal note with feedback."),
        )
        hired_at = clock.at(20)
        play(clock, hire, stage(20, "hired", "First day today."), hired_at)
        set_status(aisha, filled, RequisitionStatus.FILLED, "requisition.filled")
        filled.closed_at = hired_at

    def cancelled_requisition(self) -> None:
        """A cancelled requisition: the position went, and both candidates were told."""
        tom = self.tom
        cancelled = self.requisition(
            "Regional Sales Manager", tom, "Sales", "open", 70000, 85000, created_days_ago=55
        )
        for _ in range(2):
            application = self.apply(
                cancelled,
                50,
                [
                    stage(40, "final_round"),
                    interview(36),
                    contact(35, Channel.EMAIL, "Final round."),
                ],
            )
            cancelled_at = close_with_closure(
                self.clock,
                application,
                30,
                "position_cancelled",
                ClosureNote(channel=Channel.PHONE, note="Called: role cancelled in the re-org."),
            )
        set_status(tom, cancelled, RequisitionStatus.CANCELLED, "requisition.cancelled")
        cancelled.closed_at = cancelled_at

    def decided_and_pending_approvals(self) -> None:
        """Approve one step so the approver view shows both decided and pending steps."""
        first_pending = db.session.scalars(
            select(Requisition).where(Requisition.id == self.pending.id)
        ).one()
        assert first_pending.status == RequisitionStatus.PENDING_APPROVAL
        decided = request_approval(self.maria, self.backend, "budget", self.finance.id, None)
        decide(self.finance, decided, "approved", "Budget line confirmed for 2026.")
        decided.created_at = self.clock.at(58, after=self.backend.created_at)
        decided.decided_at = self.clock.at(57, after=decided.created_at)
