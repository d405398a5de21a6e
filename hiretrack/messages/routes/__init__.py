"""Message pages: templates with live preview and versions, compose, drafts review, the outbox.

One module per area, each adding its pages to the blueprint in `messages/blueprint.py` (which
lets writers only in). Views parse the form, call `messages.services` / `messages.templates`
(which own every rule), flash and redirect. Objects are loaded through `hiretrack.auth.access`,
so another manager's application, requisition or hold is a 404.
"""

from hiretrack.messages.blueprint import bp

# Imported for the pages each registers, in the order the URL map has always listed them.
# isort: off
from hiretrack.messages.routes import templates  # noqa: F401
from hiretrack.messages.routes import compose  # noqa: F401
from hiretrack.messages.routes import drafts  # noqa: F401
from hiretrack.messages.routes import outbox  # noqa: F401
# isort: on

__all__ = ["bp"]
