"""The status page in a real Chromium on a phone-sized screen: read it, ask a question, see thanks.

The app runs in a werkzeug server thread on 127.0.0.1 (a free port), on a file SQLite database
in tmp_path, or on the PostgreSQL test database when HIRETRACK_TEST_DATABASE_URL is set; CSRF is
on, as in production. The screenshot lands in test-artifacts/screenshots/.
"""

import re

import pytest
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import select

from hiretrack.admin.models import Department
from hiretrack.auth.services import create_user
from hiretrack.candidates.models import Direction, Touchpoint
from hiretrack.candidates.services import apply_to_requisition, create_candidate
from hiretrack.extensions import db
from hiretrack.holds.services import place_hold
from hiretrack.messages.delivery import deliver_batch
from hiretrack.messages.models import OutboxEmail
from hiretrack.messages.services import choose_template, send_message
from hiretrack.requisitions.services import create_requisition
from tests.browser_helpers import (
    LAUNCH_ARGS,
    live_server,
    screenshot,
    serious_violations,
)
from tests.conftest import CHROMIUM, PASSWORD

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.fixture
def live_app(database_url, tmp_path):
    """The app served over real HTTP from a thread; yields (app, base URL)."""
    with live_server(database_url, tmp_path) as live:
        yield live.app, live.base_url


def seed_waiting_candidate(app) -> str:
    """A final-round candidate on a held requisition who was sent a check-in; returns their link."""
    with app.app_context():
        manager = create_user(
            "maria.lopez@acme.example", "Maria Lopez", "manager", PASSWORD, phone=""
        )
        recruiter = create_user("rita@acme.example", "Rita Osei", "recruiter", PASSWORD, phone="")
        department = Department(name="Platform")
        db.session.add(department)
        db.session.flush()
        requisition = create_requisition(
            manager,
            department_id=department.id,
            title="Senior Platform Engineer",
            status="open",
        )
        candidate = create_candidate(recruiter, "Ana Silva", "ana.silva@example.org")
        application = apply_to_requisition(manager, candidate, requisition, "final_round")
        place_hold(
            manager,
            requisition,
            reason="budget",
            summary="Head office budget technicality",
            owner_name="Head office",
            public_reason="We are waiting for a budget sign-off.",
        )
        send_message(manager, application, choose_template(manager, "check_in"))
        db.session.commit()
        deliver_batch("browser-test")
        body = db.session.scalars(select(OutboxEmail.body_text)).one()
        return re.search(r"http://127\.0\.0\.1:\d+/status/[\w-]+", body)[0]


def test_a_candidate_on_a_phone_reads_the_page_and_asks_a_question(live_app):
    app, base_url = live_app
    link = seed_waiting_candidate(app)
    requested, console_errors = [], []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            context = browser.new_context(**PHONE)
            page = context.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.on(
                "console",
                lambda message: message.type == "error" and console_errors.append(message.text),
            )

            response = page.goto(link)

            assert response.status == 200
            assert response.headers["referrer-policy"] == "no-referrer"
            assert response.headers["x-robots-tag"] == "noindex"
            expect(
                page.get_by_role("heading", name="Your application: Senior Platform Engineer")
            ).to_be_visible()
            expect(page.get_by_text("You are in the final round")).to_be_visible()
            expect(page.get_by_text("We are waiting for a budget sign-off.")).to_be_visible()
            expect(page.get_by_text("Still waiting: your application for")).to_be_visible()
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            assert serious_violations(page) == []

            page.get_by_label("Your question").fill("Is there any news on the budget sign-off?")
            page.get_by_role("button", name="Send my question").click()

            thanks = page.get_by_role("status")
            expect(thanks).to_contain_text("Maria Lopez has your question")
            expect(thanks).to_be_in_viewport()
            expect(thanks).to_contain_text("Is there any news on the budget sign-off?")
            screenshot(page, "status-page-phone")
        finally:
            browser.close()

    assert all(url.startswith(base_url) for url in requested), requested
    assert console_errors == []  # a CSP violation would be reported here
    with app.app_context():
        inbound = db.session.scalars(
            select(Touchpoint).where(Touchpoint.direction == Direction.INBOUND)
        ).one()
        assert "Is there any news on the budget sign-off?" in inbound.note
