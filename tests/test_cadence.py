"""The cadence query: next update due and status, on business days, computed by the database.

Dates are fixed with time-machine. March 2026 starts on a Sunday: Mon 2 .. Fri 6, Mon 9 ...
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import event

from hiretrack.admin.services import save_settings
from hiretrack.auth.access import visible_applications
from hiretrack.cadence.calendar import business_days_after
from hiretrack.cadence.queries import (
    CadenceStatus,
    cadence_for,
    cadence_query,
    cadence_summary,
    is_open,
)
from hiretrack.candidates.models import Application
from hiretrack.candidates.services import change_stage, log_touchpoint, record_delivery
from hiretrack.extensions import db
from hiretrack.messages.context import promise_date
from hiretrack.messages.services import schedule_time

ON_TRACK, DUE = CadenceStatus.ON_TRACK, CadenceStatus.DUE
OVERDUE, GHOSTED = CadenceStatus.OVERDUE, CadenceStatus.GHOSTED


def at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def travel(day: date, hour: int = 10, minute: int = 0):
    return time_machine.travel(at(day, hour, minute), tick=False)


def cadence(application: Application, today: date):
    """The application's cadence figures as the database computes them on `today`."""
    return cadence_for([application.id], today)[application.id]


def status_on(application: Application, today: date) -> CadenceStatus:
    return cadence(application, today).status


@pytest.fixture
def waiting(make_application, make_candidate, make_user):
    """A final-round application opened on Monday 2 March 2026 at 10:00, never contacted."""
    recruiter = make_user("recruiter")

    def make(day: date = date(2026, 3, 2), stage: str = "final_round", **kwargs) -> Application:
        kwargs.setdefault("candidate", make_candidate(actor=recruiter))
        with travel(day):
            return make_application(stage=stage, **kwargs)

    return make


def call(application: Application, day: date, hour: int = 10, **kwargs):
    """Log an outbound phone call that reached the candidate at that moment."""
    direction = kwargs.pop("direction", "outbound")
    with travel(day, hour):
        touchpoint = log_touchpoint(
            application.requisition.manager,
            application,
            direction=direction,
            channel="phone",
            note="Spoke with the candidate.",
            **kwargs,
        )
        db.session.commit()
    return touchpoint


def test_the_cadence_runs_five_business_days_from_opening_then_due_overdue_ghosted(waiting):
    application = waiting()
    assert cadence(application, date(2026, 3, 2)).next_update_due == date(2026, 3, 9)
    expected = {
        date(2026, 3, 2): ON_TRACK,
        date(2026, 3, 5): ON_TRACK,  # Thursday: due Monday, more than a business day away
        date(2026, 3, 6): DUE,  # Friday: Monday is the next business day
        date(2026, 3, 7): DUE,  # Saturday
        date(2026, 3, 8): DUE,  # Sunday
        date(2026, 3, 9): DUE,  # due today
        date(2026, 3, 10): OVERDUE,
        date(2026, 3, 16): OVERDUE,  # silent for exactly 10 business days = 2x cadence
        date(2026, 3, 17): GHOSTED,  # 11 business days: more than twice the cadence
    }
    assert {day: status_on(application, day) for day in expected} == expected
    assert cadence(application, date(2026, 3, 17)).business_days_silent == 11


def test_a_contact_at_the_weekend_counts_from_the_next_business_day(waiting):
    application = waiting()
    call(application, date(2026, 3, 7))  # Saturday
    # Five business days after a Saturday: Mon 9 .. Fri 13.
    assert cadence(application, date(2026, 3, 9)).next_update_due == date(2026, 3, 13)


def test_a_promise_or_a_send_made_at_the_weekend_counts_as_the_cadence_does(waiting):
    application = waiting()
    call(application, date(2026, 3, 7))  # Saturday: the cadence says Friday 13
    due = cadence(application, date(2026, 3, 7)).next_update_due
    # The default promise of a message written that Saturday, capped by the cadence, falls on
    # the same day, not on the Monday after (it once counted from Monday 9 and said Monday 16).
    assert promise_date(application, None, today=date(2026, 3, 7)) == due == date(2026, 3, 13)
    # "Send in 1 business day" written on the Saturday or the Sunday goes out on Monday morning.
    sunday_evening = datetime(2026, 3, 8, 20, 0, tzinfo=UTC)
    london = ZoneInfo("Europe/London")
    scheduled = schedule_time("in_days", business_days=1, timezone=london, now=sunday_evening)
    assert scheduled == datetime(2026, 3, 9, 9, 0, tzinfo=london)


