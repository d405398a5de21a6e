"""The shipped deploy/ files, read as systemd, sh and nginx read them, for a test install.

A test install is this checkout with its virtual environment: the repository stands where the
files say /opt/hiretrack, the venv's scripts where they say /opt/hiretrack/.venv/bin, and a
test's own environment file where they say /etc/hiretrack/env. `for_test_install` makes exactly
those swaps (and any others a test names), and insists that each one matched, so a change to a
shipped file makes the tests fail rather than quietly test something else.
"""

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.live_gunicorn import REPOSITORY, SCRIPTS

DEPLOY = REPOSITORY / "deploy"
UNITS = DEPLOY / "systemd"
ENV_EXAMPLE = DEPLOY / "hiretrack.env.example"
INSTALL = "/opt/hiretrack"
ENV_FILE = "/etc/hiretrack/env"

#: One line of the environment file: NAME=value, a value that sh and systemd read alike (no
#: quotes, spaces or shell characters), or any value in single quotes (literal in both).
ENV_LINE = re.compile(r"^(HIRETRACK_[A-Z0-9_]+)=([^\s'\"$`\\<>|&;()#]*|'[^']*')$")


def require_tool(name: str, *also_in: str) -> str:
    """The path of a program the test needs; skipped without it, but a failure in CI."""
    found = shutil.which(name) or shutil.which(name, path=os.pathsep.join(also_in))
    if found:
        return found
    message = f"{name} is not installed (.ci/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def for_test_install(text: str, env_file: Path, **more: str) -> str:
    """Swap the install's paths for this checkout's; `more` maps other shipped text to swap."""
    swaps = {
        f"{INSTALL}/.venv/bin": str(SCRIPTS),
        INSTALL: str(REPOSITORY),
        ENV_FILE: str(env_file),
    }
    for shipped, replacement in more.items():
        assert shipped in text, f"{shipped!r} is no longer in the shipped file"
        swaps[shipped] = replacement
    for shipped, replacement in swaps.items():
        text = text.replace(shipped, replacement)
    return text


def unit_settings(text: str, section: str = "Service") -> dict[str, list[str]]:
    """The settings of one section of a unit file, each name with all its values in order."""
    settings: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
        elif current == section:
            name, _, value = line.partition("=")
            settings.setdefault(name.strip(), []).append(value.strip())
    return settings


def expand_specifiers(command: str, instance: str = "1") -> str:
    """Expand the unit specifiers the shipped units use: %H, %i and %% (a literal %)."""
    expanded = re.sub(
        r"%(.)",
        lambda match: {"%": "%", "H": socket.gethostname(), "i": instance}[match.group(1)],
        command,
    )
    return expanded


def env_example_lines() -> list[tuple[str, str]]:
    """The settings of deploy/hiretrack.env.example as (name, value as written), in order."""
    settings = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            match = ENV_LINE.match(line)
            assert match, f"not a NAME=value line that sh and systemd read alike: {line!r}"
            settings.append((match.group(1), match.group(2)))
    return settings


def write_env_file(path: Path, swaps: dict[str, str]) -> Path:
    """Copy the env example with some values swapped; a commented-out setting is enabled."""
    lines = ENV_EXAMPLE.read_text().splitlines()
    left = dict(swaps)
    for commented in (False, True):
        for number, line in enumerate(lines):
            name, equals, _ = line.removeprefix("# " if commented else "").partition("=")
            if equals and name in left and line.startswith("#") == commented:
                lines[number] = f"{name}={quote(left.pop(name))}"
    assert not left, f"settings not in the env example: {sorted(left)}"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o640)
    return path


def quote(value: str) -> str:
    """A value as the env file needs it: bare when plain, else in single quotes."""
    return value if re.fullmatch(r"[^\s'\"$`\\<>|&;()#]*", value) else f"'{value}'"


def load_env_file(path: Path) -> dict[str, str]:
    """The HIRETRACK_* variables sh sets from the file, as cron and the docs' commands load it."""
    script = 'set -a; . "$1"; set +a; env -0'
    result = subprocess.run(
        ["sh", "-c", script, "sh", str(path)],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        capture_output=True,
        check=True,
    )
    pairs = (item.partition("=") for item in result.stdout.decode().split("\0") if item)
    return {name: value for name, _, value in pairs if name.startswith("HIRETRACK_")}
