"""The shipped deploy/ files: systemd units, the environment example, the proxy settings.

They run once, in the SQLite pass: nothing here touches the database under test.
"""

import re
import shlex
import subprocess

import pytest
from flask import Flask, jsonify, request

from hiretrack import create_app
from hiretrack.config import DEFAULTS, ConfigurationError
from hiretrack.proxy import TrustedProxies
from tests.conftest import POSTGRES_URL
from tests.deploy_files import (
    DEPLOY,
    ENV_EXAMPLE,
    UNITS,
    env_example_lines,
    for_test_install,
    load_env_file,
    require_tool,
    unit_settings,
    write_env_file,
)
from tests.live_gunicorn import REPOSITORY, SCRIPTS, gunicorn_command

pytestmark = pytest.mark.skipif(
    bool(POSTGRES_URL), reason="deploy files do not depend on the database: SQLite pass only"
)

#: Settings only the web processes read, in deploy/gunicorn.conf.py and deploy/wsgi.py.
WEB_PROCESS_SETTINGS = {
    "HIRETRACK_BIND",
    "HIRETRACK_WEB_WORKERS",
    "HIRETRACK_PROXY_IPS",
    "HIRETRACK_PROXY_HOPS",
}


# --- systemd -----------------------------------------------------------------------------------


def test_every_unit_passes_systemd_analyze_verify(tmp_path):
    systemd_analyze = require_tool("systemd-analyze")
    env_file = tmp_path / "env"
    env_file.write_text("HIRETRACK_ENV=production\n")
    units = sorted(UNITS.iterdir())
    for unit in units:
        (tmp_path / unit.name).write_text(for_test_install(unit.read_text(), env_file))
    names = [unit.name for unit in units] + ["hiretrack-mail@1.service"]

    result = subprocess.run(
        [systemd_analyze, "verify", *names],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "SYSTEMD_LOG_COLOR": "0"},
    )

    # Warnings ("Unknown key", "Failed to parse ... ignoring") leave the exit status 0.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    assert len(units) == 9


def test_verify_would_catch_a_mistake(tmp_path):
    """The check above is worth something: a misspelt setting or a missing program fails it."""
    systemd_analyze = require_tool("systemd-analyze")
    shipped = (UNITS / "hiretrack-reminders.service").read_text()
    broken = for_test_install(shipped, tmp_path / "env").replace(
        "hiretrack reminders run", "hiretrakc reminders run"
    )
    (tmp_path / "broken.service").write_text(broken.replace("ProtectHome=", "ProtectHomes="))

    result = subprocess.run(
        [systemd_analyze, "verify", "broken.service"], cwd=tmp_path, capture_output=True, text=True
    )

    assert "Unknown key 'ProtectHomes'" in result.stderr
    assert "hiretrakc is not executable" in result.stderr and result.returncode != 0


def test_the_web_unit_runs_the_readmes_commands(tmp_path):
    unit = for_test_install((UNITS / "hiretrack-web.service").read_text(), tmp_path / "env")
    service = unit_settings(unit)

    assert service["ExecStartPre"] == [f"{SCRIPTS}/hiretrack init"]
    assert shlex.split(service["ExecStart"][0]) == gunicorn_command()
    assert service["WorkingDirectory"] == [str(REPOSITORY)]
    assert service["EnvironmentFile"] == [str(tmp_path / "env")]
    readme = (REPOSITORY / "README.md").read_text()
    production = readme[readme.index("## Running it for real") :]
    assert "hiretrack init" in production and "deploy/gunicorn.conf.py" in production
    assert "hiretrack db upgrade` once" not in (REPOSITORY / "docs" / "deploy.md").read_text()


def test_a_refused_login_does_not_restart_the_mail_worker():
    service = unit_settings((UNITS / "hiretrack-mail@.service").read_text())
    from hiretrack.messages.cli import EXIT_SETTINGS_REFUSED

    assert service["RestartPreventExitStatus"] == [str(EXIT_SETTINGS_REFUSED)]
    assert service["Restart"] == ["on-failure"]


def test_a_refused_mailbox_login_does_not_restart_the_inbox_fetcher():
    service = unit_settings((UNITS / "hiretrack-inbox.service").read_text())
    from hiretrack.messages.cli import EXIT_SETTINGS_REFUSED

    assert service["RestartPreventExitStatus"] == [str(EXIT_SETTINGS_REFUSED)]
    assert service["ExecStart"][0].endswith("/hiretrack inbox fetch")


def test_backups_are_pruned_by_hiretrack_backup_not_by_find():
    """One rule for which files are backups (their content) and how old is too old."""
    unit = unit_settings((UNITS / "hiretrack-backup.service").read_text())
    crontab = (DEPLOY / "crontab").read_text()
    [cron_backup] = [line for line in crontab.splitlines() if "$RUN backup " in line]

    assert unit["ExecStart"][0].endswith(".dump --prune --keep-days 35'")
    assert "ExecStartPost" not in unit
    assert cron_backup.endswith('.dump --prune --keep-days 35"')
    assert "find " not in crontab and "-delete" not in crontab


