"""Reports: figures checked against hand-computed fixtures, exports, access and the CLI.

"Today" is Wednesday 4 March 2026 (no public holidays). February 2026 starts on a Sunday, so
its business days are Mon 2 .. Fri 6, Mon 9 .. Fri 13, and so on. Business days between two
dates count the days after the first up to and including the second.

The world (built through the services at the dates shown, with time-machine):

Engineering (manager Morgan: R1, R2; manager Quinn: R5, no candidates), Sales (manager Sasha: R3).
- R1: a3 opened Mon 5 Jan (interviewing), final round Wed 14 Jan, a promise for Wed 7 Jan made
  by phone on Mon 5 Jan (broken Thu 8 Jan), closed "not selected" by phone Fri 20 Feb.
  H4 (freeze, owner Alex the approver) opened Mon 12 Jan, expected Fri 16 Jan, cleared Fri 23 Jan:
  age 9, 5 past expected, strands a3 for 9 candidate-days.
  a1 opened Mon 2 Feb at final round, never contacted: ghosted.
  H1 (budget, owner "Head office") opened Mon 9 Feb, expected Wed 11 Feb: age 17, 15 past
  expected. Strands a1 (17 days) and a2 (12 days, since Mon 16 Feb): 29 candidate-days.
  a2 opened Mon 16 Feb, verbal intent, phoned Fri 20 Feb promising Tue 24 Feb: overdue, and
  that promise broke on Wed 25 Feb.
- R2: a4 opened Mon 23 Feb at final round; H2 (visa, on a4 only, owner Alex) opened Mon 2 Mar,
  expected Fri 13 Mar: age 2, strands a4 (overdue) for 2 candidate-days. a5 interviewing: on track.
  a7 (final round Mon 2 Feb) closed "withdrawn" by email on Tue 3 Mar, still queued; ghosted once.
  a8 (interviewing Mon 2 Feb, final round Tue 10 Feb) closed "not selected" by email Mon 2 Mar,
  delivered the same day.
- R3: a6 opened Mon 2 Feb, verbal intent, offer approved by Alex (23 hours), written offer
  extended Tue 3 Feb; H3 (budget, owner Alex, no date) opened Tue 3 Feb: age 21, strands a6
  (ghosted, at written offer) for 21 candidate-days.
  a9 closed "position cancelled" by phone Fri 30 Jan (outside the default period).
"""

import csv
import io
import json
import re
from datetime import UTC, date, datetime
from html.parser import HTMLParser

import pytest
import time_machine
from sqlalchemy import event, update

from hiretrack.approvals.services import decide, request_approval
from hiretrack.candidates.models import Application, Touchpoint
from hiretrack.candidates.services import ClosureNote, change_stage, log_touchpoint
from hiretrack.extensions import db
from hiretrack.holds.services import place_hold, resolve_hold
from hiretrack.messages.delivery import deliver_batch
from hiretrack.messages.services import choose_template, send_message
from hiretrack.offers.services import propose_offer
from hiretrack.reports.exports import spreadsheet_safe
from hiretrack.reports.services import build_report
from hiretrack.status.services import record_feedback

TODAY = date(2026, 3, 4)


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def travel(day: date, hour: int = 10):
    return time_machine.travel(at(day, hour), tick=False)


def d(month: int, day: int) -> date:
    return date(2026, month, day)


class World:
    """Handles on the fixture's people and objects, by the names the module docstring uses."""


