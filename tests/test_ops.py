"""Operations: health endpoints, backups and restores, logs without personal data, the audit trail."""

import json
import logging
import sqlite3
import uuid
from datetime import timedelta

import pytest
from flask_migrate import stamp, upgrade
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from hiretrack import create_app
from hiretrack.audit.models import AuditEntry
from hiretrack.candidates.models import Candidate
from hiretrack.candidates.services import create_candidate
from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.messages.models import OutboxEmail, OutboxStatus
from hiretrack.ops import backup as backups
from hiretrack.ops.health import database_revisions
from hiretrack.ops.logs import ACCESS_LOGGER, JSONFormatter
from hiretrack.ops.retention import months_before
from tests import api_support
from tests.conftest import PASSWORD, POSTGRES_URL, base_config, own_database

as_user = api_support.as_user

# --- Health ------------------------------------------------------------------------------------


def test_healthz_answers_without_login_or_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_reports_migrations_honestly_and_the_outbox_backlog(app, client):
    with app.app_context():
        migrated = bool(database_revisions())
    if not migrated:
        # The SQLite test schema comes from create_all: there is no alembic_version yet.
        response = client.get("/readyz")
        assert response.status_code == 503
        body = response.get_json()
        assert body["status"] == "not ready"
        assert body["checks"]["database"] == {"ok": True}
        assert body["checks"]["migrations"]["ok"] is False
        assert body["checks"]["migrations"]["detail"].startswith("not migrated")
        with app.app_context():
            stamp()
    with app.app_context():
        db.session.add(
            OutboxEmail(
                to_address="someone@example.org",
                from_address="hiring@acme.example",
                subject="s",
                body_text="t",
                body_html="h",
                message_id=f"<{uuid.uuid4().hex}@acme.example>",
                status=OutboxStatus.QUEUED,
                next_attempt_at=utcnow() - timedelta(minutes=10),
            )
        )
        db.session.commit()
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "ready"
    assert body["checks"]["migrations"]["detail"] == "current"
    assert body["checks"]["outbox"]["due_now"] == 1
    assert body["checks"]["outbox"]["oldest_due_age_seconds"] >= 600
    assert "someone@example.org" not in response.get_data(as_text=True)


@pytest.mark.skipif(bool(POSTGRES_URL), reason="rewrites alembic_version of the shared database")
def test_readyz_says_when_the_database_is_at_another_revision(app, client):
    with app.app_context():
        stamp()
        db.session.execute(text("UPDATE alembic_version SET version_num = 'abc123'"))
        db.session.commit()
    body = client.get("/readyz").get_json()
    assert body["checks"]["migrations"]["current"] == ["abc123"]
    assert "run `hiretrack db upgrade`" in body["checks"]["migrations"]["detail"]


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path):
    (tmp_path / "a-file").write_text("a missing folder is created; one under a file cannot be")
    url = f"sqlite:///{tmp_path}/a-file/hiretrack.sqlite"
    app = create_app(base_config(url, tmp_path))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["database"] == {"ok": False, "detail": "unreachable"}
    assert "missing-folder" not in response.get_data(as_text=True)
    with app.app_context():
        db.engine.dispose()


# --- Backups -----------------------------------------------------------------------------------


def _file_app(tmp_path, name="live.sqlite"):
    app = create_app(base_config(f"sqlite:///{tmp_path / name}", tmp_path))
    with app.app_context():
        db.create_all()
    return app


def _candidate_names(app) -> list[str]:
    with app.app_context():
        names = list(db.session.scalars(select(Candidate.name).order_by(Candidate.name)))
        db.session.remove()
        return names


def _add_candidate(app, name: str) -> None:
    from hiretrack.auth.services import create_user

    with app.app_context():
        actor = create_user(f"{uuid.uuid4().hex[:8]}@acme.example", "Rec", "recruiter", PASSWORD)
        create_candidate(actor, name, f"{uuid.uuid4().hex[:8]}@example.org")
        db.session.commit()
        db.session.remove()


def test_sqlite_backup_and_restore_round_trip(tmp_path):
    app = _file_app(tmp_path)
    runner = app.test_cli_runner()
    _add_candidate(app, "Kept Person")
    target = tmp_path / "backup.sqlite"
    result = runner.invoke(args=["backup", str(target)])
    assert result.exit_code == 0, result.output
    assert "Backed up the sqlite database" in result.output
    assert target.read_bytes().startswith(backups.SQLITE_HEADER)
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT name FROM candidate").fetchall() == [("Kept Person",)]

    _add_candidate(app, "Added Later")
    assert _candidate_names(app) == ["Added Later", "Kept Person"]
    again = runner.invoke(args=["backup", str(target)])
    assert again.exit_code == 1 and "already exists" in again.output

    declined = runner.invoke(args=["restore", str(target)], input="n\n")
    assert declined.exit_code == 1 and "Aborted" in declined.output
    assert _candidate_names(app) == ["Added Later", "Kept Person"]
    restored = runner.invoke(args=["restore", str(target)], input="y\n")
    assert restored.exit_code == 0, restored.output
    assert _candidate_names(app) == ["Kept Person"]
    # The app keeps working on the restored database.
    _add_candidate(app, "After Restore")
    assert _candidate_names(app) == ["After Restore", "Kept Person"]
    with app.app_context():
        db.engine.dispose()


