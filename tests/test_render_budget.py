"""Render budgets: no template a manager can save, and no page of drafts, holds a worker for long.

These tests assert what the budget does (renders refused, drafts left unchecked, the message),
never how long a request took: timings belong in bench/, and a wall-clock bound flakes on a
loaded machine. The templates that must be stopped run for many seconds if nothing stops them,
so the outcome does not depend on the machine's speed.
"""

import re

import pytest
from sqlalchemy import func, select

from hiretrack.errors import ValidationFailed
from hiretrack.extensions import db
from hiretrack.messages import templates as template_service
from hiretrack.messages.drafts import prepare_drafts
from hiretrack.messages.models import EmailTemplate
from hiretrack.messages.rendering import (
    RenderBudgetExhausted,
    TemplateRenderError,
    render_allowance,
    render_email,
    sample_context,
    validate_template,
)

# Valid, short, and slow: half a second an email or so, under the old per-email second, so one
# such template used to pass every check and then hold a worker per candidate. Far over the 0.1 s
# save-time limit on any machine (a quarter of this work took 0.1 to 0.3 s here).
SLOW_BODY = (
    "Dear {{ candidate.first_name }},\n"
    '{% set words = "ab " * 30000 %}{% for i in range(60) %}'
    "{% if words | wordcount > 0 %}{% endif %}{% endfor %}\n"
    "Thank you for your patience.\n"
)
# The same work fifteen times over: well past any per-email limit on any machine, so every render
# of it runs until the watchdog stops it.
ENDLESS_BODY = SLOW_BODY.replace("range(60)", "range(900)")


def not_checked_drafts(html: str) -> tuple[int, int]:
    """(not checked, shown) from the drafts page's "Rendering stopped" notice."""
    found = re.search(r"(\d+) of (\d+) drafts were not checked", html)
    assert found, "the page does not say that rendering stopped"
    return int(found[1]), int(found[2])


def test_a_slow_but_valid_template_is_refused_when_saved(ctx, make_user):
    recruiter = make_user("recruiter")
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
    """Work that grows with a value: quick for the examples, too slow for a 300-character name
    (about eight times over the limit here, so a faster machine still fails it)."""
    grows = (
        "Dear {{ candidate.first_name }},\n"
        '{% set words = "ab " * 20000 %}{% for letter in candidate.name %}'
        "{% if words | wordcount > 0 %}{% endif %}{% endfor %}\n"
    )
    render_email("Hi", grows, sample_context())  # the examples alone pass quickly
    problems = validate_template("Hi", grows)
    assert [problem.message[:30] for problem in problems] == ["This template is too slow: one"]


def test_renders_share_the_allowance_and_stop_with_a_clear_error():
    """Each render alone only times out; together they use up the allowance and are refused."""
    attempts, timed_out, refused = 0, 0, None
    with render_allowance(0.5):
        for _ in range(10):
            attempts += 1
            try:
                render_email("Hi", ENDLESS_BODY, sample_context(), time_limit=0.2)
            except RenderBudgetExhausted as error:
                refused = error
                break
            except TemplateRenderError as late:
                assert "took longer than 0.2 seconds" in late.message
                timed_out += 1
    assert refused is not None and attempts < 10
    assert timed_out <= 2  # 0.5 s hold at most two whole 0.2 s renders, then the rest is refused
    assert "templates may take 0.5 seconds in all for one page or batch" in refused.message


def test_a_drafts_page_for_many_candidates_stops_at_the_budget(
    client, make_user, make_requisition, make_application, login
):
    manager = make_user("manager")
    requisition = make_requisition(manager=manager)
    applications = [make_application(requisition=requisition) for _ in range(12)]
    drafts = prepare_drafts(manager, applications, "check_in")
    for draft in drafts:  # as if edited before the save-time check existed
        draft.body = ENDLESS_BODY  # as if edited before the save-time check existed
    db.session.commit()
    login(manager)

    page = client.get(f"/drafts?requisition_id={requisition.id}")

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    not_checked, shown = not_checked_drafts(html)
    assert shown == 12 and not_checked >= 9  # 3 s hold at most three 1 s renders, not twelve
    assert "The template took longer than 1 second to render" in html  # the ones that ran
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
        draft.body = ENDLESS_BODY
    db.session.commit()
    login(manager)
    page = f"/drafts?requisition_id={requisition.id}"

    first = client.get(page).get_data(as_text=True)  # spends its 3 seconds
    second = client.get(page).get_data(as_text=True)

    assert "Rendering stopped before the end:" in first
    assert not_checked_drafts(first)[0] < 6
    assert not_checked_drafts(second) == (6, 6)  # refused before rendering anything
    assert "your pages may render templates for 2 seconds a minute" in second
    assert "Wait 6" in second or "Wait 5" in second  # about a minute
