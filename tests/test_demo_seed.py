"""The demo company's history reads true: each candidacy's events come in a believable order
(no verbal intent before the final interview), on business days in working hours, and every
promised date is a business day."""

from collections import Counter
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from hiretrack.approvals.models import Approval
from hiretrack.cadence.calendar import is_business_day
from hiretrack.cadence.queries import CadenceStatus, cadence_for
from hiretrack.candidates.models import Application, Candidate, Channel, StageChange, Touchpoint
from hiretrack.candidates.stages import Stage
from hiretrack.database import utcnow
from hiretrack.demo.seed import seed_demo
from hiretrack.extensions import db
from hiretrack.holds.models import Hold
from hiretrack.inbound.models import InboundMessage
from hiretrack.messages.models import Draft
from hiretrack.offers.models import Offer

#: Events may run a little past the last start time when several happen on one afternoon.
WORKING_HOURS = (time(9, 0), time(18, 0))


@pytest.fixture(
    params=[
        # A Monday before working hours, and a Sunday night when summer time starts.
        datetime(2027, 1, 4, 7, 30, tzinfo=UTC),
        datetime(2026, 3, 29, 21, 0, tzinfo=UTC),
    ],
    ids=["monday-morning", "sunday-night"],
)
def demo(ctx, request):
    """The demo seeded on a day and at an hour that tempt events onto weekends or nights."""
    ctx.config["TIMEZONE"] = "Europe/Berlin"  # working hours are local, not UTC
    with time_machine.travel(request.param, tick=False):
        seed_demo()
        yield ctx


def test_the_demo_history_reads_true(demo):
    everything_happened_on_business_days_in_working_hours()
    promised_dates_are_business_days()
    each_candidacy_happens_in_order_and_verbal_intent_follows_the_final_interview()
    the_dashboard_story_still_holds()


def local(moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo("Europe/Berlin"))


def all_moments() -> list[tuple[str, datetime]]:
    """Every moment of the seeded history, with what it is."""
    moments = [
        (f"stage change {c.id}", c.changed_at) for c in db.session.scalars(select(StageChange))
    ]
    moments += [
        (f"touchpoint {t.id}", t.created_at) for t in db.session.scalars(select(Touchpoint))
    ]
    for application in db.session.scalars(select(Application)):
        moments.append((f"application {application.id} opened", application.opened_at))
        if application.closed_at:
            moments.append((f"application {application.id} closed", application.closed_at))
    moments += [(f"candidate {c.id}", c.created_at) for c in db.session.scalars(select(Candidate))]
    moments += [(f"hold {h.id}", h.opened_at) for h in db.session.scalars(select(Hold))]
    moments += [(f"draft {d.id}", d.created_at) for d in db.session.scalars(select(Draft))]
    moments += [(f"offer {o.id}", o.created_at) for o in db.session.scalars(select(Offer))]
    moments += [
        (f"inbound message {m.id}", m.received_at)
        for m in db.session.scalars(select(InboundMessage))
    ]
    for approval in db.session.scalars(select(Approval)):
        moments.append((f"approval {approval.id} asked", approval.created_at))
        if approval.decided_at:
            moments.append((f"approval {approval.id} decided", approval.decided_at))
    return moments


def everything_happened_on_business_days_in_working_hours():
    now = utcnow()
    hours = Counter()
    for what, moment in all_moments():
        assert moment < now, f"{what} is in the future"
        at = local(moment)
        assert is_business_day(at.date(), None), f"{what} happened on a {at:%A}"
        assert WORKING_HOURS[0] <= at.time() <= WORKING_HOURS[1], f"{what} at {at:%H:%M}"
        hours[at.hour] += 1
    assert len(hours) >= 7, f"times bunch up in {sorted(hours)}"
    assert sum(what.startswith("inbound message") for what, _ in all_moments()) == 4


def promised_dates_are_business_days():
    promised = [t.promised_next_update for t in db.session.scalars(select(Touchpoint))]
    promised += [a.promised_next_update for a in db.session.scalars(select(Application))]
    promised += [h.expected_clear_date for h in db.session.scalars(select(Hold))]
    promised += [a.due_date for a in db.session.scalars(select(Approval))]
    promised = [day for day in promised if day is not None]
    assert len(promised) > 30
    for day in promised:
        assert is_business_day(day, None), f"{day} is a {day:%A}"


def each_candidacy_happens_in_order_and_verbal_intent_follows_the_final_interview():
    applications = list(db.session.scalars(select(Application)))
    verbal = 0
    for application in applications:
        changes = sorted(application.stage_changes, key=lambda change: change.changed_at)
        first = changes[0]
        assert application.requisition.created_at < application.opened_at
        assert (first.from_stage, first.to_stage) == (None, Stage.INTERVIEWING)
        assert first.changed_at == application.opened_at
        for touchpoint in application.touchpoints:
            assert touchpoint.created_at > application.opened_at
        # Each recorded change leaves the stage the one before it entered.
        for before, after in zip(changes, changes[1:], strict=False):
            assert after.from_stage == before.to_stage
            assert after.changed_at > before.changed_at
        reached = {change.to_stage: change.changed_at for change in changes}
        if Stage.VERBAL_INTENT not in reached:
            continue
        verbal += 1
        interviews = [
            touchpoint.created_at
            for touchpoint in application.touchpoints
            if touchpoint.channel == Channel.MEETING
            and reached[Stage.FINAL_ROUND] < touchpoint.created_at < reached[Stage.VERBAL_INTENT]
        ]
        assert interviews, f"application {application.id}: verbal intent without a final interview"
        assert application.last_interview_on <= local(reached[Stage.VERBAL_INTENT]).date()
    assert verbal >= 4
    for approval in db.session.scalars(select(Approval).where(Approval.decided_at.is_not(None))):
        assert approval.created_at < approval.decided_at
    for offer in db.session.scalars(select(Offer)):
        verbal_at = max(
            change.changed_at
            for change in db.session.get(Application, offer.application_id).stage_changes
            if change.to_stage == Stage.VERBAL_INTENT
        )
        assert offer.created_at > verbal_at


def the_dashboard_story_still_holds():
    """What the README promises: Maria's backend requisition is stuck on a head-office hold."""
    today = utcnow().date()
    hold = db.session.scalars(
        select(Hold).where(Hold.summary.contains("budget technicality"))
    ).one()
    assert hold.owner.email == "helen.ward@acme.example"
    assert hold.is_overdue(today)
    stranded = [a for a in db.session.scalars(select(Application)) if a.is_open]
    statuses = Counter(c.status for c in cadence_for([a.id for a in stranded], today).values())
    assert statuses[CadenceStatus.GHOSTED] and statuses[CadenceStatus.OVERDUE]
    assert statuses[CadenceStatus.ON_TRACK]
