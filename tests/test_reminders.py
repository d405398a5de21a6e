"""The reminders run: broken promises, ghosting, digests, automatic check-ins; once a day.

Today is Tuesday 17 March 2026 unless a test says otherwise (time-machine holds the clock).
"""

import threading
from datetime import UTC, date, datetime
from email import message_from_bytes, policy

import pytest
import time_machine
from sqlalchemy import func, select

from hiretrack.cadence.models import ReminderDigest
from hiretrack.cadence.reminders import (
    DigestKind,
    execute_plan,
    plan_reminders,
    run_reminders,
)
from hiretrack.cadence.upkeep import mark_ghosted, record_broken_promises
from hiretrack.candidates.models import Application, Touchpoint
from hiretrack.candidates.services import log_touchpoint, record_delivery
from hiretrack.extensions import db
from hiretrack.messages.models import OutboxEmail, TemplateCategory
from tests.conftest import POSTGRES_URL

TODAY = date(2026, 3, 17)
BASE_URL = "http://hiretrack.test"


def travel(day: date, hour: int = 10):
    return time_machine.travel(datetime(day.year, day.month, day.day, hour, tzinfo=UTC), tick=False)


def outbox_count(**filters) -> int:
    query = select(func.count()).select_from(OutboxEmail).filter_by(**filters)
    return db.session.scalar(query)


def staff_emails(user) -> list[OutboxEmail]:
    return list(
        db.session.scalars(
            select(OutboxEmail)
            .where(OutboxEmail.recipient_user_id == user.id)
            .order_by(OutboxEmail.id)
        )
    )


def call(application, day: date, direction: str = "outbound", **kwargs) -> Touchpoint:
    """Log a phone call with the candidate on that day."""
    with travel(day):
        touchpoint = log_touchpoint(
            application.requisition.manager,
            application,
            direction=direction,
            channel="phone",
            note="Call",
            **kwargs,
        )
        db.session.commit()
    return touchpoint


@pytest.fixture
def opened(make_application, make_candidate, make_user):
    """Open a final-round application on a given day (default Monday 2 March 2026)."""
    recruiter = make_user("recruiter")

    def make(day: date = date(2026, 3, 2), stage: str = "final_round", **kwargs) -> Application:
        kwargs.setdefault("candidate", make_candidate(actor=recruiter))
        with travel(day):
            return make_application(stage=stage, **kwargs)

    return make


@pytest.fixture
def team(opened, make_user, make_requisition, make_candidate):
    """Maria's requisition with a ghosted, an overdue, a due and an on-track candidate; Bob's
    with one overdue; an overdue hold owned by Helen that strands Maria's candidates."""
    from hiretrack.holds.services import place_hold

    maria = make_user("manager", name="Maria Lopez", email="maria@acme.example")
    bob = make_user("manager", name="Bob Stone", email="bob@acme.example")
    helen = make_user("approver", name="Helen Ward", email="helen@acme.example")
    backend = make_requisition(manager=maria, title="Senior Backend Engineer")
    frontend = make_requisition(manager=bob, title="Frontend Engineer")
    people = {
        "ghosted": opened(date(2026, 2, 2), requisition=backend),
        "overdue": opened(
            date(2026, 3, 5),
            requisition=backend,
            candidate=make_candidate(actor=maria, name="Zoë <O'Brien>"),
        ),
        "due": opened(date(2026, 3, 10), requisition=backend),
        "on_track": opened(date(2026, 3, 16), requisition=backend),
        "bobs": opened(date(2026, 3, 5), requisition=frontend),
    }
    with travel(date(2026, 3, 6)):
        hold = place_hold(
            maria,
            backend,
            reason="budget",
            summary="Budget technicality",
            owner_id=helen.id,
            expected_clear_date=date(2026, 3, 9),
        ).hold
        db.session.commit()
    # The hold asked for an update; each candidate got one, so only the cadence drives them.
    for application in people.values():
        application.update_requested_at = None
    db.session.commit()
    return {"maria": maria, "bob": bob, "helen": helen, "hold": hold, **people}