@pytest.fixture
def world(ctx, make_user, make_department, make_requisition, make_candidate, make_application):
    w = World()
    with travel(d(1, 2)):
        w.engineering = make_department("Engineering")
        w.sales = make_department("Sales")
        w.morgan = make_user("manager", name="Morgan Manager")
        w.quinn = make_user("manager", name="Quinn Manager")
        w.sasha = make_user("manager", name="Sasha Sales")
        w.alex = make_user("approver", name="Alex Approver")
        w.blair = make_user("approver", name="Blair Approver")
        w.robin = make_user("recruiter", name="Robin Recruiter")
        w.r1 = make_requisition(manager=w.morgan, department=w.engineering, title="Backend")
        w.r2 = make_requisition(manager=w.morgan, department=w.engineering, title="Frontend")
        w.r5 = make_requisition(manager=w.quinn, department=w.engineering, title="Data")
        w.r3 = make_requisition(manager=w.sasha, department=w.sales, title="Account Exec")

    def apply(requisition, day, stage="final_round"):
        with travel(day):
            candidate = make_candidate(actor=w.robin)  # one recruiter: hashing passwords is slow
            return make_application(requisition=requisition, candidate=candidate, stage=stage)

    def phone(application, day, hour=10, **kwargs):
        with travel(day, hour):
            log_touchpoint(
                application.requisition.manager,
                application,
                direction="outbound",
                channel="phone",
                note="Spoke to them.",
                **kwargs,
            )
            db.session.commit()

    # R1: a3, the resolved freeze H4, then a1, H1 and a2.
    w.a3 = apply(w.r1, d(1, 5), "interviewing")
    phone(w.a3, d(1, 5), 11, promised_next_update=d(1, 7))
    with travel(d(1, 14)):
        change_stage(w.morgan, w.a3, "final_round")
        db.session.commit()
    with travel(d(1, 12)):
        w.h4 = place_hold(
            w.morgan,
            w.r1,
            reason="freeze",
            summary="Hiring freeze in January",
            owner_id=w.alex.id,
            expected_clear_date=d(1, 16),
        ).hold
        db.session.commit()
    with travel(d(1, 23)):
        resolve_hold(w.alex, w.h4, "cleared")
        db.session.commit()
    w.a1 = apply(w.r1, d(2, 2))
    with travel(d(2, 9)):
        w.h1 = place_hold(
            w.morgan,
            w.r1,
            reason="budget",
            summary="Head office: budget technicality",
            owner_name="Head office",
            expected_clear_date=d(2, 11),
        ).hold
        db.session.commit()
    w.a2 = apply(w.r1, d(2, 16), "verbal_intent")
    phone(w.a2, d(2, 20), promised_next_update=d(2, 24))
    with travel(d(2, 20), 11):
        change_stage(w.morgan, w.a3, "not_selected", closure=ClosureNote("phone", "Called."))
        db.session.commit()

    # R3: a6 reaches a written offer, then H3; a9 closed in January.
    w.a9 = apply(w.r3, d(1, 5))
    with travel(d(1, 30)):
        change_stage(w.sasha, w.a9, "position_cancelled", closure=ClosureNote("phone", "Told."))
        db.session.commit()
    w.a6 = apply(w.r3, d(2, 2), "verbal_intent")
    with travel(d(2, 2)):
        propose_offer(w.sasha, w.a6, 50_000, w.alex.id, due_date=d(2, 4))
        db.session.commit()
    with travel(d(2, 3), 9):
        decide(w.alex, _pending(w.alex)[0], "approved")
        change_stage(w.sasha, w.a6, "offer_approved")
        change_stage(w.sasha, w.a6, "offer_extended")
        db.session.commit()
    with travel(d(2, 3)):
        w.h3 = place_hold(
            w.sasha, w.r3, reason="budget", summary="Sales budget review", owner_id=w.alex.id
        ).hold
        db.session.commit()

    # R2: a7, a8 closed by email; a4 with the visa hold H2; a5 interviewing.
    w.a7 = apply(w.r2, d(2, 2))
    w.a8 = apply(w.r2, d(2, 2), "interviewing")
    with travel(d(2, 10)):
        change_stage(w.morgan, w.a8, "final_round")
        db.session.commit()
    w.a4 = apply(w.r2, d(2, 23))
    w.a5 = apply(w.r2, d(2, 23), "interviewing")
    with travel(d(3, 2), 9):
        template = choose_template(w.morgan, "closure_not_selected")
        send_message(w.morgan, w.a8, template)
        db.session.commit()
    deliver_batch("test-worker", now=at(d(3, 2), 10))
    with travel(d(3, 2)):
        w.h2 = place_hold(
            w.morgan,
            w.r2,
            application=w.a4,
            reason="visa",
            summary="Visa sponsorship check",
            owner_id=w.alex.id,
            expected_clear_date=d(3, 13),
        ).hold
        db.session.commit()
    with travel(d(3, 3)):
        send_message(w.morgan, w.a7, choose_template(w.morgan, "closure_withdrawn"))
        db.session.commit()
    record_feedback(w.a8, True)
    record_feedback(w.a7, False)

    # What the reminders run records (another feature): broken promises and the ghosted flag.
    db.session.execute(
        update(Touchpoint)
        .where(Touchpoint.application_id == w.a2.id, Touchpoint.promised_next_update.is_not(None))
        .values(promise_broken_on=d(2, 25))
    )
    db.session.execute(
        update(Touchpoint)
        .where(Touchpoint.application_id == w.a3.id, Touchpoint.promised_next_update.is_not(None))
        .values(promise_broken_on=d(1, 8))
    )
    db.session.execute(
        update(Application).where(Application.id == w.a7.id).values(was_ghosted=True)
    )
    db.session.commit()
    _approvals(w)
    return w


