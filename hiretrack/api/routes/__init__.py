"""JSON API v1: the manager's web forms, for ATS exports, HR systems and scripts.

One module per resource, each adding its operations to the blueprint in `api/blueprint.py`;
importing them here, in this order, registers every endpoint (and orders the OpenAPI document).
Every view is thin: the wrapper in `operations` has already authenticated the caller and
validated the request; the view loads objects through `hiretrack.auth.access` (another user's
object is 404), calls the same service as the web form, commits, and presents the result.
"""

from hiretrack.api.blueprint import api, bp

# Imported for the operations each registers, in the order of the OpenAPI document's paths.
# isort: off
from hiretrack.api.routes import meta  # noqa: F401
from hiretrack.api.routes import admin  # noqa: F401
from hiretrack.api.routes import requisitions  # noqa: F401
from hiretrack.api.routes import approvals  # noqa: F401
from hiretrack.api.routes import holds  # noqa: F401
from hiretrack.api.routes import candidates  # noqa: F401
from hiretrack.api.routes import applications  # noqa: F401
from hiretrack.api.routes import messages  # noqa: F401
from hiretrack.api.routes import templates  # noqa: F401
from hiretrack.api.routes import reports  # noqa: F401
from hiretrack.api.routes import inbound  # noqa: F401
# isort: on

__all__ = ["api", "bp"]
