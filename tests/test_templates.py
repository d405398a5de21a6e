"""Template management: validation by line, versions and restore, permissions, the live preview."""

import re

import pytest
from sqlalchemy import func, select

from hiretrack.audit.models import AuditEntry
from hiretrack.errors import (
    GuardrailRefused,
    NotFound,
    PermissionDenied,
    StaleVersion,
    ValidationFailed,
)
from hiretrack.extensions import db
from hiretrack.messages import templates as template_service
from hiretrack.messages.defaults import load_default_templates
from hiretrack.messages.models import EmailTemplate, EmailTemplateVersion
from hiretrack.messages.rendering import validate_template
from hiretrack.messages.services import choose_template

GOOD_BODY = (
    'Dear {{ candidate.first_name | fallback("there") }},\n\n'
    "Your application for {{ requisition.title }} is still with us.\n\n"
    "{{ manager.name }}\n"
)


def new_template(actor, **overrides):
    values = {
        "name": "Gentle check-in",
        "slug": "gentle-check-in",
        "category": "check_in",
        "subject": "News about {{ requisition.title }}",
        "body": GOOD_BODY,
        "promise_business_days": 4,
        "personal": False,
    }
    values.update(overrides)
    return template_service.create_template(actor, **values)


def template_count() -> int:
    return db.session.scalar(select(func.count()).select_from(EmailTemplate))


def version_count() -> int:
    return db.session.scalar(select(func.count()).select_from(EmailTemplateVersion))


# --- Saving validates, by line, and saves nothing that fails -------------------------------------


def test_create_writes_version_one_and_an_audit_entry(ctx, make_user):
    recruiter = make_user("recruiter")
    template = new_template(recruiter, change_note="For long waits")
    db.session.commit()

    assert template.owner_id is None
    assert template.current_version == 1
    [version] = template_service.template_versions(template)
    assert (version.number, version.created_by_id, version.change_note) == (
        1,
        recruiter.id,
        "For long waits",
    )
    assert version.body == template.body
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "email_template.create")
    ).one()
    assert entry.entity_id == template.id and entry.actor_id == recruiter.id


def test_syntax_error_is_reported_with_its_line_and_nothing_is_saved(ctx, make_user):
    recruiter = make_user("recruiter")
    templates_before, versions_before = template_count(), version_count()
    body = "Dear {{ candidate.first_name }},\n\nA second line.\n{% if hold %}\nNo endif here.\n"

    with pytest.raises(ValidationFailed) as refused:
        new_template(recruiter, body=body)

    [message] = refused.value.errors["body"]
    assert message.startswith("line 4: Unexpected end of template"), message
    assert "'endif'" in message
    assert "not saved" in refused.value.message
    db.session.rollback()
    assert (template_count(), version_count()) == (templates_before, versions_before)


def test_unknown_variable_is_reported_on_its_line(ctx, make_user):
    recruiter = make_user("recruiter")
    body = "Dear {{ candidate.first_name }},\n\nYour salary will be\n{{ salary }} per year.\n"

    with pytest.raises(ValidationFailed) as refused:
        new_template(recruiter, body=body)

    assert refused.value.errors == {
        "body": [
            "line 4: Unknown variable 'salary'. Available: candidate, application, "
            "requisition, manager, company, hold, next_update_date, status_link, today"
        ]
    }
    with pytest.raises(ValidationFailed) as refused:
        new_template(recruiter, subject="Hello {{ candidate.frist_name }}")
    assert refused.value.errors["subject"][0].startswith("line 1: 'candidate' has no field")
    db.session.rollback()
    assert (
        db.session.scalar(select(EmailTemplate).where(EmailTemplate.slug == "gentle-check-in"))
        is None
    )
    assert template_count() == len(load_default_templates())


