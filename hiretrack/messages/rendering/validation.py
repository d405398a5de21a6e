"""Find everything wrong with a template before it is saved: syntax, names, and both renders."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import meta, nodes

from hiretrack.messages.rendering.context import (
    GROUP_FIELDS,
    TOP_LEVEL_NAMES,
    plain_values,
    sample_context,
)
from hiretrack.messages.rendering.errors import TemplateError, TemplateProblem
from hiretrack.messages.rendering.limits import DEFAULT_TIME_LIMIT
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
