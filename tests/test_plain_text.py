"""One rule for typed text (`hiretrack.text`), on the API and the web forms alike.

A single line (a name, a title, a subject) refuses every control character, line breaks and tabs
included, and the Unicode line and paragraph separators; multi-line text (notes, bodies) keeps
CR, LF and TAB and refuses the rest. A name holding U+0005, once accepted by the API, broke a
staff notice's subject: new data cannot hold one any more.
"""

import re

import pytest
from sqlalchemy import select

from hiretrack.auth.services import create_api_token, create_user
from hiretrack.candidates.models import Candidate
from hiretrack.candidates.services import create_candidate
from hiretrack.errors import ValidationFailed
from hiretrack.extensions import db
from hiretrack.text import MULTI_LINE_PATTERN, SINGLE_LINE_PATTERN, check_text, text_problem
from tests import api_support
from tests.api_support import assert_problem

as_user = api_support.as_user
make_staff = api_support.make_staff

UNICODE_NAMES = ["Zoë Ærøskøbing-Núñez", "山田 太郎", "Ana 🎉 Silva", "\u202eRTL \u200fשלום"]
REFUSED_IN_A_LINE = ["Ana\x05Silva", "Ana\nSilva", "Ana\rSilva", "Ana\tSilva", "Ana\x85Silva"]
REFUSED_IN_A_LINE += ["Ana\u2028Silva", "Ana\u2029Silva", "Ana\x7fSilva", "Ana\x00Silva"]


# --- The rule ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", REFUSED_IN_A_LINE)
def test_a_single_line_refuses_controls_breaks_and_separators(value):
    problem = text_problem(value, "Full name")
    code = f"U+{ord(value[3]):04X}"
    assert problem.startswith("Full name must be a single line of text: remove the ")
    assert f"({code}) at character 4." in problem
    with pytest.raises(ValueError, match="Full name"):
        check_text(value, "Full name")


@pytest.mark.parametrize("value", UNICODE_NAMES + ["", "O'Brien <ob@example.org>"])
def test_a_single_line_takes_any_printable_text(value):
    assert text_problem(value, "Name") is None


def test_multi_line_text_keeps_line_breaks_and_tabs_only():
    assert text_problem("Called her.\r\n\tShe is\nhappy 🎉", "Note", multi_line=True) is None
    for value in ["a\x05b", "a\x00b", "a\x0bb", "a\x0cb", "a\x85b", "a\u2028b", "a\x1bb"]:
        problem = text_problem(value, "Note", multi_line=True)
        assert problem.startswith("Note must not contain control characters: remove the "), value


def test_the_published_patterns_say_what_the_check_does():
    """The OpenAPI `pattern`s read by Python's `re` agree with the check on every code point
    up to U+3000 (past the separators) and a few beyond."""
    single, multi = re.compile(SINGLE_LINE_PATTERN), re.compile(MULTI_LINE_PATTERN)
    for code in [*range(0x3001), 0xFEFF, 0x1F389, 0x10FFFD]:
        character = f"a{chr(code)}b"
        assert (single.fullmatch(character) is None) == bool(text_problem(character, "x")), code
        assert (multi.fullmatch(character) is None) == bool(
            text_problem(character, "x", multi_line=True)
        ), code


# --- The API -------------------------------------------------------------------------------------


@pytest.fixture
def recruiter(make_staff, as_user):
    return as_user(make_staff("recruiter"))


@pytest.mark.parametrize(
    ("name", "what"), [("Ana\x05Silva", "(U+0005)"), ("Ana\nSilva", "line break (U+000A)")]
)
def test_the_api_refuses_a_name_with_a_control_character_or_a_line_break(recruiter, name, what):
    response = recruiter.post("/candidates", {"name": name, "email": "ana@example.org"})

    body = assert_problem(response, 422, "name")
    [message] = body["errors"]["name"]
    assert message.startswith("name must be a single line of text: remove the ")
    assert what in message and "Value error" not in message
    assert db.session.scalar(select(Candidate).where(Candidate.email == "ana@example.org")) is None


@pytest.mark.parametrize("name", UNICODE_NAMES)
def test_the_api_takes_unicode_names(recruiter, name):
    response = recruiter.post("/candidates", {"name": name, "email": "zoe@example.org"})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["name"] == name


