"""Snapshots of the default emails, so a wording change is a reviewed diff, and honesty checks.

Each default template is rendered for one fixed candidate and compared with
tests/snapshots/<slug>.txt (subject and text) and <slug>.html; where the email reads differently
when every optional value is empty (no hold, no manager phone), that version is <slug>.minimal.*;
where it reads differently once the hold's expected date and the last promise have passed,
<slug>.late.*. After an intended change,
rewrite them with `UPDATE_SNAPSHOTS=1 pytest tests/test_email_snapshots.py` and review the diff.
"""

import os
import re
from pathlib import Path

import pytest

from hiretrack.messages.defaults import load_default_templates
from hiretrack.messages.rendering import render_email

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"

#: One fixed candidate, as build_context would describe them: plain values only.
CONTEXT = {
    "candidate": {"name": "Amara Okafor", "first_name": "Amara", "email": "amara@example.org"},
    "application": {
        "stage_label": "Final round",
        "applied_on": "Monday 2 November 2026",
        "promised_update_passed": False,
    },
    "requisition": {"title": "Senior Data Engineer", "department": "Platform"},
    "manager": {"name": "Grace Hopper", "email": "grace@acme.example", "phone": "+44 20 7946 0018"},
    "company": {"name": "Acme Widgets"},
    "hold": {
        "public_reason": "our budget for next year is still being approved",
        "expected_clear_date": "Friday 11 December 2026",
        "expected_clear_date_passed": False,
        "cancellation_reason": "the budget for the role was withdrawn",
    },
    "next_update_date": "Tuesday 1 December 2026",
    "status_link": "https://hiretrack.acme.example/status/EXAMPLE-TOKEN",
    "today": "Tuesday 24 November 2026",
}
#: The same candidate with every optional value empty: no hold, no phone, no promised date.
MINIMAL = CONTEXT | {
    "hold": None,
    "manager": CONTEXT["manager"] | {"phone": ""},
    "next_update_date": "",
}
#: Late: the hold's expected date and the last promised update have both gone by.
LATE = CONTEXT | {
    "application": CONTEXT["application"] | {"promised_update_passed": True},
    "hold": CONTEXT["hold"] | {"expected_clear_date": None, "expected_clear_date_passed": True},
}

#: Phrases that promise an offer. Delay, hold and check-in messages must never say them.
PROMISES = (
    "offer is coming",
    "offer is on its way",
    "you will receive an offer",
    "you'll receive an offer",
    "you will get an offer",
    "we will make you an offer",
    "we'll make you an offer",
    "we will be making you an offer",
    "expect an offer",
    "the offer will follow",
)
WAITING_CATEGORIES = ("delay", "hold_notice", "check_in", "moving_forward")

DEFAULTS = load_default_templates()


def cases():
    """(snapshot name, rendered email): each template in full, and minimal where that differs."""
    for template in DEFAULTS:
        with_hold = render_email(template.subject, template.body, CONTEXT)
        without = render_email(template.subject, template.body, MINIMAL)
        late = render_email(template.subject, template.body, LATE)
        yield template.slug, with_hold
        if without != with_hold:
            yield f"{template.slug}.minimal", without
        if late != with_hold:
            yield f"{template.slug}.late", late


CASES = list(cases())


def text_snapshot(rendered) -> str:
    return f"Subject: {rendered.subject}\n\n{rendered.text}\n"


def html_snapshot(rendered) -> str:
    return rendered.html + "\n"


def compare(path: Path, actual: str) -> None:
    """Compare with the checked-in snapshot, or rewrite it when UPDATE_SNAPSHOTS=1."""
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"{path.name} is missing: run with UPDATE_SNAPSHOTS=1 and review it"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, (
        f"{path.name} changed. If the new wording is intended, run with UPDATE_SNAPSHOTS=1 and "
        "review the diff."
    )


@pytest.mark.parametrize(("name", "rendered"), CASES, ids=[name for name, _ in CASES])
def test_default_email_matches_its_snapshot(name, rendered):
    compare(SNAPSHOTS / f"{name}.txt", text_snapshot(rendered))
    compare(SNAPSHOTS / f"{name}.html", html_snapshot(rendered))


def email_snapshot_names() -> set[str]:
    """Snapshot files that hold an email (a .txt starting "Subject: ", and its .html)."""
    names = set()
    for text in SNAPSHOTS.glob("*.txt"):
        if text.read_text(encoding="utf-8").startswith("Subject: "):
            names |= {text.name, text.with_suffix(".html").name}
    return names


def test_no_snapshot_is_left_over_from_a_removed_template():
    expected = {f"{name}.{suffix}" for name, _ in CASES for suffix in ("txt", "html")}
    if UPDATE:
        for stale in email_snapshot_names() - expected:
            (SNAPSHOTS / stale).unlink(missing_ok=True)
    assert email_snapshot_names() == expected


def test_every_category_has_a_default_template():
    from hiretrack.messages.models import TemplateCategory

    assert {t.category for t in DEFAULTS} == {c.value for c in TemplateCategory}


def test_closures_never_reuse_the_holds_public_reason_which_described_a_wait():
    closures = [t for t in DEFAULTS if t.category.startswith("closure_")]
    assert closures and not [t.slug for t in closures if "public_reason" in t.body + t.subject]
    cancelled = render_email(
        *next((t.subject, t.body) for t in closures if t.slug == "closure-cancelled"), CONTEXT
    )
    assert CONTEXT["hold"]["public_reason"] not in cancelled.text


def normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u2019", "'")).lower()


@pytest.mark.parametrize(
    "template",
    [t for t in DEFAULTS if t.category in WAITING_CATEGORIES],
    ids=lambda t: t.slug,
)
def test_waiting_messages_never_promise_an_offer(template):
    for context in (CONTEXT, MINIMAL, LATE):
        rendered = render_email(template.subject, template.body, context)
        for text in (template.body, rendered.subject, rendered.text):
            found = [phrase for phrase in PROMISES if phrase in normalised(text)]
            assert not found, f"{template.slug} promises an offer: {found}"


def test_the_promise_check_would_catch_a_promise():
    assert any(
        phrase in normalised("Good news:  your OFFER is\ncoming soon") for phrase in PROMISES
    )


def test_hold_and_delay_messages_say_there_is_no_offer_until_it_is_in_writing():
    for template in DEFAULTS:
        if template.category in ("delay", "hold_notice"):
            text = normalised(render_email(template.subject, template.body, CONTEXT).text)
            assert "in writing" in text, template.slug
