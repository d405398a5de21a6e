"""The stored cadence dates always equal a from-scratch computation, whatever happened.

Each application stores `next_update_due` and the dates its status needs (see
`hiretrack.cadence.stored`); every writer must keep them true. A property test plays random
sequences of events through the services people use (contacts both ways, promises, stage changes,
holds placed and cleared, updates requested, organisation and requisition cadence and holiday
settings, closing) and then checks that recomputing from the facts changes nothing.
"""

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from itertools import count

import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from hiretrack.admin.services import effective_settings, save_settings
from hiretrack.cadence import tally
from hiretrack.cadence.calendar import add_business_days
from hiretrack.cadence.models import CadenceTally
from hiretrack.cadence.queries import CadenceStatus, as_date, cadence_for, status_conditions
from hiretrack.cadence.stored import (
    STORED_COLUMNS,
    CadenceFacts,
    compute_stored_cadence,
    recompute_stored_cadence,
)
from hiretrack.candidates.contact import Contact, record_contacts
from hiretrack.candidates.models import Application
from hiretrack.candidates.services import ClosureNote, change_stage, log_touchpoint
from hiretrack.errors import DomainError
from hiretrack.extensions import db
from hiretrack.holds.services import place_hold, resolve_hold
from hiretrack.messages import requisition_counts as message_counts
from hiretrack.messages.after_delivery import mark_bounced, mark_unconfirmed_as_sent, requeue
from hiretrack.messages.claims import claim
from hiretrack.messages.delivery import expire_stale_claims
from hiretrack.messages.drafts import (
    discard_draft,
    pending_drafts,
    pending_drafts_count,
    send_drafts,
)
from hiretrack.messages.models import Draft, DraftStatus, OutboxEmail, OutboxStatus
from hiretrack.messages.outbox import queue_email
from hiretrack.requisitions.models import Requisition
from hiretrack.requisitions.services import closure_pending_count

START = date(2026, 3, 2)  # a Monday

contact = st.tuples(
    st.just("contact"),
    st.integers(0, 1),  # which application
    st.sampled_from(["outbound", "inbound"]),
    st.one_of(st.none(), st.integers(0, 12)),  # promise, days ahead
)
stage = st.tuples(
    st.just("stage"),
    st.integers(0, 1),
    st.sampled_from(["final_round", "interviewing", "verbal_intent"]),
)
hold = st.tuples(st.just("hold"), st.sampled_from(["cleared", "cleared", "cancelled"]))
close = st.tuples(st.just("close"), st.integers(0, 1))
organisation = st.tuples(
    st.just("settings"), st.integers(1, 8), st.sampled_from([None, "GB-ENG", "DE"])
)
requisition_cadence = st.tuples(st.just("requisition"), st.one_of(st.none(), st.integers(1, 8)))
event = st.tuples(
    st.integers(0, 4),  # days after the previous event
    st.integers(7, 20),  # hour (UTC)
    st.one_of(contact, stage, hold, close, organisation, requisition_cadence),
)


def _play(world, step) -> None:
    """Apply one event at its moment; a refused one (a closed application, say) changes nothing."""
    admin, applications = world["admin"], world["applications"]
    requisition = applications[0].requisition
    manager = requisition.manager
    kind, *args = step
    try:
        if kind == "contact":
            number, direction, promise = args
            today = datetime.now(UTC).date()
            log_touchpoint(
                manager,
                applications[number],
                direction=direction,
                channel="phone",
                note="Spoke.",
                promised_next_update=None if promise is None else today + timedelta(promise),
            )
        elif kind == "stage":
            change_stage(manager, applications[args[0]], args[1])
        elif kind == "hold" and world.get("hold") is None:
            world["hold"] = place_hold(
                manager, requisition, reason="budget", summary="Budget", owner_name="Finance"
            ).hold
        elif kind == "hold":
            resolve_hold(manager, world.pop("hold"), args[0], public_cancellation_reason="Budget")
        elif kind == "close":
            closure = ClosureNote("phone", "Told them by phone.")
            change_stage(manager, applications[args[0]], "withdrawn", closure=closure)
        elif kind == "settings":
            save_settings(admin, cadence_business_days=args[0], holidays=args[1])
        elif kind == "requisition":
            requisition.cadence_business_days = args[0]
        db.session.commit()
    except DomainError:
        db.session.rollback()


