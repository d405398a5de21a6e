"""`hiretrack restore` never runs under a live app, and ids are never handed out twice.

Runs on the database of the pass: a SQLite file, or a scratch PostgreSQL database.
"""

import urllib.request
import uuid

import pytest
from flask_migrate import upgrade
from sqlalchemy import select

from hiretrack import create_app
from hiretrack.auth.services import create_user
from hiretrack.candidates.models import Candidate
from hiretrack.candidates.services import create_candidate
from hiretrack.extensions import db
from tests.conftest import PASSWORD, base_config, own_database
from tests.live_gunicorn import LiveGunicorn


@pytest.fixture
def own_database_url(tmp_path):
    """A database of the pass's kind that only this test uses (gunicorn shares it)."""
    with own_database(tmp_path, "restore") as url:
        yield url


def _add_candidate(app, name: str) -> int:
    with app.app_context():
        actor = create_user(f"{uuid.uuid4().hex[:8]}@acme.example", "Rec", "recruiter", PASSWORD)
        candidate = create_candidate(actor, name, f"{uuid.uuid4().hex[:8]}@example.org")
        db.session.commit()
        candidate_id = candidate.id
        db.session.remove()
        return candidate_id


def _names(app) -> list[str]:
    with app.app_context():
        names = list(db.session.scalars(select(Candidate.name).order_by(Candidate.id)))
        db.session.remove()
        return names


def test_restore_refuses_while_the_app_runs_and_never_reuses_ids(own_database_url, tmp_path):
    app = create_app(base_config(own_database_url, tmp_path))
    with app.app_context():
        upgrade()
    runner = app.test_cli_runner()
    _add_candidate(app, "In The Backup")
    backup = tmp_path / "nightly.backup"
    assert runner.invoke(args=["backup", str(backup)]).exit_code == 0
    created_after_backup = [_add_candidate(app, f"Created After {n}") for n in range(3)]

    with LiveGunicorn(own_database_url, workers=1, directory=tmp_path) as server:
        with urllib.request.urlopen(f"{server.url}/readyz", timeout=30) as answer:
            assert answer.status == 200  # the worker has connected
        refused = runner.invoke(args=["restore", str(backup), "--yes"])
        assert refused.exit_code == 1
        assert "using the database" in refused.output or "Others are connected" in refused.output
        assert "Stop the web app and the workers first" in refused.output
        assert "--force" in refused.output
        assert len(_names(app)) == 4  # nothing was touched

        forced = runner.invoke(args=["restore", str(backup), "--yes", "--force"])
        assert forced.exit_code == 0, forced.output
        assert "WARNING:" in forced.output and "--force" in forced.output

    assert _names(app) == ["In The Backup"]
    new_id = _add_candidate(app, "After The Restore")
    assert new_id > max(created_after_backup)  # the dropped rows' ids are not handed out again
    again = runner.invoke(args=["restore", str(backup), "--yes"])  # nobody else: no --force
    assert again.exit_code == 0, again.output
    assert _add_candidate(app, "Later Still") > new_id
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