def _pending(approver):
    from hiretrack.approvals.services import pending_for

    return pending_for(approver)


def _approvals(w: World) -> None:
    """Alex decided in 6, 23 (the offer), 24 and 96 hours; Blair in 24. Three are pending."""

    def decided(requisition, kind, approver, asked, asked_hour, answered, answered_hour):
        with travel(asked, asked_hour):
            approval = request_approval(w.robin, requisition, kind, approver.id)
            db.session.commit()
        with travel(answered, answered_hour):
            decide(approver, approval, "approved")
            db.session.commit()

    decided(w.r3, "budget", w.blair, d(2, 9), 10, d(2, 10), 10)
    decided(w.r2, "budget", w.alex, d(2, 23), 10, d(2, 24), 10)
    decided(w.r1, "headcount", w.alex, d(2, 25), 10, d(2, 25), 16)
    decided(w.r3, "budget", w.alex, d(2, 26), 10, d(3, 2), 10)
    with travel(d(2, 16)):
        request_approval(w.robin, w.r3, "budget", w.blair.id)
        db.session.commit()
    with travel(d(2, 25)):
        request_approval(w.robin, w.r1, "compensation", w.alex.id, due_date=d(2, 27))
        db.session.commit()
    with travel(d(3, 3)):
        request_approval(w.robin, w.r3, "budget", w.alex.id, due_date=d(3, 10))
        db.session.commit()


def run(name: str, user, **values) -> dict:
    """Build a report as `user` sees it today and return {table name: rows}."""
    with travel(TODAY, 12):
        report = build_report(name, user, values)
        return {
            table.name: (
                table.rows(db.session.execute(table.query))[0]
                if table.single_row
                else table.rows(db.session.execute(table.query))
            )
            for table in report.tables
        }


def pick(rows: list[dict], *keys: str) -> list[tuple]:
    return [tuple(row[key] for key in keys) for row in rows]


HOLD_FIGURES = (
    "summary",
    "age_business_days",
    "business_days_past_expected",
    "stranded",
    "overdue",
    "ghosted",
    "written_offer",
    "verbal",
    "candidate_days",
)
SUBTOTALS = (
    "holds",
    "overdue_holds",
    "stranded",
    "overdue",
    "ghosted",
    "written_offer",
    "verbal",
    "candidate_days",
)


# --- Figures -------------------------------------------------------------------------------------


