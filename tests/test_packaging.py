"""A wheel carries the top-level templates/ and migrations/ folders inside the package."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to copy the tracked tree")
def test_wheel_bundles_templates_and_migrations(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(tmp_path),
            str(REPOSITORY),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("hiretrack-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "hiretrack/_bundled/templates/base.html" in names
    assert "hiretrack/_bundled/templates/emails/hold-notice.txt" in names
    assert "hiretrack/_bundled/migrations/env.py" in names
    assert any(n.startswith("hiretrack/_bundled/migrations/versions/") for n in names)
    assert "hiretrack/static/vendor/pico/pico.min.css" in names
