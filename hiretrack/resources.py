"""Locate the top-level templates/ and migrations/ folders from a checkout or an installed wheel."""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPOSITORY_DIR = PACKAGE_DIR.parent


def resource_dir(name: str) -> Path:
    """Return the bundled copy of a top-level folder (wheel install) or the repository's own."""
    bundled = PACKAGE_DIR / "_bundled" / name
    if bundled.is_dir():
        return bundled
    in_repository = REPOSITORY_DIR / name
    if in_repository.is_dir():
        return in_repository
    raise RuntimeError(
        f"HireTrack cannot find its '{name}' folder: looked in {bundled} and {in_repository}. "
        "Install from a wheel (which bundles it) or run from a source checkout."
    )