def test_hold_report_open_holds_costliest_first_with_subtotals(world):
    tables = run("holds", world.robin)
    assert pick(tables["holds"], *HOLD_FIGURES) == [
        ("Head office: budget technicality", 17, 15, 2, 1, 1, 0, 1, 29),
        ("Sales budget review", 21, None, 1, 0, 1, 1, 0, 21),
        ("Visa sponsorship check", 2, 0, 1, 1, 0, 0, 0, 2),
    ]
    assert pick(tables["holds"], "owner", "state", "opened_on", "department") == [
        ("Head office", "overdue", d(2, 9), "Engineering"),
        ("Alex Approver", "open", d(2, 3), "Sales"),
        ("Alex Approver", "open", d(3, 2), "Engineering"),
    ]
    assert pick(tables["by_owner"], "owner", *SUBTOTALS) == [
        ("Head office", 1, 1, 2, 1, 1, 0, 1, 29),
        ("Alex Approver", 2, 0, 2, 1, 1, 1, 0, 23),
    ]
    assert pick(tables["by_reason"], "reason", *SUBTOTALS) == [
        ("budget", 2, 1, 3, 1, 2, 1, 1, 50),
        ("visa", 1, 0, 1, 1, 0, 0, 0, 2),
    ]
    assert pick(
        tables["age_buckets"], "reason", "age_0_5", "age_6_10", "age_11_20", "age_21_plus"
    ) == [
        ("budget", 0, 0, 1, 1),
        ("visa", 1, 0, 0, 0),
    ]
    assert tuple(tables["totals"][key] for key in SUBTOTALS) == (3, 1, 4, 2, 2, 1, 1, 52)


def test_hold_report_with_a_period_adds_resolved_holds(world):
    tables = run("holds", world.robin, **{"from": "2026-01-01", "to": "2026-03-04"})
    assert pick(tables["holds"], "summary", "state", "resolved_on", "candidate_days") == [
        ("Head office: budget technicality", "overdue", None, 29),
        ("Sales budget review", "open", None, 21),
        ("Hiring freeze in January", "cleared", d(1, 23), 9),
        ("Visa sponsorship check", "open", None, 2),
    ]
    freeze = tables["holds"][2]
    assert pick([freeze], *HOLD_FIGURES[1:]) == [(9, 5, 1, None, None, None, None, 9)]
    # Alex's three holds now cost more than head office's one: the owner order changes.
    assert pick(tables["by_owner"], "owner", "holds", "stranded", "candidate_days") == [
        ("Alex Approver", 3, 3, 32),
        ("Head office", 1, 2, 29),
    ]
    assert pick(tables["age_buckets"], "reason", "age_6_10") == [
        ("budget", 0),
        ("freeze", 1),
        ("visa", 0),
    ]
    # A period that ended before the freeze: nothing was open in it.
    before = run("holds", world.robin, **{"from": "2025-12-01", "to": "2025-12-31"})
    assert before["holds"] == [] and before["totals"]["holds"] == 0


def test_hold_report_department_filter(world):
    tables = run("holds", world.robin, department=str(world.sales.id))
    assert pick(tables["holds"], "summary") == [("Sales budget review",)]
    assert tables["totals"]["candidate_days"] == 21


def test_approval_bottlenecks_medians_and_percentiles(world):
    tables = run("approvals", world.robin)
    keys = (
        "approver",
        "pending",
        "past_due",
        "oldest_pending_business_days",
        "decided",
        "median_hours",
        "p90_hours",
    )
    # Alex: 6, 23, 24, 96 hours -> median 23.5; p90 at rank 2.7: 24 + 0.7 * 72 = 74.4.
    assert pick(tables["approvers"], *keys) == [
        ("Alex Approver", 2, 1, 5, 4, 23.5, 74.4),
        ("Blair Approver", 1, 0, 12, 1, 24.0, 24.0),
    ]
    # All five: 6, 23, 24, 24, 96 -> median 24; p90 at rank 3.6: 24 + 0.6 * 72 = 67.2.
    assert tuple(tables["totals"][key] for key in keys[1:]) == (3, 1, 12, 5, 24.0, 67.2)


