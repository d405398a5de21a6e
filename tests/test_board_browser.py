"""The pipeline board, bulk actions and plain-word compose in a real Chromium, with axe-core.

One live server and one browser serve the whole module (each test seeds its own manager and
requisition); screenshots land in test-artifacts/screenshots/ (gitignored).
"""

import email
from email import policy
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import select

from hiretrack.admin.models import Department
from hiretrack.auth.services import create_user
from hiretrack.candidates.services import apply_to_requisition, create_candidate
from hiretrack.candidates.stages import check_transition
from hiretrack.errors import TransitionNotAllowed
from hiretrack.extensions import db
from hiretrack.holds.services import place_hold
from hiretrack.messages.delivery import deliver_batch
from hiretrack.messages.models import Draft, DraftStatus, OutboxEmail, OutboxStatus
from hiretrack.requisitions.models import Requisition
from hiretrack.requisitions.services import create_requisition
from tests.browser_helpers import (
    LAUNCH_ARGS,
    SCREENSHOTS,
    live_server,
    screenshot,
    serious_violations,
)
from tests.conftest import CHROMIUM, PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live(database_url, tmp_path_factory):
    with live_server(database_url, tmp_path_factory.mktemp("board-browser")) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def seed(app, manager_email: str, title: str, candidates: dict[str, str]) -> dict[str, int]:
    """A manager with one open requisition and candidates at the given stages; name -> application id."""
    with app.app_context():
        manager = create_user(
            manager_email, manager_email.split("@")[0].title(), "manager", PASSWORD
        )
        department = Department(name=f"Department of {title}")
        db.session.add(department)
        db.session.flush()
        requisition = create_requisition(
            manager, department_id=department.id, title=title, status="open"
        )
        ids = {}
        for name, stage in candidates.items():
            email = name.lower().replace(" ", ".") + "@example.org"
            candidate = create_candidate(manager, name, email)
            ids[name] = apply_to_requisition(manager, candidate, requisition, stage).id
        db.session.commit()
        ids["requisition"] = requisition.id
        return ids


