"""Run HireTrack's benchmark cases against a seeded database and print a table of the figures.

    python bench/run.py [--duration 10] [--connections 16] [--rounds 1] [--database-url URL]
                        [--cases a,b]

The web cases run the app under gunicorn (2 sync workers, production settings) and load it from
wrk on loopback, each for --duration seconds after a short warm-up (with --rounds N, all of them
N times in turn, keeping each case's median round, and deliver_10k its whole comparison N
times, keeping the median ratio); the other cases run inside
this process or in a child process. Every figure is written to bench/results.json with the
baseline measured in the same run, per database, so a PostgreSQL run and a SQLite run can be
compared. Seed the database first with bench/seed.py. See docs/benchmarks.md.
"""

import argparse
import http.client
import json
import logging
import os
import platform
import re
import secrets
import shutil
import signal
import smtplib
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from benchlib import (
    BENCH_DIR,
    REPOSITORY_DIR,
    RESULTS_PATH,
    bench_app,
    database_url,
    dialect_of,
    load_credentials,
    sqlalchemy_url,
)

CASES = (
    "hello",
    "dashboard",
    "api_applications",
    "dashboard_recruiter",
    "api_applications_recruiter",
    "api_outbox_admin",
    "report_holds",
    "report_closure",
    "render_10k",
    "deliver_10k",
    "reminders_run",
    "csv_export",
)
WEB_CASES = (
    "hello",
    "dashboard",
    "api_applications",
    "dashboard_recruiter",
    "api_applications_recruiter",
    "api_outbox_admin",
)
#: Web cases whose requests/s are compared with hello's (`<case>_vs_hello` in results.json).
RATIO_CASES = WEB_CASES[1:]
USER_AGENT = "HireTrack-bench/1.0"
WARM_UP_SECONDS = 2
REPEATS = 5  # sequential repetitions for the timed (non-load) cases; the median is reported
WORKER_COUNTS = (1, 2, 4)
BASELINE_MESSAGES = 2_000  # messages the bare smtplib loop sends (prebuilt)

#: (figure, comparison, threshold, what it means) for the targets of issue 10.
TARGETS = (
    ("dashboard_vs_hello", ">=", 0.15, "dashboard rps / hello rps"),
    ("dashboard.p99_ms", "<=", 150, "dashboard p99 latency (ms) at the given connections"),
    ("api_applications_vs_hello", ">=", 0.2, "API list rps / hello rps"),
    ("dashboard_recruiter_vs_hello", ">=", 0.1, "organisation-wide dashboard rps / hello rps"),
    (
        "api_applications_recruiter_vs_hello",
        ">=",
        0.1,
        "organisation-wide API overdue list rps / hello rps",
    ),
    (
        "api_outbox_admin.server_cpu_ms_per_request",
        "<=",
        10,
        "GET /api/v1/outbox as admin: server CPU ms per request",
    ),
    ("report_holds.seconds", "<=", 0.3, "hold report, every table computed (s)"),
    ("report_closure.seconds", "<=", 0.3, "closure ledger, every table computed (s)"),
    ("reminders_run.seconds", "<=", 10, "`hiretrack reminders run --dry-run` wall time (s)"),
    ("csv_export.holds.growth_mb", "<=", 50, "holds CSV export: peak RSS above idle (MB)"),
    ("csv_export.closure.growth_mb", "<=", 50, "closure CSV export: peak RSS above idle (MB)"),
    ("render_sandbox_vs_plain", "<=", 1.5, "sandboxed render time / plain Jinja time"),
    ("deliver_vs_smtplib", ">=", 0.8, "HireTrack delivery rate / bare smtplib rate"),
)


# --- Small helpers -------------------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def median_seconds(work: Callable[[], Any], repeats: int = REPEATS) -> tuple[float, Any]:
    """Run work once to warm up, then `repeats` times; return the median time and a result."""
    result = work()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def get_path(figures: dict, dotted: str) -> Any:
    value: Any = figures
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def python_command(*arguments: str) -> list[str]:
    """Run the hiretrack CLI with this interpreter, installed or not."""
    return [sys.executable, "-c", "from hiretrack.cli import main; main()", *arguments]


def child_environment(url: str, **settings: str) -> dict[str, str]:
    """The environment of a HireTrack process on the bench database."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("HIRETRACK_")}
    env["HIRETRACK_DATABASE_URL"] = url
    env["PYTHONPATH"] = str(REPOSITORY_DIR) + os.pathsep + env.get("PYTHONPATH", "")
    env.update({f"HIRETRACK_{key}": value for key, value in settings.items()})
    return env


def machine(url: str) -> dict[str, Any]:
    """What this run ran on: CPUs, memory, Python and database versions, load, date."""
    memory_kb = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    cpu = ""
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(memory_kb / 2**20, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    if dialect_of(url) == "postgresql":
        from sqlalchemy import create_engine, text

        engine = create_engine(sqlalchemy_url(url))
        with engine.connect() as connection:
            info["postgresql"] = connection.execute(text("SHOW server_version")).scalar()
        engine.dispose()
    return info


# --- The web server and wrk ----------------------------------------------------------------------


class Server:
    """HireTrack under gunicorn (2 sync workers) with production settings, on a loopback port."""

    def __init__(self, url: str, log_path: Path) -> None:
        self.url, self.log_path = url, log_path
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = child_environment(
            self.url,
            ENV="production",
            SECRET_KEY="bench-" + secrets.token_hex(32),
            BASE_URL=f"http://127.0.0.1:{self.port}",
            # The load comes from one address and one token: measure the pages, not the limits.
            API_RATE_LIMIT="10000000 per minute",
            API_CLIENT_RATE_LIMIT="10000000 per minute",
        )
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{self.port}",
            "hiretrack:create_app()",
        ]
        self.log_file = self.log_path.open("w")
        self.process = subprocess.Popen(
            command,
            cwd=REPOSITORY_DIR,
            env=env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn stopped at start; see {self.log_path}")
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise SystemExit(f"gunicorn did not answer /healthz within 60 s; see {self.log_path}")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by gunicorn's master and workers."""
        if self.process is None:
            return 0.0
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid, parent = int(stat.parent.name), int(fields[1])
            if self.process.pid in (pid, parent):
                total += int(fields[11]) + int(fields[12])
        return total / ticks

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # the master stops its workers gracefully
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log_file.close()

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict | None = None
    ) -> tuple[int, http.client.HTTPMessage, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(
                method, path, body=body, headers={"User-Agent": USER_AGENT, **(headers or {})}
            )
            response = connection.getresponse()
            return response.status, response.headers, response.read().decode("utf-8", "replace")
        finally:
            connection.close()

    def login(self, email: str, password: str) -> str:
        """Sign in through the real form (CSRF token and all); return the session cookie."""
        status, headers, page = self.request("GET", "/login")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        if status != 200 or token is None:
            raise SystemExit(f"The login page did not offer a CSRF token (HTTP {status}).")
        form = urlencode({"csrf_token": token.group(1), "email": email, "password": password})
        status, headers, _ = self.request(
            "POST",
            "/login",
            form,
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": session_cookie(headers),
            },
        )
        cookie = session_cookie(headers)
        if status != 302 or not cookie:
            raise SystemExit(f"Signing in as {email} failed (HTTP {status}); re-seed the database?")
        return cookie


