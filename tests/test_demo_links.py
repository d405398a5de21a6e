"""Every link a demo user is shown opens: no page offers a link its reader may not follow.

An approver sees requisitions, holds and the dashboard, but not the drafts or the outbox (they
are the writers'): a link there answered 403, a dead end right after reading "draft messages
wait". The walk follows links as the user would, from the dashboard, one page per URL shape.
"""

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from sqlalchemy import select

from hiretrack.auth.models import User
from hiretrack.demo.seed import seed_demo
from hiretrack.extensions import db

#: Links that are not pages to read (downloads, other doors) or that end the session.
NOT_PAGES = re.compile(r"\.(csv|json)$|^/(static|status|api|logout|healthz|readyz)\b")
#: Other orders and pages of a list already walked.
SAME_PAGE = re.compile(r"(^|&)(sort[^=]*|page)=")


class LinkParser(HTMLParser):
    """Collect the href of every <a> on a page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href and not href.startswith(("#", "mailto:", "tel:", "data:")):
            self.hrefs.append(href)


def walk_links(client, start: str = "/dashboard", limit: int = 60) -> dict[str, tuple[int, str]]:
    """Follow same-site links breadth first: {url: (status, the page that linked to it)}."""
    answers: dict[str, tuple[int, str]] = {}
    shapes: set[str] = set()
    queue = [(start, "(start)")]
    while queue and len(answers) < limit:
        url, came_from = queue.pop(0)
        parts = urlsplit(url)  # a shape: the path without ids, and which arguments it takes
        shape = re.sub(r"\d+", "N", parts.path) + re.sub(r"=[^&]*", "", parts.query)
        if shape in shapes or NOT_PAGES.search(parts.path) or SAME_PAGE.search(parts.query):
            continue
        shapes.add(shape)
        response = client.get(url)
        answers[url] = (response.status_code, came_from)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        parser = LinkParser()
        parser.feed(response.get_data(as_text=True))
        for href in parser.hrefs:
            target = urljoin(url, href)
            if urlsplit(target).netloc in ("", "localhost"):
                parts = urlsplit(target)
                queue.append((parts.path + (f"?{parts.query}" if parts.query else ""), url))
    return answers


def test_an_approver_is_shown_only_links_they_may_follow(ctx, client, login):
    seed_demo()
    approver = _demo_user("helen.ward@acme.example")
    login(approver, password="hiretrack-demo")

    answers = walk_links(client)

    dead = {url: seen for url, seen in answers.items() if seen[0] != 200}
    assert dead == {}
    assert any(url.startswith("/holds/") for url in answers)  # the walk reached the hold
    assert any(re.match(r"/requisitions/\d+$", url) for url in answers)


def _demo_user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))
