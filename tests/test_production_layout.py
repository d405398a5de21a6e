"""The production layout of docs/deploy.md, run for real: nginx, then gunicorn, then HireTrack.

nginx (the machine's, Debian 12's 1.22 in CI) serves the shipped `deploy/nginx/hiretrack.conf`
with a certificate from a throwaway CA; gunicorn runs the command of the shipped
`hiretrack-web.service` (after its ExecStartPre, `hiretrack init`) with an environment file made
from `deploy/hiretrack.env.example`. Of the shipped files only paths, ports, secrets and the
certificate are swapped, each swap checked to have matched (tests/deploy_files.py), so what runs
is what an operator installs. nginx listens on free loopback ports instead of 80 and 443; the
client connects there but otherwise behaves as a browser at https://hiretrack.example.com: it
sends that Host, checks the certificate for that name and sends that Referer.

The client signs in through the form, checks the cookie flags and HSTS, follows every redirect
(each must stay on https and the public host), has an email sent (delivered with STARTTLS and a
login to a test relay, as the env example configures) and checks its links, and shows that the
per-IP login throttle sees the address nginx forwards: a client locked out from 127.0.0.2 stays
locked out whatever X-Forwarded-For it sends, through nginx or straight to gunicorn, while
127.0.0.3 signs in. The other units' commands and the crontab's run too.

It needs nginx (`.ci/run` installs it; HIRETRACK_TEST_NGINX=/path/to/nginx tries another build)
and runs once, in the SQLite pass, on a SQLite file: the layout does not depend on the
database, and the PostgreSQL pass is the longer one already.
"""

import http.client
import os
import re
import shlex
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import EmailMessage
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

import pytest

from hiretrack import create_app
from hiretrack.admin.models import Department
from hiretrack.auth.services import IP_FAILURE_LIMIT, create_user
from hiretrack.candidates.services import apply_to_requisition, create_candidate
from hiretrack.extensions import db
from hiretrack.requisitions.services import create_requisition
from tests.certificates import ThrowawayCA
from tests.conftest import PASSWORD, POSTGRES_URL, base_config
from tests.deploy_files import (
    DEPLOY,
    UNITS,
    expand_specifiers,
    for_test_install,
    load_env_file,
    require_tool,
    unit_settings,
    write_env_file,
)
from tests.live_gunicorn import (
    REPOSITORY,
    LiveGunicorn,
    clean_environment,
    gunicorn_command,
)
from tests.smtp_server import SmtpServer, free_port, tls_relay

pytestmark = pytest.mark.skipif(
    bool(POSTGRES_URL), reason="the layout does not depend on the database: SQLite pass only"
)

PUBLIC_HOST = "hiretrack.example.com"
PUBLIC_URL = f"https://{PUBLIC_HOST}"
MANAGER = "maria.lopez@acme.example"
#: Failed sign-ins from one address that block it: one more than the limit.
IP_FAILURES = IP_FAILURE_LIMIT + 1


# --- the stack ---------------------------------------------------------------------------------


@dataclass
class Stack:
    """Everything running for the module, and what the tests need to reach it."""

    directory: Path
    ca: ThrowawayCA
    relay: SmtpServer
    env_file: Path
    env: dict[str, str]
    gunicorn: LiveGunicorn
    http_port: int
    https_port: int
    nginx_version: str
    nginx_check: str
    acme_root: Path
    application_id: int = 0
    sent_redirects: list[str] = field(default_factory=list)


def nginx_site(directory: Path, env_file: Path, ports: dict[str, int], ca: ThrowawayCA) -> Path:
    """The shipped site file with its ports, paths and certificate swapped; returns its path."""
    certificate, key = ca.issue_files(PUBLIC_HOST)
    shipped = (DEPLOY / "nginx" / "hiretrack.conf").read_text()
    site = for_test_install(
        shipped,
        env_file,
        **{
            "server 127.0.0.1:8000;": f"server 127.0.0.1:{ports['gunicorn']};",
            "listen 80;": f"listen 127.0.0.1:{ports['http']};",
            "listen 443 ssl http2;": f"listen 127.0.0.1:{ports['https']} ssl http2;",
            # No IPv6 in the test: the IPv4 listeners above stand for both.
            "listen [::]:80;": "",
            "listen [::]:443 ssl http2;": "",
            f"/etc/letsencrypt/live/{PUBLIC_HOST}/fullchain.pem": str(certificate),
            f"/etc/letsencrypt/live/{PUBLIC_HOST}/privkey.pem": str(key),
            "/var/www/html": str(directory / "acme"),
        },
    )
    path = directory / "sites-enabled" / "hiretrack.conf"
    path.parent.mkdir()
    path.write_text(site)
    return path


