"""Render user-editable candidate emails safely: sandboxed, bounded, and from plain data only.

Hiring managers edit subject and body templates in the browser, so a template is untrusted code.
It is compiled only in the sandbox (`sandbox.py`), which

1. sees only plain data (`context.plain_context`), never live objects such as ORM rows;
2. may read only an allow-list of attributes, and refuses the rest as "not allowed in templates";
3. cannot grow a value, a loop, a recursion, the text it creates or its output past fixed limits
   (`limits.py`), each checked before Python allocates the result;
4. is interrupted by a watchdog thread once it runs past its time limit, in any thread
   (`watchdog.py`), and shares a render allowance with the other renders of its web request or
   batch (`render_allowance`), so many renders cannot add up to a long stall.

`render.py` compiles and renders a subject and body (`render_email`); the HTML part is derived
from the rendered text, so it has no template of its own to get wrong; it is derived when first
used (queueing a message), not when drafts are reviewed. `validation.py` lists a template's
problems before it is saved, including a template too slow for the longest real values.
Callers use only the names below.
"""

from hiretrack.messages.rendering.context import (
    TEMPLATE_VARIABLES,
    PlainContext,
    TemplateVariable,
    plain_context,
    sample_context,
    worst_case_context,
)
from hiretrack.messages.rendering.errors import (
    RenderBudgetExhausted,
    TemplateError,
    TemplateProblem,
    TemplateRenderError,
)
from hiretrack.messages.rendering.limits import (
    DEFAULT_TIME_LIMIT,
    REQUEST_RENDER_BUDGET,
    SAVE_TIME_LIMIT,
)
from hiretrack.messages.rendering.render import RenderedEmail, render_email
from hiretrack.messages.rendering.sandbox import fallback
from hiretrack.messages.rendering.validation import validate_template
from hiretrack.messages.rendering.watchdog import (
    Allowance,
    close_allowance,
    current_allowance,
    open_allowance,
    render_allowance,
)

__all__ = [
    "DEFAULT_TIME_LIMIT",
    "REQUEST_RENDER_BUDGET",
    "SAVE_TIME_LIMIT",
    "RenderBudgetExhausted",
    "Allowance",
    "close_allowance",
    "current_allowance",
    "open_allowance",
    "render_allowance",
    "worst_case_context",
    "TEMPLATE_VARIABLES",
    "PlainContext",
    "RenderedEmail",
    "TemplateError",
    "TemplateProblem",
    "TemplateRenderError",
    "TemplateVariable",
    "fallback",
    "plain_context",
    "render_email",
    "sample_context",
    "validate_template",
]
