"""The candidate-email renderer: personalisation, the sandbox, its limits, and header checks."""

import threading
import time
from datetime import date, datetime
from enum import StrEnum

import pytest

from hiretrack.messages.headers import (
    HeaderInjectionError,
    check_address_header,
    check_header_value,
)
from hiretrack.messages.rendering import (
    TEMPLATE_VARIABLES,
    PlainContext,
    TemplateError,
    TemplateProblem,
    TemplateRenderError,
    fallback,
    plain_context,
    render_email,
    sample_context,
    validate_template,
)

SUBJECT = "Your application for {{ requisition.title }}"
BODY = """\
Dear {{ candidate.first_name | fallback("there") }},

Thank you for applying to {{ company.name }}.
{% if hold %}Your application is on hold: {{ hold.public_reason }}.{% endif %}

See where things stand: {{ status_link }}.

{{ manager.name }}
"""

# Takes about 2**n small macro calls: slow work that stays inside every size limit.
SPIN = "{% macro spin(n) %}{% if n %}{{ spin(n - 1) }}{{ spin(n - 1) }}{% endif %}{% endmacro %}"
SLOW_NESTED_LOOPS = (
    SPIN + "{% for i in range(90) %}{% for j in range(90) %}{{ spin(12) }}{% endfor %}{% endfor %}"
)
SLOW_SET_BLOCK = SPIN + "{% set x %}{% for i in range(90) %}{{ spin(16) }}{% endfor %}{% endset %}"


def context_with(**groups: dict) -> dict:
    """The sample context with some fields of some groups replaced."""
    context = sample_context()
    for group, fields in groups.items():
        context[group] = {**context[group], **fields}
    return context


def body_error(body: str, **options) -> TemplateRenderError:
    """Render a body with the sample context, expecting it to fail, and return the error."""
    with pytest.raises(TemplateRenderError) as caught:
        render_email("Subject", body, sample_context(), **options)
    return caught.value


# --- Personalisation and the HTML part ---------------------------------------------------------


def test_renders_personalised_subject_text_and_html():
    email = render_email(SUBJECT, BODY, sample_context())

    assert email.subject == "Your application for Senior Backend Engineer"
    assert email.text == (
        "Dear Ada,\n\n"
        "Thank you for applying to Northwind Analytics.\n"
        "Your application is on hold: a budget review.\n\n"
        "See where things stand: https://jobs.example.com/status/7f3a9c2e.\n\n"
        "Grace Hopper"
    )
    link = "https://jobs.example.com/status/7f3a9c2e"
    assert email.html == (
        "<p>Dear Ada,</p>\n"
        "<p>Thank you for applying to Northwind Analytics.<br>\n"
        "Your application is on hold: a budget review.</p>\n"
        f'<p>See where things stand: <a href="{link}">{link}</a>.</p>\n'
        "<p>Grace Hopper</p>"
    )


def test_optional_values_can_be_empty():
    context = sample_context(include_optional=False)
    context["candidate"]["first_name"] = " "

    email = render_email(SUBJECT, BODY, context)

    assert email.text.startswith(
        "Dear there,\n\nThank you for applying to Northwind Analytics.\n\n"
    )
    assert "hold" not in email.text


def test_html_part_is_derived_when_first_used():
    email = render_email(SUBJECT, BODY, sample_context())

    assert "html" not in vars(email)  # reviewing a draft reads only the subject and text
    assert email.html.startswith("<p>Dear Ada,</p>\n")
    assert vars(email)["html"] is email.html


def test_html_part_escapes_what_candidates_typed():
    name = '<script>alert("hi")</script> & Co'
    email = render_email(
        "Hello", "Dear {{ candidate.name }},", context_with(candidate={"name": name})
    )

    assert email.text == f"Dear {name},"
    assert email.html == "<p>Dear &lt;script&gt;alert(&quot;hi&quot;)&lt;/script&gt; &amp; Co,</p>"