# --- the environment example -------------------------------------------------------------------


def test_every_setting_in_the_env_example_is_one_the_app_reads():
    names = [name for name, _ in env_example_lines()]
    web_files = (DEPLOY / "gunicorn.conf.py").read_text() + (DEPLOY / "wsgi.py").read_text()

    unknown = {name for name in names if name.removeprefix("HIRETRACK_") not in DEFAULTS}
    assert unknown <= WEB_PROCESS_SETTINGS, f"not a setting HireTrack reads: {unknown}"
    for name in WEB_PROCESS_SETTINGS:
        assert f'"{name}"' in web_files, f"{name} is no longer read by gunicorn.conf.py or wsgi.py"
    assert len(names) == len(set(names))


def test_every_setting_is_documented():
    readme = (REPOSITORY / "README.md").read_text()
    deploy = (REPOSITORY / "docs" / "deploy.md").read_text()
    example = ENV_EXAMPLE.read_text()

    undocumented = [name for name in DEFAULTS if f"| `HIRETRACK_{name}` |" not in readme]
    assert undocumented == [], "add them to the README's configuration table"
    assert all(f"`{name}`" in deploy for name in WEB_PROCESS_SETTINGS)
    assert "HIRETRACK_SMTP_CA_FILE" in example


def test_the_env_example_loads_into_the_apps_settings(tmp_path, monkeypatch):
    """Read by sh, as cron and the docs' commands read it, then by the app's own settings."""
    secret = "f" * 64
    env = load_env_file(write_env_file(tmp_path / "env", {"HIRETRACK_SECRET_KEY": secret}))
    unchanged = load_env_file(ENV_EXAMPLE)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    config = create_app().config

    assert env.keys() == unchanged.keys() == {name for name, _ in env_example_lines()}
    assert config["SECRET_KEY"] == secret
    assert config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://hiretrack:")
    assert config["BASE_URL"] == "https://hiretrack.example.com"
    assert config["MAIL_FROM"] == "Example Hiring <hiring@example.com>"
    assert config["COMPANY_NAME"] == "Example Ltd"
    assert (config["SMTP_PORT"], config["SMTP_SECURITY"]) == (587, "starttls")
    assert config["SMTP_PASSWORD"] == "secret" and config["SMTP_CA_FILE"] is None
    assert config["SESSION_COOKIE_SECURE"] is True

    # As shipped, the secret is empty: production refuses to start until someone sets one.
    monkeypatch.setenv("HIRETRACK_SECRET_KEY", unchanged["HIRETRACK_SECRET_KEY"])
    with pytest.raises(ConfigurationError, match="HIRETRACK_SECRET_KEY is missing"):
        create_app()


def test_env_file_values_with_spaces_must_be_quoted(tmp_path):
    """An unquoted `Example Ltd` would make sh run a command called Ltd: the test rejects it."""
    bad = tmp_path / "env"
    bad.write_text("HIRETRACK_COMPANY_NAME=Example Ltd\n")

    result = subprocess.run(
        ["sh", "-c", 'set -a; . "$1"', "sh", str(bad)], capture_output=True, text=True
    )

    assert result.returncode != 0 and "Ltd" in result.stderr
    assert not re.match(r"^HIRETRACK_\w+=[^\s']*$", bad.read_text().strip())


# --- the proxy settings ----------------------------------------------------------------------


def echo_app() -> Flask:
    app = Flask(__name__)

    @app.get("/")
    def who():
        return jsonify(address=request.remote_addr, scheme=request.scheme)

    return app


@pytest.mark.parametrize(
    ("proxies", "peer", "expected"),
    [
        ("127.0.0.1", "127.0.0.1", {"address": "203.0.113.9", "scheme": "https"}),
        ("127.0.0.1", "10.0.0.7", {"address": "10.0.0.7", "scheme": "http"}),
        ("10.0.0.0/24, 127.0.0.1", "10.0.0.7", {"address": "203.0.113.9", "scheme": "https"}),
        ("*", "198.51.100.1", {"address": "203.0.113.9", "scheme": "https"}),
    ],
)
def test_forwarded_headers_count_only_from_the_proxies(proxies, peer, expected):
    app = echo_app()
    app.wsgi_app = TrustedProxies(app.wsgi_app, proxies, hops=1)
    headers = {
        # A client's own claim first, then the address the proxy saw: only the last one counts.
        "X-Forwarded-For": "192.0.2.66, 203.0.113.9",
        "X-Forwarded-Proto": "https",
    }

    answer = app.test_client().get("/", headers=headers, environ_base={"REMOTE_ADDR": peer})

    assert answer.get_json() == expected


def test_a_malformed_proxy_setting_is_refused_with_its_name():
    with pytest.raises(ValueError, match="HIRETRACK_PROXY_IPS: .*not-an-address"):
        TrustedProxies(echo_app().wsgi_app, "127.0.0.1,not-an-address")
