"""Gunicorn settings for HireTrack's web workers behind a TLS proxy (see docs/deploy.md).

Every value can be overridden on the command line; the environment variables below let one
systemd unit serve hosts of different sizes.
"""

import multiprocessing
import os

# Only the proxy may talk to gunicorn: on the proxy's host bind to loopback; on a web host
# behind a separate proxy, bind to the private interface the proxy reaches (and firewall it).
bind = os.environ.get("HIRETRACK_BIND", "127.0.0.1:8000")

# Sync workers: each handles one request at a time. Pages spend most of their time in Python
# (see docs/benchmarks.md), so more workers than about twice the cores only adds memory.
workers = int(os.environ.get("HIRETRACK_WEB_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
timeout = 60  # a CSV export of a large report streams for a while
graceful_timeout = 30
keepalive = 5

# Recycle workers now and then, so a slow leak can never grow without bound.
max_requests = 5000
max_requests_jitter = 500

# Trust X-Forwarded-Proto only from the proxy (wsgi.py also applies ProxyFix for the client IP).
forwarded_allow_ips = os.environ.get("HIRETRACK_PROXY_IPS", "127.0.0.1")

# systemd starts, reloads (HUP) and stops gunicorn. gunicorn 25.1+ would also open a control
# socket in the user's home, one path shared by every gunicorn that user runs: not wanted.
control_socket_disable = True

# HireTrack writes its own access line per request (no query strings, no personal data), so
# gunicorn's access log stays off; errors go to standard error, i.e. the journal.
accesslog = None
errorlog = "-"
