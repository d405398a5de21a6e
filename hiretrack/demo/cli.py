"""`hiretrack demo` and `hiretrack init`: a working HireTrack in one command."""

import logging
import os
import re
import signal
import socket
import threading

import click
from flask import Flask, current_app
from flask_migrate import upgrade
from werkzeug.serving import make_server

from hiretrack.demo.seed import DEMO_PASSWORD, DEMO_USERS, is_seeded, seed_demo
from hiretrack.extensions import db
from hiretrack.messages import delivery
from hiretrack.messages.backends import mail_file_dir
from hiretrack.messages.defaults import install_default_templates
from hiretrack.serving import listening_socket, served_url, use_served_url

#: How often the demo's delivery loop looks for queued email: "Delivered" a moment after "Send".
DEMO_POLL_SECONDS = 1.0
#: The file backend's names (`eml_filename`): the outbox row's number, then the Message-ID.
EML_NAME = re.compile(r"\d{8}-[A-Za-z0-9._@-]+\.eml")


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


def describe_mail(app: Flask) -> str:
    """Say where delivered email goes with the configured backend, creating the file folder."""
    backend = app.config["MAIL_BACKEND"]
    if backend == "file":
        folder = mail_file_dir(app)
        folder.mkdir(parents=True, exist_ok=True)
        return f"the file backend: one .eml file per message in {folder}"
    if backend == "console":
        return "the console backend: each message is printed here"
    if backend == "smtp":
        return (
            f"the SMTP backend: through {app.config['SMTP_HOST']}:{app.config['SMTP_PORT']} "
            "(the demo's people have example.org addresses)"
        )
    return f"the {backend} backend"


def remove_earlier_demo_mail(app: Flask) -> int:
    """Delete the .eml files the file backend wrote for the data a reset just dropped.

    Outbox ids start again at 1 after a reset, so old and new messages would share numbers in
    one folder. Only files named as the backend names them are removed.
    """
    if app.config["MAIL_BACKEND"] != "file" or not mail_file_dir(app).is_dir():
        return 0
    removed = 0
    for path in mail_file_dir(app).glob("*.eml"):
        if EML_NAME.fullmatch(path.name):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def deliver_while_serving(app: Flask, stop: threading.Event) -> None:
    """Deliver queued email until `stop`, as `hiretrack outbox deliver` does, in this process."""
    with app.app_context():
        worker_id = f"demo-{socket.gethostname()}-{os.getpid()}"[:100]
        delivery.run_worker(worker_id, poll_interval=DEMO_POLL_SECONDS, stop=stop)


def serve(app: Flask, listener: socket.socket) -> None:
    """Serve on the bound socket and deliver email beside it, until Ctrl+C."""
    host, port = listener.getsockname()[:2]
    server = make_server(host, port, app, threaded=True, fd=listener.fileno())
    listener.close()  # the server holds its own copy of the socket
    # HireTrack logs one access line per request; werkzeug's would say it twice.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    stop = threading.Event()
    worker = threading.Thread(
        target=deliver_while_serving, args=(app, stop), name="demo-delivery", daemon=True
    )
    worker.start()
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()  # returns on Ctrl+C: werkzeug's server catches KeyboardInterrupt
    finally:
        click.echo("\nStopping.")
        signal.signal(signal.SIGTERM, previous)
        stop.set()
        server.server_close()
        worker.join(timeout=30)


def _interrupt(signum: int, frame: object) -> None:
    """Stop on SIGTERM as on Ctrl+C: a service manager, or a test, stops the demo cleanly."""
    raise KeyboardInterrupt


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to serve on.")
@click.option(
    "--port", default=5000, show_default=True, type=int, help="Port to serve on (0: any free one)."
)
@click.option("--reset", is_flag=True, help="Delete all data and seed the demo company again.")
@click.option(
    "--no-serve", is_flag=True, help="Prepare the database, print the logins, do not serve."
)
def demo_command(host: str, port: int, reset: bool, no_serve: bool) -> None:
    """Create (or reuse) the demo database, seed a realistic company, and serve it.

    While it serves, queued email is delivered in the same process, with the configured mail
    backend (the file backend unless HIRETRACK_MAIL_BACKEND says otherwise). Running it again
    keeps the data; --reset starts over.
    """
    app = current_app._get_current_object()
    # Bound first, so a port in use is said at once rather than after seeding.
    listener = None if no_serve else listening_socket(host, port)
    # Set before seeding: the demo's own notices carry links too.
    base_url = use_served_url(
        app, served_url(host, listener.getsockname()[1] if listener else port)
    )
    try:
        url = db.engine.url
        click.echo(f"Database: {url.render_as_string(hide_password=True)}")
        if reset:
            click.echo("Resetting: dropping every table.")
            db.drop_all()
            with db.engine.begin() as connection:
                connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
            if removed := remove_earlier_demo_mail(app):
                click.echo(f"Removed {removed} email file(s) of the earlier demo.")
        migrate_database()
        if is_seeded():
            click.echo("Reusing the existing demo data (use --reset to start over).")
        else:
            click.echo("Seeding the demo company…")
            seed_demo()
        click.echo(f"\nDemo logins (password for all: {DEMO_PASSWORD}):")
        for login in DEMO_USERS:
            click.echo(f"  {login.role:<10} {login.email:<32} {login.name}")
        mail = describe_mail(app)
        if listener is None:
            click.echo(
                f"\nEmails are delivered by `hiretrack outbox deliver` (or while `hiretrack demo` "
                f"serves) with {mail}."
            )
            return
        click.echo(f"\nEmails are delivered while the demo runs, with {mail}.")
        click.echo(f"Links in emails point to {base_url}.")
        click.echo(f"\nServing on {base_url}/login  (Ctrl+C to stop)\n")
        serve(app, listener)
    finally:
        if listener is not None:
            listener.close()


COMMANDS = [demo_command, init_command]
