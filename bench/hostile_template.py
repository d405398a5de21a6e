"""Measure how long a slow template holds gunicorn's workers, and /login meanwhile (issue 17).

    python bench/hostile_template.py [--candidates 40] [--pages 20] [--workers 2]

Seeds a SQLite file with one manager, a requisition with N candidates and a draft each whose
body is valid but takes most of a second to render (stored directly, as a template saved before
the save-time cost check would be), starts gunicorn (tests/live_gunicorn.py), signs in, loads
the drafts page from --pages threads at once and, half a second in, times an anonymous GET
/login. Prints each figure; run it from a checkout to measure that checkout's code.
"""

import argparse
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from flask_migrate import upgrade

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hiretrack import create_app  # noqa: E402
from hiretrack.admin.models import Department  # noqa: E402
from hiretrack.auth.services import create_user  # noqa: E402
from hiretrack.candidates.services import apply_to_requisition, create_candidate  # noqa: E402
from hiretrack.extensions import db  # noqa: E402
from hiretrack.messages.defaults import install_default_templates  # noqa: E402
from hiretrack.messages.drafts import prepare_drafts  # noqa: E402
from hiretrack.requisitions.services import create_requisition  # noqa: E402
from tests.live_gunicorn import LiveGunicorn  # noqa: E402

SLOW_BODY = (
    "Dear {{ candidate.first_name }},\n"
    '{% set words = "ab " * 30000 %}{% for i in range(90) %}'
    "{% if words | wordcount > 0 %}{% endif %}{% endfor %}\n"
    "Thank you for your patience.\n"
)
PASSWORD = "a long enough password"


def seed(database_url: str, directory: Path, candidates: int) -> tuple[str, int]:
    """Create the manager, the requisition, its candidates and one slow draft each."""
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "x" * 32,
            "MAIL_BACKEND": "file",
            "MAIL_FILE_DIR": str(directory / "mail"),
        }
    )
    with app.app_context():
        upgrade()
        install_default_templates()
        manager = create_user("manager@acme.example", "Grace Hopper", "manager", PASSWORD)
        recruiter = create_user("recruiter@acme.example", "Rita", "recruiter", PASSWORD)
        department = Department(name="Platform")
        db.session.add(department)
        db.session.flush()
        requisition = create_requisition(
            manager, department_id=department.id, title="Engineer", status="open"
        )
        applications = []
        for number in range(candidates):
            candidate = create_candidate(
                recruiter, name=f"Candidate {number}", email=f"c{number}@example.org"
            )
            applications.append(
                apply_to_requisition(manager, candidate, requisition, "interviewing")
            )
        for draft in prepare_drafts(manager, applications, "check_in"):
            draft.body = SLOW_BODY
        db.session.commit()
        return manager.email, requisition.id


def sign_in(server: LiveGunicorn, email: str) -> requests.Session:
    session = requests.Session()
    form = session.get(f"{server.url}/login").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
    answer = session.post(
        f"{server.url}/login",
        data={"csrf_token": token, "email": email, "password": PASSWORD},
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text[:500]
    return session


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candidates", type=int, default=40)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    options = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="hostile-template-"))
    database_url = f"sqlite:///{directory / 'bench.sqlite'}"
    email, requisition_id = seed(database_url, directory, options.candidates)
    with LiveGunicorn(
        database_url,
        workers=options.workers,
        directory=directory,
        env={"HIRETRACK_WEB_TIMEOUT": "300"},
    ) as server:
        session = sign_in(server, email)
        cookies = session.cookies.get_dict()
        page_times: list[float] = []
        stopped: list[bool] = []

        def load_page() -> None:
            started = time.monotonic()
            page = requests.get(
                f"{server.url}/drafts?requisition_id={requisition_id}",
                cookies=cookies,
                timeout=600,
            )
            page_times.append(time.monotonic() - started)
            stopped.append("Rendering stopped before the end" in page.text)

        threads = [threading.Thread(target=load_page) for _ in range(options.pages)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        login_started = time.monotonic()
        login_status = requests.get(f"{server.url}/login", timeout=600).status_code
        login_took = time.monotonic() - login_started
        for thread in threads:
            thread.join()
        everything = time.monotonic() - started
    print(
        f"{options.pages} parallel drafts pages, {options.candidates} slow drafts each, "
        f"{options.workers} workers"
    )
    print(
        f"one drafts page: median {statistics.median(page_times):.1f} s, "
        f"longest {max(page_times):.1f} s; stopped at the budget: {sum(stopped)}"
    )
    print(f"all pages done after {everything:.1f} s")
    print(f"anonymous GET /login meanwhile: {login_status} in {login_took:.1f} s")


if __name__ == "__main__":
    main()