def nginx_main_config(directory: Path, site: Path, nginx: str) -> Path:
    """A minimal nginx.conf of the test's own (logs, pid and temp files in `directory`)."""
    compiled = subprocess.run([nginx, "-V"], capture_output=True, text=True).stderr
    conf_path = re.search(r"--conf-path=(\S+)", compiled)
    mime_types = Path(conf_path.group(1)).parent / "mime.types" if conf_path else None
    temp = "\n".join(
        f"    {name}_temp_path {directory / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # As root nginx would run its workers as nobody, who may not read the checkout's files.
    user = "user root;" if os.geteuid() == 0 else ""
    config = directory / "nginx.conf"
    config.write_text(
        f"""daemon off;
{user}
worker_processes 1;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} notice;
events {{ worker_connections 256; }}
http {{
    {f"include {mime_types};" if mime_types and mime_types.exists() else ""}
    default_type application/octet-stream;
    access_log {directory / "access.log"};
{temp}
    include {site};
}}
"""
    )
    return config


def wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with {process.returncode}:\n{log.read_text()}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on {port}:\n{log.read_text()}")


def seed(database_url: str, directory: Path) -> int:
    """A manager with one candidate waiting on her open requisition; returns the application id."""
    app = create_app(base_config(database_url, directory))
    with app.app_context():
        manager = create_user(MANAGER, "Maria Lopez", "manager", PASSWORD)
        department = Department(name="Platform")
        db.session.add(department)
        db.session.flush()
        requisition = create_requisition(
            manager, department_id=department.id, title="Platform Engineer", status="open"
        )
        candidate = create_candidate(manager, "Ana Silva", "ana.silva@example.org")
        application = apply_to_requisition(manager, candidate, requisition, "interviewing")
        db.session.commit()
        application_id = application.id
        db.session.remove()
        db.engine.dispose()
    return application_id


def run_as_unit(
    command: str | list[str], env: dict[str, str], **options
) -> subprocess.CompletedProcess:
    """Run a unit's command line as systemd would: its environment, the install as working dir."""
    if isinstance(command, str):
        command = shlex.split(expand_specifiers(command))
    return subprocess.run(
        command,
        cwd=REPOSITORY,
        env=clean_environment() | env,
        capture_output=True,
        text=True,
        timeout=120,
        **options,
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    nginx = os.environ.get("HIRETRACK_TEST_NGINX") or require_tool("nginx", "/usr/sbin")
    directory = tmp_path_factory.mktemp("production")
    ca = ThrowawayCA(directory)
    relay = tls_relay(ca, "starttls")
    relay.start()
    ports = {"gunicorn": free_port(), "http": free_port(), "https": free_port()}
    database_url = f"sqlite:///{directory / 'hiretrack.sqlite'}"
    env_file = write_env_file(
        directory / "env",
        {
            "HIRETRACK_SECRET_KEY": os.urandom(32).hex(),
            "HIRETRACK_DATABASE_URL": database_url,
            "HIRETRACK_SMTP_HOST": relay.host,
            "HIRETRACK_SMTP_PORT": str(relay.port),
            "HIRETRACK_SMTP_USERNAME": relay.login[0],
            "HIRETRACK_SMTP_PASSWORD": relay.login[1],
            "HIRETRACK_SMTP_CA_FILE": str(relay.ca_file),
            "HIRETRACK_BIND": f"127.0.0.1:{ports['gunicorn']}",
            "HIRETRACK_WEB_WORKERS": "2",
        },
    )
    env = load_env_file(env_file)
    web = unit_settings(for_test_install((UNITS / "hiretrack-web.service").read_text(), env_file))
    assert shlex.split(web["ExecStart"][0]) == gunicorn_command()

    started = run_as_unit(web["ExecStartPre"][0], env)  # hiretrack init
    assert started.returncode == 0, started.stderr
    application_id = seed(database_url, directory)
    gunicorn = LiveGunicorn(
        database_url,
        workers=2,
        env=env,
        directory=directory,
        port=ports["gunicorn"],
        defaults=False,
    )
    gunicorn.start()

    (directory / "acme").mkdir()
    site = nginx_site(directory, env_file, ports, ca)
    config = nginx_main_config(directory, site, nginx)
    nginx_command = [
        nginx,
        "-p",
        str(directory),
        "-e",
        str(directory / "error.log"),
        "-c",
        str(config),
    ]
    check = subprocess.run([*nginx_command, "-t"], capture_output=True, text=True)
    version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip()
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen(
        nginx_command, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_for_port(ports["https"], process, directory / "error.log")
        yield Stack(
            directory=directory,
            ca=ca,
            relay=relay,
            env_file=env_file,
            env=env,
            gunicorn=gunicorn,
            http_port=ports["http"],
            https_port=ports["https"],
            nginx_version=version,
            nginx_check=check.stderr,
            acme_root=directory / "acme",
            application_id=application_id,
        )
    finally:
        process.send_signal(signal.SIGTERM)  # nginx's fast shutdown
        process.wait(20)
        gunicorn.stop()
        relay.stop()


# --- a browser at the public address -----------------------------------------------------------


class PublicHostConnection(http.client.HTTPSConnection):
    """TLS to the test's nginx, checked and named as hiretrack.example.com, from `source`."""

    def __init__(self, port: int, source: str, context: ssl.SSLContext) -> None:
        super().__init__(PUBLIC_HOST, port, context=context, timeout=30)
        self.source = source

    def connect(self) -> None:
        raw = socket.create_connection(("127.0.0.1", self.port), self.timeout, (self.source, 0))
        self.sock = self._context.wrap_socket(raw, server_hostname=PUBLIC_HOST)


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: str
    url: str

    def all(self, name: str) -> list[str]:
        return self.headers.get_all(name) or []


class Browser:
    """Keeps cookies and checks every redirect, as a careful browser would behave."""

    def __init__(self, stack: Stack, source: str) -> None:
        self.stack = stack
        self.source = source
        self.cookies: dict[str, str] = {}
        self.set_cookies: list[str] = []
        self.redirects: list[str] = []

    def request(
        self, method: str, path: str, form: dict | None = None, headers: dict | None = None
    ) -> Response:
        """One request over HTTPS through nginx; redirects are checked, not followed."""
        connection = PublicHostConnection(
            self.stack.https_port, self.source, self.stack.ca.client_context()
        )
        return self._send(connection, method, path, form, headers, base=PUBLIC_URL)

    def direct(
        self, method: str, path: str, form: dict | None = None, headers: dict | None = None
    ) -> Response:
        """The same request straight to gunicorn over plain HTTP, as if nginx were bypassed."""
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.stack.gunicorn.port, timeout=30, source_address=(self.source, 0)
        )
        return self._send(connection, method, path, form, headers, base=None)

    def _send(self, connection, method, path, form, headers, base) -> Response:
        sent = {"Host": PUBLIC_HOST, "User-Agent": "hiretrack-production-test"}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            sent |= {
                "Content-Type": "application/x-www-form-urlencoded",
                "Referer": f"{PUBLIC_URL}{path}",
            }
        sent |= headers or {}
        try:
            connection.request(method, path, body=body, headers=sent)
            raw = connection.getresponse()
            response = Response(
                raw.status, raw.headers, raw.read().decode("utf-8", "replace"), path
            )
        finally:
            connection.close()
        for header in response.all("Set-Cookie"):
            self.set_cookies.append(header)
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        if base and 300 <= response.status < 400:
            target = urljoin(base + path, response.headers["Location"])
            parts = urlsplit(target)
            assert (parts.scheme, parts.netloc) == ("https", PUBLIC_HOST), target
            self.redirects.append(target)
            self.stack.sent_redirects.append(target)
        return response

    def follow(self, response: Response) -> Response:
        """GET where a redirect points (checked on the way in)."""
        parts = urlsplit(self.redirects[-1])
        return self.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))

    def submit(self, path: str, **values: str) -> Response:
        """Load the page with a form, fill it in and post it, CSRF token included."""
        page = self.request("GET", path)
        assert page.status == 200, page.body[:500]
        return self.request("POST", path, form=form_values(page.body) | values)

    def sign_in(self, email: str, password: str, direct: bool = False) -> Response:
        page = self.request("GET", "/login")
        form = form_values(page.body) | {"email": email, "password": password}
        return (self.direct if direct else self.request)("POST", "/login", form=form)