def _from_scratch(application: Application) -> tuple:
    settings = effective_settings()
    facts = CadenceFacts(
        application.stage,
        application.closed_at,
        application.opened_at,
        application.last_contact_at,
        application.last_inbound_at,
        application.promised_next_update,
        application.update_requested_at,
        application.requisition.cadence_business_days or settings.cadence_business_days,
    )
    computed = compute_stored_cadence(facts, settings.holidays)
    return tuple(getattr(computed, name) for name in STORED_COLUMNS)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=st.lists(event, min_size=1, max_size=6))
def test_stored_dates_equal_a_computation_from_scratch_after_any_events(
    events, make_application, make_user, make_candidate
):
    admin = make_user("admin")
    with time_machine.travel(datetime(2026, 3, 2, 9, tzinfo=UTC), tick=False):
        save_settings(admin, cadence_business_days=5, holidays=None)
        db.session.commit()
        first = make_application(stage="final_round")
        second = make_application(requisition=first.requisition, candidate=make_candidate())
    world = {"admin": admin, "applications": [first, second]}
    day = START
    for gap, hour, step in events:
        day += timedelta(days=gap)
        with time_machine.travel(datetime(day.year, day.month, day.day, hour, tzinfo=UTC)):
            _play(world, step)
    db.session.expire_all()
    for application in (first, second):
        stored = tuple(getattr(application, name) for name in STORED_COLUMNS)
        assert stored == _from_scratch(application), application.stage
    assert recompute_stored_cadence(db.session, [first.requisition_id])[1] == 0
    assert_tally_is_a_recount()
    requisition = first.requisition
    assert requisition.closure_pending == closure_pending_count(requisition), requisition.status
    assert_message_counts_are_a_recount()  # holds prepare drafts, closing discards them
    db.session.rollback()


def _open_count(*conditions) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(Application)
        .where(Application.closed_at.is_(None), *conditions)
    )


def assert_tally_is_a_recount() -> None:
    """The cadence tally equals a count from scratch, and so do the status counts read from it."""
    kept = Counter(
        {
            (kind, as_date(day)): number
            for kind, day, number in db.session.execute(
                select(CadenceTally.kind, CadenceTally.day, CadenceTally.applications)
            )
        }
    )
    recount = Counter(
        {
            (kind, as_date(day)): number
            for kind, day, number in db.session.execute(tally.counted_from_applications())
        }
    )
    assert kept == recount
    holidays = effective_settings().holidays
    for today in (START + timedelta(days=offset) for offset in range(0, 45, 2)):
        next_business_day = add_business_days(today + timedelta(days=1), 0, holidays)
        counts = db.session.execute(tally.status_counts(today, next_business_day)).one()
        conditions = status_conditions(today)
        assert counts.waiting == _open_count()
        assert counts.ghosted == _open_count(conditions[CadenceStatus.GHOSTED])
        assert counts.overdue == _open_count(conditions[CadenceStatus.OVERDUE])
        assert counts.due == _open_count(conditions[CadenceStatus.DUE])
        assert counts.undated == _open_count(Application.next_update_due.is_(None))


def test_the_tally_follows_bulk_contacts_and_is_rebuilt_by_recompute(app, runner, make_application):
    with time_machine.travel(datetime(2026, 3, 2, 9, tzinfo=UTC), tick=False):
        first = make_application(stage="final_round")
        make_application(requisition=first.requisition)
    with time_machine.travel(datetime(2026, 3, 5, 9, tzinfo=UTC), tick=False):
        record_contacts([Contact(first.id, "outbound", datetime.now(UTC), date(2026, 3, 20))])
        db.session.commit()
    assert_tally_is_a_recount()
    db.session.execute(CadenceTally.__table__.delete())
    db.session.commit()
    assert runner.invoke(args=["cadence", "recompute", "--quiet"]).exit_code == 0
    assert_tally_is_a_recount()


