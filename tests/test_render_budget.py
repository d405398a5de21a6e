"""Render budgets: no template a manager can save, and no page of drafts, holds a worker for long."""

import time

import pytest
from sqlalchemy import func, select

from hiretrack.errors import ValidationFailed
from hiretrack.extensions import db
from hiretrack.messages import templates as template_service
from hiretrack.messages.drafts import prepare_drafts
from hiretrack.messages.models import EmailTemplate
from hiretrack.messages.rendering import (
    REQUEST_RENDER_BUDGET,
    RenderBudgetExhausted,
    render_allowance,
    render_email,
    sample_context,
    validate_template,
)

# Valid, short, and slow: a few hundred milliseconds an email, under the old per-email second,
# so one such template used to pass every check and then hold a worker per candidate.
SLOW_BODY = (
    "Dear {{ candidate.first_name }},\n"
    '{% set words = "ab " * 30000 %}{% for i in range(15) %}'
    "{% if words | wordcount > 0 %}{% endif %}{% endfor %}\n"
    "Thank you for your patience.\n"
)


def test_a_slow_but_valid_template_is_refused_when_saved(ctx, make_user):
    recruiter = make_user("recruiter")
    started = time.monotonic()
    with pytest.raises(ValidationFailed) as refused:
        template_service.create_template(
            recruiter,
            name="Thorough check-in",
            slug="thorough-check-in",
            category="check_in",
            subject="News about {{ requisition.title }}",
            body=SLOW_BODY,
            promise_business_days=4,
            personal=False,
        )
    assert time.monotonic() - started < 3  # refused after one or two tenths of a second
    assert "This template is too slow" in refused.value.message
    assert "0.1 seconds" in refused.value.errors["body"][0]
    db.session.rollback()
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(EmailTemplate)
            .where(EmailTemplate.slug == "thorough-check-in")
        )
        == 0
    )


def test_the_cost_check_uses_the_longest_values_not_the_examples():
    """Work that grows with a value: quick for "Ada", too slow for a 300-character name."""
    grows = (
        "Dear {{ candidate.first_name }},\n"
        '{% set words = "ab " * 3000 %}{% for letter in candidate.name %}'
        "{% if words | wordcount > 0 %}{% endif %}{% endfor %}\n"
    )
    render_email("Hi", grows, sample_context())  # the examples alone pass quickly
    problems = validate_template("Hi", grows)
    assert [problem.message[:30] for problem in problems] == ["This template is too slow: one"]


def test_renders_share_the_allowance_and_stop_with_a_clear_error():
    started = time.monotonic()
    rendered, refused = 0, None
    with render_allowance(0.5):
        for _ in range(10):
            try:
                render_email("Hi", SLOW_BODY, sample_context())
                rendered += 1
            except RenderBudgetExhausted as error:
                refused = error
                break
    assert time.monotonic() - started < 2.5
    assert rendered < 10 and refused is not None
    assert "templates may take 0.5 seconds in all for one page or batch" in refused.message


def test_a_drafts_page_for_many_candidates_stops_at_the_budget(
    client, make_user, make_requisition, make_application, login
):
    manager = make_user("manager")
    requisition = make_requisition(manager=manager)
    applications = [make_application(requisition=requisition) for _ in range(12)]
    drafts = prepare_drafts(manager, applications, "check_in")
    for draft in drafts:  # as if edited before the save-time check existed
        draft.body = SLOW_BODY.replace("range(15)", "range(90)")  # most of a second each
    db.session.commit()
    login(manager)

    started = time.monotonic()
    page = client.get(f"/drafts?requisition_id={requisition.id}")
    took = time.monotonic() - started

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert took < REQUEST_RENDER_BUDGET + 3  # twelve renders took 9 s before
    assert "Rendering stopped before the end:" in html
    assert "because this page used up its time for rendering templates" in html
    assert "templates may take 3 seconds in all for one page or batch" in html


def test_a_persons_rendering_time_per_minute_is_limited_so_others_keep_the_workers(
    app, client, make_user, make_requisition, make_application, login
):
    app.config["RENDER_SECONDS_PER_MINUTE"] = 2
    manager = make_user("manager")
    requisition = make_requisition(manager=manager)
    applications = [make_application(requisition=requisition) for _ in range(6)]
    for draft in prepare_drafts(manager, applications, "check_in"):
        draft.body = SLOW_BODY.replace("range(15)", "range(90)")
    db.session.commit()
    login(manager)
    page = f"/drafts?requisition_id={requisition.id}"

    first = client.get(page).get_data(as_text=True)  # spends its 3 seconds
    started = time.monotonic()
    second = client.get(page).get_data(as_text=True)
    took = time.monotonic() - started

    assert "Rendering stopped before the end:" in first
    assert took < 1.5  # refused before rendering anything
    assert "your pages may render templates for 2 seconds a minute" in second
    assert "Wait 6" in second or "Wait 5" in second  # about a minute
