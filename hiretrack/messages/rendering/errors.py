"""What goes wrong with a stored email template, located for the editor."""

from __future__ import annotations

from dataclasses import dataclass


class TemplateError(Exception):
    """A stored email template cannot be used as written; says where, for the editor."""

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.field = field  # "subject", "body", or None when it concerns both
        self.line = line  # line in that field's template, when known
        self.message = message

    def __str__(self) -> str:
        location = [self.field] if self.field else []
        if self.line is not None:
            location.append(f"line {self.line}")
        return f"{' '.join(location)}: {self.message}" if location else self.message


class TemplateRenderError(TemplateError):
    """Rendering failed or was refused: a syntax error, a forbidden construct, a limit, a bug."""


class RenderBudgetExhausted(TemplateRenderError):
    """The request's or batch's rendering time is used up; every later render is refused at once."""


@dataclass(frozen=True)
class TemplateProblem:
    """One thing wrong with a template, located for the editor (line None: the whole field)."""

    field: str | None
    line: int | None
    message: str
