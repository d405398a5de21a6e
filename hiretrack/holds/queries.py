"""Which holds stop which applications: one definition, as SQL, for every page, report and email.

A hold is on one application or on its whole requisition; it strands the open applications it
stops. `hold_stops` is that rule as a SQL condition. The holds service, the dashboard, the
approver's and holds pages, the reminders, the hold report, the candidate's status page and
the email context all build on it. Depends only on the models.
"""

from collections.abc import Iterable, Sequence

from sqlalchemy import ColumnElement, ScalarSelect, and_, bindparam, func, or_, select

from hiretrack.candidates.models import Application
from hiretrack.candidates.stages import Stage
from hiretrack.extensions import db
from hiretrack.holds.models import Hold


def hold_stops(application_id, requisition_id, *, hold=Hold) -> ColumnElement[bool]:
    """SQL condition: `hold` stops the application with this id on this requisition.

    True for a hold on that application and for a hold on its whole requisition. The
    arguments may be columns (of Application, an alias of it or a subquery) or plain values;
    `hold` may be an alias of Hold.
    """
    return and_(
        hold.requisition_id == requisition_id,
        or_(hold.application_id.is_(None), hold.application_id == application_id),
    )


def strands(*, hold=Hold, application=Application) -> ColumnElement[bool]:
    """SQL condition: `hold` strands `application`, an open application it stops."""
    return and_(
        application.closed_at.is_(None),
        hold_stops(application.id, application.requisition_id, hold=hold),
    )


def stranded_count(stages: Iterable[Stage] | None = None) -> ScalarSelect:
    """Correlated scalar subquery: the open applications the enclosing query's Hold strands.

    With `stages`, only the applications at one of those stages are counted.
    """
    query = select(func.count(Application.id)).where(strands())
    if stages is not None:
        query = query.where(Application.stage.in_(sorted(stage.value for stage in stages)))
    return query.correlate(Hold).scalar_subquery()


def stranded_applications(hold: Hold) -> list[Application]:
    """The open applications a hold strands, in the order they applied."""
    if hold.id is None:
        db.session.flush()  # a hold placed in this transaction: give it its id
    return list(
        db.session.scalars(
            select(Application)
            .join(Hold, strands())
            .where(Hold.id == hold.id)
            .order_by(Application.id)
        )
    )


def open_holds_stopping(application_id, requisition_id):
    """The open holds stopping one application (columns or values), oldest first, as a select."""
    return (
        select(Hold)
        .where(hold_stops(application_id, requisition_id), Hold.resolved_at.is_(None))
        .order_by(Hold.opened_at, Hold.id)
    )


def oldest_open_hold_id(application_id, requisition_id) -> ScalarSelect:
    """Scalar subquery: the id of the oldest open hold stopping this application, if any."""
    return (
        open_holds_stopping(application_id, requisition_id)
        .with_only_columns(Hold.id)
        .limit(1)
        .scalar_subquery()
    )


def open_holds_for_application(application: Application) -> list[Hold]:
    """The open holds stopping this application (its own and its requisition's), oldest first."""
    return list(db.session.scalars(open_holds_stopping(application.id, application.requisition_id)))


def open_holds_for_applications(applications: Sequence[Application]) -> dict[int, list[Hold]]:
    """`open_holds_for_application` for many applications at once, in one query."""
    if not applications:
        return {}
    found: dict[int, list[Hold]] = {application.id: [] for application in applications}
    rows = db.session.execute(_OPEN_HOLDS_OF_APPLICATIONS, {"application_ids": list(found)})
    for application_id, hold in rows:
        found[application_id].append(hold)
    return found


#: Built once: the API lists every page's holds with it.
_OPEN_HOLDS_OF_APPLICATIONS = (
    select(Application.id, Hold)
    .join(Hold, hold_stops(Application.id, Application.requisition_id))
    .where(
        Application.id.in_(bindparam("application_ids", expanding=True)),
        Hold.resolved_at.is_(None),
    )
    .order_by(Hold.opened_at, Hold.id)
)