def test_a_hold_field_used_without_checking_for_a_hold_is_refused(ctx, make_user):
    recruiter = make_user("recruiter")
    with pytest.raises(ValidationFailed) as refused:
        new_template(recruiter, body="Hi,\n\nThe reason: {{ hold.public_reason }}.\n")
    [message] = refused.value.errors["body"]
    assert message.startswith("line 3:") and "hold" in message


def test_slugs_are_lowercase_words_with_hyphens_and_unique(ctx, make_user):
    recruiter = make_user("recruiter")
    for bad in ("Has Spaces", "under_score", "-leading", "double--hyphen", "x" * 81, ""):
        with pytest.raises(ValidationFailed) as refused:
            new_template(recruiter, slug=bad)
        assert "slug" in refused.value.errors, bad
    with pytest.raises(ValidationFailed) as refused:
        new_template(recruiter, slug="delay")
    assert refused.value.errors["slug"] == ["'delay' is already used by another template."]
    with pytest.raises(ValidationFailed) as refused:
        new_template(recruiter, category="gossip")
    assert "category" in refused.value.errors
    assert new_template(recruiter, slug="Upper-Case-2").slug == "upper-case-2"


def test_every_default_slug_follows_the_slug_rule():
    for default in load_default_templates():
        assert template_service.SLUG_PATTERN.fullmatch(default.slug), default.slug


# --- Versions and restore -------------------------------------------------------------------------


def test_each_save_is_a_version_and_an_old_one_can_be_restored(ctx, make_user):
    recruiter, admin = make_user("recruiter"), make_user("admin")
    template = new_template(recruiter)
    db.session.commit()
    original_body = template.body

    template_service.update_template(
        admin,
        template,
        template.version,
        change_note="Shorter",
        body="Hi {{ candidate.first_name | fallback('there') }}, no news yet.\n",
    )
    db.session.commit()
    assert template.current_version == 2

    unchanged = template_service.update_template(
        admin, template, template.version, body=template.body
    )
    assert unchanged.current_version == 2  # nothing differed: no empty version

    template_service.restore_version(recruiter, template, 1, template.version)
    db.session.commit()

    assert template.current_version == 3
    assert template.body == original_body
    versions = template_service.template_versions(template)
    assert [(v.number, v.change_note, v.created_by_id) for v in versions] == [
        (3, "Restored version 1", recruiter.id),
        (2, "Shorter", admin.id),
        (1, "Created", recruiter.id),
    ]
    actions = db.session.scalars(
        select(AuditEntry.action).where(AuditEntry.entity_type == "email_template")
    ).all()
    assert actions.count("email_template.update") == 2
    with pytest.raises(GuardrailRefused):
        template_service.restore_version(recruiter, template, 3)
    with pytest.raises(NotFound):
        template_service.restore_version(recruiter, template, 99)


def test_a_broken_edit_keeps_the_current_version(ctx, make_user):
    recruiter = make_user("recruiter")
    template = new_template(recruiter)
    db.session.commit()

    with pytest.raises(ValidationFailed) as refused:
        template_service.update_template(
            recruiter, template, template.version, body="Line one\n{{ candidate.name \n"
        )
    db.session.rollback()

    assert refused.value.errors["body"][0].startswith("line 2:")
    db.session.refresh(template)
    assert (template.current_version, template.body) == (1, GOOD_BODY)
    assert len(template_service.template_versions(template)) == 1


def test_saving_over_someone_elses_edit_is_refused(ctx, make_user):
    recruiter = make_user("recruiter")
    template = new_template(recruiter)
    db.session.commit()
    loaded_at = template.version
    template_service.update_template(recruiter, template, loaded_at, name="First edit")
    db.session.commit()

    with pytest.raises(StaleVersion):
        template_service.update_template(recruiter, template, loaded_at, name="Second edit")