def test_approval_period_limits_decisions_not_pending(world):
    tables = run("approvals", world.robin, **{"from": "2026-02-24", "to": "2026-02-28"})
    assert pick(tables["approvers"], "approver", "pending", "decided", "median_hours") == [
        ("Alex Approver", 2, 2, 15.0),
        ("Blair Approver", 1, 0, None),
    ]


def test_cadence_report_per_manager_and_department(world):
    tables = run("cadence", world.robin)
    keys = ("open_applications", "on_track", "due", "overdue", "ghosted", "broken_promises")
    assert pick(tables["managers"], "manager", "department", *keys) == [
        ("Morgan Manager", "Engineering", 4, 1, 0, 2, 1, 1),
        ("Sasha Sales", "Sales", 1, 0, 0, 0, 1, 0),
    ]
    assert pick(tables["departments"], "department", *keys) == [
        ("Engineering", 4, 1, 0, 2, 1, 1),
        ("Sales", 1, 0, 0, 0, 1, 0),
    ]
    assert tuple(tables["totals"][key] for key in keys) == (5, 1, 0, 2, 2, 1)
    longer = run("cadence", world.robin, **{"from": "2026-01-01"})
    assert longer["totals"]["broken_promises"] == 2


def test_closure_ledger_delivery_medians_and_feedback(world):
    tables = run("closure", world.robin)
    keys = (
        "candidate",
        "outcome",
        "closure_delivered",
        "closure_state",
        "channel",
        "closed_by",
        "business_days_to_closure",
        "was_ghosted",
        "feedback_useful",
    )
    assert pick(tables["applications"], *keys) == [
        (world.a7.candidate.name, "withdrawn", False, "queued", None, None, 21, True, 0),
        (
            world.a8.candidate.name,
            "not_selected",
            True,
            "delivered",
            "email",
            "Morgan Manager",
            14,
            False,
            1,
        ),
        (
            world.a3.candidate.name,
            "not_selected",
            True,
            "delivered",
            "phone",
            "Morgan Manager",
            27,
            False,
            0,
        ),
    ]
    delivered = pick(tables["applications"], "delivered_at")
    assert delivered == [(None,), (at(d(3, 2), 10),), (at(d(2, 20), 11),)]
    summary = (
        "closed",
        "delivered",
        "delivered_percent",
        "median_business_days_to_closure",
        "ghosted_at_some_point",
        "feedback_answers",
        "useful_percent",
    )
    assert pick(tables["by_outcome"], "outcome", *summary) == [
        ("not_selected", 2, 2, 100.0, 20.5, 0, 1, 100.0),
        ("withdrawn", 1, 0, 0.0, 21.0, 1, 1, 0.0),
    ]
    assert tuple(tables["totals"][key] for key in summary) == (3, 2, 66.7, 21.0, 1, 2, 50.0)


def test_closure_ledger_counts_a_queued_email_only_once_delivered(world):
    deliver_batch("test-worker", now=at(d(3, 3), 15))
    tables = run("closure", world.robin)
    first = tables["applications"][0]
    assert (first["closure_state"], first["closure_delivered"]) == ("delivered", True)
    assert first["delivered_at"] == at(d(3, 3), 15)
    assert tables["totals"]["delivered_percent"] == 100.0


# --- Access --------------------------------------------------------------------------------------


def summaries(tables: dict) -> set[str]:
    return {row["summary"] for row in tables["holds"]}