def session_cookie(headers: http.client.HTTPMessage) -> str:
    """The `session=...` pair from Set-Cookie (the cookie is Secure: no cookie jar sends it)."""
    for header in headers.get_all("Set-Cookie") or []:
        if header.startswith("session="):
            return header.split(";", 1)[0]
    return ""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk is missing: installing it with apt-get install -y wrk")
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is needed for the web cases: apt-get install -y wrk")
    return found


def run_wrk(
    url: str, headers: dict[str, str], duration: float, connections: int, threads: int
) -> dict[str, Any]:
    """Load url with wrk for `duration` seconds; requests/s and latency percentiles."""
    command = [
        ensure_wrk(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration:g}s",
        "--timeout",
        "10s",
        "-s",
        str(BENCH_DIR / "report.lua"),
        "-H",
        f"User-Agent: {USER_AGENT}",
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=duration + 60, check=True
    ).stdout
    line = next((line for line in output.splitlines() if line.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no figures:\n{output}")
    figures = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line)}
    seconds = figures["duration_us"] / 1e6
    return {
        "rps": round(figures["requests"] / seconds, 1),
        "p50_ms": round(figures["p50_us"] / 1000, 2),
        "p90_ms": round(figures["p90_us"] / 1000, 2),
        "p99_ms": round(figures["p99_us"] / 1000, 2),
        "requests": figures["requests"],
        "not_200": figures["not_200"],
        "socket_errors": figures["socket_errors"],
    }


def load_case(
    server: Server, case: str, target: tuple[str, dict[str, str], int], args, number: int
) -> dict[str, Any]:
    """One round of one web case under wrk: a warm-up, then --duration seconds measured."""
    path, headers, response_bytes = target
    rounds = f" (round {number} of {args.rounds})" if args.rounds > 1 else ""
    log(f"{case}: GET {path}{rounds} — warming up {WARM_UP_SECONDS} s, then {args.duration:g} s")
    address = f"http://127.0.0.1:{server.port}{path}"
    run_wrk(address, headers, WARM_UP_SECONDS, args.connections, args.threads)
    cpu_before = server.cpu_seconds()
    figures = run_wrk(address, headers, args.duration, args.connections, args.threads)
    # Server CPU per request does not depend on what else the machine is doing.
    cpu = server.cpu_seconds() - cpu_before
    figures["server_cpu_ms_per_request"] = round(cpu * 1000 / max(figures["requests"], 1), 2)
    figures["path"] = path
    figures["response_bytes"] = response_bytes
    if figures["not_200"] or figures["socket_errors"]:
        figures["warning"] = "some answers were not 200 or failed: see the counts"
    log(
        f"  {figures['rps']} requests/s, p50 {figures['p50_ms']} ms, "
        f"p99 {figures['p99_ms']} ms, {figures['server_cpu_ms_per_request']} ms CPU each"
    )
    return figures