def test_html_part_links_only_http_urls_and_keeps_quotes_out_of_them():
    body = (
        "Read https://example.com/a?b=1&c=2, or (https://example.com/x_(y)).\n"
        "Not javascript:alert(1) nor ftp://example.com.\n\n\n"
        "{{ status_link }}"
    )
    hostile = 'https://example.com/"onmouseover="alert(1)'

    html = render_email("Links", body, {"status_link": hostile}).html

    assert html == (
        '<p>Read <a href="https://example.com/a?b=1&amp;c=2">https://example.com/a?b=1&amp;c=2</a>, '
        'or (<a href="https://example.com/x_(y)">https://example.com/x_(y)</a>).<br>\n'
        "Not javascript:alert(1) nor ftp://example.com.</p>\n"
        '<p><a href="https://example.com/">https://example.com/</a>'
        "&quot;onmouseover=&quot;alert(1)</p>"
    )


def test_nested_dicts_are_read_with_dots_or_brackets():
    email = render_email("{{ candidate['name'] }}", "{{ candidate.email }}", sample_context())

    assert (email.subject, email.text) == ("Ada Lovelace", "ada@example.com")


def test_fields_named_like_mapping_methods_are_read_as_before():
    context = {"group": {"name": "Ada", "copy": "x", "keys": "y"}}
    body = "{{ group.name }} {{ group['copy'] }} {{ group['keys'] }} {{ group.keys() | length }}"
    built = "{% set d = {'name': 'Bo', 'items': 1} %}{{ d.name }} {{ d['items'] }}"

    assert render_email("Hi", body, context).text == "Ada x y 3"
    assert render_email("Hi", built, {}).text == "Bo 1"
    with pytest.raises(TemplateRenderError, match="mappingproxy.copy is not allowed"):
        render_email("Hi", "{{ group.copy }}", context)
    with pytest.raises(TemplateRenderError, match="dict.pop is not allowed"):
        render_email("Hi", "{% set d = {'pop': 1} %}{{ d.pop }}", {})


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        ({"name": "Ada Lovelace"}, "there"),  # no first_name at all
        ({"first_name": None}, "there"),
        ({"first_name": ""}, "there"),
        ({"first_name": " \t "}, "there"),
        ({"first_name": "Ada"}, "Ada"),
    ],
)
def test_fallback_replaces_missing_none_and_blank_values(candidate, expected):
    body = 'Dear {{ candidate.first_name | fallback("there") }},'

    assert render_email("Hello", body, {"candidate": candidate}).text == f"Dear {expected},"


def test_fallback_keeps_meaningful_falsy_values():
    assert fallback(0, "none") == 0
    assert fallback(False, "none") is False
    assert fallback([], "none") == "none"
    assert render_email("Hi", '{{ nobody | fallback("you") }}', {}).text == "you"


# --- Errors located by line ---------------------------------------------------------------------


def test_syntax_error_is_reported_on_its_line():
    body = "line one\nline two\n{{ candidate.name }\n"

    error = body_error(body)

    assert (error.field, error.line) == ("body", 3)
    assert str(error) == "body line 3: unexpected '}'"
    assert validate_template(SUBJECT, body) == [TemplateProblem("body", 3, "unexpected '}'")]


def test_syntax_error_in_the_subject_names_the_subject():
    problems = validate_template("Hi {{ candidate.name", BODY)

    assert [(problem.field, problem.line) for problem in problems] == [("subject", 1)]


def test_unknown_variable_is_reported_on_its_line():
    body = "Hello\n\n{{ candidat.name }}"

    error = body_error(body)
    [problem] = validate_template(SUBJECT, body)

    assert (error.field, error.line, error.message) == ("body", 3, "Unknown variable 'candidat'")
    assert (problem.field, problem.line) == ("body", 3)
    assert problem.message.startswith("Unknown variable 'candidat'. Available: candidate, ")


def test_unknown_field_is_reported_on_its_line():
    body = "Hi\n{{ candidate.frist_name }}"

    error = body_error(body)

    assert (error.line, error.message) == (2, "A group of fields has no field 'frist_name'")
    assert validate_template(SUBJECT, body) == [
        TemplateProblem(
            "body", 2, "'candidate' has no field 'frist_name'. Its fields: name, first_name, email"
        )
    ]


def test_validation_finds_unknown_fields_that_fallback_would_hide():
    body = "Hi\n\n{{ candidate.frist_name | fallback('there') }}"

    assert render_email(SUBJECT, body, sample_context()).text == "Hi\n\nthere"
    assert [
        (problem.line, problem.message[:38]) for problem in validate_template(SUBJECT, body)
    ] == [(3, "'candidate' has no field 'frist_name'.")]