def test_restore_refuses_what_is_not_a_backup(tmp_path):
    app = _file_app(tmp_path)
    runner = app.test_cli_runner()
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello")
    result = runner.invoke(args=["restore", str(bogus), "--yes"])
    assert result.exit_code == 1 and "is not a SQLite backup" in result.output
    missing = runner.invoke(args=["restore", str(tmp_path / "nope.sqlite"), "--yes"])
    assert missing.exit_code == 1 and "no backup file" in missing.output
    with app.app_context():
        db.engine.dispose()


@pytest.mark.skipif(bool(POSTGRES_URL), reason="the in-memory database exists only on SQLite")
def test_an_in_memory_database_cannot_be_backed_up(runner, tmp_path):
    result = runner.invoke(args=["backup", str(tmp_path / "x.sqlite")])
    assert result.exit_code == 1 and "in-memory" in result.output


def test_a_missing_pg_dump_is_explained(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    url = make_url("postgresql+psycopg://someone:secret@127.0.0.1:5432/hiretrack")
    with pytest.raises(backups.BackupError, match="pg_dump was not found on PATH"):
        backups.backup_postgresql(url, tmp_path / "x.dump")
    assert not (tmp_path / "x.dump.partial").exists()


def test_the_postgres_password_goes_in_the_environment_not_the_command_line():
    url = make_url(
        "postgresql+psycopg://hire:s3cr%27et@db.internal:6543/hire track?sslmode=require"
        "&connect_timeout=5&pool_size=3"
    )
    conninfo, environment = backups.libpq_connection(url)
    assert "s3cr" not in conninfo
    assert environment["PGPASSWORD"] == "s3cr'et"
    assert conninfo == (
        "host='db.internal' port='6543' user='hire' dbname='hire track' sslmode='require' "
        "connect_timeout='5'"
    )


@pytest.fixture
def scratch_postgres_url(tmp_path):
    """A new, empty PostgreSQL database beside the test database, dropped afterwards."""
    with own_database(tmp_path, "scratch") as url:
        yield url


@pytest.mark.skipif(not POSTGRES_URL, reason="needs PostgreSQL")
def test_postgresql_backup_and_restore_round_trip(app, runner, tmp_path, scratch_postgres_url):
    _add_candidate(app, "Original Person")
    dump = tmp_path / "hiretrack.dump"
    result = runner.invoke(args=["backup", str(dump)])
    assert result.exit_code == 0, result.output
    assert "Backed up the postgresql database" in result.output
    assert dump.read_bytes().startswith(backups.PG_CUSTOM_HEADER)

    target = create_app(base_config(scratch_postgres_url, tmp_path))
    with target.app_context():
        upgrade()
    _add_candidate(target, "Only In The Target")
    restored = target.test_cli_runner().invoke(args=["restore", str(dump), "--yes"])
    assert restored.exit_code == 0, restored.output
    assert _candidate_names(target) == ["Original Person"]
    readiness = target.test_client().get("/readyz")
    assert readiness.status_code == 200, readiness.get_json()
    with target.app_context():
        count = db.session.scalar(select(func.count()).select_from(AuditEntry))
        assert count >= 2  # the audit log came along
        db.session.remove()
        db.engine.dispose()


# --- Logs --------------------------------------------------------------------------------------


def test_logs_carry_request_ids_and_no_personal_data_or_secrets(
    client, login, make_user, make_requisition, as_user, caplog
):
    caplog.set_level(logging.INFO)
    recruiter = make_user("recruiter", email="rosalind.logtest@acme.example")
    caller = as_user(recruiter)
    response = login(recruiter)
    assert response.status_code == 302
    request_ids = [response.headers["X-Request-ID"]]
    created = client.post(
        "/candidates/new?utm=rosalind",
        data={
            "name": "Hypatia Logwatcher",
            "email": "hypatia.logwatcher@example.org",
            "phone": "+1 555 0199 777",
            "stage": "interviewing",
        },
    )
    assert created.status_code == 302
    request_ids.append(created.headers["X-Request-ID"])
    found = caller.get("/candidates", email="hypatia.logwatcher@example.org")
    assert found.status_code == 200 and found.get_json()["items"]
    request_ids.append(found.headers["X-Request-ID"])
    candidate_id = found.get_json()["items"][0]["id"]
    page = client.get(f"/candidates/{candidate_id}")
    request_ids.append(page.headers["X-Request-ID"])
    status = client.get("/status/not-a-real-token-but-secret-looking")
    request_ids.append(status.headers["X-Request-ID"])

    logged = caplog.text
    for secret in (
        PASSWORD,
        "rosalind.logtest@acme.example",
        "Hypatia",
        "Logwatcher",
        "hypatia.logwatcher@example.org",
        "0199",
        caller.token,
        "secret-looking",
        "utm=",
    ):
        assert secret not in logged, secret
    for request_id in request_ids:
        assert request_id in logged
    access = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    assert [r.path for r in access] == [
        "/login",
        "/candidates/new",
        "/api/v1/candidates",
        f"/candidates/{candidate_id}",
        "/status/<token>",
    ]
    assert access[1].user_id == recruiter.id and access[1].status == 302
    assert access[2].user_id == recruiter.id  # the API's token user
    line = json.loads(JSONFormatter().format(access[3]))
    assert {"time", "level", "logger", "message", "request_id", "user_id", "method", "path"} <= set(
        line
    )
    assert line["status"] == 200 and isinstance(line["duration_ms"], float)


def test_json_log_format_is_configured_by_setting(tmp_path):
    app = create_app(base_config("sqlite://", tmp_path) | {"LOG_FORMAT": "json"})
    handlers = logging.getLogger("hiretrack").handlers
    assert any(isinstance(handler.formatter, JSONFormatter) for handler in handlers)
    assert len(handlers) == 1  # one handler however many apps were built
    create_app(base_config("sqlite://", tmp_path))
    assert not any(
        isinstance(h.formatter, JSONFormatter) for h in logging.getLogger("hiretrack").handlers
    )
    del app


# --- Audit -------------------------------------------------------------------------------------


def test_every_kind_of_change_is_audited_with_who_when_before_and_after(
    ctx, make_user, make_requisition
):
    from hiretrack.approvals.services import decide, request_approval
    from hiretrack.auth.services import create_user, set_active
    from hiretrack.candidates.services import apply_to_requisition, change_stage, update_candidate
    from hiretrack.holds.services import place_hold, resolve_hold, update_hold
    from hiretrack.messages.templates import create_template, update_template

    admin = make_user("admin")
    approver = make_user("approver")
    requisition = make_requisition()
    manager = requisition.manager
    user = create_user("newhire@acme.example", "New Hire", "manager", PASSWORD, actor=admin)
    set_active(user, False, admin)
    candidate = create_candidate(manager, "Audit Person", "audit.person@example.org")
    update_candidate(manager, candidate, phone="+44 1")
    application = apply_to_requisition(manager, candidate, requisition)
    change_stage(manager, application, "final_round")
    result = place_hold(
        manager, requisition, reason="budget", summary="Budget check", owner_id=approver.id
    )
    update_hold(manager, result.hold, summary="Budget check, round two")
    resolve_hold(approver, result.hold, "cleared", note="Done")
    approval = request_approval(manager, requisition, "budget", approver.id)
    decide(approver, approval, "approved", note="Fine")
    template = create_template(
        admin, "Audit test", "audit-test", "check_in", "Hello {{ candidate.first_name }}", "Body"
    )
    update_template(admin, template, template.version, subject="Hi {{ candidate.first_name }}")
    db.session.commit()

    expected = [
        ("user.create", "user", admin, False),
        ("user.deactivate", "user", admin, True),
        ("candidate.create", "candidate", manager, False),
        ("candidate.update", "candidate", manager, True),
        ("application.create", "application", manager, False),
        ("application.stage", "application", manager, True),
        ("hold.place", "hold", manager, False),
        ("hold.update", "hold", manager, True),
        ("hold.cleared", "hold", approver, True),
        ("approval.request", "approval", manager, False),
        ("approval.decide", "approval", approver, True),
        ("email_template.create", "email_template", admin, False),
        ("email_template.update", "email_template", admin, True),
    ]
    for action, entity_type, actor, has_before in expected:
        entries = db.session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == action, AuditEntry.entity_type == entity_type
            )
        ).all()
        assert entries, action
        entry = entries[-1]
        assert entry.actor_id == actor.id, action
        assert entry.created_at is not None
        assert entry.after, action
        if has_before:
            assert entry.before, action
    assert db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "candidate.update")
    ).one().after == {"phone": "+44 1"}


def test_admins_filter_and_export_the_audit_log(client, login, make_user, ctx):
    admin = make_user("admin")
    create_candidate(admin, "Exported Person", "exported.person@example.org")
    db.session.commit()
    login(admin)
    page = client.get("/admin/audit?entity_type=candidate")
    assert page.status_code == 200 and "candidate.create" in page.get_data(as_text=True)
    export = client.get("/admin/audit.csv?entity_type=candidate")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert "candidate.create" in export.get_data(as_text=True)


def test_months_before_clamps_to_the_end_of_shorter_months():
    from datetime import UTC, datetime

    assert months_before(datetime(2026, 3, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert months_before(datetime(2026, 1, 15, tzinfo=UTC), 12) == datetime(2025, 1, 15, tzinfo=UTC)
    assert months_before(datetime(2026, 1, 15, tzinfo=UTC), 13) == datetime(
        2024, 12, 15, tzinfo=UTC
    )
