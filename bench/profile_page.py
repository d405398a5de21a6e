"""Measure one page in process: CPU and wall time per request, and where the time goes.

The load cases of run.py say how fast a page is under gunicorn; this says why. It signs the
bench manager (or recruiter) in through the login form of a test client, requests the page a few
times to warm up (statements built, calendar checked, plans prepared), then times `--requests`
more. CPU time is this process's, so on SQLite it includes the database's work; on PostgreSQL
(on this machine) the CPU of the app's server process is read from /proc and printed beside it.
`--profile` adds a cProfile table of the slowest functions (environment: PROFILE_SORT, default
cumulative, e.g. tottime; PROFILE_ROWS, default 40; PROFILE_TIMER=cpu to time this process's CPU
rather than the wall clock, which counts the waits on PostgreSQL); `--round-trips` (PostgreSQL)
counts one request's round trips to the server, from libpq's trace, naming BEGIN, COMMIT and
ROLLBACK.

    python bench/profile_page.py /dashboard
    python bench/profile_page.py "/api/v1/applications?cadence=overdue" --profile
    python bench/profile_page.py /dashboard --as recruiter --database-url postgresql://...
    python bench/profile_page.py /dashboard --round-trips --database-url postgresql://...
"""

import argparse
import cProfile
import logging
import os
import pstats
import re
import tempfile
import time

from benchlib import BENCH_PASSWORD, bench_app, database_url, load_credentials

WARM_UP = 6  # more than psycopg's prepare threshold (5), so PostgreSQL runs prepared plans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="the page, e.g. /dashboard or /api/v1/applications")
    parser.add_argument("--database-url", help="default: HIRETRACK_DATABASE_URL or bench.sqlite")
    parser.add_argument("--as", dest="role", choices=("manager", "recruiter"), default="manager")
    parser.add_argument("--requests", type=int, default=50, help="timed requests (default 50)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile table too")
    parser.add_argument(
        "--round-trips", action="store_true", help="count one request's round trips (PostgreSQL)"
    )
    arguments = parser.parse_args()

    url = database_url(arguments.database_url)
    user = load_credentials(url)[arguments.role]
    # One token makes every request: measure the page, not the limits (as run.py does).
    unlimited = "10000000 per minute"
    app = bench_app(
        url,
        WTF_CSRF_ENABLED=False,
        API_RATE_LIMIT=unlimited,
        API_CLIENT_RATE_LIMIT=unlimited,
    )
    logging.getLogger("hiretrack.access").disabled = True
    client = app.test_client()
    headers = {}
    if arguments.path.startswith("/api/"):
        headers = {"Authorization": f"Bearer {user['token']}"}
    else:
        login = client.post("/login", data={"email": user["email"], "password": BENCH_PASSWORD})
        if login.status_code != 302:
            raise SystemExit(f"Signing in as {user['email']} failed ({login.status_code}).")

    def get() -> None:
        response = client.get(arguments.path, headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"{arguments.path} answered {response.status_code}.")

    for _ in range(WARM_UP):
        get()
    backend = postgresql_backend(app)
    server, cpu, wall = backend_cpu(backend), time.process_time(), time.perf_counter()
    for _ in range(arguments.requests):
        get()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    server = backend_cpu(backend) - server
    print(
        f"{arguments.path} as the bench {arguments.role}: "
        f"{cpu / arguments.requests * 1000:.2f} ms CPU, "
        + (f"PostgreSQL {server / arguments.requests * 1000:.2f} ms CPU, " if backend else "")
        + f"{wall / arguments.requests * 1000:.2f} ms wall per request "
        f"(mean of {arguments.requests})"
    )
    if arguments.round_trips and backend:
        print(round_trips(app, get))
    if arguments.profile:
        timer = time.process_time if os.environ.get("PROFILE_TIMER") == "cpu" else time.perf_counter
        profiler = cProfile.Profile(timer)
        profiler.enable()
        for _ in range(arguments.requests):
            get()
        profiler.disable()
        sort = os.environ.get("PROFILE_SORT", "cumulative")
        pstats.Stats(profiler).sort_stats(sort).print_stats(int(os.environ.get("PROFILE_ROWS", 40)))


def round_trips(app, get) -> str:
    """One request's round trips to PostgreSQL, from libpq's trace of every connection it checks
    out: each ends with the server's ReadyForQuery. psycopg sends BEGIN, COMMIT and ROLLBACK as
    simple queries of their own."""
    from sqlalchemy import event

    from hiretrack.extensions import db

    with app.app_context():
        pool = db.engine.pool
    with tempfile.TemporaryFile("w+") as trace:

        def start(dbapi_connection, _record, _proxy) -> None:
            dbapi_connection.pgconn.trace(trace.fileno())

        def stop(dbapi_connection, _record) -> None:
            if dbapi_connection is not None:
                dbapi_connection.pgconn.untrace()  # flushes the trace

        event.listen(pool, "checkout", start)
        event.listen(pool, "checkin", stop)
        try:
            get()
        finally:
            event.remove(pool, "checkout", start)
            event.remove(pool, "checkin", stop)
        trace.seek(0)
        messages = trace.read()
    count = len(re.findall(r"\tB\t\d+\tReadyForQuery\t", messages))
    control = re.findall(r'\tF\t\d+\tQuery\t "(BEGIN|COMMIT|ROLLBACK)[^"]*"', messages)
    return f"{count} round trips to PostgreSQL in one request; of them {', '.join(control) or 'no BEGIN, COMMIT or ROLLBACK'}"


def postgresql_backend(app) -> int | None:
    """The process id of the app's PostgreSQL server process (the test client reuses one)."""
    from sqlalchemy import func, select

    from hiretrack.extensions import db

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            return None
        return db.session.scalar(select(func.pg_backend_pid()))


def backend_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) used so far by a local process, 0 when unknown."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