def test_the_api_refuses_a_line_break_in_a_title_and_a_subject_but_not_in_a_body(
    recruiter, make_department
):
    department = make_department()
    refused = recruiter.post(
        "/requisitions",
        {"title": "Engineer\r\nBcc: x@evil.example", "department_id": department.id},
    )
    assert_problem(refused, 422, "title")
    template = {"name": "Check", "slug": "check-2", "category": "check_in", "body": "Hi\n\tthere"}
    assert_problem(
        recruiter.post("/templates", template | {"subject": "Hi\nthere"}), 422, "subject"
    )
    assert_problem(recruiter.post("/templates", template | {"subject": "Hi", "body": "a\x05"}), 422)
    assert recruiter.post("/templates", template | {"subject": "Hi"}).status_code == 201


def test_the_document_publishes_the_patterns(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert schemas["CandidateCreate"]["properties"]["name"]["pattern"] == SINGLE_LINE_PATTERN
    assert schemas["TemplateCreate"]["properties"]["body"]["pattern"] == MULTI_LINE_PATTERN


# --- The web forms -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "what"), [("Ana\x05Silva", "(U+0005)"), ("Ana\nSilva", "line break (U+000A)")]
)
def test_the_candidate_form_refuses_the_name_beside_the_field_keeping_the_input(
    client, login, make_user, name, what
):
    login(make_user("recruiter"))
    response = client.post(
        "/candidates/new",
        data={"name": name, "email": "kept-ana@example.org", "phone": "+44 20 1234"},
    )

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Full name must be a single line of text: remove the " in html
    assert what in html
    assert 'value="kept-ana@example.org"' in html and 'value="+44 20 1234"' in html
    assert "Ana" in html and "Silva" in html  # what was typed is shown again, to correct
    assert (
        db.session.scalar(select(Candidate).where(Candidate.email == "kept-ana@example.org"))
        is None
    )


@pytest.mark.parametrize("name", UNICODE_NAMES)
def test_the_candidate_form_takes_unicode_names(client, login, make_user, name):
    login(make_user("recruiter"))
    response = client.post("/candidates/new", data={"name": name, "email": "u@example.org"})
    assert response.status_code == 302
    assert (
        db.session.scalar(select(Candidate.name).where(Candidate.email == "u@example.org")) == name
    )


def test_an_optional_one_line_field_of_only_a_line_break_is_refused(client, login, make_user):
    """`Optional` treats whitespace as empty and stops the checks: the text check still runs."""
    login(make_user("recruiter"))
    response = client.post(
        "/candidates/new", data={"name": "Ana", "email": "o@example.org", "phone": "\u2028"}
    )
    assert response.status_code == 422
    assert "Phone must be a single line of text: remove the line separator" in response.get_data(
        as_text=True
    )


def test_the_template_form_refuses_a_subject_on_two_lines_and_keeps_the_body(
    client, login, make_user
):
    login(make_user("recruiter"))
    response = client.post(
        "/templates/new",
        data={
            "name": "Two lines",
            "slug": "two-lines",
            "category": "delay",
            "subject": "Hello\r\nBcc: x@evil.example",
            "body": "Dear {{ candidate.first_name }},\r\n\r\nStill waiting.\r\n",
            "submit": "Save template",
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Subject must be a single line of text: remove the line break (U+000D)" in html
    assert "Still waiting." in html


# --- The services: every path (forms, API, import, commands) reaches them ------------------------


def test_the_services_refuse_a_name_with_a_control_character_whatever_called_them(ctx, make_user):
    manager = make_user("manager")

    with pytest.raises(ValidationFailed) as candidate:
        create_candidate(manager, "Ana\x05Silva", "ana.service@example.org")
    with pytest.raises(ValidationFailed) as user:
        create_user("ana.user@acme.example", "Ana\x05Silva", "manager", "a long enough password")
    with pytest.raises(ValidationFailed) as token:
        create_api_token(manager, "sync\u2028job")

    assert "U+0005" in candidate.value.errors["name"][0]
    assert "U+0005" in user.value.errors["name"][0]
    assert "U+2028" in token.value.errors["label"][0]
    db.session.rollback()
    assert (
        db.session.scalar(select(Candidate).where(Candidate.email == "ana.service@example.org"))
        is None
    )