class FormReader(HTMLParser):
    """The fields of the first form on a page with a CSRF token, as a browser would submit them."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, str]] = []
        self._textarea: str | None = None
        self._in_form = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self.forms.append({})
            self._in_form = True
        elif not self._in_form or "name" not in attributes:
            return
        elif tag == "input":
            kind = attributes.get("type", "text")
            if kind == "submit" or (kind in ("radio", "checkbox") and "checked" not in attributes):
                return
            self.forms[-1][attributes["name"]] = attributes.get("value") or ""
        elif tag == "textarea":
            self._textarea = attributes["name"]
            self.forms[-1][self._textarea] = ""

    def handle_data(self, data):
        if self._textarea:
            self.forms[-1][self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "form":
            self._in_form = False


def form_values(html: str) -> dict[str, str]:
    reader = FormReader()
    reader.feed(html)
    forms = [form for form in reader.forms if "csrf_token" in form and len(form) > 1]
    return forms[-1]  # the page's own form comes after the navigation's sign-out form


# --- the tests ---------------------------------------------------------------------------------


def test_nginx_accepts_the_shipped_site_and_speaks_http2(stack):
    print(f"\n{stack.nginx_version}: {stack.nginx_check.strip()}")
    warnings = [line for line in stack.nginx_check.splitlines() if "[warn]" in line]
    # Only nginx 1.25.1 and newer may warn, about the `listen ... http2` spelling.
    assert all('"listen ... http2" directive is deprecated' in line for line in warnings)

    context = stack.ca.client_context()
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", stack.https_port), 10) as raw,
        context.wrap_socket(raw, server_hostname=PUBLIC_HOST) as tls,
    ):
        assert tls.selected_alpn_protocol() == "h2"
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_plain_http_redirects_to_https_but_serves_certificate_challenges(stack):
    (stack.acme_root / ".well-known" / "acme-challenge").mkdir(parents=True, exist_ok=True)
    (stack.acme_root / ".well-known" / "acme-challenge" / "token-1").write_text("proof")
    connection = http.client.HTTPConnection("127.0.0.1", stack.http_port, timeout=10)

    def get(path: str) -> http.client.HTTPResponse:
        connection.request("GET", path, headers={"Host": PUBLIC_HOST})
        response = connection.getresponse()
        response.read()
        return response

    redirected = get("/candidates/?q=ana")
    challenge = get("/.well-known/acme-challenge/token-1")
    connection.close()

    assert redirected.status == 301
    assert redirected.headers["Location"] == f"{PUBLIC_URL}/candidates/?q=ana"
    assert challenge.status == 200


def test_sign_in_through_the_form_with_secure_cookies_and_hsts(stack):
    browser = Browser(stack, "127.0.0.4")

    anonymous = browser.request("GET", "/")
    login_page = browser.follow(anonymous)
    signed_in = browser.sign_in(MANAGER, PASSWORD)
    dashboard = browser.follow(signed_in)

    assert anonymous.status == 302 and login_page.status == 200
    assert signed_in.status == 302, signed_in.body[:500]
    assert dashboard.status == 200 and "Maria Lopez" in dashboard.body
    for response in (anonymous, login_page, signed_in, dashboard):
        assert response.headers["Strict-Transport-Security"] == "max-age=63072000"
        # nginx's $request_id (32 hex digits) reached the app, which returns it.
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])
    assert f'"request_id": "{dashboard.headers["X-Request-ID"]}"' in stack.gunicorn.log()
    assert browser.set_cookies, "no cookie was set"
    for cookie in browser.set_cookies:
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"secure", "httponly", "samesite=lax"} <= flags, cookie


def test_static_files_come_from_the_checkout(stack):
    browser = Browser(stack, "127.0.0.4")
    shipped = (REPOSITORY / "hiretrack" / "static" / "app.css").read_text()

    response = browser.request("GET", "/static/app.css")

    assert response.status == 200 and response.body == shipped
    assert response.headers["Cache-Control"] == "max-age=604800"
    assert response.headers["Strict-Transport-Security"] == "max-age=63072000"


def test_links_in_an_email_use_https_and_the_public_host(stack):
    browser = Browser(stack, "127.0.0.5")
    assert browser.sign_in(MANAGER, PASSWORD).status == 302
    compose = f"/applications/{stack.application_id}/compose"

    sent = browser.submit(compose, submit="Send")
    confirmation = browser.follow(sent)
    mail_worker = unit_settings((UNITS / "hiretrack-mail@.service").read_text())
    deliver = for_test_install(
        mail_worker["ExecStart"][0], stack.env_file, **{"--poll-interval 5": "--once"}
    )
    delivered = run_as_unit(deliver, stack.env)

    assert sent.status == 302 and "Queued for delivery" in confirmation.body
    assert delivered.returncode == 0 and "1 sent" in delivered.stdout, delivered
    [received] = stack.relay.received
    message: EmailMessage = received.message
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    links = re.findall(r"https?://[^\s<>\"')]+", text) + re.findall(r'href="([^"]+)"', html)
    assert links and all(link.startswith(f"{PUBLIC_URL}/") for link in links), links
    status_link = next(link for link in links if "/status/" in link)
    status_page = browser.request("GET", urlsplit(status_link).path)
    assert status_page.status == 200 and "Platform Engineer" in status_page.body


def test_the_login_throttle_counts_the_address_nginx_forwards(stack):
    locked_out, neighbour = Browser(stack, "127.0.0.2"), Browser(stack, "127.0.0.3")
    spoofed = {"X-Forwarded-For": "127.0.0.3", "X-Real-IP": "127.0.0.3"}

    failures = [
        locked_out.sign_in(f"nobody{n}@acme.example", "wrong").status for n in range(IP_FAILURES)
    ]
    right_password = locked_out.sign_in(MANAGER, PASSWORD)
    locked_out_spoofing = Browser(stack, "127.0.0.2")
    via_nginx = locked_out_spoofing.request(
        "POST",
        "/login",
        form=form_values(locked_out_spoofing.request("GET", "/login").body)
        | {"email": MANAGER, "password": PASSWORD},
        headers=spoofed,
    )
    # Straight to gunicorn, claiming to be the proxy's client 127.0.0.3: 127.0.0.2 is no proxy.
    bypassing_nginx = locked_out_spoofing.direct(
        "POST",
        "/login",
        form=form_values(locked_out_spoofing.request("GET", "/login").body)
        | {"email": MANAGER, "password": PASSWORD},
        headers=spoofed | {"X-Forwarded-Proto": "https"},
    )
    other_client = neighbour.sign_in(MANAGER, PASSWORD)

    assert failures == [200] * IP_FAILURES  # the form again, with the one failure message
    assert right_password.status == 200 and "Sign in" in right_password.body
    assert via_nginx.status == 200 and bypassing_nginx.status == 200
    assert other_client.status == 302 and "/login" not in neighbour.redirects[-1]
    assert neighbour.follow(other_client).status == 200


def test_every_redirect_stayed_on_https_and_the_public_host(stack):
    """Browsers above asserted each one as it came; here: there were some, of each kind."""
    assert any(url.startswith(f"{PUBLIC_URL}/login") for url in stack.sent_redirects)
    assert f"{PUBLIC_URL}/dashboard" in stack.sent_redirects  # after signing in
    assert any(url.startswith(f"{PUBLIC_URL}/candidates/") for url in stack.sent_redirects)


def test_the_other_units_and_the_crontab_run_their_commands(stack):
    """What systemd and cron would start: each command line as shipped, on the test install."""
    backups = stack.directory / "backups"
    backups.mkdir()
    forty_days_ago = time.time() - 40 * 86400
    expired = backups / "hiretrack-old.dump"  # a backup past the 35 days the unit keeps
    expired.write_bytes(b"PGDMP" + b"\0" * 64)
    notes = backups / "README.txt"  # not a backup: pruning never touches it
    notes.write_text("Backups of HireTrack, one a night.\n")
    for old in (expired, notes):
        os.utime(old, (forty_days_ago, forty_days_ago))
    jobs: dict[str, list[list[str]]] = {}
    for name in ("reminders", "retention", "backup"):
        shipped = (UNITS / f"hiretrack-{name}.service").read_text()
        swaps = {"/var/backups/hiretrack": str(backups)} if name == "backup" else {}
        service = unit_settings(for_test_install(shipped, stack.env_file, **swaps))
        lines = service["ExecStart"] + service.get("ExecStartPost", [])
        jobs[name] = [shlex.split(expand_specifiers(line)) for line in lines]
    crontab = (DEPLOY / "crontab").read_text()
    run = for_test_install(re.search(r"^RUN=(.*)$", crontab, re.M).group(1), stack.env_file)
    hourly = next(line for line in crontab.splitlines() if line.startswith("  0  *"))
    command = hourly.split(None, 5)[5].replace("\\%", "%")  # as cron reads it
    # cron's environment is nearly empty: the RUN line must load the env file itself.
    jobs["cron"] = [["env", "-i", "PATH=/usr/bin:/bin", f"RUN={run}", "sh", "-c", command]]

    def run_in_turn(commands: list[list[str]]) -> list[subprocess.CompletedProcess]:
        return [run_as_unit(command, stack.env) for command in commands]

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        results = dict(zip(jobs, pool.map(run_in_turn, jobs.values()), strict=True))

    for name, outcomes in results.items():
        for outcome in outcomes:
            assert outcome.returncode == 0, (name, outcome.args, outcome.stderr)
    assert sorted(path.name for path in backups.iterdir()) == [
        "README.txt",
        f"hiretrack-{time.strftime('%Y-%m-%d')}.dump",
    ]
    assert f"Deleted {expired} (older than 35 day(s))." in results["backup"][0].stdout
    [cron] = results["cron"]
    assert (cron.stdout, cron.stderr) == ("", "")  # --quiet: cron mails nothing
