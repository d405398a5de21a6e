"""The `hiretrack` command as a user meets it: folders it needs are created, and an expected
failure (no tables yet, a database it cannot reach, a path it cannot write, a port in use, a
missing production setting) is one line and exit status 1, never a traceback.

Each test runs the real console group (`hiretrack.cli.cli`) with its settings in the
environment, as a shell would; the databases are files in tmp_path, so these run once, in the
SQLite pass.
"""

import os
import socket

import pytest
from click.testing import CliRunner

from hiretrack.cli import cli
from tests.conftest import POSTGRES_URL

pytestmark = pytest.mark.skipif(
    bool(POSTGRES_URL), reason="uses its own SQLite files; runs once, in the SQLite pass"
)


@pytest.fixture
def hiretrack(tmp_path, monkeypatch):
    """Run `hiretrack ARGS` with a clean HIRETRACK_* environment and the given settings."""
    for name in list(os.environ):
        if name.startswith("HIRETRACK_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)  # set by Flask's group; restored

    def run(*args: str, input: str | None = None, **settings: str):
        env = {"HIRETRACK_MAIL_FILE_DIR": str(tmp_path / "mail")}
        env |= {f"HIRETRACK_{name}": value for name, value in settings.items()}
        env.setdefault("HIRETRACK_DATABASE_URL", f"sqlite:///{tmp_path / 'hiretrack.sqlite'}")
        return CliRunner().invoke(cli, list(args), env=env, input=input, prog_name="hiretrack")

    return run


def one_line_failure(result) -> str:
    """The single error line of a failed command (checked to be single, without a traceback)."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    return lines[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_init_creates_the_folder_of_a_new_sqlite_database(hiretrack, tmp_path):
    database = tmp_path / "instance" / "nested" / "hiretrack.sqlite"

    result = hiretrack("init", DATABASE_URL=f"sqlite:///{database}")

    assert result.exit_code == 0, result.output
    assert database.is_file()


def test_a_command_before_init_says_to_run_init(hiretrack, tmp_path):
    result = hiretrack(
        "users",
        "create",
        "--email=ada@acme.example",
        "--name=Ada",
        "--role=admin",
        "--password-stdin",
        input="a long enough password\n",
    )

    line = one_line_failure(result)
    assert "has no HireTrack tables yet: run `hiretrack init` first" in line
    assert str(tmp_path / "hiretrack.sqlite") in line


def test_users_create_refuses_a_name_with_a_control_character_and_creates_nobody(hiretrack):
    assert hiretrack("init").exit_code == 0

    def create(name: str):
        return hiretrack(
            "users",
            "create",
            "--email=ada@acme.example",
            f"--name={name}",
            "--role=admin",
            "--password-stdin",
            input="a long enough password\n",
        )

    refused = create("Ada\x05 Lovelace")

    assert refused.exit_code == 2, refused.output
    assert "name must be a single line of text" in refused.output
    assert "U+0005" in refused.output
    created = create("Ada Lovelace")
    assert created.exit_code == 0, created.output  # the address was not taken by the refused one


def test_an_unreachable_database_is_one_line_without_its_password(hiretrack):
    port = free_port()  # nothing listens there

    result = hiretrack(
        "outbox",
        "status",
        DATABASE_URL=f"postgresql://hiretrack:s3cret-pw@127.0.0.1:{port}/hiretrack",
    )

    line = one_line_failure(result)
    assert f"Cannot use postgresql+psycopg://hiretrack:***@127.0.0.1:{port}/hiretrack" in line
    assert "Connection refused" in line
    assert "s3cret-pw" not in result.output


def test_a_database_path_that_cannot_be_created_is_one_line(hiretrack, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")

    result = hiretrack("init", DATABASE_URL=f"sqlite:///{blocker / 'hiretrack.sqlite'}")

    line = one_line_failure(result)
    assert str(blocker) in line


def test_backup_creates_its_folder_or_says_why_it_cannot(hiretrack, tmp_path):
    assert hiretrack("init").exit_code == 0
    target = tmp_path / "backups" / "2026" / "hiretrack.sqlite"

    made = hiretrack("backup", str(target))

    assert made.exit_code == 0, made.output
    assert target.is_file()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    line = one_line_failure(hiretrack("backup", str(blocker / "hiretrack.sqlite")))
    assert f"Cannot create the folder {blocker}" in line


@pytest.mark.parametrize("command", ["run", "demo"])
def test_a_port_in_use_is_one_line(hiretrack, tmp_path, command):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = hiretrack(command, "--port", str(port))

    line = one_line_failure(result)
    assert f"Port {port} on 127.0.0.1 is already in use" in line and "--port" in line
    assert not (tmp_path / "hiretrack.sqlite").exists()  # said before any work was done


def test_production_without_a_base_url_refuses_every_command_in_one_line(hiretrack):
    production = {"ENV": "production", "SECRET_KEY": "a-long-random-production-secret"}

    line = one_line_failure(hiretrack("init", **production))
    assert "HIRETRACK_BASE_URL is not set" in line

    help_text = hiretrack("--help", **production)
    assert "Traceback" not in help_text.output
    assert "Error: HIRETRACK_BASE_URL is not set" in help_text.output
    assert "Commands:" in help_text.output

    with_url = hiretrack("init", BASE_URL="https://hiretrack.example.com", **production)
    assert with_url.exit_code == 0, with_url.output


def test_demo_reset_removes_the_earlier_demos_email_files(hiretrack, tmp_path):
    """Ids start again after a reset: old and new messages would share numbers in one folder."""
    mail = tmp_path / "mail"
    mail.mkdir()
    earlier = mail / "00000004-179641541935.21556.1798@acme.example.eml"
    earlier.write_text("Subject: from the earlier demo\n")
    someone_elses = mail / "keep-me.eml"  # not named by the file backend: left alone
    someone_elses.write_text("Subject: mine\n")

    result = hiretrack("demo", "--reset", "--no-serve")

    assert result.exit_code == 0, result.output
    assert "Removed 1 email file(s) of the earlier demo." in result.output
    assert not earlier.exists() and someone_elses.exists()