def sign_in(page, live, email: str) -> None:
    page.goto(live.url("/login"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Waiting on you")).to_be_visible()


def count(page, stage: str) -> int:
    return int(page.locator(f"#column-{stage} .board-count").inner_text())


def column_of(page, application_id: int) -> str:
    return page.locator(f"#card-{application_id}").get_attribute("data-stage")


def test_the_board_moves_cards_through_the_stage_rules(live, page):
    ids = seed(
        live.app,
        "maria.board@acme.example",
        "Board Engineer",
        {"Ana Silva": "interviewing", "Ben Okafor": "final_round"},
    )
    ana, ben = ids["Ana Silva"], ids["Ben Okafor"]
    sign_in(page, live, "maria.board@acme.example")
    page.goto(live.url(f"/requisitions/{ids['requisition']}"))
    page.get_by_role("link", name="Open the pipeline board").click()
    expect(page.get_by_role("heading", name="Pipeline: Board Engineer")).to_be_visible()
    assert (count(page, "interviewing"), count(page, "final_round")) == (1, 1)
    screenshot(page, "board-01-pipeline")
    problems = serious_violations(page)

    # Without JavaScript's help: the card's own form.
    page.locator(f"#card-{ana}").get_by_label("Move to").select_option("final_round")
    page.locator(f"#card-{ana}").get_by_role("button", name="Move").click()
    expect(page.locator(".flashes")).to_contain_text("Ana Silva moved to Final round")
    assert (count(page, "interviewing"), count(page, "final_round")) == (0, 2)

    # Drag and drop onto the next column (once the reloaded page's script has run).
    page.wait_for_load_state("load")
    page.locator(f"#card-{ana}").drag_to(page.locator(".board-column[data-stage='verbal_intent']"))
    expect(page.locator(".flashes")).to_contain_text("Ana Silva moved to Verbal intent")
    assert column_of(page, ana) == "verbal_intent"

    # The keyboard: Space picks the card up, an arrow chooses the column, Space drops it. The
    # drop reloaded the page: its flash shows before the board's deferred script has run.
    page.wait_for_load_state("load")
    page.locator(f"#card-{ben}").focus()
    page.keyboard.press("Space")
    expect(page.locator("#board-announcer")).to_contain_text("Picked up Ben Okafor")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Space")
    expect(page.locator(".flashes")).to_contain_text("Ben Okafor moved to Verbal intent")
    assert count(page, "verbal_intent") == 2

    # An illegal drop is refused, in the stage rules' words, exactly as the stage form says it.
    with pytest.raises(TransitionNotAllowed) as rule:
        check_transition("verbal_intent", "accepted")
    page.locator(f"#card-{ana}").drag_to(page.locator(".board-column[data-stage='accepted']"))
    refusal = page.locator(f"#card-{ana}-error")
    expect(refusal).to_contain_text(rule.value.message)
    board_message = refusal.inner_text().strip()
    assert column_of(page, ana) == "verbal_intent" and count(page, "accepted") == 0
    screenshot(page, "board-02-refused-move")
    problems += serious_violations(page)

    page.goto(live.url(f"/candidates/applications/{ana}/stage"))
    page.evaluate(
        "() => { const s = document.querySelector('#target');"
        " s.add(new Option('Accepted', 'accepted')); s.value = 'accepted'; }"
    )
    page.get_by_role("button", name="Change stage").click()
    assert page.locator("#target-error").inner_text().strip() == board_message
    assert problems == [], "\n".join(problems)


def delivered_to(app, addresses: set[str]) -> dict[str, email.message.EmailMessage]:
    """Run the delivery worker once (file backend) and read back the messages to `addresses`."""
    with app.app_context():
        deliver_batch("board-browser-test")
        db.session.remove()
    found = {}
    for path in Path(app.config["MAIL_FILE_DIR"]).glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        recipient = message["To"].addresses[0].addr_spec
        if recipient in addresses:
            found[recipient] = message
    return found


def test_a_hold_on_a_card_reads_as_a_sentence_not_a_column_of_word_pieces(live, page):
    """The hold's summary spans the card: it was squeezed into a column and broken mid-word."""
    ids = seed(
        live.app,
        "maria.holdcard@acme.example",
        "Hold Card Engineer",
        {"Hana Holdcard": "final_round"},
    )
    with live.app.app_context():
        requisition = db.session.get(Requisition, ids["requisition"])
        place_hold(
            requisition.manager,
            requisition,
            reason="budget",
            summary="Head office: 'budget technicality, cleared in a day or so'",
            owner_name="Head office",
        )
        db.session.commit()
    sign_in(page, live, "maria.holdcard@acme.example")

    page.goto(live.url(f"/requisitions/{ids['requisition']}/pipeline"))

    card = page.locator(f"#card-{ids['Hana Holdcard']}")
    facts = card.locator(".board-facts").bounding_box()
    hold = card.locator(".card-hold").bounding_box()
    assert hold["width"] > 0.9 * facts["width"]
    assert hold["x"] - facts["x"] < 2  # under its label, not beside it


def test_a_bulk_send_to_three_candidates_goes_through_reviewed_drafts(live, page):
    names = {"Dara Quinn": "final_round", "Eli Novak": "final_round", "Fay Moreau": "interviewing"}
    ids = seed(live.app, "maria.bulk@acme.example", "Bulk Analyst", names)
    sign_in(page, live, "maria.bulk@acme.example")
    for name in names:
        page.get_by_role("checkbox", name=f"Select {name}").check()
    page.get_by_label("With the selected applications").select_option("send")
    page.get_by_role("button", name="Review selected").click()
    expect(page.locator("#bulk-selected")).to_contain_text("Fay Moreau")
    problems = serious_violations(page)
    page.get_by_label("Message").select_option("check_in")
    page.get_by_role("button", name="Prepare drafts to review").click()

    expect(page.get_by_role("button", name="Send all 3")).to_be_visible()
    for name in names:
        expect(page.locator("#bulk-drafts")).to_contain_text(name)
    screenshot(page, "board-03-bulk-review")
    problems += serious_violations(page)
    review_url = page.url
    page.get_by_role("link", name="Edit the draft to Eli Novak").click()
    expect(page.get_by_role("heading", name="Edit the draft for Eli Novak")).to_be_visible()
    assert not [syntax for syntax in ("{{", "{%", "{#") if syntax in page.content()]
    problems += [f"draft edit: {finding}" for finding in serious_violations(page)]
    page.goto(review_url)
    page.get_by_role("button", name="Send all 3").click()
    expect(page.locator(".flashes")).to_contain_text("3 messages queued for delivery")

    addresses = {name.lower().replace(" ", ".") + "@example.org" for name in names}
    messages = delivered_to(live.app, addresses)
    assert set(messages) == addresses
    with live.app.app_context():
        application_ids = [ids[name] for name in names]
        drafts = list(
            db.session.scalars(select(Draft).where(Draft.application_id.in_(application_ids)))
        )
        assert len(drafts) == 3 and {d.status for d in drafts} == {DraftStatus.SENT}
        outbox = [db.session.get(OutboxEmail, d.outbox_email_id) for d in drafts]
        assert {o.status for o in outbox} == {OutboxStatus.SENT}
        db.session.remove()
    assert "Dara" in messages["dara.quinn@example.org"].get_body(("plain",)).get_content()
    assert problems == [], "\n".join(problems)


def test_compose_shows_a_manager_plain_words_and_sends_the_edited_text(live, page):
    ids = seed(
        live.app, "maria.compose@acme.example", "Compose Designer", {"Gus Lindqvist": "final_round"}
    )
    sign_in(page, live, "maria.compose@acme.example")
    page.goto(live.url(f"/applications/{ids['Gus Lindqvist']}/compose?category=check_in"))
    expect(page.get_by_role("heading", name="Write to Gus Lindqvist")).to_be_visible()
    content = page.content()
    assert not [syntax for syntax in ("{{", "{%", "{#") if syntax in content]
    body = page.get_by_label("Message")
    assert body.input_value().startswith("Dear Gus,")
    body.fill(body.input_value().replace("Dear Gus,", "Hi Gus, a quick personal note from me."))
    expect(page.locator("#preview-text")).to_contain_text("Hi Gus, a quick personal note from me.")
    # A viewport screenshot: a full-page one can leave the sandboxed preview frame blank.
    page.locator("#preview-html").scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "board-04-compose.png"))
    problems = serious_violations(page)
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator(".flashes")).to_contain_text("Queued for delivery")

    messages = delivered_to(live.app, {"gus.lindqvist@example.org"})
    text = messages["gus.lindqvist@example.org"].get_body(("plain",)).get_content()
    assert "Hi Gus, a quick personal note from me." in text and "Dear Gus," not in text
    assert "/status/" in text and "…" not in text
    assert problems == [], "\n".join(problems)
