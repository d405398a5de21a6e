"""Run `hiretrack` serving commands as real processes, and walk the newcomer's first minute in
Chromium: sign in, send one update, see it delivered, follow the emailed status link.

Shared by tests/test_serving.py (the checkout's own `hiretrack`) and tests/test_readme.py
(the README's commands in a fresh clone).
"""

import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from pathlib import Path

from playwright.sync_api import Browser, expect

DEMO_MANAGER = "maria.lopez@acme.example"
DEMO_PASSWORD = "hiretrack-demo"


def free_port() -> int:
    """A port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def clean_environment(**settings: str) -> dict[str, str]:
    """This process's environment without HIRETRACK_* and FLASK_* settings, plus `settings`."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("HIRETRACK_", "FLASK_"))
    }
    return env | {"PYTHONUNBUFFERED": "1"} | settings


@dataclass
class Running:
    """A started process and everything it has printed so far (stdout and stderr merged)."""

    process: subprocess.Popen
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        """Wait until the output matches `pattern`; fail with the output if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output)
            if found:
                return found
            if self.process.poll() is not None:
                time.sleep(0.2)  # let the reader thread catch the last lines
                raise AssertionError(
                    f"exited with {self.process.returncode} before {pattern!r}:\n{self.output}"
                )
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} within {timeout:.0f}s:\n{self.output}")


@contextmanager
def running(command: list[str] | str, *, cwd: Path, env: dict[str, str]) -> Iterator[Running]:
    """Run a command (a string: in bash) in its own process group; stop the group with SIGTERM
    when the block ends. (Not SIGINT: a process started in the background by a shell, as a
    test runner may be, inherits SIGINT ignored.)"""
    process = subprocess.Popen(
        command,
        shell=isinstance(command, str),
        executable="/bin/bash" if isinstance(command, str) else None,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    state = Running(process)
    reader = threading.Thread(target=lambda: state.lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        yield state
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        reader.join(timeout=10)
        process.stdout.close()


def sign_in(page, base_url: str, email: str = DEMO_MANAGER) -> None:
    """Sign in through the login form, as a person would."""
    page.goto(f"{base_url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Waiting on you")).to_be_visible()


def status_link(eml: Path, base_url: str) -> str | None:
    """The candidate's status link in the text part of a written email, if it has one."""
    message = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    text = message.get_body(preferencelist=("plain",)).get_content()
    found = re.search(rf"{re.escape(base_url)}/status/[\w-]+", text)
    return found[0] if found else None


def links_in(eml: Path) -> list[str]:
    """Every web address in the text part of a written email."""
    message = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    text = message.get_body(preferencelist=("plain",)).get_content()
    return re.findall(r"https?://[^\s<>\"']+", text)


def send_update_and_follow_the_link(
    browser: Browser,
    base_url: str,
    mail_dir: Path,
    deliver: Callable[[], None] | None = None,
    delivered_within: float = 20,
) -> str:
    """Send the first suggested update from the dashboard, wait until the candidate's page says
    "Delivered" (running `deliver` first, when delivery is not automatic), then open the status
    link of the email the file backend wrote. Returns that link."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        sign_in(page, base_url)
        written_before = set(mail_dir.glob("*.eml"))  # e.g. the demo's notices to managers
        page.get_by_role("link", name="Send update").first.click()
        page.get_by_role("button", name="Send", exact=True).click()
        expect(page.get_by_text("Queued for delivery.")).to_be_visible()
        if deliver is not None:
            deliver()
        newest_email = page.locator(".timeline .event-email").first
        deadline = time.monotonic() + delivered_within
        while "Delivered" not in newest_email.inner_text():
            assert time.monotonic() < deadline, "the update was not delivered"
            time.sleep(0.5)
            page.reload()
        written = set(mail_dir.glob("*.eml")) - written_before
        links = [link for eml in written if (link := status_link(eml, base_url))]
        assert len(links) == 1, f"one new email with a status link to {base_url}: {written}"
        link = links[0]
        response = page.goto(link)
        assert response is not None and response.status == 200
        expect(page.get_by_role("heading", level=1)).to_contain_text("Your application")
        return link
    finally:
        context.close()