def test_recompute_command_rewrites_dates_changed_behind_the_apps_back(
    app, runner, make_application
):
    with time_machine.travel(datetime(2026, 3, 2, 9, tzinfo=UTC), tick=False):
        application = make_application(stage="final_round")
    # A holiday calendar set in the environment, not on the settings page, changes nothing
    # stored until the command runs.
    app.config["HOLIDAYS"] = "GB-ENG"
    db.session.execute(Application.__table__.update().values(next_update_due=None, due_from=None))
    db.session.commit()
    result = runner.invoke(args=["cadence", "recompute"])
    assert result.exit_code == 0, result.output
    assert "Checked 1 open application(s); rewrote 1." in result.output
    db.session.expire_all()
    assert application.next_update_due == date(2026, 3, 9)
    assert cadence_for([application.id], date(2026, 3, 10))[application.id].status == (
        CadenceStatus.OVERDUE
    )
    again = runner.invoke(args=["cadence", "recompute", "--quiet"])
    assert (again.exit_code, again.output) == (0, "")
    assert "--quiet" in runner.invoke(args=["cadence", "recompute", "--help"]).output


def test_a_requisition_cadence_change_recomputes_its_open_applications(make_application):
    with time_machine.travel(datetime(2026, 3, 2, 9, tzinfo=UTC), tick=False):
        application = make_application(stage="final_round")
    assert application.next_update_due == date(2026, 3, 9)
    application.requisition.cadence_business_days = 2
    db.session.commit()
    stored = db.session.scalar(
        select(Application.next_update_due).where(Application.id == application.id)
    )
    assert stored == date(2026, 3, 4)


def assert_message_counts_are_a_recount() -> None:
    """Each requisition's kept failed deliveries and drafts waiting equal a count from scratch."""
    kept = {
        requisition_id: (failed, drafts)
        for requisition_id, failed, drafts in db.session.execute(
            select(Requisition.id, Requisition.failed_deliveries, Requisition.drafts_waiting)
        )
    }
    counted = {requisition_id: [0, 0] for requisition_id in kept}
    for index, column in enumerate(("failed_deliveries", "drafts_waiting")):
        for requisition_id, number in db.session.execute(message_counts.counted(column)):
            counted[requisition_id][index] = number
    assert kept == {key: tuple(value) for key, value in counted.items()}


_examples = count()

outbox_step = st.tuples(
    st.just("outbox"),
    st.integers(0, 5),  # which message (modulo those queued)
    st.sampled_from(["fail", "unconfirmed", "bounce", "requeue", "mark_sent", "withdraw"]),
)
message_event = st.one_of(
    st.tuples(st.just("email"), st.integers(0, 1)),
    outbox_step,
    outbox_step,
    hold,
    st.tuples(st.just("draft"), st.integers(0, 5), st.sampled_from(["send", "discard"])),
    st.tuples(st.just("move"), st.integers(0, 1)),
    close,
)


