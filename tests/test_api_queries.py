"""List endpoints run a fixed number of SQL queries, however many rows a page holds."""

from contextlib import contextmanager

import pytest
from sqlalchemy import event

from hiretrack.approvals.services import request_approval
from hiretrack.candidates.services import apply_to_requisition, create_candidate, log_touchpoint
from hiretrack.extensions import db
from hiretrack.holds.services import place_hold
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