def test_a_promise_passed_without_contact_is_recorded_broken_once(opened):
    sunday = opened()
    call(sunday, date(2026, 3, 9), promised_next_update=date(2026, 3, 15))
    kept = opened()
    kept_promise = call(kept, date(2026, 3, 9), promised_next_update=date(2026, 3, 12))
    call(kept, date(2026, 3, 11))
    late = opened()
    late_promise = call(late, date(2026, 3, 9), promised_next_update=date(2026, 3, 11))
    call(late, date(2026, 3, 13))
    future = opened()
    future_promise = call(future, date(2026, 3, 9), promised_next_update=date(2026, 3, 16))

    assert record_broken_promises(date(2026, 3, 16)) == 2
    db.session.commit()
    broken = dict(
        db.session.execute(
            select(Touchpoint.application_id, Touchpoint.promise_broken_on).where(
                Touchpoint.promise_broken_on.is_not(None)
            )
        ).all()
    )
    # Sunday's promise broke on Monday; Wednesday's, answered on Friday, broke on Thursday.
    assert broken == {sunday.id: date(2026, 3, 16), late.id: date(2026, 3, 12)}
    assert record_broken_promises(date(2026, 3, 16)) == 0
    assert db.session.get(Touchpoint, kept_promise.id).promise_broken_on is None
    assert db.session.get(Touchpoint, future_promise.id).promise_broken_on is None
    assert db.session.get(Touchpoint, late_promise.id).promise_broken_on == date(2026, 3, 12)


def test_a_promise_in_an_email_never_delivered_was_never_made(opened):
    from hiretrack.messages.services import choose_template, send_message

    application = opened()
    manager = application.requisition.manager
    with travel(date(2026, 3, 9)):
        sent = send_message(manager, application, choose_template(manager, "check_in"))
        db.session.commit()
    assert sent.touchpoint.promised_next_update == date(2026, 3, 16)
    assert record_broken_promises(date(2026, 3, 18)) == 0
    record_delivery(sent.touchpoint, datetime(2026, 3, 9, 10, 1, tzinfo=UTC))
    db.session.commit()
    assert record_broken_promises(date(2026, 3, 18)) == 1


def test_ghosted_applications_are_flagged_for_good(opened):
    application = opened(date(2026, 2, 2))
    assert mark_ghosted(TODAY) == 1
    db.session.commit()
    call(application, TODAY)
    assert mark_ghosted(TODAY) == 0
    assert db.session.get(Application, application.id).was_ghosted is True


def test_each_manager_gets_a_digest_of_their_waiting_candidates_with_links(team):
    with travel(TODAY):
        report = run_reminders(TODAY)
    assert report.digests_sent == 3  # Maria, Bob, and Helen as the hold's owner
    (email,) = staff_emails(team["maria"])
    assert (email.application_id, email.to_address, email.status) == (
        None,
        "maria@acme.example",
        "queued",
    )
    assert email.subject == "HireTrack: 3 candidates waiting on an update and 1 overdue hold"
    text = email.body_text
    names = {key: team[key].candidate.name for key in ("ghosted", "overdue", "due", "on_track")}
    positions = [text.index(names[key]) for key in ("ghosted", "overdue", "due")]
    assert positions == sorted(positions)  # most urgent first
    assert names["on_track"] not in text
    assert team["bobs"].candidate.name not in text
    assert f"{BASE_URL}/candidates/{team['ghosted'].candidate_id}" in text
    assert f"{BASE_URL}/reports/holds" in text
    assert "No word from us for 31 business days." in text
    assert "Next update was due Thu 12 Mar 2026." in text
    assert "Budget technicality, Senior Backend Engineer (owner: Helen Ward)" in text
    # Names are escaped in the HTML part, and links point at each candidate.
    assert "Zoë &lt;O&#39;Brien&gt;" in email.body_html
    assert f'href="{BASE_URL}/candidates/{team["due"].candidate_id}"' in email.body_html
    (bobs,) = staff_emails(team["bob"])
    assert team["bobs"].candidate.name in bobs.body_text
    assert "hold" not in bobs.subject