def test_validation_maps_runtime_errors_to_their_line():
    body = "People:\n{% for person in [candidate, manager] %}\n- {{ person.nmae }}\n{% endfor %}"

    assert validate_template(SUBJECT, body) == [
        TemplateProblem("body", 3, "A group of fields has no field 'nmae'")
    ]


def test_validation_catches_fields_read_from_an_empty_hold():
    unguarded = "Update:\n{{ hold.public_reason }}"
    guarded = "Update:\n{% if hold %}{{ hold.public_reason }}{% endif %}"

    [problem] = validate_template(SUBJECT, unguarded)

    assert (problem.field, problem.line) == ("body", 2)
    assert "has no field 'public_reason'" in problem.message
    assert "optional values, such as hold, are empty" in problem.message
    assert validate_template(SUBJECT, guarded) == []


def test_validation_reports_forbidden_constructs_and_limits_by_line():
    body = "Hi\n{{ ''|attr('format') }}"
    loops = "Hi\n\n{% for i in range(5000) %}{% endfor %}"

    assert validate_template(SUBJECT, body) == [
        TemplateProblem("body", 2, "str.format is not allowed in templates")
    ]
    assert validate_template(SUBJECT, loops) == [
        TemplateProblem("body", 3, "range() may produce at most 1,000 numbers in templates")
    ]


def test_valid_templates_have_no_problems():
    assert validate_template(SUBJECT, BODY) == []


# --- The subject is a header ----------------------------------------------------------------------


def test_subject_is_stripped_and_must_be_one_line():
    assert render_email("  Hi {{ candidate.first_name }} \n", "x", sample_context()).subject == (
        "Hi Ada"
    )
    with pytest.raises(TemplateRenderError, match="single line") as caught:
        render_email("Hi\n{{ candidate.name }}", "x", sample_context())
    assert caught.value.field == "subject"


@pytest.mark.parametrize(
    "name", ["Ada\nBcc: x@evil.example", "Ada\u2028Lovelace", "=?UTF-8?Q?=0A?=Bcc: x@evil.example"]
)
def test_subject_refuses_values_that_would_inject_headers(name):
    context = context_with(candidate={"name": name})

    with pytest.raises(TemplateRenderError) as caught:
        render_email("Hello {{ candidate.name }}", "x", context)

    assert caught.value.field == "subject"
    assert render_email("Hello", "{{ candidate.name }}", context).text == name


def test_empty_subject_is_refused():
    with pytest.raises(TemplateRenderError, match="The subject is empty"):
        render_email("{{ candidate.email | fallback(' ') }}", "x", {"candidate": {"email": ""}})


# --- Sandbox escapes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ self._TemplateReference__context }}",
        "{{ '{0.__class__}'.format(1) }}",
        "{{ candidate.name.format_map(candidate) }}",
        "{{ ''|attr('format') }}",
        "{{ ''|attr('__class__') }}",
        "{{ lipsum.__globals__ }}",
        "{{ namespace.__init__.__globals__ }}",
        "{% set ns = namespace() %}{% set ns.__class__ = 1 %}",
        "{{ namespace()|attr('_Namespace__attrs') }}",
        "{{ joiner|attr('__init__') }}",
        "{{ range|attr('__globals__') }}",
        "{{ candidate['__class__'] }}",
        "{{ candidate|attr('items')|attr('__self__') }}",
        "{{ candidate.name.center(10**9) }}",
        "{% include 'other.txt' %}",
        "{% extends 'other.txt' %}",
        "{% import 'other.txt' as other %}",
        "{% block body %}x{% endblock %}",
        "{% autoescape false %}x{% endautoescape %}",
    ],
)
def test_sandbox_escapes_are_not_allowed(body):
    assert "not allowed in templates" in body_error(body).message


def test_recursive_macros_stop_with_a_clear_error():
    body = "{% macro again(n) %}{{ again(n + 1) }}{% endmacro %}{{ again(0) }}"
    recursive_loop = "{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}"

    assert "call each other at most 50 deep" in body_error(body).message
    assert "call each other at most 50 deep" in body_error(recursive_loop).message


