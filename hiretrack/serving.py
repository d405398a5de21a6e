"""Serving from the command line (`hiretrack run`, `hiretrack demo`): the port, and the links.

Links in emails, digests and on the status page need the address people open. When
HIRETRACK_BASE_URL is not set (outside production, where it is required), the serving commands
use the address they serve on, so a demo on another port still sends links that work.
"""

import errno
import ipaddress
import socket

from flask import Flask

#: The backlog werkzeug's own server uses.
LISTEN_BACKLOG = 128


class PortUnavailable(OSError):
    """The server cannot listen on the host and port asked for; the message says what to do."""


def listening_socket(host: str, port: int) -> socket.socket:
    """Bind and listen on host:port (port 0 picks a free one), or say in one line why not."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise PortUnavailable(f"Cannot serve on {host}: {error.strerror}.") from None
    server = socket.socket(family, kind, protocol)
    try:
        # As werkzeug does: a port whose last connections linger in TIME_WAIT is still free.
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(address)
        server.listen(LISTEN_BACKLOG)
    except OSError as error:
        server.close()
        if error.errno == errno.EADDRINUSE:
            raise PortUnavailable(
                f"Port {port} on {host} is already in use: stop the program using it, "
                "or choose another port with --port."
            ) from None
        raise PortUnavailable(f"Cannot serve on {host}:{port}: {error.strerror}.") from None
    return server


def check_port_free(host: str, port: int) -> None:
    """Fail early, in one line, when host:port cannot be served on (the server binds it later)."""
    listening_socket(host, port).close()


def served_url(host: str, port: int, scheme: str = "http") -> str:
    """The URL a browser on this machine opens for a server bound to host:port."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass  # a name, such as localhost
    return f"{scheme}://{host}:{port}"


def use_served_url(app: Flask, url: str) -> str:
    """Point links at the served URL unless HIRETRACK_BASE_URL is set; return the base URL used."""
    if app.config.get("BASE_URL_DERIVED"):
        app.config["BASE_URL"] = url
    return app.config["BASE_URL"]