def test_hold_owners_hear_how_many_candidates_their_overdue_holds_strand(team, opened, make_user):
    from hiretrack.holds.services import place_hold

    helen = team["helen"]
    with travel(date(2026, 3, 10)):
        # A hold on one candidacy strands one person; a hold not yet due is not mentioned.
        place_hold(
            team["bob"],
            team["bobs"].requisition,
            application=team["bobs"],
            reason="visa",
            summary="Visa sponsorship check",
            owner_id=helen.id,
            expected_clear_date=date(2026, 3, 13),
        )
        place_hold(
            team["bob"],
            team["bobs"].requisition,
            reason="headcount",
            summary="Headcount review",
            owner_id=helen.id,
            expected_clear_date=date(2026, 4, 1),
        )
        db.session.commit()
    with travel(TODAY):
        run_reminders(TODAY)
    (email,) = staff_emails(helen)
    assert email.subject == "HireTrack: 2 holds you own are past the expected clear date"
    assert "Budget technicality, Senior Backend Engineer" in email.body_text
    assert "Expected to clear by Mon 09 Mar 2026, 8 days ago. Strands 4 candidates." in (
        email.body_text
    )
    assert "Visa sponsorship check, Frontend Engineer" in email.body_text
    assert "4 days ago. Strands 1 candidate." in email.body_text
    assert "Headcount review" not in email.body_text
    assert f"{BASE_URL}/reports/holds" in email.body_html


def test_the_digest_run_twice_in_one_day_sends_once(team, runner):
    with travel(TODAY, 9):
        first = runner.invoke(args=["reminders", "run"])
    assert first.exit_code == 0, first.output
    assert "3 digests queued, 0 already sent today" in first.output
    with travel(TODAY, 10):
        second = runner.invoke(args=["reminders", "run"])
    assert second.exit_code == 0, second.output
    assert "0 digests queued, 3 already sent today" in second.output
    assert outbox_count(application_id=None) == 3
    assert db.session.scalar(select(func.count()).select_from(ReminderDigest)) == 3
    with travel(date(2026, 3, 18), 9):
        third = runner.invoke(args=["reminders", "run"])
    assert "3 digests queued" in third.output
    assert outbox_count(application_id=None) == 6


def test_a_second_host_that_planned_the_same_digest_does_not_send_it(team):
    with travel(TODAY):
        plan = plan_reminders(TODAY)
        # Meanwhile another host claimed Maria's digest for today.
        db.session.add(
            ReminderDigest(
                recipient_user_id=team["maria"].id, kind=DigestKind.MANAGER, sent_on=TODAY
            )
        )
        db.session.commit()
        report = execute_plan(plan)
    assert (report.digests_sent, report.digests_skipped) == (2, 1)
    assert staff_emails(team["maria"]) == []