@pytest.mark.parametrize(
    "body",
    [
        "{{ " + "-" * 300 + "candidate }}",
        "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}",
        "{% if 1 %}" * 200 + "{% endif %}" * 200,
        "{% for i in [1] %}" * 30 + "{% endfor %}" * 30,
    ],
)
def test_deeply_nested_templates_are_refused(body):
    assert body_error(body).message == "The template nests too deeply"


def test_orm_objects_never_reach_templates():
    class Candidate:
        name = "Ada"
        password_hash = "secret"

    with pytest.raises(TypeError, match=r"context\['candidate'\] is a Candidate"):
        render_email("Hi", "{{ candidate.password_hash }}", {"candidate": Candidate()})
    with pytest.raises(TypeError, match=r"context\['items'\]\[1\] is a object"):
        plain_context({"items": [1, object()]})


# --- Limits --------------------------------------------------------------------------------------


def test_range_is_capped():
    error = body_error("Hi\n{% for i in range(10**9) %}{% endfor %}")

    assert (error.line, error.message) == (
        2,
        "range() may produce at most 1,000 numbers in templates",
    )


def test_loop_iterations_are_capped_across_nesting():
    error = body_error(
        "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}"
    )

    assert error.message == "Loops may run at most 10,000 times in one email"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{{ 'x' * 10**9 }}", "grew past 100,000 characters"),
        ("{{ 10**9 * 'x' }}", "grew past 100,000 characters"),
        ("{{ [0] * 10**9 }}", "grew past 100,000 characters"),
        ("{{ [[0] * 1000] * 1000 }}", "grew past 100,000 characters"),
        ("{{ 'x' * 60000 + 'y' * 60000 }}", "grew past 100,000 characters"),
        ("{{ 10**10**10 }}", "too large for a template"),
        ("{{ 10**(10**10) }}", "too large for a template"),
        ("{{ 2**64 * 2**64 * 2**64 }}", "too large for a template"),
        ("{{ '%999999999d' % 1 }}", "Formatting text with % is not allowed in templates"),
        ("{{ (['ab'] * 1000) | join('x' * 1000) }}", "grew past 100,000 characters"),
        ("{{ ('a' * 1000) | replace('a', 'b' * 1000) }}", "grew past 100,000 characters"),
        ("{{ [[1], [2]] | sum(start=[]) }}", "sum() adds only numbers in templates"),
        (
            "{% set a = ['x' * 1000] * 10 %}{% set b = [a, a, a, a, a, a, a, a, a, a] %}"
            "{% set c = [b, b, b, b, b, b, b, b, b, b] %}{{ c | length }}",
            "grew past 100,000 characters",
        ),
        (
            "{% set ns = namespace(text='ab') %}"
            "{% for i in range(40) %}{% set ns.text = ns.text ~ ns.text %}{% endfor %}",
            "grew past 100,000 characters",
        ),
    ],
)
def test_operations_are_refused_before_they_build_huge_values(body, message):
    assert message in body_error(body).message


def test_small_operations_still_work():
    body = "{{ 2 ** 10 }} {{ 'ab' * 3 }} {{ [1, 2] + [3] }} {{ 7 % 3 }} {{ 'a' ~ 1 }}"

    assert render_email("Hi", body, {}).text == "1024 ababab [1, 2, 3] 1 a1"


def test_body_output_is_capped_while_streaming():
    error = body_error("Hi\n{% for i in range(200) %}{{ 'x' * 1000 }}{% endfor %}")

    assert (error.field, error.line) == ("body", 2)
    assert error.message == "The body is longer than 100,000 characters"


def test_subject_output_is_capped():
    with pytest.raises(TemplateRenderError, match="The subject is longer than 300 characters"):
        render_email("{{ 'x' * 301 }}", "x", {})


def test_text_buffered_in_set_blocks_is_capped():
    body = "{% set x %}{% for i in range(1000) %}{{ 'x' * 1000 }}{% endfor %}{% endset %}{{ x }}"

    assert body_error(body).message == "A value in the template grew past 100,000 characters"


def test_text_created_in_total_is_capped():
    body = (
        "{% for i in range(100) %}{% set x %}{% for j in range(90) %}{{ 'x' * 1000 }}"
        "{% endfor %}{% endset %}{% endfor %}"
    )

    assert "created more than 1,000,000 characters" in body_error(body).message


