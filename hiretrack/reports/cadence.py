"""The cadence report: open applications by cadence status, and broken promises, per manager."""

from datetime import date

from sqlalchemy import Integer, and_, case, func, literal, select, union_all

from hiretrack.admin.models import Department
from hiretrack.auth.access import report_requisitions
from hiretrack.auth.models import User
from hiretrack.cadence.queries import CADENCE_LABELS, CadenceStatus, cadence_query
from hiretrack.candidates.models import Application, Touchpoint
from hiretrack.database import utcnow
from hiretrack.reports.conditions import department_condition, total, within
from hiretrack.reports.tables import Chart, Column, Kind, Report, ReportFilters, Table
from hiretrack.requisitions.models import Requisition

TITLE = "Candidate cadence"

STATUS_KEYS = [status.value for status in CadenceStatus]
FIGURES = (
    Column("open_applications", "Open applications", Kind.INT),
    *[Column(status.value, CADENCE_LABELS[status], Kind.INT) for status in reversed(CadenceStatus)],
    Column("broken_promises", "Broken promises in period", Kind.INT),
)
MANAGER = Column("manager", "Manager")
DEPARTMENT = Column("department", "Department")


def cadence_report(user: User, filters: ReportFilters, today: date | None = None) -> Report:
    """Per manager and department: open applications by cadence status, and broken promises.

    Statuses are today's, from `cadence_query`; broken promises are touchpoints whose promised
    update date passed unkept, recorded (promise_broken_on) within the period.
    """
    today = today or utcnow().date()
    combined = _cadence_rows(user, filters, today)
    attention = (
        func.sum(combined.c[CadenceStatus.GHOSTED.value])
        + func.sum(combined.c[CadenceStatus.OVERDUE.value])
    ).desc()
    managers = (
        select(User.name.label("manager"), Department.name.label("department"), *_sums(combined))
        .select_from(combined)
        .join(User, User.id == combined.c.manager_id)
        .join(Department, Department.id == combined.c.department_id)
        .group_by(combined.c.manager_id, User.name, combined.c.department_id, Department.name)
        .order_by(attention, User.name, Department.name)
    )
    departments = (
        select(Department.name.label("department"), *_sums(combined))
        .select_from(combined)
        .join(Department, Department.id == combined.c.department_id)
        .group_by(combined.c.department_id, Department.name)
        .order_by(attention, Department.name)
    )
    totals = select(*_sums(combined))
    return Report(
        name="cadence",
        title=TITLE,
        summary=(
            "Whether waiting candidates hear from us on time: open applications by cadence "
            "status today, and the promised updates that were broken in the period."
        ),
        filters=filters,
        today=today,
        tables=(
            Table(
                "managers", "By manager and department", (MANAGER, DEPARTMENT, *FIGURES), managers
            ),
            Table("departments", "By department", (DEPARTMENT, *FIGURES), departments),
            Table("totals", "Totals", FIGURES, totals, single_row=True),
        ),
        chart=Chart(
            "departments",
            "Open applications by cadence status, per department",
            "For each department, how many open applications are on track, due, overdue and "
            "ghosted, and the promises broken in the period.",
            group="department",
            bars=(*reversed(STATUS_KEYS), "broken_promises"),
        ),
        period_note="Statuses are as of today; broken promises are those recorded in the period.",
    )


def _cadence_rows(user: User, filters: ReportFilters, today: date):
    """Step 1, `cadence_rows`: a row per open application (its status, as a 1 in that column)
    and per promise broken in the period, with the manager and department of each."""
    cadence, columns = cadence_query(today)
    scope = and_(report_requisitions(user), department_condition(filters))
    zero = literal(0, Integer)
    status_rows = cadence.with_only_columns(
        Requisition.manager_id.label("manager_id"),
        Requisition.department_id.label("department_id"),
        *[
            case((columns.status == status.value, 1), else_=0).label(status.value)
            for status in CadenceStatus
        ],
        zero.label("broken_promises"),
    ).where(scope)
    broken_rows = (
        select(
            Requisition.manager_id,
            Requisition.department_id,
            *[zero.label(status.value) for status in CadenceStatus],
            literal(1, Integer).label("broken_promises"),
        )
        .select_from(Touchpoint)
        .join(Application, Application.id == Touchpoint.application_id)
        .join(Requisition, Requisition.id == Application.requisition_id)
        .where(
            scope,
            Touchpoint.promise_broken_on.is_not(None),
            within(Touchpoint.promise_broken_on, filters),
        )
    )
    return union_all(status_rows, broken_rows).subquery("cadence_rows")


def _sums(combined) -> tuple:
    """Step 2: the figures of a group of cadence rows (a manager's, a department's, all)."""
    return (
        total(
            combined.c[CadenceStatus.ON_TRACK.value]
            + combined.c[CadenceStatus.DUE.value]
            + combined.c[CadenceStatus.OVERDUE.value]
            + combined.c[CadenceStatus.GHOSTED.value]
        ).label("open_applications"),
        *[total(combined.c[key]).label(key) for key in reversed(STATUS_KEYS)],
        total(combined.c.broken_promises).label("broken_promises"),
    )
