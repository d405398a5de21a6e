"""The WSGI entry point for production: HireTrack behind one trusted reverse proxy.

`ProxyFix` makes `request.remote_addr` the client's address (from the proxy's X-Forwarded-For)
and `request.scheme` https (from X-Forwarded-Proto). Without it every request seems to come from
the proxy, so the per-IP login throttle and the status page's per-IP limit would count all
users together. Set HIRETRACK_PROXY_HOPS to the number of proxies in front (0: none).
"""

import os

from werkzeug.middleware.proxy_fix import ProxyFix

from hiretrack import create_app

app = create_app()
_hops = int(os.environ.get("HIRETRACK_PROXY_HOPS", "1"))
if _hops:
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=_hops, x_proto=_hops)
