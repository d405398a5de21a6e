"""Pages and API lists run the same number of SQL queries whether they show 5 rows or 40.

A query per row (an N+1) makes a page slower with every candidate; at 100,000 applications it
would make the dashboard unusable. Counting the statements sent to the database is behaviour, not
timing, so it can be asserted on every run. bench/run.py measures the timing.
"""

import re
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select

from hiretrack.approvals.services import request_approval
from hiretrack.auth.services import create_api_token
from hiretrack.candidates.services import apply_to_requisition, create_candidate, log_touchpoint
from hiretrack.extensions import db
from hiretrack.holds.services import place_hold
from hiretrack.messages.services import choose_template, send_message
from hiretrack.requisitions.services import create_requisition

#: Each page, and the pattern that finds the rows it shows (a number per row).
PAGES = {
    "/dashboard": r"Person Qc(\d+)",
    "/requisitions/": r"Role QC (\d+)",
    "/candidates/": r"Person Qc(\d+)",
    "/reports/holds": r"Hold QC (\d+)",
}
API_LIST = "/api/v1/applications?per_page=100"
SMALL, LARGE = 5, 40


@contextmanager
def counting_queries(app):
    """Collect every SQL statement the app's engine sends while the block runs."""
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def grow(first: int, count: int, recruiter, manager, approver, department) -> None:
    """Add `count` rows to every list: each an open requisition with a candidate at final
    round, a pending approval, contact both ways, a queued check-in and an open hold."""
    for n in range(first, first + count):
        requisition = create_requisition(
            recruiter,
            title=f"Role QC {n}",
            department_id=department.id,
            manager_id=manager.id,
            status="open",
        )
        candidate = create_candidate(recruiter, f"Person Qc{n}", f"person.qc{n}@example.org")
        application = apply_to_requisition(recruiter, candidate, requisition, "final_round")
        request_approval(recruiter, requisition, "budget", approver.id)
        log_touchpoint(
            recruiter, application, direction="inbound", channel="phone", note="Any news?"
        )
        send_message(recruiter, application, choose_template(manager, "check_in"))
        place_hold(
            recruiter, requisition, reason="budget", summary=f"Hold QC {n}", owner_id=approver.id
        )
        db.session.commit()


def measure(app, client, token: str) -> dict[str, tuple[int, int]]:
    """(queries, rows shown) for every page and for the API list."""
    figures = {}
    for path, pattern in PAGES.items():
        with counting_queries(app) as statements:
            response = client.get(path)
        assert response.status_code == 200, path
        shown = set(re.findall(pattern, response.get_data(as_text=True)))
        figures[path] = (len(statements), len(shown))
    with counting_queries(app) as statements:
        response = client.get(API_LIST, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    figures[API_LIST] = (len(statements), len(response.get_json()["items"]))
    return figures


@pytest.mark.parametrize("role", ["manager", "recruiter"])
def test_queries_per_page_do_not_grow_with_rows(app, ctx, client, login, make_user, role):
    manager, recruiter, approver = (make_user(r) for r in ("manager", "recruiter", "approver"))
    from hiretrack.admin.models import Department

    department = Department(name="Engineering")
    db.session.add(department)
    db.session.commit()
    viewer = manager if role == "manager" else recruiter
    _, token = create_api_token(viewer, "query counts")
    db.session.commit()
    assert login(viewer).status_code == 302

    grow(0, SMALL, recruiter, manager, approver, department)
    measure(app, client, token)  # warm up: business-day calendar, token last-used time
    small = measure(app, client, token)
    grow(SMALL, LARGE - SMALL, recruiter, manager, approver, department)
    large = measure(app, client, token)

    for path in small:
        (small_queries, small_rows), (large_queries, large_rows) = small[path], large[path]
        assert small_rows == SMALL, f"{path} shows {small_rows} rows, expected {SMALL}"
        assert large_rows > small_rows, f"{path} shows no more rows with more data"
        assert large_queries == small_queries, (
            f"{path}: {small_queries} queries for {small_rows} rows, "
            f"{large_queries} for {large_rows}"
        )


def test_the_bulk_review_suggestion_takes_two_queries_whatever_the_selection(
    app, ctx, make_user, make_requisition, make_application
):
    from hiretrack.bulk.services import shared_suggestion
    from hiretrack.candidates.models import Application
    from hiretrack.database import utcnow
    from hiretrack.messages.models import TemplateCategory as Category
    from hiretrack.messages.services import suggested_categories, suggested_category

    manager = make_user("manager")
    quiet, held = make_requisition(manager=manager), make_requisition(manager=manager)
    place_hold(manager, held, reason="budget", summary="Budget", owner_name="Head office")
    expected: dict[int, Category] = {}

    def add(count: int) -> None:
        """`count` applications of each kind the suggestion tells apart."""
        for _ in range(count):
            new = make_application(requisition=quiet)
            called = make_application(requisition=quiet)
            log_touchpoint(manager, called, direction="outbound", channel="phone", note="Hi")
            verbal = make_application(requisition=quiet, stage="verbal_intent")
            asked, waiting = make_application(requisition=held), make_application(requisition=held)
            asked.update_requested_at = utcnow()
            db.session.commit()
            expected.update(
                {
                    new.id: Category.ACKNOWLEDGEMENT,
                    called.id: Category.CHECK_IN,
                    verbal.id: Category.DELAY,
                    asked.id: Category.HOLD_NOTICE,
                    waiting.id: Category.CHECK_IN,
                }
            )

    def measure() -> int:
        db.session.expire_all()
        selected = list(db.session.scalars(select(Application).where(Application.id.in_(expected))))
        with counting_queries(app) as statements:
            suggestions = suggested_categories(selected)
        assert suggestions == expected
        # The one-application rule (the compose page's default) agrees with the bulk one.
        assert {a.id: suggested_category(a) for a in selected} == expected
        with counting_queries(app) as shared:
            assert shared_suggestion(selected) == Category.CHECK_IN  # they differ: a check-in
        assert len(shared) == len(statements)
        return len(statements)

    add(1)
    small = measure()
    add(LARGE // 5 - 1)
    assert len(expected) == LARGE
    assert measure() == small == 2


def test_the_bulk_review_page_runs_as_many_queries_for_40_applications_as_for_5(
    app, ctx, client, login, make_user, make_requisition, make_application
):
    manager = make_user("manager")
    requisitions = [make_requisition(manager=manager) for _ in range(2)]
    place_hold(manager, requisitions[1], reason="budget", summary="Budget", owner_name="HQ")
    selected: list[int] = []
    assert login(manager).status_code == 302

    def grow_to(count: int) -> None:
        while len(selected) < count:
            application = make_application(requisition=requisitions[len(selected) % 2])
            if len(selected) % 3 == 0:
                log_touchpoint(
                    manager, application, direction="outbound", channel="email", note="Hi"
                )
                db.session.commit()
            selected.append(application.id)

    def measure() -> int:
        data = {"action": "send", "back": "/dashboard", "application_id": selected}
        with counting_queries(app) as statements:
            page = client.post("/bulk/review", data=data)
        assert page.status_code == 200, page.get_data(as_text=True)[:500]
        html = page.get_data(as_text=True)
        assert f"{len(selected)} applications selected" in html
        assert len(re.findall(r'<tr><th scope="row">', html)) == len(selected)
        return len(statements)

    grow_to(SMALL)
    measure()  # warm up: business-day calendar, settings
    small = measure()
    grow_to(LARGE)
    assert measure() == small, f"{small} queries for {SMALL} applications"
