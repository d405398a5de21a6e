"""List endpoints run a fixed number of SQL queries, however many rows a page holds."""

from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event

from hiretrack.approvals.services import request_approval
from hiretrack.candidates.services import apply_to_requisition, create_candidate, log_touchpoint
from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.holds.services import place_hold, resolve_hold
from hiretrack.messages.services import choose_template, send_message
from hiretrack.requisitions.services import create_requisition
from tests import api_support

as_user = api_support.as_user
make_staff = api_support.make_staff

LISTS = [
    "/applications",
    "/applications?cadence=due",
    "/applications?open=true",
    "/requisitions",
    "/holds",
    "/drafts",
    "/candidates",
    "/outbox",
    "/approvals",
    "/templates",
    "/users",
    "/departments",
]


@contextmanager
def counting_queries():
    """Count the SQL statements sent to the database inside the block."""
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def grow(count: int, recruiter, manager, approver, department) -> None:
    """Add `count` requisitions, each with a candidate, an application, an approval, a hold with
    its draft, a touchpoint and a queued email: one more row in every list."""
    for n in range(count):
        requisition = create_requisition(
            recruiter,
            title=f"Role {n}",
            department_id=department.id,
            manager_id=manager.id,
            status="open",
        )
        candidate = create_candidate(
            recruiter, f"Person {n} {id(requisition)}", f"p{n}-{id(requisition)}@example.org"
        )
        application = apply_to_requisition(recruiter, candidate, requisition, "final_round")
        request_approval(recruiter, requisition, "budget", approver.id)
        log_touchpoint(recruiter, application, direction="outbound", channel="phone", note="Call")
        send_message(recruiter, application, choose_template(manager, "check_in"))
        place_hold(recruiter, requisition, reason="budget", summary="Budget", owner_id=approver.id)
        db.session.commit()


@pytest.fixture
def world(make_staff, make_department):
    staff = {role: make_staff(role) for role in ("admin", "recruiter", "manager", "approver")}
    return staff, make_department("Engineering")


def measure(caller, path: str) -> tuple[int, int]:
    with counting_queries() as statements:
        response = caller.call("GET", path + ("&" if "?" in path else "?") + "per_page=200")
    assert response.status_code == 200, response.get_data(as_text=True)
    return len(statements), len(response.get_json()["items"])


@pytest.mark.parametrize("role", ["admin", "manager"])
def test_queries_per_list_do_not_grow_with_rows(world, as_user, role):
    staff, department = world
    caller = as_user(staff[role])
    grow(5, staff["recruiter"], staff["manager"], staff["approver"], department)
    for path in LISTS:  # warm up: token last-used time, business-day calendar
        caller.call("GET", path)
    small = {path: measure(caller, path) for path in LISTS if not _forbidden(caller, path)}

    grow(20, staff["recruiter"], staff["manager"], staff["approver"], department)
    large = {path: measure(caller, path) for path in small}
    for path in small:
        small_queries, small_rows = small[path]
        large_queries, large_rows = large[path]
        assert large_queries == small_queries, f"{path}: {small_queries} -> {large_queries} queries"
        if path not in ("/templates", "/users", "/departments"):
            assert large_rows >= small_rows + 20, path


def _forbidden(caller, path: str) -> bool:
    return caller.call("GET", path).status_code == 403


@pytest.mark.parametrize("path", ["/applications", "/applications?cadence=overdue"])
def test_held_applications_cost_the_list_no_statement_more(
    as_user, make_staff, make_requisition, make_application, path
):
    """The list reads each row's open holds in its own statement: a page with held rows sends
    as many statements as one without, and lists every open hold stopping a row (the
    requisition's and its own, oldest first), none resolved, none stopping another row."""
    manager, other_manager = make_staff("manager"), make_staff("manager")
    quiet, held = make_requisition(manager=manager), make_requisition(manager=manager)
    elsewhere = make_requisition(manager=other_manager)
    free, first, second, hidden = (
        make_application(requisition=requisition, stage="final_round")
        for requisition in (quiet, held, held, elsewhere)
    )
    for application in (free, first, second, hidden):
        application.opened_at = utcnow() - timedelta(days=9)  # overdue
    db.session.commit()
    caller = as_user(manager)
    caller.call("GET", path)  # warm up: token last-used time, business-day calendar
    without_holds = measure(caller, path)

    def hold(requisition, reason: str, summary: str, application=None):
        return place_hold(
            manager if requisition is held else other_manager,
            requisition,
            reason=reason,
            summary=summary,
            owner_name="Head office",
            application=application,
        ).hold

    on_requisition = hold(held, "budget", "Budget")
    on_first = hold(held, "visa", "Visa", first)
    resolve_hold(manager, hold(held, "other", "Done", second), "cleared")
    hold(elsewhere, "budget", "Not yours")
    on_requisition.expected_clear_date = utcnow().date() - timedelta(days=1)
    db.session.commit()

    assert measure(caller, path) == without_holds == (without_holds[0], 3)
    listed = caller.call("GET", path).get_json()["items"]
    holds = {item["id"]: item["open_holds"] for item in listed}
    assert list(holds) == [free.id, first.id, second.id]  # not the other manager's
    assert holds[free.id] == []
    assert holds[second.id] == [
        {
            "id": on_requisition.id,
            "reason": "budget",
            "summary": "Budget",
            "expected_clear_date": str(on_requisition.expected_clear_date),
            "overdue": True,
        }
    ]
    assert holds[first.id] == [
        holds[second.id][0],
        {
            "id": on_first.id,
            "reason": "visa",
            "summary": "Visa",
            "expected_clear_date": None,
            "overdue": False,
        },
    ]
