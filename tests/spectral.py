"""Spectral, the OpenAPI linter, with the OWASP API ruleset: where it lives and how it gets there.

The versions are pinned by `.ci/spectral/package-lock.json`. `.ci/run` installs them with
`python tests/spectral.py install` into a cache folder named after the lock file's hash, outside
the repository, so a second run on the same machine (or after a fresh clone) reuses it:

    .venv/bin/python tests/spectral.py install      # prints the spectral command's path
    .venv/bin/python tests/spectral.py counts       # lints the served document: counts per rule
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from hiretrack import create_app
from hiretrack.extensions import db

SOURCE = Path(__file__).resolve().parents[1] / ".ci" / "spectral"
RULESET = SOURCE / "ruleset.yaml"


def install_dir() -> Path:
    """The cache folder for this lock file: $HIRETRACK_CACHE_DIR or ~/.cache/hiretrack."""
    base = os.environ.get("HIRETRACK_CACHE_DIR") or Path.home() / ".cache" / "hiretrack"
    digest = hashlib.sha256((SOURCE / "package-lock.json").read_bytes()).hexdigest()[:12]
    return Path(base) / f"spectral-{digest}"


def spectral_command() -> Path:
    return install_dir() / "node_modules" / ".bin" / "spectral"


def ruleset() -> Path:
    """The ruleset, copied beside the installed packages (Spectral resolves `extends` there)."""
    copy = install_dir() / RULESET.name
    copy.write_bytes(RULESET.read_bytes())
    return copy


def install() -> Path:
    """Install the pinned packages from the npm registry (once per lock file); return the command."""
    command = spectral_command()
    if command.exists():
        return command
    target = install_dir()
    target.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(SOURCE / name, target / name)
    # --ignore-scripts: the packages need no install scripts (one of them only reports usage).
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
        cwd=target,
        check=True,
    )
    return command


SEVERITIES = {0: "error", 1: "warning", 2: "info", 3: "hint"}


def served_document() -> dict:
    """The document a production installation serves (its BASE_URL is https)."""
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "lint",
                "SQLALCHEMY_DATABASE_URI": "sqlite://",
                "BASE_URL": "https://hiretrack.example.com",
                "MAIL_FILE_DIR": folder,
            }
        )
        with app.app_context():
            db.create_all()
        response = app.test_client().get("/api/v1/openapi.json")
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()


def lint(document: dict) -> list[dict]:
    """Spectral's findings on document, as its JSON output lists them."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "openapi.json"
        path.write_text(json.dumps(document))
        result = subprocess.run(
            [str(spectral_command()), "lint", str(path), "--ruleset", str(ruleset())]
            + ["--format", "json", "--quiet", "--fail-severity", "error"],
            capture_output=True,
            text=True,
            timeout=300,
        )
    if result.returncode not in (0, 1):
        raise RuntimeError(f"spectral failed: {result.stderr}")
    return json.loads(result.stdout)


def counts(findings: list[dict]) -> dict[str, int]:
    """How many findings of each severity and rule."""
    tally = Counter(f"{SEVERITIES[f['severity']]} {f['code']}" for f in findings)
    return dict(sorted(tally.items()))


if __name__ == "__main__":
    if sys.argv[1:] == ["install"]:
        print(install())
    elif sys.argv[1:] == ["counts"]:
        findings = lint(served_document())
        for key, number in counts(findings).items():
            print(f"{number:5d}  {key}")
        severities = Counter(SEVERITIES[f["severity"]] for f in findings)
        print(f"{severities['error']} errors, {severities['warning']} warnings")
    else:
        sys.exit("usage: python tests/spectral.py install | counts")
