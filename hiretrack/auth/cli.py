"""`hiretrack users ...` and `hiretrack tokens ...`: manage people and API tokens from a shell."""

import sys

import click

from hiretrack.auth import services
from hiretrack.auth.models import Role
from hiretrack.errors import DomainError
from hiretrack.extensions import db
from hiretrack.text import text_problem


def fail(error: DomainError) -> None:
    """Print a domain error the way a shell user expects and exit non-zero."""
    db.session.rollback()
    raise click.ClickException(error.message)


def single_line(_context: click.Context, parameter: click.Parameter, value: str) -> str:
    """Refuse an option value with a line break or another control character before asking for
    the password (the service refuses it too, `hiretrack.text.require_text`)."""
    problem = text_problem(value, parameter.name or "The value")
    if problem:
        raise click.BadParameter(problem)
    return value


@click.group("users", help="Create and manage HireTrack users.")
def users_group() -> None:
    pass


@users_group.command("create")
@click.option("--email", required=True, help="Sign-in email address.")
@click.option(
    "--name",
    required=True,
    callback=single_line,
    help="Full name, as candidates and colleagues see it.",
)
@click.option(
    "--role",
    required=True,
    type=click.Choice([r.value for r in Role]),
    help="What the user may do.",
)
@click.option(
    "--phone",
    default="",
    callback=single_line,
    help="Phone number shown to candidates in emails (optional).",
)
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (for scripts)."
)
def create_user(email: str, name: str, role: str, phone: str, password_stdin: bool) -> None:
    """Create a user. Prompts for the password without echoing it."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = services.create_user(email, name, role, password, phone=phone)
        db.session.commit()
    except DomainError as error:
        fail(error)
    click.echo(f"Created {user.role} {user.email} (id {user.id}).")


@users_group.command("deactivate")
@click.option("--email", required=True)
def deactivate_user(email: str) -> None:
    """Deactivate a user: their sessions and API tokens stop working at once."""
    user = services.find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"No user with email {email}.")
    services.set_active(user, False, actor=None)
    db.session.commit()
    click.echo(f"Deactivated {user.email}.")


@click.group("tokens", help="Personal API tokens for the JSON API.")
def tokens_group() -> None:
    pass


@tokens_group.command("create")
@click.option("--email", required=True, help="The user the token acts as.")
@click.option(
    "--label", default="", callback=single_line, help="What the token is for, e.g. 'ATS sync'."
)
def create_token(email: str, label: str) -> None:
    """Create an API token and print it once (it is stored hashed)."""
    user = services.find_user_by_email(email)
    if user is None or not user.active:
        raise click.ClickException(f"No active user with email {email}.")
    _, plain = services.create_api_token(user, label)
    db.session.commit()
    click.echo(plain)


COMMANDS = [users_group, tokens_group]