def test_each_role_sees_only_its_own_figures(world):
    period = {"from": "2026-01-01", "to": "2026-03-04"}
    everything = {
        "Head office: budget technicality",
        "Sales budget review",
        "Hiring freeze in January",
        "Visa sponsorship check",
    }
    assert summaries(run("holds", world.robin, **period)) == everything
    engineering = {
        "Head office: budget technicality",
        "Hiring freeze in January",
        "Visa sponsorship check",
    }
    assert summaries(run("holds", world.morgan, **period)) == engineering
    # Quinn manages an Engineering requisition without candidates: the department's figures.
    assert summaries(run("holds", world.quinn, **period)) == engineering
    assert summaries(run("holds", world.sasha, **period)) == {"Sales budget review"}
    assert summaries(run("holds", world.alex, **period)) == everything - {
        "Head office: budget technicality"
    }
    assert summaries(run("holds", world.blair, **period)) == set()

    approvers = run("approvals", world.alex)["approvers"]
    assert pick(approvers, "approver") == [("Alex Approver",)]
    morgan = run("approvals", world.morgan)
    assert pick(morgan["approvers"], "approver", "pending", "decided") == [("Alex Approver", 1, 2)]
    assert pick(run("cadence", world.sasha)["managers"], "manager") == [("Sasha Sales",)]
    assert run("closure", world.sasha)["applications"] == []
    assert len(run("closure", world.quinn)["applications"]) == 3


def test_a_manager_cannot_see_another_departments_hold_on_the_page_or_exports(world, client, login):
    with travel(TODAY, 12):
        login(world.sasha)
        page = client.get("/reports/holds")
        exported = client.get("/reports/holds.csv", buffered=True)
        as_json = client.get("/reports/holds.json", buffered=True)
    assert page.status_code == 200
    assert "Sales budget review" in page.text
    assert "budget technicality" not in page.text
    assert "Sales budget review" in exported.text
    assert "budget technicality" not in exported.text
    assert [row["summary"] for row in as_json.json["tables"]["holds"]] == ["Sales budget review"]
    with travel(TODAY, 12):
        other = client.get(f"/reports/holds.csv?department={world.engineering.id}", buffered=True)
    # Another department's filter is refused like one that does not exist.
    assert other.status_code == 422 and "Unknown department" in other.text


def test_reports_need_a_signed_in_user(client):
    for path in ("/reports", "/reports/holds", "/reports/closure.csv", "/reports/cadence.json"):
        response = client.get(path)
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]


# --- Pages and exports ---------------------------------------------------------------------------