def test_the_last_shared_template_of_a_category_cannot_be_retired_or_moved(ctx, make_user):
    recruiter = make_user("recruiter")
    delay = template_service.get_template(recruiter, "delay")
    with pytest.raises(GuardrailRefused):
        template_service.set_active(recruiter, delay, False)
    with pytest.raises(GuardrailRefused):
        template_service.update_template(recruiter, delay, delay.version, category="check_in")

    new_template(recruiter, slug="delay-two", category="delay")
    template_service.set_active(recruiter, delay, False)
    db.session.commit()
    assert choose_template(recruiter, "delay").slug == "delay-two"


# --- Permissions ----------------------------------------------------------------------------------


def test_managers_keep_personal_variants_and_cannot_touch_shared_ones(ctx, make_user):
    manager, other_manager = make_user("manager"), make_user("manager")
    shared = template_service.get_template(manager, "check-in")

    with pytest.raises(PermissionDenied):
        new_template(manager, personal=False)
    with pytest.raises(PermissionDenied):
        template_service.update_template(manager, shared, shared.version, name="Mine now")
    with pytest.raises(PermissionDenied):
        template_service.get_template(manager, "check-in", for_edit=True)

    mine = new_template(manager, slug="my-check-in", personal=True)
    db.session.commit()
    assert mine.owner_id == manager.id
    template_service.update_template(manager, mine, mine.version, name="My check-in")
    db.session.commit()
    assert mine.current_version == 2

    with pytest.raises(NotFound):
        template_service.get_template(other_manager, "my-check-in")
    with pytest.raises(PermissionDenied):
        template_service.update_template(other_manager, mine, None, name="Hijacked")
    assert "my-check-in" not in {t.slug for t in template_service.list_templates(other_manager)}
    assert "my-check-in" in {t.slug for t in template_service.list_templates(manager)}


def test_recruiters_and_admins_own_the_shared_set(ctx, make_user):
    for role in ("recruiter", "admin"):
        user = make_user(role)
        template = new_template(user, slug=f"shared-by-{role}")
        template_service.update_template(user, template, template.version, name=f"By {role}")
        assert template.owner_id is None and template.current_version == 2


def test_approvers_do_not_edit_templates(ctx, make_user):
    approver = make_user("approver")
    shared = db.session.scalars(select(EmailTemplate).where(EmailTemplate.slug == "delay")).one()
    with pytest.raises(PermissionDenied):
        new_template(approver, personal=True)
    with pytest.raises(PermissionDenied):
        template_service.update_template(approver, shared, None, name="Approved wording")
    with pytest.raises(PermissionDenied):
        template_service.list_templates(approver)


def test_choose_template_prefers_the_managers_own_variant(ctx, make_user):
    manager, colleague = make_user("manager"), make_user("manager")
    mine = new_template(manager, slug="my-delay", category="delay", personal=True)
    db.session.commit()

    assert choose_template(manager, "delay").id == mine.id
    assert choose_template(colleague, "delay").slug == "delay"

    template_service.set_active(manager, mine, False)
    db.session.commit()
    assert choose_template(manager, "delay").slug == "delay"


# --- Web: list, editor, versions ------------------------------------------------------------------


def test_template_list_shows_shared_and_mine_by_category(client, ctx, make_user, login):
    manager = make_user("manager")
    new_template(manager, slug="my-hold", category="hold_notice", name="My hold", personal=True)
    db.session.commit()
    login(manager)

    page = client.get("/templates")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Hold notice" in html and "My hold" in html and "Mine (personal)" in html
    assert "Make my version" in html  # shared ones can be copied, not edited


def test_approvers_get_no_template_pages(client, make_user, login):
    login(make_user("approver"))
    assert client.get("/templates").status_code == 403
    assert client.post("/templates/preview", json={"subject": "x", "body": "y"}).status_code == 403


def test_editor_shows_variables_and_loads_the_preview_script_without_inline_code(
    client, make_user, login
):
    login(make_user("recruiter"))
    page = client.get("/templates/delay/edit")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "candidate.first_name" in html and "status_link" in html and "fallback" in html
    assert 'src="/static/js/template-preview.js"' in html
    assert 'data-preview-url="/templates/preview"' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)  # CSP: no inline scripts
    assert not re.search(r"\sstyle=", html)  # CSP: no inline styles
    with client.get("/static/js/template-preview.js") as script:
        assert script.status_code == 200


