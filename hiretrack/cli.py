"""The `hiretrack` console script: Flask's CLI group bound to our app factory.

Expected failures (a setting that cannot work, a database that cannot be reached or has no
tables yet, a folder or port that cannot be used) end every command the same way: one line
saying what is wrong, and exit status 1. Anything else is a bug and keeps its traceback.
"""

from contextlib import suppress

import click
from flask import current_app, has_app_context
from flask.cli import FlaskGroup, ScriptInfo, run_command
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, ProgrammingError
from werkzeug.serving import is_running_from_reloader

from hiretrack import create_app
from hiretrack.config import ConfigurationError
from hiretrack.serving import check_port_free, served_url, use_served_url


def _database() -> str:
    """The database URL of the loaded app, without its password, for an error message."""
    if not has_app_context():
        return "the database"
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    return url.render_as_string(hide_password=True)


def _database_failure(error: DBAPIError) -> str:
    """One line for a database that cannot be opened, reached or used."""
    cause = error.orig if error.orig is not None else error
    detail = (str(cause).strip() or type(cause).__name__).splitlines()[0]
    if "no such table" in detail or type(cause).__name__ == "UndefinedTable":
        return f"{_database()} has no HireTrack tables yet: run `hiretrack init` first."
    hint = ""
    if "unable to open database file" in detail:
        hint = " (can this user create and write files in its folder?)"
    return f"Cannot use {_database()}: {detail}{hint}"


def expected_failure(error: BaseException) -> str | None:
    """The one line to show for an expected failure, or None for a bug (keep the traceback)."""
    if isinstance(error, ConfigurationError):
        return str(error)
    if isinstance(error, OperationalError | InterfaceError):
        return _database_failure(error)
    if isinstance(error, ProgrammingError) and "UndefinedTable" in type(error.orig).__name__:
        return _database_failure(error)
    if isinstance(error, OSError):
        text = error.strerror or str(error) or type(error).__name__
        return f"{text}: {error.filename}" if error.filename is not None else text
    return None


class HireTrackGroup(FlaskGroup):
    """Flask's group, with expected failures told in one line instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except Exception as error:
            message = expected_failure(error)
            if message is None:
                raise
            raise click.ClickException(message) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        """List the commands; an app that cannot load says why in one line (Flask prints a
        traceback) and the built-in commands are still listed."""
        try:
            ctx.ensure_object(ScriptInfo).load_app()
        except Exception as error:
            message = expected_failure(error)
            if message is None:
                raise
            click.secho(f"Error: {message}\n", err=True, fg="red")
            return sorted(click.Group.list_commands(self, ctx))
        return super().list_commands(ctx)


def _run_with_links(**options) -> None:
    """Run a local development server; links in emails point to it unless
    HIRETRACK_BASE_URL is set.

    The reloader and debugger are enabled by default with the '--debug' option.
    """
    context = click.get_current_context()
    host, port = options["host"], options["port"]
    url = served_url(host, port, "https" if options["cert"] else "http")
    if is_running_from_reloader():
        # The reloader's child serves on the socket its parent opened. An app that fails to
        # load here is shown by Flask's run, which serves the error until the code is fixed.
        with suppress(Exception):
            use_served_url(context.ensure_object(ScriptInfo).load_app(), url)
    else:
        app = context.ensure_object(ScriptInfo).load_app()
        check_port_free(host, port)
        click.echo(f"Links in emails and on the status page point to {use_served_url(app, url)}")
    context.invoke(run_command, **options)


def _create_app():
    return create_app()


cli = HireTrackGroup(
    create_app=_create_app,
    help="HireTrack: keep every candidate waiting on an offer informed.\n\n"
    "Includes Flask's commands (run, shell, db upgrade, routes) and HireTrack's own.",
)
cli.add_command(
    click.Command(
        "run",
        callback=_run_with_links,
        params=run_command.params,
        help=_run_with_links.__doc__,
        short_help="Run a development server (links in emails point to it).",
    )
)


def main() -> None:
    """Entry point of the console script."""
    cli.main(prog_name="hiretrack")