@pytest.mark.parametrize(
    ("start", "count", "expected"),
    [
        (date(2026, 3, 6), 0, date(2026, 3, 6)),  # Friday
        (date(2026, 3, 7), 0, date(2026, 3, 6)),  # Saturday: the Friday before
        (date(2026, 3, 6), 1, date(2026, 3, 9)),
        (date(2026, 3, 7), 1, date(2026, 3, 9)),
        (date(2026, 3, 8), 5, date(2026, 3, 13)),  # Sunday
        (date(2026, 3, 9), 5, date(2026, 3, 16)),  # Monday
    ],
)
def test_business_days_after_counts_from_the_last_business_day(start, count, expected):
    assert business_days_after(start, count, None) == expected


def test_gb_eng_christmas_and_boxing_day_are_not_business_days(app, waiting):
    app.config["HOLIDAYS"] = "GB-ENG"
    application = waiting(day=date(2026, 12, 22))  # a Tuesday
    # Wed 23, Thu 24, (Fri 25 Christmas, Mon 28 Boxing Day observed), Tue 29, Wed 30, Thu 31.
    assert cadence(application, date(2026, 12, 22)).next_update_due == date(2026, 12, 31)
    assert status_on(application, date(2026, 12, 24)) == ON_TRACK
    # Wednesday 30th: Thursday 31st is the next business day.
    assert status_on(application, date(2026, 12, 30)) == DUE


def test_without_a_holiday_calendar_only_weekends_are_skipped(waiting):
    application = waiting(day=date(2026, 12, 22))
    assert cadence(application, date(2026, 12, 22)).next_update_due == date(2026, 12, 29)


def test_the_admin_holiday_setting_overrides_the_configuration_at_once(app, waiting, make_user):
    app.config["HOLIDAYS"] = "GB-ENG"
    application = waiting(day=date(2026, 12, 22))
    assert cadence(application, date(2026, 12, 22)).next_update_due == date(2026, 12, 31)
    save_settings(make_user("admin"), holidays="DE")
    db.session.commit()
    # Germany: 25 and 26 December (a Saturday) only, so Monday 28th is a working day.
    assert cadence(application, date(2026, 12, 22)).next_update_due == date(2026, 12, 30)


def test_a_promise_on_a_sunday_must_be_kept_by_the_friday_before(waiting):
    application = waiting()
    call(application, date(2026, 3, 9), promised_next_update=date(2026, 3, 15))  # a Sunday
    assert cadence(application, date(2026, 3, 9)).next_update_due == date(2026, 3, 13)
    assert status_on(application, date(2026, 3, 11)) == ON_TRACK
    assert status_on(application, date(2026, 3, 12)) == DUE
    assert status_on(application, date(2026, 3, 13)) == DUE
    assert status_on(application, date(2026, 3, 14)) == OVERDUE
    assert status_on(application, date(2026, 3, 16)) == OVERDUE


def test_a_promise_earlier_than_the_cadence_wins(waiting):
    application = waiting()
    call(application, date(2026, 3, 2), promised_next_update=date(2026, 3, 4))
    assert cadence(application, date(2026, 3, 2)).next_update_due == date(2026, 3, 4)
    assert status_on(application, date(2026, 3, 3)) == DUE
    assert status_on(application, date(2026, 3, 5)) == OVERDUE


def test_an_inbound_call_on_friday_evening_is_due_on_monday(waiting):
    application = waiting()
    call(application, date(2026, 3, 5))  # our last word: Thursday
    call(application, date(2026, 3, 6), hour=19, direction="inbound")  # they rang Friday 19:00
    figures = cadence(application, date(2026, 3, 6))
    assert (figures.status, figures.next_update_due) == (DUE, date(2026, 3, 9))
    assert status_on(application, date(2026, 3, 7)) == DUE
    assert status_on(application, date(2026, 3, 9)) == DUE
    assert status_on(application, date(2026, 3, 10)) == OVERDUE
    # We call back on Monday: the question is answered and the cadence restarts from Monday.
    call(application, date(2026, 3, 9), hour=9)
    figures = cadence(application, date(2026, 3, 10))
    assert (figures.status, figures.next_update_due) == (ON_TRACK, date(2026, 3, 16))


def test_an_inbound_contact_does_not_reset_the_clock(waiting):
    application = waiting()
    call(application, date(2026, 3, 3), direction="inbound")
    call(application, date(2026, 3, 3), hour=11)  # answered the same day
    call(application, date(2026, 3, 9), direction="inbound")
    refreshed = db.session.get(Application, application.id)
    assert refreshed.last_contact_at == at(date(2026, 3, 3), 11)
    # Due Tuesday 10th both by the inbound rule and by the cadence from Tuesday 3rd.
    assert cadence(application, date(2026, 3, 9)).next_update_due == date(2026, 3, 10)