def _play_message_event(world, step) -> None:
    """Apply one event through the services (or bulk statements) that write those statuses."""
    applications, manager = world["applications"], world["manager"]
    kind, *args = step
    now = datetime.now(UTC)
    try:
        if kind == "email":
            application = applications[args[0]]
            queue_email(
                to_address="c@example.org",
                to_name="C",
                subject="News",
                body_text="Hello",
                body_html="<p>Hello</p>",
                application=application,
            )
        elif kind == "outbox":
            messages = db.session.scalars(select(OutboxEmail).order_by(OutboxEmail.id)).all()
            if not messages:
                return
            outbox, action = messages[args[0] % len(messages)], args[1]
            if action == "fail":  # as the worker records a permanent failure: a bulk UPDATE
                db.session.execute(
                    update(OutboxEmail)
                    .where(OutboxEmail.id == outbox.id)
                    .values(status=OutboxStatus.FAILED, last_error="550 no such user")
                    .execution_options(synchronize_session=False)
                )
            elif action == "unconfirmed":  # a worker claimed it and died
                claim([outbox.id], "worker", now - timedelta(days=1))
                expire_stale_claims(now)
            elif action == "bounce":
                mark_bounced(outbox, "550 mailbox full")
            elif action == "requeue":
                requeue(outbox, manager)
            elif action == "mark_sent":
                mark_unconfirmed_as_sent(outbox, manager)
            else:  # withdrawn when due: a bulk UPDATE
                db.session.execute(
                    update(OutboxEmail)
                    .where(OutboxEmail.id == outbox.id)
                    .values(status=OutboxStatus.WITHDRAWN)
                    .execution_options(synchronize_session=False)
                )
        elif kind == "draft":
            drafts = db.session.scalars(
                select(Draft).where(Draft.status == DraftStatus.PENDING).order_by(Draft.id)
            ).all()
            if not drafts:
                return
            draft = drafts[args[0] % len(drafts)]
            if args[1] == "send":
                send_drafts(manager, [draft])
            else:
                discard_draft(manager, draft)
        elif kind == "move":  # an application moved to the other requisition (a data fix)
            application = applications[args[0]]
            target = world["requisitions"][
                application.requisition_id == world["requisitions"][0].id
            ]
            db.session.execute(
                update(Application)
                .where(Application.id == application.id)
                .values(requisition_id=target.id)
            )
            db.session.expire(application)
        else:
            _play(world, step)
            return
        db.session.commit()
    except DomainError:
        db.session.rollback()


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=st.lists(message_event, min_size=1, max_size=10))
def test_kept_message_counts_equal_a_count_from_scratch_after_any_events(
    events, make_application, make_requisition, make_user, make_candidate
):
    with time_machine.travel(datetime(2026, 3, 2, 9, tzinfo=UTC), tick=False):
        first = make_application(stage="final_round")
        second = make_application(requisition=first.requisition, candidate=make_candidate())
        other = make_requisition(manager=first.requisition.manager)
    world = {
        "admin": make_user("admin"),
        "applications": [first, second],
        "manager": first.requisition.manager,
        "requisitions": [first.requisition, other],
    }
    # Each example at days of its own: hypothesis seeds `random` alike for each, and Message-IDs
    # drawn at the same moment would repeat those of an earlier example's messages.
    day = START + timedelta(days=40 * next(_examples))
    for step in events:
        day += timedelta(days=1)
        with time_machine.travel(datetime(day.year, day.month, day.day, 10, tzinfo=UTC)):
            _play_message_event(world, step)
            assert_message_counts_are_a_recount()
            manager = world["manager"]
            assert pending_drafts_count(manager) == len(pending_drafts(manager))
    message_counts.recount(db.session)  # rewrites nothing when they are true
    assert_message_counts_are_a_recount()
    db.session.rollback()


def test_recompute_command_rebuilds_the_kept_message_counts(app, runner, make_application):
    application = make_application(stage="final_round")
    outbox = queue_email(
        to_address="c@example.org",
        to_name="C",
        subject="News",
        body_text="Hello",
        body_html="<p>Hello</p>",
        application=application,
    )
    outbox.status = OutboxStatus.BOUNCED
    db.session.commit()
    requisition = application.requisition
    db.session.refresh(requisition)
    assert requisition.failed_deliveries == 1
    db.session.execute(update(Requisition).values(failed_deliveries=0, drafts_waiting=7))
    db.session.commit()
    assert runner.invoke(args=["cadence", "recompute", "--quiet"]).exit_code == 0
    db.session.refresh(requisition)
    assert (requisition.failed_deliveries, requisition.drafts_waiting) == (1, 0)


def test_recorded_contacts_use_the_saved_organisation_cadence(make_application, make_user):
    """The delivery worker's path (`record_contacts`) reads the admin's saved settings with the
    applications' rows: 2 business days, not the configuration's default."""
    monday = datetime(2026, 3, 2, 9, tzinfo=UTC)
    with time_machine.travel(monday, tick=False):
        save_settings(make_user("admin"), cadence_business_days=2, holidays=None)
        db.session.commit()
        application = make_application(stage="final_round")
        record_contacts([Contact(application.id, "outbound", monday, None)])
        db.session.commit()
    db.session.expire_all()
    assert (application.last_contact_at, application.next_update_due) == (monday, date(2026, 3, 4))
