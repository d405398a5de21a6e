"""`hiretrack demo` and `hiretrack run` as real processes, driven in Chromium.

The demo delivers what it queues while it serves, and both commands point the links in emails
at the port they serve on when HIRETRACK_BASE_URL is not set. Each server has its own SQLite
file in tmp_path, so these run once, in the SQLite pass.
"""

import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from hiretrack import create_app
from hiretrack.demo.seed import seed_demo
from hiretrack.extensions import db
from tests.browser_helpers import LAUNCH_ARGS
from tests.conftest import CHROMIUM, POSTGRES_URL
from tests.serving_helpers import (
    clean_environment,
    free_port,
    links_in,
    running,
    send_update_and_follow_the_link,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        bool(POSTGRES_URL), reason="serves its own SQLite file; runs once, in the SQLite pass"
    ),
]

HIRETRACK = Path(sys.executable).with_name("hiretrack")


@pytest.fixture
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def settings(tmp_path) -> dict[str, str]:
    """A database and a mail folder of their own, and no HIRETRACK_BASE_URL."""
    return clean_environment(
        HIRETRACK_DATABASE_URL=f"sqlite:///{tmp_path / 'data' / 'hiretrack.sqlite'}",
        HIRETRACK_MAIL_FILE_DIR=str(tmp_path / "mail"),
    )


def test_the_demo_delivers_while_it_serves_and_links_to_its_port(tmp_path, settings, browser):
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"

    with running([HIRETRACK, "demo", "--port", str(port)], cwd=tmp_path, env=settings) as demo:
        demo.wait_for(rf"Serving on {base_url}/login", timeout=120)
        assert f"with the file backend: one .eml file per message in {tmp_path / 'mail'}" in (
            demo.output
        )
        assert f"Links in emails point to {base_url}." in demo.output
        send_update_and_follow_the_link(browser, base_url, tmp_path / "mail")

    written = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(written) >= 2  # the update, and the demo's own notices to managers
    for eml in written:
        assert all(link.startswith(f"{base_url}/") for link in links_in(eml)), eml.name
    assert "Stopping." in demo.output
    assert demo.process.returncode == 0, demo.output
    assert "Traceback" not in demo.output


def test_run_points_links_at_its_port(tmp_path, settings, browser):
    app = create_app({"SQLALCHEMY_DATABASE_URI": settings["HIRETRACK_DATABASE_URL"]})
    with app.app_context():
        db.create_all()
        seed_demo()
        db.engine.dispose()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"

    def deliver() -> None:
        subprocess.run([HIRETRACK, "outbox", "deliver", "--once"], env=settings, check=True)

    with running([HIRETRACK, "run", "--port", str(port)], cwd=tmp_path, env=settings) as server:
        server.wait_for(rf"Running on {base_url}", timeout=60)
        assert f"Links in emails and on the status page point to {base_url}" in server.output
        send_update_and_follow_the_link(browser, base_url, tmp_path / "mail", deliver=deliver)

    assert "Traceback" not in server.output
