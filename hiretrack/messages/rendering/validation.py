"""Find everything wrong with a template before it is saved: syntax, names, and both renders."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import meta, nodes

from hiretrack.messages.rendering.context import (
    GROUP_FIELDS,
    TOP_LEVEL_NAMES,
    plain_values,
    sample_context,
    worst_case_context,
)
from hiretrack.messages.rendering.errors import (
    RenderBudgetExhausted,
    TemplateError,
    TemplateProblem,
    TemplateRenderError,
)
from hiretrack.messages.rendering.limits import DEFAULT_TIME_LIMIT, SAVE_TIME_LIMIT
from hiretrack.messages.rendering.render import (
    BODY,
    SUBJECT,
    Field,
    compiled,
    literal_attribute,
    render_body,
    render_subject,
)
from hiretrack.messages.rendering.sandbox import ENVIRONMENT
from hiretrack.messages.rendering.watchdog import with_time_limit

_KNOWN_NAMES = frozenset(TOP_LEVEL_NAMES) | set(ENVIRONMENT.globals) | {"loop", "caller"}

# --- Validation ----------------------------------------------------------------------------------

_WHEN_EMPTY = " (in an email where optional values, such as hold, are empty)"


def validate_template(subject_source: str, body_source: str) -> list[TemplateProblem]:
    """List everything wrong with a subject and body, by line, before anyone saves them."""
    fields = ((SUBJECT, subject_source, render_subject), (BODY, body_source, render_body))
    problems = [
        problem for field, source, _ in fields for problem in _static_problems(field, source)
    ]
    if not problems:
        too_slow = _cost_problem(subject_source, body_source)
        if too_slow is not None:
            return [too_slow]  # rendering it again for the other checks would only waste time
    for values, note in (
        (sample_context(), ""),
        (sample_context(include_optional=False), _WHEN_EMPTY),
    ):
        for _, source, render in fields:
            problem = _render_problem(render, source, plain_values(values), note)
            if problem and not any(
                (known.field, known.line) == (problem.field, problem.line) for known in problems
            ):
                problems.append(problem)
    return sorted(problems, key=lambda problem: (problem.field != "subject", problem.line or 0))


TOO_SLOW = (
    "This template is too slow: one email took more than {limit:g} seconds to render with the "
    "longest values a candidate can have. Emails are rendered many at a time (a drafts page, a "
    "batch), so each must be quick: use fewer loops and filters."
)


def _cost_problem(subject_source: str, body_source: str) -> TemplateProblem | None:
    """Refuse a template that takes more than SAVE_TIME_LIMIT for one worst-case email.

    Only time counts here: a limit that long values hit is reported by the renders that follow
    (with the real examples) or, on real data, when the email is prepared.
    """
    values = plain_values(worst_case_context())

    def one_email() -> None:
        for render, source in ((render_subject, subject_source), (render_body, body_source)):
            with contextlib.suppress(TemplateError):
                render(source, values)

    error: TemplateRenderError | None = None
    for _attempt in range(2):  # a busy machine can slow an honest template once, a slow one twice
        try:
            with_time_limit(SAVE_TIME_LIMIT, one_email)
            return None
        except RenderBudgetExhausted as exhausted:
            return TemplateProblem(exhausted.field, None, exhausted.message)
        except TemplateRenderError as late:
            error = late
    return TemplateProblem(
        error.field if error else None, None, TOO_SLOW.format(limit=SAVE_TIME_LIMIT)
    )


def _static_problems(field: Field, source: str) -> list[TemplateProblem]:
    """Problems found without rendering: syntax, forbidden tags, unknown names in any branch."""
    try:
        with_time_limit(DEFAULT_TIME_LIMIT, lambda: compiled(field, source))
    except TemplateError as error:
        return [TemplateProblem(error.field, error.line, error.message)]
    tree = ENVIRONMENT.parse(source)
    return _unknown_variable_problems(field, tree) + _unknown_field_problems(field, tree)


def _unknown_variable_problems(field: Field, tree: nodes.Template) -> list[TemplateProblem]:
    """Names the template reads that are neither in the catalogue nor set in the template."""
    available = ", ".join(TOP_LEVEL_NAMES)
    return [
        TemplateProblem(
            field.name,
            _first_line_using(tree, name),
            f"Unknown variable {name!r}. Available: {available}",
        )
        for name in sorted(meta.find_undeclared_variables(tree) - _KNOWN_NAMES)
    ]


def _first_line_using(tree: nodes.Template, name: str) -> int | None:
    return next(
        (node.lineno for node in tree.find_all(nodes.Name) if node.name == name),
        None,
    )


def _unknown_field_problems(field: Field, tree: nodes.Template) -> list[TemplateProblem]:
    """Fields of catalogue groups that do not exist, e.g. candidate.frist_name."""
    assigned = {node.name for node in tree.find_all(nodes.Name) if node.ctx != "load"}
    problems = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        group = node.node.name if isinstance(node.node, nodes.Name) else None
        name = literal_attribute(node)
        if group not in GROUP_FIELDS or group in assigned or name is None:
            continue
        if name not in GROUP_FIELDS[group]:
            fields = ", ".join(GROUP_FIELDS[group])
            message = f"{group!r} has no field {name!r}. Its fields: {fields}"
            problems.append(TemplateProblem(field.name, node.lineno, message))
    return problems


def _render_problem(
    render: Callable[[str, Mapping[str, Any]], str],
    source: str,
    values: Mapping[str, Any],
    note: str,
) -> TemplateProblem | None:
    """Render against example values; report the first failure, if any."""
    try:
        with_time_limit(DEFAULT_TIME_LIMIT, lambda: render(source, values))
    except TemplateError as error:
        return TemplateProblem(error.field, error.line, error.message + note)
    return None
