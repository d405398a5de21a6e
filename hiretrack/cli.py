"""The `hiretrack` console script: Flask's CLI group bound to our app factory."""

from flask.cli import FlaskGroup

from hiretrack import create_app


def _create_app():
    return create_app()


cli = FlaskGroup(
    create_app=_create_app,
    help="HireTrack: keep every candidate waiting on an offer informed.\n\n"
    "Includes Flask's commands (run, shell, db upgrade, routes) and HireTrack's own.",
)


def main() -> None:
    """Entry point of the console script."""
    cli.main(prog_name="hiretrack")
