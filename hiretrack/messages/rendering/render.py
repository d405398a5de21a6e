"""Compile a stored subject and body once, render them in the sandbox, derive the HTML part."""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from jinja2 import nodes
from jinja2.environment import Template
from jinja2.exceptions import TemplateSyntaxError

from hiretrack.messages.headers import HeaderInjectionError, check_header_value
from hiretrack.messages.rendering.context import plain_values
from hiretrack.messages.rendering.errors import TemplateRenderError
from hiretrack.messages.rendering.limits import (
    DEFAULT_TIME_LIMIT,
    MAX_BODY_LENGTH,
    MAX_BODY_SOURCE,
    MAX_NESTING,
    MAX_SUBJECT_LENGTH,
    MAX_SUBJECT_SOURCE,
    LimitExceeded,
    current_budget,
)
from hiretrack.messages.rendering.sandbox import ENVIRONMENT, LOOP_COUNTER
from hiretrack.messages.rendering.watchdog import with_time_limit

# --- Compiling -----------------------------------------------------------------------------------


class Field(NamedTuple):  # a tuple, so the compile cache hashes it in C
    name: str
    max_source: int
    max_output: int


SUBJECT = Field("subject", MAX_SUBJECT_SOURCE, MAX_SUBJECT_LENGTH)
BODY = Field("body", MAX_BODY_SOURCE, MAX_BODY_LENGTH)

_FORBIDDEN_TAGS: Mapping[type[nodes.Node], str] = {
    nodes.Extends: "{% extends %}",
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from ... import %}",
    nodes.Block: "{% block %}",
    nodes.EvalContextModifier: "{% autoescape %}",
    nodes.ScopedEvalContextModifier: "{% autoescape %}",
}


@functools.lru_cache(maxsize=128)
def compiled(field: Field, source: str) -> Template:
    """Compile a template once per distinct source: compiling costs far more than rendering."""
    if len(source) > field.max_source:
        raise TemplateRenderError(
            f"The {field.name} template is longer than {field.max_source:,} characters",
            field=field.name,
        )
    try:
        tree = ENVIRONMENT.parse(source)
        _reject_unsupported(tree)
        _count_iterations_of_every_loop(tree)
        return ENVIRONMENT.from_string(tree)
    except TemplateSyntaxError as error:
        raise TemplateRenderError(
            error.message or str(error), field=field.name, line=error.lineno
        ) from None
    except (RecursionError, SyntaxError):  # SyntaxError: Python's own nesting limits
        raise TemplateRenderError("The template nests too deeply", field=field.name) from None


def _reject_unsupported(tree: nodes.Template) -> None:
    """Refuse deep nesting, tags that load other templates or change escaping, private names."""
    deepest = _deepest_node(tree)
    if deepest is not None:
        raise TemplateSyntaxError("The template nests too deeply", deepest.lineno)
    tag = next(tree.find_all(tuple(_FORBIDDEN_TAGS)), None)
    if tag is not None:
        message = f"{_FORBIDDEN_TAGS[type(tag)]} is not allowed in templates"
        raise TemplateSyntaxError(message, tag.lineno)
    for lookup in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.NSRef)):
        name = literal_attribute(lookup)
        if name is not None and name.startswith("_"):
            message = f"{name!r} is not allowed in templates: names starting with _ are private"
            raise TemplateSyntaxError(message, lookup.lineno)


