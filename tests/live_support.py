"""Helpers for concurrency tests against live gunicorn: seed a team, sign in, fire in parallel.

Each helper does what a person or an integration does over HTTP, with `requests`, so the tests
exercise the real workers, each with its own database connections.
"""

import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import requests
from sqlalchemy import func, select

from hiretrack.admin.models import Department
from hiretrack.auth.services import create_api_token, create_user
from hiretrack.candidates.services import apply_to_requisition, create_candidate
from hiretrack.extensions import db
from hiretrack.messages.drafts import prepare_requisition_drafts
from hiretrack.messages.models import OutboxEmail
from hiretrack.requisitions.services import create_requisition
from tests.conftest import PASSWORD

CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@dataclass
class Team:
    """A manager with an API token, one open requisition and its applications' ids."""

    manager_email: str
    token: str
    requisition_id: int
    application_ids: list[int]
    draft_ids: list[int]


def seed_team(candidates: int = 4, drafts: bool = True) -> Team:
    """Create a manager, a requisition with `candidates` applications and a check-in draft each."""
    manager = create_user("mia@acme.example", "Mia Manager", "manager", PASSWORD)
    department = Department(name="Engineering")
    db.session.add(department)
    db.session.flush()
    requisition = create_requisition(
        manager, title="Engineer", department_id=department.id, status="open"
    )
    applications = [
        apply_to_requisition(
            manager,
            create_candidate(manager, f"Candidate {n}", f"candidate{n}@example.org"),
            requisition,
        )
        for n in range(candidates)
    ]
    db.session.flush()
    made = prepare_requisition_drafts(manager, requisition, "check_in")[0] if drafts else []
    _, token = create_api_token(manager, "parallel")
    db.session.commit()
    return Team(
        manager.email,
        token,
        requisition.id,
        [application.id for application in applications],
        [draft.id for draft in made],
    )


def outbox_rows() -> int:
    """How many emails were queued, in a fresh transaction (the server wrote them)."""
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(OutboxEmail))


def in_parallel(count: int, call: Callable[[int], Any]) -> list[Any]:
    """Run call(0..count-1) in `count` threads released together, so the requests overlap."""
    start = threading.Barrier(count)

    def run(number: int) -> Any:
        start.wait()
        return call(number)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def api_post(url: str, token: str, body: dict, **headers: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} | headers
    return requests.post(url, json=body, headers=headers, timeout=60)


def csrf_token(html: str) -> str:
    """The form's CSRF token (the last one: the sign-out form in the navigation comes first)."""
    return CSRF_FIELD.findall(html)[-1]


def sign_in(base_url: str, email: str) -> requests.Session:
    """A browser-like session signed in through the real login form."""
    session = requests.Session()
    page = session.get(f"{base_url}/login", timeout=30)
    signed_in = session.post(
        f"{base_url}/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_token(page.text)},
        timeout=30,
    )
    assert signed_in.ok and "/login" not in signed_in.url, signed_in.text[:500]
    return session


def copy_session(session: requests.Session) -> requests.Session:
    """Another connection with the same cookies: a second click from the same browser tab."""
    twin = requests.Session()
    twin.cookies.update(session.cookies)
    return twin


def flashes(html: str) -> list[tuple[str, str]]:
    """The (category, message) flash messages a page shows."""
    return re.findall(r'<li class="flash flash-(\w+)">([^<]*)</li>', html)


class _FormReader(HTMLParser):
    """The fields a browser submits from each form of a page, by the form's action."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, str]] = {}
        self._action: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self._action = attributes.get("action") or ""
            self.forms[self._action] = {}
        elif self._action is None or "name" not in attributes:
            return
        elif tag == "input":
            kind = attributes.get("type", "text")
            if kind == "submit" or (kind in ("radio", "checkbox") and "checked" not in attributes):
                return
            self.forms[self._action][attributes["name"]] = attributes.get("value") or ""
        elif tag == "textarea":
            self._textarea = attributes["name"]
            self.forms[self._action][self._textarea] = ""

    def handle_data(self, data):
        if self._textarea:
            self.forms[self._action][self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "form":
            self._action = None


def form_fields(html: str, action: str) -> dict[str, str]:
    """What the form posting to `action` (a path; "" for the page itself) submits, tokens too."""
    reader = _FormReader()
    reader.feed(html)
    for form_action, fields in reader.forms.items():
        if form_action.split("?")[0] == action:
            return fields
    title = re.search(r"<title>(.*?)</title>", html, re.S)
    raise AssertionError(
        f"no form posts to {action!r} on {title and title[1]!r}: {list(reader.forms)}"
    )