def test_a_queued_email_does_not_count_until_it_is_delivered(waiting):
    from hiretrack.messages.services import choose_template, send_message

    application = waiting()
    manager = application.requisition.manager
    with travel(date(2026, 3, 10)):
        sent = send_message(manager, application, choose_template(manager, "check_in"))
        db.session.commit()
    # Queued on Tuesday 10th but not delivered: still overdue from the opening on the 2nd.
    assert status_on(application, date(2026, 3, 10)) == OVERDUE
    assert db.session.get(Application, application.id).last_contact_at is None
    record_delivery(sent.touchpoint, at(date(2026, 3, 10), 10, 5))
    db.session.commit()
    figures = cadence(application, date(2026, 3, 10))
    # Delivered: the check-in promised five business days, and the clock restarted.
    assert (figures.status, figures.next_update_due) == (ON_TRACK, date(2026, 3, 17))


def test_a_logged_phone_call_or_meeting_resets_the_clock(waiting):
    application = waiting()
    assert status_on(application, date(2026, 3, 10)) == OVERDUE
    call(application, date(2026, 3, 10))
    assert status_on(application, date(2026, 3, 10)) == ON_TRACK
    with travel(date(2026, 3, 20)):
        log_touchpoint(
            application.requisition.manager,
            application,
            direction="outbound",
            channel="meeting",
            note="Coffee",
        )
        db.session.commit()
    assert cadence(application, date(2026, 3, 20)).next_update_due == date(2026, 3, 27)


def test_stage_changes_and_approvals_never_reset_the_clock(waiting, make_user):
    from hiretrack.approvals.services import decide, request_approval

    application = waiting()
    manager = application.requisition.manager
    approver = make_user("approver")
    with travel(date(2026, 3, 9)):
        change_stage(manager, application, "verbal_intent", note="We want to hire them.")
        approval = request_approval(manager, application.requisition, "budget", approver.id)
        decide(approver, approval, "approved", note="fine")
        db.session.commit()
    assert db.session.get(Application, application.id).last_contact_at is None
    assert status_on(application, date(2026, 3, 10)) == OVERDUE
    assert cadence(application, date(2026, 3, 10)).next_update_due == date(2026, 3, 9)


def test_ghosted_after_twice_the_requisition_cadence(waiting):
    application = waiting(cadence_business_days=2)
    assert cadence(application, date(2026, 3, 2)).next_update_due == date(2026, 3, 4)
    assert status_on(application, date(2026, 3, 3)) == DUE
    assert status_on(application, date(2026, 3, 5)) == OVERDUE
    assert status_on(application, date(2026, 3, 6)) == OVERDUE  # 4 business days silent
    assert status_on(application, date(2026, 3, 9)) == GHOSTED  # 5 > 2 x 2


def test_the_organisation_cadence_applies_without_a_requisition_override(waiting, make_user):
    save_settings(make_user("admin"), cadence_business_days=3)
    db.session.commit()
    default = waiting()
    own = waiting(cadence_business_days=8)
    assert cadence(default, date(2026, 3, 2)).next_update_due == date(2026, 3, 5)
    assert cadence(own, date(2026, 3, 2)).next_update_due == date(2026, 3, 12)


def test_placing_a_hold_makes_every_stranded_application_due(waiting, make_user):
    from hiretrack.holds.services import place_hold

    first = waiting()
    second = waiting(requisition=first.requisition)
    call(first, date(2026, 3, 4))
    call(second, date(2026, 3, 4))
    assert status_on(first, date(2026, 3, 4)) == ON_TRACK
    with travel(date(2026, 3, 4), 15):  # Wednesday afternoon
        place_hold(
            first.requisition.manager,
            first.requisition,
            reason="budget",
            summary="Budget technicality",
            owner_name="Head office",
        )
        db.session.commit()
    figures = cadence_for([first.id, second.id], date(2026, 3, 4))
    assert {f.status for f in figures.values()} == {DUE}
    assert {f.next_update_due for f in figures.values()} == {date(2026, 3, 5)}
    assert status_on(first, date(2026, 3, 6)) == OVERDUE
    # A call after the hold was placed gives the candidate the news: the request is met.
    call(first, date(2026, 3, 5))
    assert status_on(first, date(2026, 3, 6)) == ON_TRACK
    assert status_on(second, date(2026, 3, 6)) == OVERDUE