def _deepest_node(tree: nodes.Template) -> nodes.Node | None:
    """The first node nested deeper than MAX_NESTING, if any."""
    pending = [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_NESTING:
            return node
        pending.extend((child, depth + 1) for child in node.iter_child_nodes())
    return None


def literal_attribute(node: nodes.Getattr | nodes.Getitem | nodes.NSRef) -> str | None:
    """The attribute name a lookup spells out in the template, if it does."""
    if isinstance(node, nodes.Getitem):
        constant = node.arg
        if isinstance(constant, nodes.Const) and isinstance(constant.value, str):
            return constant.value
        return None
    return node.attr


def _count_iterations_of_every_loop(tree: nodes.Template) -> None:
    """Route every for-loop's iterable through the loop counter, so nesting cannot multiply."""
    for loop in list(tree.find_all(nodes.For)):
        counted = nodes.Filter(loop.iter, LOOP_COUNTER, [], [], None, None, lineno=loop.lineno)
        loop.iter = counted.set_environment(ENVIRONMENT)


# --- Results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedEmail:
    """A rendered email: text as the template produced it, HTML derived from that text."""

    subject: str
    text: str
    #: Things a person should check before it goes out (e.g. a date that has passed).
    warnings: tuple[str, ...] = ()

    @functools.cached_property
    def html(self) -> str:
        """The HTML part, derived on first use: reviewing a draft needs only the text."""
        return text_to_html(self.text)


# --- Rendering -----------------------------------------------------------------------------------


def render_email(
    subject_source: str,
    body_source: str,
    context: Mapping[str, Any],
    *,
    time_limit: float = DEFAULT_TIME_LIMIT,
) -> RenderedEmail:
    """Render a stored subject and body for one candidate, refusing anything unsafe or unbounded.

    A context from plain_context (as build_context makes them) is used as it is; any other
    mapping is checked and copied first.
    """
    values = plain_values(context)
    subject, text = with_time_limit(
        time_limit,
        lambda: (render_subject(subject_source, values), render_body(body_source, values)),
    )
    return RenderedEmail(subject=subject, text=text)


def render_subject(source: str, values: Mapping[str, Any]) -> str:
    """Render the subject: one non-empty line that is safe as a header."""
    subject = _render_field(SUBJECT, source, values).strip()
    if not subject:
        raise TemplateRenderError("The subject is empty", field=SUBJECT.name)
    if len(subject.splitlines()) > 1:
        raise TemplateRenderError("The subject must be a single line", field=SUBJECT.name)
    try:
        check_header_value(subject, "The subject")
    except HeaderInjectionError as error:
        raise TemplateRenderError(str(error), field=SUBJECT.name) from None
    return subject


def render_body(source: str, values: Mapping[str, Any]) -> str:
    """Render the plain-text body."""
    return _render_field(BODY, source, values)


def _render_field(field: Field, source: str, values: Mapping[str, Any]) -> str:
    """Render one field's template, turning every failure into a located TemplateRenderError."""
    if not isinstance(source, str):
        raise TypeError(f"The {field.name} template must be a str, not {type(source).__name__}")
    current_budget().field = field.name
    template = compiled(field, source)
    try:
        return _stream(template, values, field)
    except Exception as error:
        raise _render_error(field, error) from error


def _stream(template: Template, values: Mapping[str, Any], field: Field) -> str:
    """Collect the output chunk by chunk, stopping as soon as it is longer than allowed."""
    parts: list[str] = []
    length = 0
    chunks = template.generate(values)
    try:
        for chunk in chunks:
            length += len(chunk)
            if length > field.max_output:
                raise LimitExceeded(
                    f"The {field.name} is longer than {field.max_output:,} characters",
                    line=_paused_line(template, chunks),
                )
            parts.append(chunk)
    finally:
        chunks.close()
    return "".join(parts)


def _paused_line(template: Template, chunks: Iterator[str]) -> int | None:
    """The template line the render is paused at, between two chunks of output."""
    inner = getattr(chunks, "gi_yieldfrom", None)
    frame = getattr(inner, "gi_frame", None)
    return template.get_corresponding_lineno(frame.f_lineno) if frame else None


def _render_error(field: Field, error: Exception) -> TemplateRenderError:
    """Describe an exception from a render for the template's author."""
    if isinstance(error, RecursionError):
        message = "The template nests too deeply"
    elif isinstance(error, MemoryError):
        message = "The template needs too much memory"
    else:
        message = str(error) or type(error).__name__
    if len(message) > 300:
        message = f"{message[:297]}..."
    if isinstance(error, LimitExceeded) and error.line is not None:
        line: int | None = error.line
    else:
        line = _template_line(error)
    return TemplateRenderError(message, field=field.name, line=line)


def _template_line(error: BaseException) -> int | None:
    """The template line an error came from: Jinja rewrites template frames to those lines."""
    line = None
    trace = error.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == "<template>":
            line = trace.tb_lineno
        trace = trace.tb_next
    return line


# --- HTML part -----------------------------------------------------------------------------------

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)


def text_to_html(text: str) -> str:
    """Derive the HTML part: escaped text, blank-line paragraphs, line breaks, http(s) links."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = (part.strip("\n") for part in _PARAGRAPH_BREAK.split(text))
    return "\n".join(_paragraph_html(paragraph) for paragraph in paragraphs if paragraph.strip())


def _paragraph_html(paragraph: str) -> str:
    if "://" in paragraph:
        lines = "<br>\n".join(_line_html(line) for line in paragraph.split("\n"))
    else:  # escaping leaves line breaks alone, so the whole paragraph can go at once
        lines = html.escape(paragraph).replace("\n", "<br>\n")
    return f"<p>{lines}</p>"


def _line_html(line: str) -> str:
    """Escape one line, turning http(s) URLs into links."""
    if "://" not in line:
        return html.escape(line)
    parts = []
    position = 0
    for match in _URL.finditer(line):
        url = _trim_url(match.group())
        parts.append(html.escape(line[position : match.start()]))
        parts.append(f'<a href="{html.escape(url)}">{html.escape(url)}</a>')
        position = match.start() + len(url)
    parts.append(html.escape(line[position:]))
    return "".join(parts)


def _trim_url(url: str) -> str:
    """Leave sentence punctuation and an unmatched closing bracket out of a link."""
    while url[-1] in ".,;:!?" or (url[-1] == ")" and url.count("(") < url.count(")")):
        url = url[:-1]
    return url
