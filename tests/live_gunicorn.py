"""Real gunicorn for tests: the production entry point with N sync workers on a free port.

Some behaviour only shows with separate processes: parallel requests served by several workers,
each with its own database connections, limits that must hold across workers, a worker recycled
mid-test. `LiveGunicorn` starts gunicorn exactly as `deploy/systemd/hiretrack-web.service` does
(`deploy/gunicorn.conf.py`, `deploy/wsgi.py`, working directory the repository), bound to
127.0.0.1 on a free port, waits until `/healthz` answers and every worker has booted, and stops
the whole process group afterwards. The database is a SQLite file or PostgreSQL: anything both
the test and gunicorn can open (never in-memory SQLite).

With pytest, the fixtures in `tests/plugins/live_gunicorn.py` do the set-up:

    def test_parallel_requests(live_app, live_gunicorn):
        with live_app.app_context():
            ...                                  # seed with services, commit
        server = live_gunicorn(workers=3)        # extra HIRETRACK_* settings as keywords
        # many threads: requests.get(server.url + "/api/v1/...", headers=...)

`live_app` is an app on a database gunicorn can share: a migrated SQLite file in tmp_path
(copied from one migrated once per session), or the PostgreSQL test database, emptied after the
test. Outside pytest:

    with LiveGunicorn("sqlite:////tmp/x.sqlite", workers=2, env={"HIRETRACK_ENV": "production"}):
        ...

Settings: no `HIRETRACK_*` variable of the test process leaks in. Defaults are a random secret
key, `HIRETRACK_ENV=development` (production makes cookies Secure, which HTTP clients then
never send back over plain http), no proxy in front (`HIRETRACK_PROXY_HOPS=0`), the file mail
backend into a temporary folder, JSON logs; `env` overrides any of them. gunicorn's and the
app's log lines go to `server.log_path`; `server.log()` reads them (a failed start quotes them).

Cost: 2-4 s to start on the 2-core CI machine (each worker imports the app, about 1.5 s of CPU)
and nothing to stop: `stop()` ends the process group at once (`stop(graceful=True)` sends
SIGTERM first, as systemd does, so requests in flight finish). Start one per test that needs
it, or share one in a module-scoped fixture.
"""

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.smtp_server import free_port

REPOSITORY = Path(__file__).resolve().parents[1]
DEPLOY = REPOSITORY / "deploy"
#: The virtual environment's scripts: gunicorn and hiretrack, as /opt/hiretrack/.venv/bin in the units.
SCRIPTS = Path(sys.executable).parent

START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


def gunicorn_command() -> list[str]:
    """The command of hiretrack-web.service's ExecStart, for this checkout and environment."""
    return [
        str(SCRIPTS / "gunicorn"),
        "--config",
        str(DEPLOY / "gunicorn.conf.py"),
        "--pythonpath",
        str(DEPLOY),
        "wsgi:app",
    ]


def clean_environment() -> dict[str, str]:
    """The test process's environment without any HIRETRACK_* setting."""
    return {key: value for key, value in os.environ.items() if not key.startswith("HIRETRACK_")}


def living_group_members(group: int) -> list[int]:
    """The processes of a process group that have not ended (zombies have)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its ")".
            state, _, pgrp = stat.read_text().rpartition(")")[2].split()[:3]
        except OSError:
            continue  # it ended while we looked
        if int(pgrp) == group and state != "Z":
            members.append(int(stat.parent.name))
    return members


class LiveGunicorn:
    """gunicorn serving HireTrack on 127.0.0.1 and a free port; a context manager."""

    def __init__(
        self,
        database_url: str,
        *,
        workers: int = 2,
        env: dict[str, str] | None = None,
        directory: Path | None = None,
        port: int | None = None,
        defaults: bool = True,
    ) -> None:
        """`env` adds or overrides HIRETRACK_* settings; `directory` holds the log and mail.

        `defaults=False` passes `env` alone (a whole production environment file, say).
        """
        if database_url in ("sqlite://", "sqlite:///:memory:"):
            raise ValueError("gunicorn's workers cannot share an in-memory SQLite database")
        self.directory = Path(directory or tempfile.mkdtemp(prefix="live-gunicorn-"))
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.log_path = self.directory / f"gunicorn-{self.port}.log"
        settings = {"HIRETRACK_DATABASE_URL": database_url}
        if defaults:
            settings |= {
                "HIRETRACK_ENV": "development",
                "HIRETRACK_SECRET_KEY": secrets.token_hex(32),
                "HIRETRACK_BASE_URL": self.url,
                "HIRETRACK_MAIL_BACKEND": "file",
                "HIRETRACK_MAIL_FILE_DIR": str(self.directory / "mail"),
                "HIRETRACK_LOG_FORMAT": "json",
                "HIRETRACK_PROXY_HOPS": "0",
            }
        # The port is this server's own; the worker count is the argument's.
        listen = {"HIRETRACK_BIND": f"127.0.0.1:{self.port}", "HIRETRACK_WEB_WORKERS": str(workers)}
        self.env = clean_environment() | settings | (env or {}) | listen
        self.process: subprocess.Popen | None = None

    def start(self) -> Self:
        """Start gunicorn and wait until it answers /healthz with all its workers booted."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                gunicorn_command(),
                cwd=REPOSITORY,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends every worker
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not (self._healthy() and self.log().count("Booting worker") >= self.workers):
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"gunicorn did not answer within {START_TIMEOUT}s:\n{self.log()}"
                )
            time.sleep(0.1)
        return self

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def stop(self, graceful: bool = False) -> None:
        """End every process at once; `graceful`: SIGTERM as systemd sends, requests finish."""
        process = self.process
        if process is None:
            return
        if graceful and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(STOP_TIMEOUT)
        # The group is ours alone (start_new_session); workers whose master is gone are in it too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        deadline = time.monotonic() + STOP_TIMEOUT
        while living_group_members(process.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.process = None

    def log(self) -> str:
        """Everything gunicorn and the app wrote so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
