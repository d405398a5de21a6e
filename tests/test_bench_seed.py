"""The benchmark's seed script runs from a checkout as docs/benchmarks.md says: a small company
is seeded and its logins are written, so a change that breaks the script fails here, not in
the next person's benchmark run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL

pytestmark = pytest.mark.skipif(
    bool(POSTGRES_URL), reason="uses its own SQLite file; runs once, in the SQLite pass"
)

REPOSITORY = Path(__file__).resolve().parent.parent


def test_seed_fills_a_small_company_and_writes_its_logins(tmp_path):
    url = f"sqlite:///{tmp_path / 'bench.sqlite'}"
    credentials = tmp_path / "credentials.json"
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("HIRETRACK_")
    }
    environment["BENCH_CREDENTIALS"] = str(credentials)

    seeded = subprocess.run(
        [sys.executable, "bench/seed.py", "--applications", "300", "--database-url", url],
        cwd=REPOSITORY,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert seeded.returncode == 0, seeded.stderr
    assert "application 300" in seeded.stdout
    entry = json.loads(credentials.read_text())["databases"][url]
    assert entry["applications"] == 300
    assert entry["manager"]["email"] and entry["recruiter"]["token"]
