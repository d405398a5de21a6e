"""Absolute links for emails: built from endpoints, against HIRETRACK_BASE_URL.

An email is read far from the request that queued it (or was queued by cron, with no request
at all), so its links use the public address the deployment configured, never the host a
request happened to arrive on. Links are built from endpoint names, as `url_for` builds
them, so a renamed endpoint fails loudly instead of sending a dead link.
"""

from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from werkzeug.routing import MapAdapter


def public_url_adapter() -> MapAdapter:
    """The app's URL map bound to HIRETRACK_BASE_URL (scheme, host and any path prefix)."""
    base = urlsplit(current_app.config["BASE_URL"])
    return current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "http"
    )


def external_url(endpoint: str, **values: Any) -> str:
    """The absolute URL of `endpoint`, as `url_for(endpoint, _external=True, **values)` would
    give it on a request to HIRETRACK_BASE_URL."""
    return public_url_adapter().build(endpoint, values, force_external=True)