@pytest.mark.skipif(not POSTGRES_URL, reason="concurrent hosts need a shared PostgreSQL database")
def test_two_hosts_running_at_once_never_double_send(app, team):
    with travel(TODAY):
        plan_reminders(TODAY)  # build the business-day calendar once
    db.session.commit()
    start = threading.Barrier(2)
    reports, errors = [], []

    def host() -> None:
        try:
            with app.app_context():
                start.wait()
                reports.append(run_reminders(TODAY))
                db.session.remove()
        except Exception as error:  # reported below; a thread cannot fail the test itself
            errors.append(error)

    threads = [threading.Thread(target=host) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(reports) == 2
    assert sum(report.digests_sent for report in reports) == 3
    db.session.expire_all()
    assert outbox_count(application_id=None) == 3


def test_dry_run_prints_a_table_and_writes_nothing(team, runner):
    with travel(TODAY):
        before = (outbox_count(), db.session.scalar(select(func.count(ReminderDigest.id))))
        result = runner.invoke(args=["reminders", "run", "--dry-run", "--today", "2026-03-17"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Dry run for 2026-03-17: nothing was sent or recorded."
    assert lines[1].split() == ["WHAT", "TO", "CONTENT", "STATE"]
    maria_line = next(line for line in lines if "maria@acme.example" in line)
    assert "manager digest" in maria_line
    assert "1 ghosted, 1 overdue, 1 due, 1 overdue hold stranding 4" in maria_line
    assert maria_line.rstrip().endswith("would send")
    assert any("hold owner digest" in line and "Helen Ward" in line for line in lines)
    assert "flag 1 newly ghosted application(s)" in result.output
    assert (outbox_count(), db.session.scalar(select(func.count(ReminderDigest.id)))) == before
    assert db.session.get(Application, team["ghosted"].id).was_ghosted is False
    with travel(TODAY):
        runner.invoke(args=["reminders", "run", "--quiet"])
        again = runner.invoke(args=["reminders", "run", "--dry-run"])
    assert "already sent today" in again.output
    assert "would send" not in again.output


def test_quiet_runs_print_nothing_and_a_bad_date_is_refused(team, runner):
    with travel(TODAY):
        quiet = runner.invoke(args=["reminders", "run", "--quiet"])
    assert (quiet.exit_code, quiet.output) == (0, "")
    bad = runner.invoke(args=["reminders", "run", "--today", "17/03/2026"])
    assert bad.exit_code == 2
    assert "Invalid value for '--today'" in bad.output


def test_inactive_managers_get_no_digest(team):
    team["bob"].active = False
    db.session.commit()
    with travel(TODAY):
        run_reminders(TODAY)
    assert staff_emails(team["bob"]) == []


def test_the_digest_goes_out_through_the_outbox_worker(app, team, runner, tmp_path):
    with travel(TODAY):
        run_reminders(TODAY)
        result = runner.invoke(args=["outbox", "deliver", "--once"])
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "mail").glob("*.eml"))
    messages = [message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]
    to_maria = [m for m in messages if m["To"].addresses[0].addr_spec == "maria@acme.example"]
    assert len(to_maria) == 1
    body = to_maria[0].get_body(("plain",)).get_content()
    assert f"{BASE_URL}/candidates/{team['ghosted'].candidate_id}" in body
    (email,) = staff_emails(team["maria"])
    assert email.status == "sent"


# --- Automatic check-ins --------------------------------------------------------------------------


@pytest.fixture
def auto(opened, make_user, make_requisition):
    """A requisition with automatic check-ins and candidates in each situation."""
    manager = make_user("manager", name="Ann Auto", email="ann@acme.example")
    requisition = make_requisition(manager=manager, auto_check_in=True)
    asked = opened(date(2026, 3, 10), requisition=requisition)
    call(asked, date(2026, 3, 16), direction="inbound")  # a question needs a person's answer
    return {
        "manager": manager,
        "requisition": requisition,
        "overdue": opened(date(2026, 3, 5), requisition=requisition),
        "due": opened(date(2026, 3, 10), requisition=requisition),
        "on_track": opened(date(2026, 3, 16), requisition=requisition),
        "interviewing": opened(date(2026, 2, 2), requisition=requisition, stage="interviewing"),
        "asked": asked,
    }


def check_ins() -> list[OutboxEmail]:
    return list(
        db.session.scalars(
            select(OutboxEmail)
            .where(OutboxEmail.application_id.is_not(None))
            .order_by(OutboxEmail.application_id)
        )
    )


def test_auto_check_ins_go_to_due_and_overdue_candidates_only(auto, opened):
    not_opted_in = opened(date(2026, 3, 5))
    with travel(TODAY):
        report = run_reminders(TODAY)
    sent = check_ins()
    assert report.check_ins_sent == 2
    assert [email.application_id for email in sent] == [auto["overdue"].id, auto["due"].id]
    assert {email.category for email in sent} == {TemplateCategory.CHECK_IN.value}
    assert all(email.application_id != not_opted_in.id for email in sent)
    (digest,) = staff_emails(auto["manager"])
    assert digest.body_text.count("An automatic check-in was sent today.") == 2


def test_auto_check_ins_are_sent_once_and_wait_for_delivery(auto):
    with travel(TODAY, 8):
        run_reminders(TODAY)
    with travel(TODAY, 9):
        second = run_reminders(TODAY)
    assert second.check_ins_sent == 0
    with travel(date(2026, 3, 18), 8):
        # Still queued (not delivered): the candidate is still due, but a message is on its way.
        third = run_reminders(date(2026, 3, 18))
    assert third.check_ins_sent == 0
    assert len(check_ins()) == 2


def test_a_hold_notice_waiting_for_review_is_never_replaced_by_a_check_in(auto):
    from hiretrack.holds.services import place_hold

    with travel(date(2026, 3, 16)):
        place_hold(
            auto["manager"],
            auto["requisition"],
            reason="freeze",
            summary="Hiring freeze",
            owner_name="Head office",
        )
        db.session.commit()
    with travel(TODAY):
        report = run_reminders(TODAY)
    assert report.check_ins_sent == 0
    assert check_ins() == []


def test_dry_run_lists_the_check_ins_it_would_send(auto, runner):
    with travel(TODAY):
        result = runner.invoke(args=["reminders", "run", "--dry-run"])
    check_in_lines = [line for line in result.output.splitlines() if "auto check-in" in line]
    assert len(check_in_lines) == 2
    assert f"application {auto['overdue'].id}" in check_in_lines[0]
    assert "from Ann Auto" in check_in_lines[0]
    assert check_ins() == []