def web_cases(
    url: str, credentials: dict, cases: list[str], args, workdir: Path, results: dict
) -> None:
    """hello, dashboard and api_applications under wrk, plus the report pages timed one by one."""
    server = Server(url, workdir / "gunicorn.log")
    log(f"Starting gunicorn on port {server.port} (log: {server.log_path})")
    server.start()
    try:
        manager_cookie = server.login(credentials["manager"]["email"], credentials["password"])
        recruiter_cookie = server.login(credentials["recruiter"]["email"], credentials["password"])
        targets = {
            "hello": ("/healthz", {}),
            "dashboard": ("/dashboard", {"Cookie": manager_cookie}),
            "api_applications": (
                "/api/v1/applications?cadence=overdue",
                {"Authorization": f"Bearer {credentials['manager']['token']}"},
            ),
            "dashboard_recruiter": ("/dashboard", {"Cookie": recruiter_cookie}),
            "api_applications_recruiter": (
                "/api/v1/applications?cadence=overdue",
                {"Authorization": f"Bearer {credentials['recruiter']['token']}"},
            ),
            "api_outbox_admin": (
                "/api/v1/outbox",
                {"Authorization": f"Bearer {credentials['admin']['token']}"},
            ),
        }
        load_cases = [case for case in WEB_CASES if case in cases]
        for case in load_cases:
            path, headers = targets[case]
            status, _, body = server.request("GET", path, headers=headers)
            if status != 200:
                raise SystemExit(f"{case}: GET {path} answered {status}, not 200:\n{body[:500]}")
            targets[case] = (path, headers, len(body.encode()))
        rounds: dict[str, list[dict[str, Any]]] = {case: [] for case in load_cases}
        for number in range(1, args.rounds + 1):
            for case in load_cases:
                rounds[case].append(load_case(server, case, targets[case], args, number))
        for case, measured in rounds.items():
            # The round with the median requests/s: one slow or fast moment of a shared machine
            # moves neither the figure nor its ratio to hello (measured in the same rounds).
            figures = sorted(measured, key=lambda figures: figures["rps"])[len(measured) // 2]
            if len(measured) > 1:
                figures["rounds_rps"] = [figures["rps"] for figures in measured]
            results[case] = figures
        for name in ("holds", "closure"):
            case = f"report_{name}"
            if case not in cases:
                continue

            def page(name=name):
                status, _, _ = server.request(
                    "GET", f"/reports/{name}", headers={"Cookie": recruiter_cookie}
                )
                if status != 200:
                    raise SystemExit(f"/reports/{name} answered {status}")

            seconds, _ = median_seconds(page)
            results.setdefault(case, {})["page_seconds"] = round(seconds, 3)
            log(f"{case}: the page takes {seconds:.3f} s (median of {REPEATS})")
    finally:
        server.stop()


# --- In-process cases ----------------------------------------------------------------------------


def report_cases(cases: list[str], results: dict) -> None:
    """Each report at full size: build it and run every table's query to the last row."""
    from hiretrack.auth.models import Role, User
    from hiretrack.extensions import db
    from hiretrack.reports.exports import stream_rows
    from hiretrack.reports.services import build_report

    reader = User(role=Role.ADMIN.value, name="Benchmark")  # the organisation-wide view
    for name in ("holds", "closure"):
        case = f"report_{name}"
        if case not in cases:
            continue

        def compute(name=name) -> int:
            report = build_report(name, reader, {})
            rows = sum(len(list(stream_rows(table))) for table in report.tables)
            db.session.rollback()
            return rows

        seconds, rows = median_seconds(compute)
        results.setdefault(case, {}).update(seconds=round(seconds, 3), rows=rows)
        log(f"{case}: {seconds:.3f} s for {rows} rows in all its tables (median of {REPEATS})")


def draft_contexts(count: int) -> tuple[list[dict], list[dict]]:
    """Recipients (open applications, repeated if there are fewer than count) and contexts.

    The contexts are `hiretrack.messages.context.context_values`, as `build_context` makes them,
    with the holds loaded for all applications at once (build_context looks each one up).
    """
    from sqlalchemy import select
    from sqlalchemy.orm import joinedload

    from hiretrack.candidates.models import Application, Candidate
    from hiretrack.database import utcnow
    from hiretrack.extensions import db
    from hiretrack.holds.queries import open_holds_for_applications
    from hiretrack.messages.context import context_values
    from hiretrack.requisitions.models import Requisition

    applications = list(
        db.session.scalars(
            select(Application)
            .join(Candidate, Candidate.id == Application.candidate_id)
            .where(Application.closed_at.is_(None), Candidate.email.is_not(None))
            .options(
                joinedload(Application.candidate),
                joinedload(Application.requisition).joinedload(Requisition.department),
                joinedload(Application.requisition).joinedload(Requisition.manager),
            )
            .order_by(Application.id)
            .limit(count)
        ).unique()
    )
    if not applications:
        raise SystemExit("The bench database has no open applications: re-seed it.")
    holds = open_holds_for_applications(applications)
    today = utcnow().date()
    promise = today + timedelta(days=7)
    contexts, recipients = [], []
    for index in range(count):
        application = applications[index % len(applications)]
        candidate, requisition = application.candidate, application.requisition
        recipients.append(
            {
                "application_id": application.id,
                "to_address": candidate.email,
                "to_name": candidate.name,
                "manager_id": requisition.manager.id,
                "reply_to": f"{requisition.manager.name} <{requisition.manager.email}>",
            }
        )
        contexts.append(
            context_values(
                application,
                (holds.get(application.id) or [None])[0],
                promised_next_update=promise,
                status_link=f"https://hiretrack.bench/status/{secrets.token_urlsafe(16)}",
                company_name="Acme Widgets",
                today=today,
            )
        )
    return recipients, contexts


def render_case(count: int, results: dict) -> tuple[list, list]:
    """Render count personalised check-ins in the sandbox, and with a plain jinja2.Environment.

    Sandbox: `render_email(subject, body, context)` on each context, as reviewing a draft does:
    check and freeze the context (build_context does it, once per draft), render the subject
    (one line, safe as a header) and the body in the sandbox, under the watchdog. The HTML
    part is not made: it is derived when the message is queued, and timed apart below.
    Plain: `Template.render(context)` for the same subject and body, nothing else. Each side
    keeps the messages it renders, as the drafts page does.

    Other work on the machine comes in bursts, so the drafts are timed in blocks of 500, each
    side right after the other, 5 times; a side's time is the sum of its blocks' best runs, by
    wall clock and by CPU time.
    """
    import gc

    import jinja2
    from sqlalchemy import select

    from hiretrack.extensions import db
    from hiretrack.messages.models import EmailTemplate
    from hiretrack.messages.rendering import RenderedEmail, fallback, plain_context, render_email

    template = db.session.scalars(
        select(EmailTemplate).where(
            EmailTemplate.category == "check_in", EmailTemplate.owner_id.is_(None)
        )
    ).first()
    recipients, contexts = draft_contexts(count)
    block_size, rounds = 500, 5
    plain = jinja2.Environment(autoescape=False)
    plain.filters["fallback"] = fallback
    plain_subject = plain.from_string(template.subject)
    plain_body = plain.from_string(template.body)
    frozen = [plain_context(context) for context in contexts]

    def sandboxed(block: slice) -> list:
        return [
            render_email(template.subject, template.body, context) for context in contexts[block]
        ]

    def unsandboxed(block: slice) -> list:
        return [
            (plain_subject.render(context), plain_body.render(context))
            for context in contexts[block]
        ]

    def checking(block: slice) -> list:
        return [plain_context(context) for context in contexts[block]]

    def rendering_only(block: slice) -> list:
        return [render_email(template.subject, template.body, context) for context in frozen[block]]

    def html_parts(block: slice) -> list:
        return [RenderedEmail(message.subject, message.text).html for message in rendered[block]]

    rendered = sandboxed(slice(None))  # compile and warm every part
    parts = {
        "sandbox": sandboxed,
        "plain": unsandboxed,
        "plain_context": checking,
        "render_only": rendering_only,
        "html": html_parts,
    }
    blocks = [slice(start, start + block_size) for start in range(0, count, block_size)]
    best_wall = {(name, block.start): float("inf") for name in parts for block in blocks}
    best_cpu = dict(best_wall)
    # A full collection walks every object in the process, the ORM rows above included; it
    # lands in whichever block happens to trigger it. Set what exists aside, so blocks compare.
    gc.collect()
    gc.freeze()
    try:
        for round_number in range(rounds):
            for block in blocks:
                order = list(parts.items())
                if round_number % 2:
                    order.reverse()
                for name, work in order:
                    started, started_cpu = time.perf_counter(), time.process_time()
                    work(block)
                    key = (name, block.start)
                    best_wall[key] = min(best_wall[key], time.perf_counter() - started)
                    best_cpu[key] = min(best_cpu[key], time.process_time() - started_cpu)
    finally:
        gc.unfreeze()
    wall = {name: sum(best_wall[name, block.start] for block in blocks) for name in parts}
    cpu = {name: sum(best_cpu[name, block.start] for block in blocks) for name in parts}

    def per_draft(seconds: float) -> float:
        return round(seconds / count * 1e6, 1)

    results["render_10k"] = {
        "drafts": count,
        "sandbox_seconds": round(wall["sandbox"], 3),
        "plain_seconds": round(wall["plain"], 3),
        "sandbox_cpu_seconds": round(cpu["sandbox"], 3),
        "plain_cpu_seconds": round(cpu["plain"], 3),
        "sandbox_per_draft_us": per_draft(cpu["sandbox"]),
        "plain_per_draft_us": per_draft(cpu["plain"]),
        "of_which_plain_context_us": per_draft(cpu["plain_context"]),
        "of_which_render_us": per_draft(cpu["render_only"]),
        "html_part_when_queued_us": per_draft(cpu["html"]),
        "with_html_vs_plain_by_cpu": round((cpu["sandbox"] + cpu["html"]) / cpu["plain"], 2),
        "template": template.slug,
    }
    results["render_sandbox_vs_plain"] = round(wall["sandbox"] / wall["plain"], 2)
    results["render_sandbox_vs_plain_by_cpu"] = round(cpu["sandbox"] / cpu["plain"], 2)
    log(
        f"render_10k: sandbox {wall['sandbox']:.3f} s, plain Jinja {wall['plain']:.3f} s "
        f"(ratio {wall['sandbox'] / wall['plain']:.2f}; by CPU "
        f"{cpu['sandbox'] / cpu['plain']:.2f}; best of {rounds} per block)"
    )
    return recipients, rendered


class Sink:
    """The counting SMTP sink, in its own process."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(BENCH_DIR / "smtp_sink.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            raise SystemExit("The SMTP sink did not start.")
        self.port = int(line.split()[1])

    def stop(self) -> int:
        """Stop the sink; return how many messages it accepted."""
        self.process.stdin.close()
        output = self.process.stdout.read()
        self.process.wait(timeout=30)
        match = re.search(r"ACCEPTED (\d+)", output)
        return int(match.group(1)) if match else -1


class QueuedMessages:
    """Queue rendered messages as send_message would (outbox row + touchpoint), and undo it all.

    The rows already queued in the bench data are held back (their next attempt moved far ahead)
    so each run delivers exactly its own messages; cleanup restores the applications' contact
    columns, so the data set is the same for the next run.
    """

    def __init__(self, recipients: list[dict], rendered: list) -> None:
        self.recipients, self.rendered = recipients, rendered
        self.ids: list[int] = []

    def __enter__(self) -> "QueuedMessages":
        from sqlalchemy import insert, select, update

        from hiretrack.cadence.stored import STORED_COLUMNS
        from hiretrack.candidates.models import Application, Touchpoint
        from hiretrack.database import utcnow
        from hiretrack.extensions import db
        from hiretrack.messages.models import OutboxEmail

        application_ids = sorted({recipient["application_id"] for recipient in self.recipients})
        self.contact = [
            dict(row._mapping)
            for row in db.session.execute(
                select(
                    Application.id.label("b_id"),
                    Application.last_contact_at,
                    Application.promised_next_update,
                    Application.update_requested_at,
                    Application.version,
                    *(getattr(Application, name) for name in STORED_COLUMNS),
                ).where(Application.id.in_(application_ids))
            )
        ]
        self.held_back = [
            {"b_id": row.id, "next_attempt_at": row.next_attempt_at}
            for row in db.session.execute(
                select(OutboxEmail.id, OutboxEmail.next_attempt_at).where(
                    OutboxEmail.status == "queued"
                )
            )
        ]
        if self.held_back:
            db.session.execute(
                update(OutboxEmail)
                .where(OutboxEmail.status == "queued")
                .values(next_attempt_at=utcnow() + timedelta(days=36500))
                .execution_options(synchronize_session=False)
            )
        now, run = utcnow(), uuid.uuid4().hex[:12]
        rows = []
        for number, (recipient, message) in enumerate(
            zip(self.recipients, self.rendered, strict=True)
        ):
            rows.append(
                {
                    "application_id": recipient["application_id"],
                    "category": "check_in",
                    "to_address": recipient["to_address"],
                    "to_name": recipient["to_name"],
                    "from_address": "Acme Hiring <hiring@acme.example>",
                    "reply_to": recipient["reply_to"],
                    "subject": message.subject,
                    "body_text": message.text,
                    "body_html": message.html,
                    "message_id": f"<bench-{run}-{number}@hiretrack.bench>",
                    "status": "queued",
                    "next_attempt_at": now,
                    "attempts": 0,
                    "created_at": now,
                    "created_by_id": recipient["manager_id"],
                }
            )
        self.ids = list(
            db.session.scalars(
                insert(OutboxEmail).returning(OutboxEmail.id, sort_by_parameter_order=True), rows
            )
        )
        db.session.execute(
            insert(Touchpoint),
            [
                {
                    "application_id": row["application_id"],
                    "direction": "outbound",
                    "channel": "email",
                    "note": f"Email: {row['subject']}",
                    "is_closure": False,
                    "outbox_email_id": outbox_id,
                    "created_at": now,
                    "created_by_id": row["created_by_id"],
                }
                for row, outbox_id in zip(rows, self.ids, strict=True)
            ],
        )
        db.session.commit()
        return self

    def outbox_rows(self, limit: int) -> list:
        from sqlalchemy import select

        from hiretrack.extensions import db
        from hiretrack.messages.models import OutboxEmail

        return list(
            db.session.scalars(
                select(OutboxEmail)
                .where(OutboxEmail.id.in_(self.ids))
                .order_by(OutboxEmail.id)
                .limit(limit)
            )
        )

    def figures(self) -> dict[str, Any]:
        """How many of this run's rows were sent, and from the first claim to the last send."""
        from sqlalchemy import func, select

        from hiretrack.extensions import db
        from hiretrack.messages.models import OutboxEmail

        db.session.rollback()
        sent, first_claim, last_sent = db.session.execute(
            select(
                func.count(OutboxEmail.id),
                func.min(OutboxEmail.claimed_at),
                func.max(OutboxEmail.sent_at),
            ).where(OutboxEmail.id.in_(self.ids), OutboxEmail.status == "sent")
        ).one()
        # Every status, so a message withdrawn at delivery (no longer true) is seen, not lost.
        by_status = dict(
            db.session.execute(
                select(OutboxEmail.status, func.count(OutboxEmail.id))
                .where(OutboxEmail.id.in_(self.ids))
                .group_by(OutboxEmail.status)
            ).all()
        )
        db.session.rollback()
        return {
            "sent": sent,
            "first_claim": first_claim,
            "last_sent": last_sent,
            "by_status": {
                str(getattr(key, "value", key)): value for key, value in by_status.items()
            },
        }

    def __exit__(self, *exc_info) -> None:
        from sqlalchemy import bindparam, delete, update

        from hiretrack.cadence import tally
        from hiretrack.cadence.stored import STORED_COLUMNS
        from hiretrack.candidates.models import Application, Touchpoint
        from hiretrack.extensions import db
        from hiretrack.messages.models import OutboxEmail

        db.session.rollback()
        for start in range(0, len(self.ids), 5000):
            chunk = self.ids[start : start + 5000]
            db.session.execute(delete(Touchpoint).where(Touchpoint.outbox_email_id.in_(chunk)))
            db.session.execute(delete(OutboxEmail).where(OutboxEmail.id.in_(chunk)))
        application = Application.__table__
        db.session.connection().execute(
            update(application)
            .where(application.c.id == bindparam("b_id"))
            .values(
                last_contact_at=bindparam("last_contact_at"),
                promised_next_update=bindparam("promised_next_update"),
                update_requested_at=bindparam("update_requested_at"),
                version=bindparam("version"),
                # The stored cadence dates go back with the contact columns they follow from.
                **{name: bindparam(name) for name in STORED_COLUMNS},
            ),
            self.contact,
        )
        if self.held_back:
            outbox = OutboxEmail.__table__
            db.session.connection().execute(
                update(outbox)
                .where(outbox.c.id == bindparam("b_id"))
                .values(next_attempt_at=bindparam("next_attempt_at")),
                self.held_back,
            )
        tally.rebuild(db.session.connection())  # the dates went back behind its back
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            # The next run starts from tables as autovacuum leaves them (it may be off on a
            # test server): without it, each run walks the index entries of the rows the runs
            # before it deleted.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.exec_driver_sql("VACUUM (ANALYZE) outbox_email, touchpoint, application")


def one_per_application(recipients: list, rendered: list) -> tuple[list, list]:
    """Keep each application's first message only, so every message queued is still true when
    it is delivered.

    `draft_contexts` repeats the open applications when there are fewer than the drafts asked
    for (8,200 at 100,000 applications). Delivery checks each message again
    (`messages.premise`): of two check-ins to one application the older is withdrawn, not sent,
    and the withdrawals (the lowest ids, so first in the queue) spent the case's whole time
    limit on a busy machine, so it sent nothing. The case measures sending.
    """
    seen: set[int] = set()
    kept_recipients, kept_rendered = [], []
    for recipient, message in zip(recipients, rendered, strict=True):
        if recipient["application_id"] not in seen:
            seen.add(recipient["application_id"])
            kept_recipients.append(recipient)
            kept_rendered.append(message)
    return kept_recipients, kept_rendered


def bare_loop(envelopes: list, sink: Sink) -> tuple[float, float]:
    """Send prebuilt envelopes with smtplib over one connection: (wall, CPU) seconds."""
    started, cpu_started = time.perf_counter(), time.process_time()
    connection = smtplib.SMTP("127.0.0.1", sink.port, timeout=30)
    for envelope in envelopes:
        connection.sendmail(envelope.sender, [envelope.recipient], envelope.content)
    connection.quit()
    return time.perf_counter() - started, time.process_time() - cpu_started


def deliver_case(
    url: str,
    recipients: list,
    rendered: list,
    sink: Sink,
    seconds: float,
    results: dict,
    rounds: int = 1,
) -> None:
    """Deliver the queued messages through HireTrack's outbox for at most `seconds`, and the
    same messages through a bare smtplib loop over one connection; compare the rates.

    With `rounds` > 1 the whole comparison (queue, baseline, drain, baseline, undo) runs that
    many times and the round with the median ratio is kept; `rounds_ratio` lists every round's.
    """
    from hiretrack.messages import delivery

    recipients, rendered = one_per_application(recipients, rendered)
    measured = [deliver_round(recipients, rendered, sink, seconds) for _ in range(rounds)]
    ratios = [round_["ratio"] for round_ in measured]
    kept = sorted(measured, key=lambda round_: round_["ratio"])[len(measured) // 2]
    report, figures = kept.pop("report"), kept.pop("figures")
    results["deliver_10k"] = figures | {"claim_size": delivery.claim_size()}
    if rounds > 1:
        results["deliver_10k"]["rounds_ratio"] = ratios
    results["deliver_vs_smtplib"] = kept["ratio"]
    log(
        f"deliver_10k: {figures['queued']} queued, {report.withdrawn} withdrawn; "
        f"HireTrack {figures['hiretrack_per_second']:.0f}/s ({figures['hiretrack_sent']} sent in "
        f"{figures['hiretrack_seconds']:.0f} s), bare smtplib "
        f"{figures['smtplib_per_second']:.0f}/s (ratio {kept['ratio']:.3f}"
        + (f"; rounds {ratios}" if rounds > 1 else "")
        + f"); worker CPU {figures['hiretrack_cpu_ms_per_message']:.2f} ms/message, smtplib loop "
        f"{figures['smtplib_cpu_ms_per_message']:.2f} ms/message"
    )
    if dialect_of(url) != "postgresql":
        return
    deliver_with_workers(url, recipients, rendered, sink, seconds, results)


def deliver_round(recipients: list, rendered: list, sink: Sink, seconds: float) -> dict:
    """One comparison: HireTrack's drain between two runs of the bare smtplib loop."""
    from hiretrack.extensions import db
    from hiretrack.messages import delivery
    from hiretrack.messages.backends import build_envelope

    count = len(rendered)
    with QueuedMessages(recipients, rendered) as queued:
        # The baseline sends prebuilt bytes: building them (MIME, then parsing back to check
        # the headers) is HireTrack's work and is timed on its side only.
        rows = queued.outbox_rows(BASELINE_MESSAGES)
        started = time.perf_counter()
        envelopes = [build_envelope(row) for row in rows]
        building = time.perf_counter() - started
        # Forget those rows: every commit expires each object the session holds, which would
        # charge the worker below for the benchmark's own bookkeeping.
        del rows
        db.session.expunge_all()
        bare_before = bare_loop(envelopes, sink)
        stop = threading.Event()
        timer = threading.Timer(seconds, stop.set)
        started, cpu_started = time.perf_counter(), time.process_time()
        timer.start()
        try:
            report = delivery.drain("bench-worker", 100, stop=stop)
        finally:
            timer.cancel()
        hiretrack = time.perf_counter() - started
        # CPU per message; the rest of the wall time is spent waiting, mostly on commits.
        hiretrack_cpu = time.process_time() - cpu_started
        outcome = queued.figures()
        sent = outcome["sent"]
        # The baseline before and after HireTrack's run, so that a change in what else the
        # machine does during the run weighs on both sides alike.
        bare_after = bare_loop(envelopes, sink)
    bare, bare_cpu = bare_before[0] + bare_after[0], bare_before[1] + bare_after[1]
    bare_sent = 2 * len(envelopes)
    hiretrack_rate, bare_rate = sent / hiretrack, bare_sent / bare
    figures = {
        "queued": count,
        "hiretrack_sent": sent,
        "withdrawn": report.withdrawn,
        "outbox_status_after": outcome["by_status"],
        "hiretrack_seconds": round(hiretrack, 2),
        "hiretrack_per_second": round(hiretrack_rate, 1),
        "hiretrack_cpu_ms_per_message": round(hiretrack_cpu * 1000 / max(sent, 1), 2),
        "smtplib_sent": bare_sent,
        "smtplib_seconds": round(bare, 2),
        "smtplib_per_second": round(bare_rate, 1),
        "smtplib_per_second_before_after": [
            round(len(envelopes) / bare_before[0], 1),
            round(len(envelopes) / bare_after[0], 1),
        ],
        "smtplib_cpu_ms_per_message": round(bare_cpu * 1000 / bare_sent, 2),
        "envelope_build_ms_per_message": round(building * 1000 / len(envelopes), 2),
        "failed_or_retrying": report.failed + report.retrying,
    }
    ratio = round(hiretrack_rate / bare_rate, 3)
    log(f"deliver_10k round: ratio {ratio:.3f} ({hiretrack_rate:.0f} / {bare_rate:.0f} msg/s)")
    return {"ratio": ratio, "report": report, "figures": figures}


def deliver_with_workers(
    url: str, recipients: list, rendered: list, sink: Sink, seconds: float, results: dict
) -> None:
    """PostgreSQL: the same messages through 1, 2 and 4 `hiretrack outbox deliver` processes."""
    scaling = {}
    env = child_environment(
        url, MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=str(sink.port)
    )
    for workers in WORKER_COUNTS:
        with QueuedMessages(recipients, rendered) as queued:
            processes = [
                subprocess.Popen(
                    python_command(
                        "outbox", "deliver", "--once", "--worker-id", f"bench-{workers}-{number}"
                    ),
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for number in range(workers)
            ]
            deadline = time.monotonic() + seconds + 10  # + start-up time
            for process in processes:
                try:
                    process.wait(timeout=max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    process.send_signal(signal.SIGTERM)  # finish the message in flight, stop
            for process in processes:
                process.wait(timeout=120)
            figures = queued.figures()
        span = (figures["last_sent"] - figures["first_claim"]).total_seconds()
        scaling[str(workers)] = {
            "sent": figures["sent"],
            "outbox_status_after": figures["by_status"],
            "seconds": round(span, 2),
            "per_second": round(figures["sent"] / span, 1),
        }
        log(f"deliver_10k on PostgreSQL with {workers} worker(s): {figures['sent'] / span:.0f}/s")
    results["deliver_10k"]["workers"] = scaling


def reminders_case(url: str, results: dict) -> None:
    """`hiretrack reminders run --dry-run` as cron would start it, wall time included."""
    from hiretrack.cadence.reminders import plan_reminders
    from hiretrack.database import utcnow
    from hiretrack.extensions import db

    env = child_environment(url)
    started = time.perf_counter()
    finished = subprocess.run(
        python_command("reminders", "run", "--dry-run"),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    wall = time.perf_counter() - started
    if finished.returncode != 0:
        raise SystemExit(f"reminders run --dry-run failed:\n{finished.stderr[-2000:]}")
    planned, plan = median_seconds(lambda: plan_reminders(utcnow().date()), repeats=3)
    db.session.rollback()
    results["reminders_run"] = {
        "seconds": round(wall, 2),
        "plan_seconds_in_process": round(planned, 2),
        "digests": len(plan.digests),
        "check_ins": len(plan.check_ins),
        "output_lines": len(finished.stdout.splitlines()),
    }
    log(f"reminders_run: {wall:.2f} s wall ({planned:.2f} s of planning in process)")


def csv_case(url: str, results: dict) -> None:
    """Each CSV export at full size (all time), in its own process to see its peak memory."""
    figures = {}
    for name in ("holds", "closure"):
        finished = subprocess.run(
            [sys.executable, str(BENCH_DIR / "export_probe.py"), name, url, "--all-time"],
            env=child_environment(url),
            capture_output=True,
            text=True,
            timeout=900,
        )
        if finished.returncode != 0:
            raise SystemExit(f"The {name} CSV export failed:\n{finished.stderr[-2000:]}")
        figures[name] = json.loads(finished.stdout.strip().splitlines()[-1])
        log(
            f"csv_export {name}: {figures[name]['seconds']} s, {figures[name]['csv_lines']} lines, "
            f"peak {figures[name]['peak_mb']} MB vs idle {figures[name]['idle_mb']} MB"
        )
    results["csv_export"] = figures


# --- Results ----------------------------------------------------------------------------------


def evaluate(figures: dict) -> list[dict[str, Any]]:
    """Each target with the measured value and whether it is met (None: not measured)."""
    verdicts = []
    for name, comparison, threshold, meaning in TARGETS:
        value = get_path(figures, name)
        met = None
        if isinstance(value, int | float):
            met = value >= threshold if comparison == ">=" else value <= threshold
        verdicts.append(
            {
                "figure": name,
                "value": value,
                "target": f"{comparison} {threshold}",
                "met": met,
                "meaning": meaning,
            }
        )
    return verdicts


#: Figures compared between PostgreSQL and SQLite: (path, True if bigger is better).
COMPARED = (
    ("hello.rps", True),
    ("dashboard.rps", True),
    ("dashboard.p99_ms", False),
    ("api_applications.rps", True),
    ("report_holds.seconds", False),
    ("report_closure.seconds", False),
    ("render_10k.sandbox_seconds", False),
    ("deliver_10k.hiretrack_per_second", True),
    ("reminders_run.seconds", False),
    ("csv_export.holds.seconds", False),
    ("csv_export.closure.seconds", False),
)


def compare(runs: dict) -> list[dict[str, Any]]:
    """PostgreSQL against SQLite, figure by figure: within 1.5x (either way) or not."""
    if "sqlite" not in runs or "postgresql" not in runs:
        return []
    rows = []
    for path, bigger_is_better in COMPARED:
        lite = get_path(runs["sqlite"]["figures"], path)
        postgres = get_path(runs["postgresql"]["figures"], path)
        if not isinstance(lite, int | float) or not isinstance(postgres, int | float) or not lite:
            continue
        slower = lite / postgres if bigger_is_better else postgres / lite
        rows.append(
            {
                "figure": path,
                "sqlite": lite,
                "postgresql": postgres,
                "postgresql_slowdown": round(slower, 2),
                "within_1_5x": slower <= 1.5,
            }
        )
    return rows


#: Per-request figures compared between the smallest and the largest size measured.
GROWTH_FIGURES = tuple(f"{case}.rps" for case in WEB_CASES[1:]) + tuple(
    f"{case}.server_cpu_ms_per_request" for case in WEB_CASES[1:]
)


def growth(sizes: dict[str, dict]) -> list[dict[str, Any]]:
    """Each per-request figure at the largest size against the smallest (target: within 0.8x)."""
    if len(sizes) < 2:
        return []
    small, large = (sizes[key] for key in sorted(sizes, key=int)[:: len(sizes) - 1])
    rows = []
    for path in GROWTH_FIGURES:
        before, after = get_path(small["figures"], path), get_path(large["figures"], path)
        if not isinstance(before, int | float) or not isinstance(after, int | float) or not after:
            continue
        kept = after / before if path.endswith(".rps") else before / after
        rows.append(
            {
                "figure": path,
                "small": before,
                "large": after,
                "applications": [small["data"]["applications"], large["data"]["applications"]],
                "large_vs_small": round(kept, 2),
                "within_0_8x": kept >= 0.8,
            }
        )
    return rows


def print_table(run: dict) -> None:
    figures = run["figures"]
    print(
        f"\nHireTrack benchmarks on {run['database']} · {run['data']['applications']:,} applications"
    )
    print(
        f"{run['machine']['date']} · {run['machine']['nproc']} CPUs · load at start "
        f"{run['machine']['load_average_at_start']}"
    )
    print(f"\n{'case':<28} {'rps':>9} {'p50 ms':>8} {'p99 ms':>8} {'seconds':>9}  notes")
    for case in CASES:
        value = figures.get(case)
        if not isinstance(value, dict):
            continue
        if "rps" in value:
            print(
                f"{case:<28} {value['rps']:>9,.0f} {value['p50_ms']:>8.1f} {value['p99_ms']:>8.1f}"
            )
        elif case == "render_10k":
            note = f"plain Jinja {value['plain_seconds']} s"
            print(f"{case:<18} {'':>9} {'':>8} {'':>8} {value['sandbox_seconds']:>9.3f}  {note}")
        elif case == "deliver_10k":
            note = (
                f"{value['hiretrack_per_second']:.0f} msg/s vs smtplib "
                f"{value['smtplib_per_second']:.0f} msg/s"
            )
            if "workers" in value:
                note += "; workers " + ", ".join(
                    f"{n}: {w['per_second']:.0f}/s" for n, w in value["workers"].items()
                )
            print(f"{case:<18} {'':>9} {'':>8} {'':>8} {value['hiretrack_seconds']:>9.3f}  {note}")
        elif case == "csv_export":
            for name, export in value.items():
                note = f"peak {export['peak_mb']} MB, idle {export['idle_mb']} MB, {export['csv_lines']} lines"
                print(
                    f"{'csv ' + name:<18} {'':>9} {'':>8} {'':>8} {export['seconds']:>9.3f}  {note}"
                )
        else:
            note = f"page {value['page_seconds']} s" if "page_seconds" in value else ""
            if case == "reminders_run":
                note = f"planning {value['plan_seconds_in_process']} s in process"
            print(f"{case:<18} {'':>9} {'':>8} {'':>8} {value.get('seconds', 0):>9.3f}  {note}")
    print(f"\n{'target':<32} {'value':>10} {'target':>9}  met")
    for verdict in run["targets"]:
        met = {True: "yes", False: "NO", None: "-"}[verdict["met"]]
        value = verdict["value"] if verdict["value"] is not None else "-"
        print(f"{verdict['figure']:<32} {value!s:>10} {verdict['target']:>9}  {met}")


def print_comparison(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    print(
        f"\n{'PostgreSQL vs SQLite':<32} {'SQLite':>10} {'PostgreSQL':>11} {'slowdown':>9}  <=1.5x"
    )
    for row in rows:
        print(
            f"{row['figure']:<32} {row['sqlite']:>10} {row['postgresql']:>11} "
            f"{row['postgresql_slowdown']:>9}  {'yes' if row['within_1_5x'] else 'NO'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per load case")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the web cases this many times in turn and keep each one's median round; "
        "deliver_10k runs its comparison this many times and keeps the median ratio",
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--database-url", help="default: $HIRETRACK_DATABASE_URL or bench.sqlite")
    parser.add_argument("--cases", help=f"comma-separated subset of: {', '.join(CASES)}")
    parser.add_argument("--messages", type=int, default=10_000, help="drafts to render/deliver")
    parser.add_argument(
        "--deliver-seconds", type=float, default=30, help="longest each delivery run may take"
    )
    args = parser.parse_args()
    if not 1 <= args.duration <= 120:
        parser.error("--duration must be between 1 and 120 seconds")
    if not 1 <= args.rounds <= 9:
        parser.error("--rounds must be between 1 and 9")
    from hiretrack.extensions import db

    cases = args.cases.split(",") if args.cases else list(CASES)
    unknown = set(cases) - set(CASES)
    if unknown:
        parser.error(f"unknown case(s): {', '.join(sorted(unknown))}")
    url = database_url(args.database_url)
    credentials = load_credentials(url)
    dialect = dialect_of(url)
    started = time.perf_counter()
    run: dict[str, Any] = {
        "database": dialect,
        "machine": machine(url),
        "data": {"applications": credentials["applications"], "rows": credentials["rows"]},
        "settings": {
            "duration_s": args.duration,
            "connections": args.connections,
            "wrk_threads": args.threads,
            "rounds": args.rounds,
            "gunicorn_workers": 2,
        },
    }
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="hiretrack-bench-") as workdir:
        if any(case in cases for case in (*WEB_CASES, "report_holds", "report_closure")):
            web_cases(url, credentials, cases, args, Path(workdir), figures)
        for case in RATIO_CASES:
            if case in figures and "hello" in figures:
                figures[f"{case}_vs_hello"] = round(
                    figures[case]["rps"] / figures["hello"]["rps"], 3
                )
                # The same ratio from server CPU per request: steady when the machine is busy.
                figures[f"{case}_vs_hello_by_cpu"] = round(
                    figures["hello"]["server_cpu_ms_per_request"]
                    / max(figures[case]["server_cpu_ms_per_request"], 0.001),
                    3,
                )
        sink = Sink() if "deliver_10k" in cases else None
        try:
            overrides = {"MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1"}
            if sink is not None:
                overrides["SMTP_PORT"] = sink.port
            app = bench_app(url, **overrides)
            # The worker logs a line per message sent; keep this terminal for the figures.
            logging.getLogger("hiretrack").setLevel(logging.WARNING)
            with app.app_context():
                report_cases(cases, figures)
                if "render_10k" in cases or "deliver_10k" in cases:
                    recipients, rendered = render_case(args.messages, figures)
                    if sink is not None:
                        deliver_case(
                            url,
                            recipients,
                            rendered,
                            sink,
                            args.deliver_seconds,
                            figures,
                            args.rounds,
                        )
                if "reminders_run" in cases:
                    reminders_case(url, figures)
                db.engine.dispose()
        finally:
            if sink is not None:
                accepted = sink.stop()
                if "deliver_10k" in figures:
                    figures["deliver_10k"]["sink_accepted"] = accepted
        if "csv_export" in cases:
            csv_case(url, figures)
    run["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    run["machine"]["run_seconds"] = round(time.perf_counter() - started, 1)
    stored = json.loads(RESULTS_PATH.read_text()) if RESULTS_PATH.exists() else {}
    previous = stored.get("runs", {}).get(dialect)
    if args.cases and previous and previous["data"] == run["data"]:
        # A partial run updates its cases and keeps the others' figures from the last run.
        figures = {**previous["figures"], **figures}
        run["partial_runs"] = [*previous.get("partial_runs", []), args.cases]
    run["figures"] = figures
    run["targets"] = evaluate(figures)
    stored.setdefault("runs", {})[dialect] = run
    # Every size measured, so growth (4x the rows) can be read against the same database.
    sizes = stored.setdefault("runs_by_size", {}).setdefault(dialect, {})
    sizes[str(credentials["applications"])] = run
    stored.setdefault("growth", {})[dialect] = growth(sizes)
    stored["postgresql_vs_sqlite"] = compare(stored["runs"])
    RESULTS_PATH.write_text(json.dumps(stored, indent=2, default=str) + "\n")
    print_table(run)
    print_comparison(stored["postgresql_vs_sqlite"])
    print(f"\nWritten to {RESULTS_PATH} ({run['machine']['run_seconds']} s).")


if __name__ == "__main__":
    main()
