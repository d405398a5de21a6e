"""The staff screens in a real Chromium: phone-sized pages, the wide reports, global search.

The pages are the access walk's (tests/test_access_walk.py `walk_requests`), signed in as an
admin (who sees every page and the longest navigation) over the walk's world: a requisition, a
hold, an approval, an offer, a draft and a sent email. At 390 px no page may scroll sideways, the
navigation is a menu that opens without JavaScript, and wide tables scroll in their own box.
Screenshots of three pages at 390 px land in test-artifacts/screenshots/.

Search runs as a second manager, Maria, whose candidate shares an email domain with the other
manager's: she finds hers by part of the address and never theirs.
"""

import itertools
import re

import pytest
from playwright.sync_api import expect, sync_playwright

from hiretrack.admin.models import Department
from hiretrack.auth.services import create_user
from hiretrack.candidates.services import apply_to_requisition, change_stage, create_candidate
from hiretrack.extensions import db
from hiretrack.requisitions.services import create_requisition
from tests.browser_helpers import LAUNCH_ARGS, live_server, screenshot, serious_violations
from tests.conftest import CHROMIUM, PASSWORD
from tests.test_access_walk import OTHER_CANDIDATE, build_other_world, walk_requests

pytestmark = pytest.mark.browser

#: Not `is_mobile`: a mobile viewport zooms out to fit a too-wide page, and innerWidth grows with it.
PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True}
LAPTOP = {"viewport": {"width": 1366, "height": 900}}
ADMIN = "ada@acme.example"
MARIA = "maria.lopez@acme.example"
#: Not the staff's HTML screens: JSON, CSV, the candidates' status page (tested on a phone in
#: tests/test_status_browser.py), health checks and the sign-in page (walked signed out below).
SKIPPED_PREFIXES = ("/api/", "/static", "/status/", "/healthz", "/readyz", "/login")
_numbers = itertools.count(1)


def make_user(role, name=None):
    n = next(_numbers)
    return create_user(f"{role}{n}@acme.example", name or f"{role.title()} {n}", role, PASSWORD)


def make_requisition(manager):
    department = Department(name=f"Platform {next(_numbers)}")
    db.session.add(department)
    db.session.flush()
    return create_requisition(
        manager,
        department_id=department.id,
        title="Senior Platform Engineer, Infrastructure and Developer Experience",
        status="open",
        salary_min=60000,
        salary_max=80000,
    )


def make_candidate(actor, name):
    email = name.lower().replace(" ", ".") + "@a-rather-long-domain-name.example.org"
    return create_candidate(actor, name, email)


def make_application(requisition, candidate, stage="interviewing"):
    start = "interviewing" if stage == "interviewing" else "final_round"
    application = apply_to_requisition(requisition.manager, candidate, requisition, start)
    if stage == "verbal_intent":
        change_stage(requisition.manager, application, "verbal_intent")
    return application


@pytest.fixture(scope="module")
def world(database_url, tmp_path_factory):
    """One live app for the module, seeded with the access walk's world and an admin."""
    with live_server(database_url, tmp_path_factory.mktemp("layout")) as live:
        with live.app.app_context():
            create_user(ADMIN, "Ada Admin", "admin", PASSWORD)
            ids = build_other_world(make_user, make_requisition, make_candidate, make_application)
            maria = create_user(MARIA, "Maria Lopez", "manager", PASSWORD)
            make_application(make_requisition(maria), make_candidate(maria, "Clara Moreau"))
            db.session.commit()
        yield live, ids


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


