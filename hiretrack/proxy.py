"""Trust a reverse proxy's X-Forwarded-For and X-Forwarded-Proto, but only from the proxy itself.

Behind nginx, every connection comes from the proxy: without this the per-IP login throttle and
the status page's per-IP limit would count all clients together, and `request.scheme` would say
http. Werkzeug's `ProxyFix` reads the headers; it does not ask who sent them, so a client that
reached gunicorn directly (a web host bound to a private interface, a firewall rule missing)
could name any address it likes. Here the headers count only when the connection comes from one
of the proxy addresses in HIRETRACK_PROXY_IPS, the same setting (and syntax) that
deploy/gunicorn.conf.py gives gunicorn's `forwarded_allow_ips`.
"""

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def parse_networks(setting: str) -> list[Network] | None:
    """Read "127.0.0.1, 10.0.0.0/24" as networks; "*" (any address) as None."""
    items = [item.strip() for item in setting.split(",") if item.strip()]
    if "*" in items:
        return None
    try:
        return [ipaddress.ip_network(item, strict=False) for item in items]
    except ValueError as error:
        raise ValueError(f"HIRETRACK_PROXY_IPS: {error}") from None


class TrustedProxies:
    """WSGI middleware: apply ProxyFix for `hops` proxies to requests from `proxies` only."""

    def __init__(self, app: WSGIApp, proxies: str, hops: int = 1) -> None:
        self.app = app
        self.networks = parse_networks(proxies)
        self.fixed = ProxyFix(app, x_for=hops, x_proto=hops)

    def from_proxy(self, address: str | None) -> bool:
        """Whether the connection's peer is one of the trusted proxies."""
        if self.networks is None:
            return True
        try:
            peer = ipaddress.ip_address(address or "")
        except ValueError:
            return False  # a Unix socket or something stranger: not a proxy we know
        return any(peer in network for network in self.networks)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        if self.from_proxy(environ.get("REMOTE_ADDR")):
            return self.fixed(environ, start_response)
        return self.app(environ, start_response)
