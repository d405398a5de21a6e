"""The demo's history, told in order: when each thing happened, and moving records back to then.

Records are created through the services, so they obey the same rules as real use; their
timestamps are then moved into the past. Each candidacy is a list of steps played in order: it
opens at interviewing, reaches the final round, has its final interview, and only then hears
of any verbal intent. Every moment falls on a business day in working hours (in
HIRETRACK_TIMEZONE), and every promised date is a business day.
"""

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from sqlalchemy import select

from hiretrack.approvals.models import Approval
from hiretrack.cadence.calendar import add_business_days, is_business_day
from hiretrack.candidates.models import Application, Channel, Direction, Touchpoint
from hiretrack.candidates.services import ClosureNote, apply_contact, change_stage
from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.holds.models import Hold
from hiretrack.holds.queries import stranded_applications
from hiretrack.messages.models import Draft
from hiretrack.offers.models import Offer

#: Events start between these local times (a few on one afternoon may run a little later).
WORKDAY_START, WORKDAY_END = time(9, 0), time(16, 30)


def _zone() -> ZoneInfo:
    try:
        return ZoneInfo(current_app.config["TIMEZONE"] or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


class StoryClock:
    """Past moments on business days in working hours, each after the one it must follow.

    It draws from its own random generator, so the times never change the demo's names.
    """

    def __init__(self) -> None:
        self.rng = random.Random(2026)
        self.holidays = current_app.config["HOLIDAYS"]
        self.zone = _zone()
        self.today = utcnow().astimezone(self.zone).date()

    def business_day(self, days_ago: int) -> date:
        """The business day `days_ago` calendar days back, or the last one before it."""
        day = self.today - timedelta(days=days_ago)
        while not is_business_day(day, self.holidays):
            day -= timedelta(days=1)
        return day

    def at(self, days_ago: int, after: datetime | None = None) -> datetime:
        """A working-hours moment on that business day, a little after `after` if need be."""
        first = WORKDAY_START.hour * 60 + WORKDAY_START.minute
        last = WORKDAY_END.hour * 60 + WORKDAY_END.minute
        minutes = self.rng.randrange(first, last, 5)
        local = datetime.combine(self.business_day(days_ago), time(minutes // 60, minutes % 60))
        moment = local.replace(tzinfo=self.zone).astimezone(UTC)
        if after is not None and moment <= after:
            moment = after + timedelta(minutes=self.rng.randrange(10, 25))
        return moment

    def promise(self, moment: datetime, business_days: int) -> date:
        """The business day `business_days` after the moment's day."""
        day = moment.astimezone(self.zone).date() + timedelta(days=1)
        return add_business_days(day, business_days - 1, self.holidays)

    def ahead(self, business_days: int) -> date:
        """The business day this many business days from today."""
        return add_business_days(self.today + timedelta(days=1), business_days - 1, self.holidays)


@dataclass(frozen=True)
class Step:
    """One event in a candidacy's history, `days_ago` calendar days back (then a business day)."""

    days_ago: int
    kind: str  # stage | interview | contact | inbound
    text: str = ""
    stage: str = ""
    channel: str = Channel.EMAIL
    promise: int | None = None  # business days until the promised next update


def stage(days_ago: int, to: str, note: str = "") -> Step:
    return Step(days_ago, "stage", note, stage=to)


def interview(days_ago: int, note: str = "Final interview.") -> Step:
    """An interview: a meeting, and the application's last interview date."""
    return Step(days_ago, "interview", note, channel=Channel.MEETING)


def contact(days_ago: int, channel: str, note: str, promise: int | None = 5) -> Step:
    return Step(days_ago, "contact", note, channel=channel, promise=promise)


def inbound(days_ago: int, channel: str, note: str) -> Step:
    return Step(days_ago, "inbound", note, channel=channel)


def play(clock: StoryClock, application: Application, step: Step, when: datetime) -> None:
    """Make one step happen to the application, dated `when`."""
    if step.kind == "stage":
        moved = change_stage(application.requisition.manager, application, step.stage)
        moved.note = step.text
        moved.changed_at = application.stage_entered_at = when
        if application.closed_at is not None:  # hired
            application.closed_at = when
        if step.stage in ("interviewing", "final_round"):
            application.last_interview_on = None  # set by the interview itself
        return
    if step.kind == "interview":
        application.last_interview_on = when.astimezone(clock.zone).date()
    record_contact(
        application,
        when,
        step.channel,
        step.text,
        clock.promise(when, step.promise) if step.promise else None,
        direction=Direction.INBOUND if step.kind == "inbound" else Direction.OUTBOUND,
    )


def record_contact(
    application: Application,
    when: datetime,
    channel: str,
    note: str,
    promise: date | None,
    direction: str = Direction.OUTBOUND,
) -> None:
    """Add a past contact to the history, as if it had happened then."""
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


def latest_event(application: Application) -> datetime:
    """When the last thing in this candidacy's history happened."""
    db.session.flush()
    moments = [change.changed_at for change in application.stage_changes]
    moments += [touchpoint.created_at for touchpoint in application.touchpoints]
    return max(moments)


def close_with_closure(
    clock: StoryClock, application: Application, days_ago: int, outcome: str, closure: ClosureNote
) -> datetime:
    """Close with closure after everything before it, as it happened; return when."""
    when = clock.at(days_ago, after=latest_event(application))
    moved = change_stage(application.requisition.manager, application, outcome, closure=closure)
    moved.changed_at = application.stage_entered_at = application.closed_at = when
    told = db.session.scalars(
        select(Touchpoint).where(
            Touchpoint.application_id == application.id, Touchpoint.is_closure.is_(True)
        )
    ).one()
    told.created_at = told.occurred_at = application.last_contact_at = when
    return when


def backdate_hold(hold: Hold, placed_at: datetime, expected: date | None = None) -> None:
    """Move a hold, its update requests and its prepared drafts back to when it was placed.

    A candidate contacted after the hold was placed has had that update already.
    """
    hold.opened_at = placed_at
    if expected is not None:
        hold.expected_clear_date = expected
    for pending_draft in db.session.scalars(select(Draft).where(Draft.hold_id == hold.id)):
        pending_draft.created_at = placed_at
    for application in stranded_applications(hold):
        if application.update_requested_at is None:
            continue
        heard_since = application.last_contact_at and application.last_contact_at >= placed_at
        application.update_requested_at = None if heard_since else placed_at


def backdate_offer(offer: Offer, proposed_at: datetime) -> None:
    """Move an offer and the approvals it asked for back to when it was proposed."""
    offer.created_at = proposed_at
    for approval in db.session.scalars(select(Approval).where(Approval.offer_id == offer.id)):
        approval.created_at = proposed_at