def sign_in(context, live, email: str):
    page = context.new_page()
    page.goto(live.url("/login"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Waiting on you")).to_be_visible()
    # The heading can show before the deferred scripts (the "/" shortcut) have run; a key pressed
    # before then would go nowhere, as it would for a person that quick.
    page.wait_for_load_state("load")
    return page


def html_pages(live, ids, context) -> list[str]:
    """The walk's GET pages that answer HTML (downloads and JSON are not screens)."""
    pages = []
    for method, url, _ in walk_requests(live.app, ids):
        if method != "GET" or url.startswith(SKIPPED_PREFIXES) or "?" in url:
            continue
        url = url.replace("/templates/x", "/templates/check_in")
        response = context.request.get(live.url(url))
        if "text/html" in response.headers.get("content-type", ""):
            pages.append(url)
    return pages


def sideways_overflow(page) -> int:
    """How many pixels the page scrolls sideways (0 when it fits)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_no_page_scrolls_sideways_on_a_phone(world, browser):
    live, ids = world
    context = browser.new_context(**PHONE)
    page = sign_in(context, live, ADMIN)
    pages = html_pages(live, ids, context)
    assert len(pages) > 35, pages
    too_wide = []
    for url in pages:
        page.goto(live.url(url))
        if (extra := sideways_overflow(page)) > 0:
            too_wide.append(f"{url}: {extra} px too wide")
    assert not too_wide, "\n".join(too_wide)
    # The dashboard's rows become cards: each row's status is on screen, not off to the right.
    page.goto(live.url("/dashboard"))
    statuses = page.locator("#waiting tbody tr td[data-label='Update status']")
    assert statuses.count() > 0
    for index in range(statuses.count()):
        box = statuses.nth(index).bounding_box()
        assert box is not None and box["x"] + box["width"] <= PHONE["viewport"]["width"]
    for url, name in (
        ("/dashboard", "phone-dashboard"),
        (f"/requisitions/{ids.ids['requisition_id']}", "phone-requisition"),
        ("/reports/holds", "phone-holds-report"),
    ):
        page.goto(live.url(url))
        screenshot(page, name)
    context.close()


def test_the_menu_opens_without_javascript_and_passes_axe(world, browser):
    live, _ = world
    context = browser.new_context(**PHONE, java_script_enabled=False)
    page = context.new_page()
    page.goto(live.url("/login"))
    assert sideways_overflow(page) <= 0
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    reports = page.get_by_role("link", name="Reports", exact=True)
    expect(reports).to_be_hidden()  # folded into the menu
    page.get_by_text("Menu", exact=True).click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    screenshot(page, "phone-menu-open")
    assert not serious_violations_without_script(browser, live, context)
    reports.click()
    expect(page.get_by_role("heading", name="Reports", exact=True)).to_be_visible()
    context.close()


def serious_violations_without_script(browser, live, context) -> list[str]:
    """axe needs script: check the dashboard with the menu open in a scripted phone context."""
    scripted = browser.new_context(**PHONE, storage_state=context.storage_state())
    page = scripted.new_page()
    page.goto(live.url("/dashboard"))
    page.get_by_text("Menu", exact=True).click()
    found = serious_violations(page)
    scripted.close()
    return found


def test_wide_reports_show_every_column_on_a_laptop(world, browser):
    live, _ = world
    context = browser.new_context(**LAPTOP)
    page = sign_in(context, live, ADMIN)
    for report in ("holds", "closure", "cadence", "approvals"):
        page.goto(live.url(f"/reports/{report}"))
        clipped = page.evaluate(
            "[...document.querySelectorAll('.table-scroll')]"
            ".filter(box => box.scrollWidth > box.clientWidth).length"
        )
        assert clipped == 0, f"/reports/{report}: {clipped} table(s) cut off at 1366 px"
        assert sideways_overflow(page) <= 0
    context.close()


def test_search_finds_a_candidate_by_part_of_the_email_never_another_managers(world, browser):
    live, _ = world
    context = browser.new_context(**LAPTOP)
    page = sign_in(context, live, MARIA)
    page.keyboard.press("/")
    field = page.get_by_role("searchbox", name="Search candidates, requisitions and holds")
    expect(field).to_be_focused()
    field.fill("rather-long-domain")
    field.press("Enter")
    results = page.locator("#search-results")
    expect(results.get_by_role("link", name="Clara Moreau")).to_be_visible()
    expect(page.locator("#search-summary")).to_contain_text("1 result for")
    assert OTHER_CANDIDATE not in page.content()
    # The arrow keys walk the results; the search page passes axe.
    page.get_by_label("Candidates by name or email").press("ArrowDown")
    expect(results.get_by_role("link", name="Clara Moreau")).to_be_focused()
    screenshot(page, "search-results")
    assert not serious_violations(page)
    # The other manager's candidate, hold and requisition: nothing, in words.
    for text in (OTHER_CANDIDATE, "Their hold"):
        page.goto(live.url(f"/search?q={text}"))
        expect(page.locator("#search-summary")).to_contain_text("Nothing you may see matches")
    context.close()


def test_sorted_lists_the_profile_and_the_audit_log_pass_axe(world, browser):
    live, ids = world
    context = browser.new_context(**LAPTOP)
    page = sign_in(context, live, ADMIN)
    problems = []
    for path in (
        "/candidates/?sort=-name",
        "/holds?state=all&sort=stranded",
        "/outbox?sort=-sent",
        "/reports/holds?sort-holds=-stranded",
        "/profile",
        "/admin/audit",
    ):
        page.goto(live.url(path))
        problems += [f"{path}: {finding}" for finding in serious_violations(page)]
    expect(page.locator("#audit-log")).to_contain_text("placed the hold")
    screenshot(page, "audit-log-sentences")
    page.goto(live.url("/candidates/?sort=-name"))
    expect(page.locator("th[aria-sort='descending']")).to_have_text(re.compile("Name"))
    assert not problems, "\n".join(problems)
    context.close()
