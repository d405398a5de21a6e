"""The WSGI entry point for production: HireTrack behind a trusted reverse proxy (nginx).

`request.remote_addr` becomes the client's address (the proxy's X-Forwarded-For) and
`request.scheme` https (X-Forwarded-Proto), for requests that come from a proxy address in
HIRETRACK_PROXY_IPS only (see hiretrack/proxy.py). Without it every request seems to come from
the proxy, so the per-IP login throttle and the status page's per-IP limit would count all users
together. Set HIRETRACK_PROXY_HOPS to the number of proxies in front (0: none).
"""

import os

from hiretrack import create_app
from hiretrack.proxy import TrustedProxies

app = create_app()
_hops = int(os.environ.get("HIRETRACK_PROXY_HOPS", "1"))
if _hops:
    app.wsgi_app = TrustedProxies(
        app.wsgi_app, os.environ.get("HIRETRACK_PROXY_IPS", "127.0.0.1"), _hops
    )
