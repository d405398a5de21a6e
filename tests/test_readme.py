"""The README's "Try it" commands, run literally the way a newcomer runs them.

A fresh `git clone` of the repository these tests run from (so: its committed code, not the
working tree's edits) into a temporary folder, a new virtual environment made active, then the
README's first command with ` --port <free port>` appended, in bash. Then, in Chromium: sign in
through the login form, send one update, see it delivered, and open the status link of the
`.eml` file the demo wrote. The commands are read from the README, so a changed README is what
is tested (`.ci/run` runs the second command, the tests, read the same way).

It installs from PyPI (pip's cache makes it quick after the first time) and takes a minute or
more, so it runs only when HIRETRACK_FRESH_CLONE_TEST=1; `.ci/run` runs it once.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.browser_helpers import LAUNCH_ARGS
from tests.conftest import CHROMIUM
from tests.readme import try_it_commands
from tests.serving_helpers import (
    clean_environment,
    free_port,
    running,
    send_update_and_follow_the_link,
)

REPOSITORY = Path(__file__).resolve().parents[1]
TIMINGS = REPOSITORY / "test-artifacts" / "fresh-clone-timings.txt"

fresh_clone = pytest.mark.skipif(
    os.environ.get("HIRETRACK_FRESH_CLONE_TEST") != "1",
    reason="clones and installs from scratch (slow): set HIRETRACK_FRESH_CLONE_TEST=1 "
    "(.ci/run does)",
)


def test_try_it_commands_are_found():
    """The parser finds the two commands (it fails loudly if the README's shape changes)."""
    demo, tests = try_it_commands()
    assert demo.endswith("hiretrack demo")
    assert tests.endswith("pytest")


@pytest.fixture
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.mark.browser
@fresh_clone
def test_the_demo_command_works_from_a_fresh_clone(tmp_path, browser, capsys):
    demo_command = try_it_commands()[0]
    clone = tmp_path / "hiretrack"
    started = time.monotonic()
    subprocess.run(["git", "clone", "--quiet", str(REPOSITORY), str(clone)], check=True)
    assert not (clone / "instance").exists()
    venv = clone / ".venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # What `source .venv/bin/activate` does.
    env = clean_environment(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}:{os.environ['PATH']}")
    env.pop("PYTHONHOME", None)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"

    with running(f"{demo_command} --port {port}", cwd=clone, env=env) as demo:
        demo.wait_for(rf"Serving on {base_url}/login", timeout=900)
        serving_after = time.monotonic() - started
        mail_dir = Path(demo.wait_for(r"one \.eml file per message in (\S+)\.", 1)[1])
        assert mail_dir == clone / "instance" / "outbox-mail"
        link = send_update_and_follow_the_link(browser, base_url, mail_dir)
        journey_after = time.monotonic() - started

    assert link.startswith(f"{base_url}/status/")
    assert "Stopping." in demo.output
    assert "Traceback" not in demo.output
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    report = (
        f"git clone to `hiretrack demo` serving: {serving_after:.0f}s; "
        f"to an update delivered and its status link opened: {journey_after:.0f}s\n"
    )
    TIMINGS.write_text(report)
    with capsys.disabled():
        print(f"\n{report}", end="")
