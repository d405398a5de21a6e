"""`hiretrack demo` and `hiretrack init`: a working HireTrack in one command."""

import click
from flask import current_app
from flask_migrate import upgrade
from werkzeug.serving import run_simple

from hiretrack.demo.seed import DEMO_PASSWORD, DEMO_USERS, is_seeded, seed_demo
from hiretrack.extensions import db
from hiretrack.messages.defaults import install_default_templates


def migrate_database() -> None:
    """Bring the schema up to date (creates it on an empty database)."""
    upgrade()


@click.command("init")
def init_command() -> None:
    """Migrate the database and install the default email templates (safe to repeat)."""
    migrate_database()
    added = install_default_templates()
    db.session.commit()
    click.echo(f"Database is up to date; {len(added)} default template(s) installed.")


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to serve on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to serve on.")
@click.option("--reset", is_flag=True, help="Delete all data and seed the demo company again.")
@click.option(
    "--no-serve", is_flag=True, help="Prepare the database, print the logins, do not serve."
)
def demo_command(host: str, port: int, reset: bool, no_serve: bool) -> None:
    """Create (or reuse) the demo database, seed a realistic company, and serve it.

    Running it again keeps the data; --reset starts over.
    """
    url = db.engine.url
    click.echo(f"Database: {url.render_as_string(hide_password=True)}")
    if reset:
        click.echo("Resetting: dropping every table.")
        db.drop_all()
        with db.engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    migrate_database()
    if is_seeded():
        click.echo("Reusing the existing demo data (use --reset to start over).")
    else:
        click.echo("Seeding the demo company…")
        seed_demo()
    click.echo(f"\nDemo logins (password for all: {DEMO_PASSWORD}):")
    for login in DEMO_USERS:
        click.echo(f"  {login.role:<10} {login.email:<32} {login.name}")
    mail_dir = current_app.config["MAIL_FILE_DIR"] or f"{current_app.instance_path}/outbox-mail"
    click.echo(
        f"\nEmails are written as .eml files to {mail_dir} by `hiretrack outbox deliver --once`."
    )
    if no_serve:
        return
    click.echo(f"Serving on http://{host}:{port}  (Ctrl+C to stop)\n")
    # Flask's app.run() refuses to block inside a `flask` CLI command; serve with werkzeug directly.
    run_simple(host, port, current_app._get_current_object(), threaded=True, use_reloader=False)


COMMANDS = [demo_command, init_command]