def test_saving_a_broken_template_on_the_web_shows_the_line_and_saves_nothing(
    client, ctx, make_user, login
):
    login(make_user("recruiter"))
    before = version_count()
    response = client.post(
        "/templates/new",
        data={
            "name": "Broken",
            "slug": "broken",
            "category": "delay",
            "subject": "Hello",
            "body": "Dear {{ candidate.first_name }},\n\n{{ offer_amount }}\n",
            "submit": "Save template",
        },
    )

    assert response.status_code == 422
    assert "line 3: Unknown variable &#39;offer_amount&#39;" in response.get_data(as_text=True)
    assert version_count() == before
    assert db.session.scalar(select(EmailTemplate).where(EmailTemplate.slug == "broken")) is None


def test_a_manager_saves_a_personal_copy_of_a_shared_template(client, ctx, make_user, login):
    manager = make_user("manager")
    login(manager)

    form = client.get("/templates/new?from=delay")
    assert form.status_code == 200 and "Delay: approval pending (my version)" in form.get_data(
        as_text=True
    )
    response = client.post(
        "/templates/new",
        data={
            "name": "My delay",
            "slug": "my-delay",
            "category": "delay",
            "subject": "Still waiting on {{ requisition.title }}",
            "body": GOOD_BODY,
            "personal": "y",
            "submit": "Save template",
        },
    )

    assert response.status_code == 302
    saved = db.session.scalars(select(EmailTemplate).where(EmailTemplate.slug == "my-delay")).one()
    assert saved.owner_id == manager.id
    assert client.get("/templates/delay/edit").status_code == 403


def test_editing_restoring_through_the_web(client, ctx, make_user, login):
    recruiter = make_user("recruiter")
    login(recruiter)
    template = db.session.scalars(select(EmailTemplate).where(EmailTemplate.slug == "delay")).one()
    original_subject = template.subject

    response = client.post(
        "/templates/delay/edit",
        data={
            "name": template.name,
            "slug": "delay",
            "category": "delay",
            "promise_business_days": "5",
            "subject": "Waiting on an approval: {{ requisition.title }}",
            "body": template.body,
            "change_note": "Clearer subject",
            "expected_version": str(template.version),
            "submit": "Save template",
        },
    )
    assert response.status_code == 302

    history = client.get("/templates/delay/versions").get_data(as_text=True)
    assert "Clearer subject" in history and recruiter.name in history
    assert client.post("/templates/delay/versions/1/restore").status_code == 302

    db.session.expire_all()
    template = db.session.scalars(select(EmailTemplate).where(EmailTemplate.slug == "delay")).one()
    assert (template.subject, template.current_version) == (original_subject, 3)


# --- The live preview endpoint --------------------------------------------------------------------


