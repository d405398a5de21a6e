"""Helpers for the manager browser tests: a live server, Chromium, axe-core and screenshots.

The app runs in a real threaded werkzeug server on 127.0.0.1 and a free port, on a file SQLite
database in tmp_path (or the PostgreSQL test database when HIRETRACK_TEST_DATABASE_URL is set),
with CSRF on as in production.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from werkzeug.serving import make_server

from hiretrack import create_app
from hiretrack.extensions import db
from hiretrack.messages.defaults import install_default_templates
from tests.conftest import POSTGRES_URL, base_config, empty_all_tables

LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
BLOCKING_IMPACTS = ("serious", "critical")


@dataclass
class LiveApp:
    """A running app: the Flask object (for seeding and checks) and the URL it answers on."""

    app: Flask
    base_url: str

    def url(self, path: str) -> str:
        return self.base_url + path


@contextmanager
def live_server(database_url: str, tmp_path: Path) -> Iterator[LiveApp]:
    """Serve a fresh app over real HTTP from a thread until the block ends."""
    url = database_url if POSTGRES_URL else f"sqlite:///{tmp_path / 'browser.sqlite'}"
    app = create_app(base_config(url, tmp_path) | {"WTF_CSRF_ENABLED": True})
    with app.app_context():
        if not POSTGRES_URL:
            db.create_all()
        install_default_templates()
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base_url = f"http://127.0.0.1:{server.server_port}"
    app.config["BASE_URL"] = base_url
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveApp(app, base_url)
    finally:
        server.shutdown()
        thread.join()
        with app.app_context():
            db.session.remove()
            if POSTGRES_URL:
                empty_all_tables()
            db.engine.dispose()


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical findings on the page, one line each."""
    results = Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} — "
        + "; ".join(node["target"][0] for node in violation["nodes"][:3])
        for violation in results.response["violations"]
        if violation["impact"] in BLOCKING_IMPACTS
    ]


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/screenshots/ (gitignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