class TableScraper(HTMLParser):
    """Collect the figures of each report table on a page: {table name: [{key: text}]}."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[dict[str, str]]] = {}
        self.rows: list | None = None
        self.row: dict[str, str] | None = None
        self.key: str | None = None
        self.in_totals = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "data-table" in attrs:
            self.rows = self.tables.setdefault(attrs["data-table"], [])
            if tag == "div":  # the totals: one row of figures
                self.in_totals, self.row = True, {}
                self.rows.append(self.row)
        elif tag == "tr" and self.rows is not None:
            self.row = {}
        elif "data-key" in attrs and self.row is not None:
            self.key = attrs["data-key"]
            self.row[self.key] = ""

    def handle_endtag(self, tag):
        if tag in ("td", "strong"):
            self.key = None
        elif tag == "tr":
            if self.row:
                self.rows.append(self.row)
            self.row = None
        elif tag == "table" or (tag == "div" and self.in_totals):
            self.rows, self.row, self.in_totals = None, None, False

    def handle_data(self, data):
        if self.key is not None and self.row is not None:
            self.row[self.key] += data.strip()


def page_number(text: str) -> float | None:
    """A figure as the page shows it ("66.7%", "12", "—") as a number."""
    text = text.strip().rstrip("%")
    return None if text in ("", "—") else float(text)


def numeric_keys(report) -> dict[str, list[str]]:
    return {
        table.name: [column.key for column in table.page_columns if column.numeric]
        for table in report.tables
    }


@pytest.mark.parametrize("name", ["holds", "approvals", "cadence", "closure"])
def test_csv_and_json_carry_the_page_figures(world, client, login, name):
    args = {"from": "2026-01-01", "to": "2026-03-04"}
    with travel(TODAY, 12):
        login(world.robin)
        page = client.get(f"/reports/{name}", query_string=args)
        exported = client.get(f"/reports/{name}.csv", query_string=args, buffered=True)
        as_json = client.get(f"/reports/{name}.json", query_string=args, buffered=True)
        report = build_report(name, world.robin, args)
    assert page.status_code == exported.status_code == as_json.status_code == 200
    assert exported.mimetype == "text/csv"
    assert "attachment" in exported.headers["Content-Disposition"]
    scraper = TableScraper()
    scraper.feed(page.text)
    header = next(csv.reader(io.StringIO(exported.text)))
    assert len(header) == len(set(header))
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    labels = {column.key: column.label for column in report.export_columns()}
    for table in report.tables:
        from_json = as_json.json["tables"][table.name]
        from_json = [from_json] if table.single_row else from_json
        from_page = scraper.tables[table.name]
        from_csv = [row for row in rows if row["Section"] == table.title]
        assert len(from_json) == len(from_page) == len(from_csv), table.name
        for key in numeric_keys(report)[table.name]:
            json_values = [None if row[key] is None else float(row[key]) for row in from_json]
            page_values = [page_number(row[key]) for row in from_page]
            csv_values = [float(row[labels[key]]) if row[labels[key]] else None for row in from_csv]
            assert json_values == page_values == csv_values, (table.name, key)
    assert as_json.json["filters"]["from"] == "2026-01-01"


def test_hold_page_shows_the_chart_with_its_table_and_export_links(world, client, login):
    with travel(TODAY, 12):
        login(world.robin)
        page = client.get("/reports/holds")
    assert page.status_code == 200
    text = page.text
    assert '<svg class="chart"' in text and 'role="img"' in text
    assert "Hold age in business days, by reason" in text
    # Every bar says what it is and how many, so the chart reads without colour.
    assert ">21+ business days<" in text and ">1 hold<" in text and ">0 holds<" in text
    assert 'fill="url(#holds-chart-p3)"' in text
    assert "/reports/holds.csv" in text and "/reports/holds.json" in text
    assert "reports-print.css" in text
    assert "style=" not in text.split('<svg class="chart"')[1].split("</svg>")[0]


@pytest.mark.parametrize("name", ["approvals", "cadence", "closure"])
def test_every_report_page_renders(world, client, login, name):
    with travel(TODAY, 12):
        login(world.morgan)
        page = client.get(f"/reports/{name}")
    assert page.status_code == 200
    assert '<svg class="chart"' in page.text


def test_bad_filters_get_a_clear_message_never_a_500(world, client, login):
    with travel(TODAY, 12):
        login(world.robin)
        page = client.get("/reports/closure?from=yesterday&to=2026-13-01&department=x")
        backwards = client.get("/reports/closure.json?from=2026-03-01&to=2026-02-01", buffered=True)
        exported = client.get("/reports/holds.csv?department=999999", buffered=True)
        ancient = client.get("/reports/cadence?from=1900-01-01")
    assert page.status_code == 422
    assert "is not a date" in page.text and "Unknown department" in page.text
    assert backwards.status_code == 422
    assert backwards.json["errors"]["to"] == ["The end of the period is before its start."]
    assert exported.status_code == 422 and "Unknown department" in exported.text
    assert ancient.status_code == 422 and "Choose a date between" in ancient.text


def test_csv_escapes_cells_that_would_start_a_formula(
    ctx, make_user, make_requisition, client, login
):
    recruiter = make_user("recruiter")
    requisition = make_requisition(title="@SUM(1+1)")
    place_hold(
        recruiter,
        requisition,
        reason="other",
        summary='=HYPERLINK("http://evil.example","click")',
        owner_name="-2+3",
    )
    db.session.commit()
    login(recruiter)
    exported = client.get("/reports/holds.csv", buffered=True)
    row = next(
        r for r in csv.reader(io.StringIO(exported.text)) if r[0] == "Holds, costliest first"
    )
    assert '\'=HYPERLINK("http://evil.example","click")' in row
    assert "'@SUM(1+1)" in row
    assert "'-2+3" in row
    assert all(not cell.startswith(("=", "+", "-", "@")) for cell in row)
    for dangerous in ("=1", "+1", "-1", "@x", "\tx", "\rx"):
        assert spreadsheet_safe(dangerous) == "'" + dangerous
    assert spreadsheet_safe("Plain text") == "Plain text"


# --- CLI -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["holds", "approvals", "cadence", "closure"])
def test_cli_prints_each_report_in_each_format(world, runner, name):
    with travel(TODAY, 12):
        table = runner.invoke(args=["report", name])
        as_csv = runner.invoke(args=["report", name, "--format", "csv"])
        as_json = runner.invoke(args=["report", name, "--format", "json", "--from", "2026-01-01"])
    assert table.exit_code == 0, table.output
    assert as_csv.exit_code == 0, as_csv.output
    assert as_json.exit_code == 0, as_json.output
    payload = json.loads(as_json.output)
    assert payload["report"] == name and payload["filters"]["from"] == "2026-01-01"
    assert list(csv.reader(io.StringIO(as_csv.output)))[0][0] == "Section"
    assert "Totals" in table.output


def test_cli_figures_match_the_service(world, runner):
    with travel(TODAY, 12):
        result = runner.invoke(
            args=["report", "holds", "--format", "json", "--department", "engineering"]
        )
    payload = json.loads(result.output)
    assert [row["candidate_days"] for row in payload["tables"]["holds"]] == [29, 2]
    assert payload["tables"]["totals"]["candidate_days"] == 31
    assert payload["filters"]["department"] == "Engineering"
    with travel(TODAY, 12):
        table = runner.invoke(args=["report", "holds", "--user", world.sasha.email])
    assert "Sales budget review" in table.output
    assert "budget technicality" not in table.output
    # Candidate-days come right after the state, before the other figures.
    assert re.search(
        r"Sales budget review +Account Exec +Alex Approver +Budget +Open +21 ", table.output
    )


def test_cli_rejects_bad_input_with_a_message(world, runner):
    with travel(TODAY, 12):
        bad_date = runner.invoke(args=["report", "closure", "--from", "soon"])
        bad_department = runner.invoke(args=["report", "cadence", "--department", "Nowhere"])
        bad_format = runner.invoke(args=["report", "holds", "--format", "xml"])
        bad_user = runner.invoke(args=["report", "holds", "--user", "nobody@acme.example"])
    assert bad_date.exit_code == 2 and "is not a date" in bad_date.output
    assert bad_department.exit_code == 2 and "Engineering, Sales" in bad_department.output
    assert bad_format.exit_code == 2
    assert bad_user.exit_code == 2 and "No active user" in bad_user.output


# --- Scale ---------------------------------------------------------------------------------------


def test_hold_report_query_count_does_not_grow_with_holds(
    ctx,
    make_user,
    make_department,
    make_requisition,
    make_candidate,
    make_application,
    client,
    login,
):
    recruiter = make_user("recruiter")
    owner = make_user("approver")
    manager = make_user("manager")
    department = make_department()

    def add_holds(count: int) -> None:
        for number in range(count):
            requisition = make_requisition(manager=manager, department=department)
            for stage in ("final_round", "verbal_intent"):
                candidate = make_candidate(actor=recruiter)
                make_application(requisition=requisition, candidate=candidate, stage=stage)
            place_hold(
                recruiter,
                requisition,
                reason="budget" if number % 2 else "visa",
                summary=f"Hold {number}",
                owner_id=owner.id if number % 3 else None,
                owner_name=None if number % 3 else f"Office {number}",
            )
        db.session.commit()

    statements: list[str] = []

    def count(*args):
        statements.append(args[2])

    login(recruiter)
    add_holds(3)
    # The first pages of the day fill the business calendar and remember that they did.
    client.get("/reports/holds")
    client.get("/reports/holds")
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert client.get("/reports/holds").status_code == 200
        with_three = len(statements)
        add_holds(17)
        statements.clear()
        page = client.get("/reports/holds")
        with_twenty = len(statements)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert page.status_code == 200 and "Hold 16" in page.text
    assert with_three == with_twenty