def test_interviewing_candidates_have_no_cadence_clock_but_a_question_makes_them_due(waiting):
    application = waiting(stage="interviewing")
    figures = cadence(application, date(2026, 4, 30))
    assert (figures.status, figures.next_update_due) == (ON_TRACK, None)
    call(application, date(2026, 5, 1), direction="inbound")  # a Friday
    figures = cadence(application, date(2026, 5, 1))
    assert (figures.status, figures.next_update_due) == (DUE, date(2026, 5, 4))
    # Moving to the final round starts the clock, counted from the opening: long silent.
    with travel(date(2026, 5, 4)):
        change_stage(application.requisition.manager, application, "final_round")
        db.session.commit()
    assert status_on(application, date(2026, 5, 4)) == GHOSTED


def test_closed_applications_are_left_out(waiting):
    from hiretrack.candidates.services import ClosureNote

    application = waiting()
    with travel(date(2026, 3, 3)):
        change_stage(
            application.requisition.manager,
            application,
            "withdrawn",
            closure=ClosureNote("phone", "They told us they took another job."),
        )
        db.session.commit()
    assert cadence_for([application.id], date(2026, 3, 20)) == {}


def test_an_application_older_than_the_calendar_is_still_listed_as_ghosted(waiting):
    application = waiting()
    application.opened_at = at(date(2015, 6, 1))
    db.session.commit()
    figures = cadence(application, date(2026, 3, 2))
    assert figures.status == GHOSTED
    assert figures.next_update_due < date(2026, 3, 2)


def test_summary_counts_each_status_within_a_scope(waiting, make_user):
    manager = make_user("manager")
    other_manager = make_user("manager")
    from hiretrack.requisitions.services import create_requisition

    def requisition_for(user):
        from hiretrack.admin.models import Department

        department = Department(name=f"Dept {user.id}")
        db.session.add(department)
        db.session.flush()
        return create_requisition(user, title="Role", department_id=department.id, status="open")

    mine, theirs = requisition_for(manager), requisition_for(other_manager)
    db.session.commit()
    waiting(day=date(2026, 3, 2), requisition=mine)  # ghosted by 17 March
    waiting(day=date(2026, 3, 9), requisition=mine)  # overdue (due 16th)
    waiting(day=date(2026, 3, 17), requisition=mine)  # on track
    waiting(day=date(2026, 3, 10), requisition=theirs)  # due (17th)
    today = date(2026, 3, 17)
    assert cadence_summary(visible_applications(manager), today) == {
        GHOSTED: 1,
        OVERDUE: 1,
        DUE: 0,
        ON_TRACK: 1,
    }
    assert cadence_summary(visible_applications(other_manager), today)[DUE] == 1
    assert sum(cadence_summary(None, today).values()) == 4


def test_the_figures_come_from_one_sql_statement_whatever_the_number_of_rows(app, waiting):
    requisition = waiting().requisition
    ids = [waiting(requisition=requisition).id for _ in range(15)]
    cadence_for(ids, date(2026, 3, 20))  # builds and remembers the calendar
    statements: list[str] = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", remember)
    try:
        figures = cadence_for(ids, date(2026, 3, 20))
    finally:
        event.remove(db.engine, "before_cursor_execute", remember)
    assert len(figures) == 15
    assert [s for s in statements if "application" in s.lower()] == [statements[-1]]
    assert sum("calendar_day" in s for s in statements) == 1


def test_callers_order_by_urgency_and_due_date(waiting):
    ghosted = waiting(day=date(2026, 2, 2))
    on_track = waiting(day=date(2026, 3, 16))
    overdue = waiting(day=date(2026, 3, 5))
    query, columns = cadence_query(date(2026, 3, 17))
    ordered = db.session.scalars(
        query.order_by(columns.urgency, columns.next_update_due, Application.id)
    ).all()
    assert [a.id for a in ordered] == [ghosted.id, overdue.id, on_track.id]


def test_a_contact_exactly_at_midnight_utc_counts_on_its_own_day(waiting):
    application = waiting()
    call(application, date(2026, 3, 9), hour=0)
    assert cadence(application, date(2026, 3, 9)).next_update_due == date(2026, 3, 16)
    assert cadence(application, date(2026, 3, 9) + timedelta(days=1)).status == ON_TRACK


def test_a_managers_open_condition_keeps_sqlite_off_closed_at_indexes_not_postgresql():
    """SQLite would walk every open application by an index led by closed_at; PostgreSQL
    starts from the manager's requisitions and reads only their open rows from the index."""
    from sqlalchemy.dialects import postgresql, sqlite

    scoped = is_open(scoped=True)
    assert str(scoped.compile(dialect=sqlite.dialect())) == (
        "coalesce(application.closed_at, application.closed_at) IS NULL"
    )
    assert str(scoped.compile(dialect=postgresql.dialect())) == "application.closed_at IS NULL"
    assert str(is_open().compile(dialect=sqlite.dialect())) == "application.closed_at IS NULL"