@pytest.mark.parametrize("body", [SLOW_NESTED_LOOPS, SLOW_SET_BLOCK])
def test_slow_templates_are_stopped_at_the_time_limit(body):
    started = time.monotonic()

    error = body_error(body)

    assert time.monotonic() - started < 3
    assert (error.field, error.message) == (
        "body",
        "The template took longer than 1 second to render",
    )


def test_time_limit_can_be_set_per_render():
    started = time.monotonic()

    error = body_error(SLOW_SET_BLOCK, time_limit=0.2)

    assert time.monotonic() - started < 1.5
    assert error.message == "The template took longer than 0.2 seconds to render"
    with pytest.raises(ValueError, match="time_limit"):
        render_email("Hi", "x", {}, time_limit=0)


def busy_python(seconds: float) -> None:
    """Run bytecode for a while, so that a stray interrupt would land here."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_render_after_a_timeout_works_and_nothing_arrives_late():
    body_error(SLOW_SET_BLOCK, time_limit=0.1)

    busy_python(0.4)  # longer than the watchdog waits before interrupting a thread again
    assert render_email(SUBJECT, BODY, sample_context()).subject.startswith("Your application")


def test_time_limit_works_in_other_threads():
    outcomes: list[object] = []

    def render_in_thread() -> None:
        started = time.monotonic()
        try:
            render_email("Hi", SLOW_NESTED_LOOPS, sample_context(), time_limit=0.3)
        except TemplateError as error:
            outcomes.append((error.message, time.monotonic() - started))
        busy_python(0.4)
        outcomes.append(render_email(SUBJECT, BODY, sample_context()).subject)

    worker = threading.Thread(target=render_in_thread)
    worker.start()
    worker.join(timeout=10)

    [(message, elapsed), subject] = outcomes
    assert message == "The template took longer than 0.3 seconds to render"
    assert elapsed < 3
    assert subject == "Your application for Senior Backend Engineer"


def test_a_slow_render_does_not_interrupt_other_threads():
    failures: list[BaseException] = []
    slow = threading.Thread(target=lambda: body_error(SLOW_SET_BLOCK, time_limit=0.5))
    slow.start()
    renders = 0
    while slow.is_alive():
        try:
            render_email(SUBJECT, BODY, sample_context())
        except BaseException as error:  # any interruption at all is the failure
            failures.append(error)
        renders += 1
    slow.join()

    assert failures == []
    assert renders > 10


def test_renders_finishing_around_their_deadline_never_leak_the_interrupt():
    outcomes = set()
    for depth in (8, 9, 10, 11, 12, 13, 14) * 4:
        body = SPIN + f"{{{{ spin({depth}) }}}}done"
        try:
            outcomes.add(render_email("Hi", body, {}, time_limit=0.02).text)
        except TemplateRenderError as error:
            outcomes.add(error.message)
        busy_python(0.005)
    busy_python(0.4)

    assert outcomes <= {"done", "The template took longer than 0.02 seconds to render"}


# --- Plain context --------------------------------------------------------------------------------


def test_plain_context_returns_a_frozen_copy():
    class Stage(StrEnum):
        INTERVIEW = "interview"

    original = {"stage": Stage.INTERVIEW, "slots": [date(2026, 12, 1)], "group": {"n": 1}}

    copy = plain_context(original)
    original["group"]["n"] = 2
    original["slots"].append(datetime(2026, 12, 2, 9, 30))

    assert copy == {"stage": "interview", "slots": (date(2026, 12, 1),), "group": {"n": 1}}
    assert type(copy["stage"]) is str
    with pytest.raises(TypeError):
        copy["group"]["n"] = 3  # type: ignore[index]


def test_plain_context_is_checked_once_and_cannot_be_forged_or_changed():
    context = plain_context(sample_context())

    assert plain_context(context) is context
    assert render_email(SUBJECT, BODY, context) == render_email(SUBJECT, BODY, sample_context())
    with pytest.raises(TypeError, match=r"plain_context\(\)"):
        PlainContext({"candidate": object()})
    with pytest.raises(AttributeError):
        context._values = {"candidate": object()}  # type: ignore[misc]
    with pytest.raises(TypeError):
        context._values["candidate"] = {}  # type: ignore[index]


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"tags": {"a", "b"}}, r"context\['tags'\] is a set"),
        ({"group": {1: "one"}}, "has a key that is not text"),
        ({"when": lambda: None}, "is a function"),
    ],
)
def test_plain_context_rejects_other_values(context, message):
    with pytest.raises(TypeError, match=message):
        plain_context(context)


def test_plain_context_rejects_cycles():
    looped: dict = {}
    looped["self"] = looped

    with pytest.raises(TypeError, match="nested more than 8 levels"):
        plain_context(looped)


# --- The catalogue --------------------------------------------------------------------------------


def test_every_catalogued_variable_renders_its_example():
    fields = [name for name, variable in TEMPLATE_VARIABLES.items() if variable.example]
    body = "\n".join(f"{{{{ {name} }}}}" for name in fields)

    text = render_email("Catalogue", body, sample_context()).text

    assert text.split("\n") == [TEMPLATE_VARIABLES[name].example for name in fields]
    assert all(variable.description for variable in TEMPLATE_VARIABLES.values())


def test_sample_without_optional_values_empties_them():
    context = sample_context(include_optional=False)

    assert context["hold"] is None
    assert context["manager"]["phone"] is None
    assert context["next_update_date"] is None
    assert context["candidate"]["name"] == "Ada Lovelace"


# --- Header values --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["Your application", "Café — update", "=?UTF-8?Q?Caf=C3=A9?=", "=?utf-8?b?Q2Fmw6k=?= news"],
)
def test_ordinary_header_values_pass(value):
    assert check_header_value(value, "Subject") == value


@pytest.mark.parametrize("character", ["\n", "\r", "\x00", "\t", "\x1b", "\x7f", "\x85", "\u2028"])
def test_control_characters_are_refused_in_headers(character):
    with pytest.raises(HeaderInjectionError, match="Subject contains a control character"):
        check_header_value(f"Hello{character}Bcc: x@evil.example", "Subject")


@pytest.mark.parametrize(
    "value",
    [
        "=?UTF-8?Q?=0A?=Bcc: x@evil.example",
        "=?utf-8?q?=0d=0aBcc:_x@evil.example?=",
        "Hi =?UTF-8?B?Cg==?=Bcc: x@evil.example",
        "=?UTF-8?Q?=C2=85?=",  # NEL
        "=?UTF-8?Q?=E2=80=A8?=",  # LINE SEPARATOR
        "=?UTF-16BE?B?AAo=?=",
        "=?UTF-7?Q?+AAo-?=",
        "=?unicode_escape?Q?=5Cn?=",
        "=?UTF-8*en?Q?=0A?=",
    ],
)
def test_encoded_words_that_decode_to_control_characters_are_refused(value):
    with pytest.raises(HeaderInjectionError, match="encoded word that decodes to a control"):
        check_header_value(value, "Subject")


@pytest.mark.parametrize(
    "value",
    [
        "=?UTF-8?Q?=0A",
        "=?UTF-8?X?abc?=",
        "=?no-such-charset?Q?abc?=",
        "=?UTF-8?B?!!!?=",
        "=?UTF-8?Q?=ZZ?=",
        "=?UTF-8?Q?a b?=",
        "=?UTF-8?Q?caf=E9?=",  # not UTF-8
    ],
)
def test_malformed_encoded_words_are_refused(value):
    with pytest.raises(HeaderInjectionError, match="malformed encoded word"):
        check_header_value(value, "Subject")


@pytest.mark.parametrize(
    "value", ["Ada Lovelace <ada@example.com>", "ada@example.com, Bob <bob@example.org>"]
)
def test_address_headers_accept_addresses(value):
    assert check_address_header(value, "To") == value


@pytest.mark.parametrize(
    "value",
    [
        "not an address",
        "ada@",
        "<>",
        "",
        "Ada <ada@example.com>\nBcc: x@evil.example",
        "=?UTF-8?Q?Ada=0ABcc:_x@evil.example?= <ada@example.com>",
    ],
)
def test_address_headers_refuse_anything_else(value):
    with pytest.raises(HeaderInjectionError, match="^From "):
        check_address_header(value, "From")