def test_preview_renders_against_a_real_application(client, make_user, make_application, login):
    manager = make_user("manager")
    application = make_application(manager=manager)
    login(manager)

    response = client.post(
        "/templates/preview",
        json={
            "application_id": application.id,
            "subject": "About {{ requisition.title }}",
            "body": "Dear {{ candidate.first_name }},\n\nBy {{ next_update_date }}.\n",
            "category": "check_in",
            "promise_business_days": "3",
        },
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    data = response.get_json()
    assert data["subject"] == f"About {application.requisition.title}"
    assert data["text"].startswith(f"Dear {application.candidate.first_name},")
    assert re.search(r"By \w+day \d+ \w+ \d{4}\.", data["text"])
    assert "<p>Dear" in data["html"]


def test_preview_reports_problems_by_line_with_422(client, make_user, make_application, login):
    manager = make_user("manager")
    application = make_application(manager=manager)
    login(manager)

    response = client.post(
        "/templates/preview",
        json={
            "application_id": application.id,
            "subject": "Hello",
            "body": "Line one\nLine two\n{% for x in %}\n",
        },
    )

    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert errors["body"][0].startswith("line 3:")


def test_preview_of_another_managers_application_is_404(client, make_user, make_application, login):
    manager, other = make_user("manager"), make_user("manager")
    theirs = make_application(manager=other)
    login(manager)

    response = client.post(
        "/templates/preview",
        json={"application_id": theirs.id, "subject": "Hello", "body": "{{ candidate.name }}"},
    )

    assert response.status_code == 404
    assert theirs.candidate.name not in response.get_data(as_text=True)


def test_preview_without_an_application_uses_example_values(client, make_user, login):
    login(make_user("recruiter"))
    response = client.post(
        "/templates/preview", json={"subject": "Hi {{ candidate.first_name }}", "body": "Hello"}
    )
    assert response.status_code == 200
    assert response.get_json()["subject"] == "Hi Ada"
    assert client.post("/templates/preview", data="not json").status_code == 400


def test_preview_needs_the_csrf_token_when_csrf_is_on(app, client, make_user, login):
    login(make_user("recruiter"))
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        page = client.get("/templates/delay/edit").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        payload = {"subject": "Hi", "body": "Hello"}

        assert client.post("/templates/preview", json=payload).status_code == 400
        accepted = client.post("/templates/preview", json=payload, headers={"X-CSRFToken": token})
        assert accepted.status_code == 200
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_every_default_template_is_valid():
    for default in load_default_templates():
        assert validate_template(default.subject, default.body) == [], default.slug


# --- The live preview in a real browser -----------------------------------------------------------


@pytest.fixture
def live_server(app):
    """Serve the test app on a loopback port from a thread, for the browser."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()
    server.server_close()


@pytest.fixture
def browser_page():
    """A Chromium page (the system browser, as docs/NOTES.md describes), reporting console errors."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page()
        page.console_errors = []
        page.on(
            "console",
            lambda message: (
                message.type == "error" and page.console_errors.append((page.url, message.text))
            ),
        )
        yield page
        browser.close()


def test_live_preview_follows_the_editor_in_a_browser(
    live_server, browser_page, make_user, make_application
):
    from playwright.sync_api import expect

    recruiter = make_user("recruiter")
    application = make_application(title="Lighthouse Keeper")
    application_id = application.id
    first_name = application.candidate.first_name
    page = browser_page
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", recruiter.email)
    page.fill("input[name=password]", "correct horse battery staple")
    page.click("button[type=submit], input[type=submit]")
    page.goto(f"{live_server}/templates/delay/edit")
    page.console_errors.clear()

    page.fill("#subject", "Hello {{ candidate.first_name }}")
    expect(page.locator("#preview-subject")).to_have_text(f"Hello {first_name}")
    page.fill("#body", "Dear {{ candidate.first_name }},\n\nAbout {{ requisition.title }}.\n")
    frame = page.frame_locator("#preview-html")
    expect(frame.locator("body")).to_contain_text("About Lighthouse Keeper.")
    expect(page.locator("#preview-text")).to_contain_text(f"Dear {first_name},")

    page.fill("#body", "Dear {{ candidate.first_name }},\n\n{{ nope }}\n")
    errors = page.locator("#preview-errors")
    expect(errors).to_be_visible()
    expect(errors).to_contain_text("line 3: Unknown variable 'nope'")
    expect(page.locator("#preview-result")).to_be_hidden()

    page.goto(f"{live_server}/applications/{application_id}/compose?category=check_in")
    page.fill("#body", "Dear {{ candidate.first_name }},\n\nNews by {{ next_update_date }}.\n")
    page.fill("#promised_next_update", "2099-01-02")
    expect(page.locator("#preview-text")).to_contain_text("News by Friday 2 January 2099.")
    # The 422 answer is logged by the browser; anything else (a CSP refusal, a script error) is a bug.
    assert [text for _, text in page.console_errors if "status of 422" not in text] == []
