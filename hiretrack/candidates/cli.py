"""`hiretrack applications ...`: list waiting candidates and close applications, with closure.

Closing goes through the same services as the web and the API, so the closure guarantee holds
here too: an application closes only with a closure email or a recorded closure conversation.
"""

import click

from hiretrack.auth.access import get_application, visible_applications
from hiretrack.auth.models import User
from hiretrack.auth.services import find_user_by_email
from hiretrack.cadence.cli import echo_table
from hiretrack.cadence.queries import CADENCE_LABELS, CadenceStatus, as_date, cadence_query
from hiretrack.candidates.models import Application, Candidate, Channel
from hiretrack.candidates.services import ClosureNote, change_stage
from hiretrack.candidates.stages import CLOSED_OUTCOMES, LABELS, Stage
from hiretrack.errors import DomainError, GuardrailRefused
from hiretrack.extensions import db
from hiretrack.formatting import local_date
from hiretrack.messages.models import CLOSURE_OUTCOMES, EmailTemplate
from hiretrack.messages.services import get_template, send_message
from hiretrack.requisitions.models import Requisition

OUTCOME_CHOICES = sorted(stage.value for stage in CLOSED_OUTCOMES)


def fail(error: DomainError) -> None:
    """Print a domain error the way a shell user expects and exit non-zero."""
    db.session.rollback()
    raise click.ClickException(error.message)


@click.group("applications", help="List waiting candidates and close applications with closure.")
def applications_group() -> None:
    pass


def _actor_for(application_id: int, acting_as: str | None) -> tuple[User, Application]:
    """The user the command acts as (default: the requisition's manager) and the application."""
    if acting_as is None:
        application = db.session.get(Application, application_id)
        if application is None:
            raise click.ClickException(f"There is no application {application_id}.")
        return application.requisition.manager, application
    user = find_user_by_email(acting_as)
    if user is None or not user.active:
        raise click.ClickException(f"There is no active user {acting_as}.")
    return user, get_application(user, application_id, for_edit=True)


def _closure_template(actor: User, slug: str, outcome: Stage) -> EmailTemplate:
    """Load a closure template the actor may use and check it closes to the chosen outcome."""
    template = get_template(actor, slug)
    closes_as = CLOSURE_OUTCOMES.get(template.category)
    if closes_as is None:
        raise GuardrailRefused(
            f"'{slug}' is a {template.category_label} template, not a closure: choose a closure "
            "template, or record the conversation with --channel and --note."
        )
    if closes_as != outcome:
        raise GuardrailRefused(
            f"'{slug}' closes an application as '{LABELS[closes_as]}', not as "
            f"'{LABELS[outcome]}'. Choose a matching template or outcome."
        )
    return template


def close_application(
    actor: User,
    application: Application,
    outcome: Stage,
    template_slug: str | None,
    channel: str | None,
    note: str,
) -> str:
    """Close through the services, by closure email or recorded conversation; describe the result."""
    if template_slug:
        template = _closure_template(actor, template_slug, outcome)
        sent = send_message(actor, application, template)
        return f"Closure email queued to {sent.outbox.to_address} ('{template.name}')."
    closure = ClosureNote(channel, note) if channel else None
    change_stage(actor, application, outcome, closure=closure, actor_label="command line")
    return f"Closure recorded: {channel}, '{note.strip()}'."


@applications_group.command("close")
@click.option("--id", "application_id", type=int, required=True, help="The application's id.")
@click.option("--outcome", type=click.Choice(OUTCOME_CHOICES), required=True, help="How it ends.")
@click.option("--template", "template_slug", help="Send this closure email template (its slug).")
@click.option(
    "--channel",
    type=click.Choice([channel.value for channel in Channel]),
    help="How you told the candidate yourself (with --note), e.g. phone.",
)
@click.option("--note", default="", help="What was said, for a closure recorded with --channel.")
@click.option(
    "--as",
    "acting_as",
    metavar="EMAIL",
    help="Act as this user (their access applies). Default: the requisition's hiring manager.",
)
def close_command(
    application_id: int,
    outcome: str,
    template_slug: str | None,
    channel: str | None,
    note: str,
    acting_as: str | None,
) -> None:
    """Close an application; it needs a closure email (--template) or a closure (--channel)."""
    if template_slug and channel:
        raise click.UsageError("Use either --template or --channel with --note, not both.")
    if note and not channel:
        raise click.UsageError("--note describes a closure given outside email: add --channel.")
    try:
        actor, application = _actor_for(application_id, acting_as)
        name = application.candidate.name
        result = close_application(actor, application, Stage(outcome), template_slug, channel, note)
        db.session.commit()
    except DomainError as error:
        fail(error)
    click.echo(f"Application {application_id} ({name}) closed as '{LABELS[Stage(outcome)]}'.")
    click.echo(result)


@applications_group.command("list")
@click.option(
    "--cadence",
    "cadence_status",
    type=click.Choice([status.value for status in CadenceStatus]),
    help="Only applications with this cadence status.",
)
@click.option("--requisition", "requisition_id", type=int, help="Only this requisition's.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=500, show_default=True)
@click.option("--as", "acting_as", metavar="EMAIL", help="Only what this user may see.")
def list_command(
    cadence_status: str | None, requisition_id: int | None, limit: int, acting_as: str | None
) -> None:
    """List open applications, most urgent first, with their next update due."""
    query, columns = cadence_query()
    if acting_as is not None:
        user = find_user_by_email(acting_as)
        if user is None or not user.active:
            raise click.ClickException(f"There is no active user {acting_as}.")
        query = query.where(visible_applications(user))
    query = (
        query.join(Candidate, Candidate.id == Application.candidate_id)
        .with_only_columns(
            Application.id,
            Candidate.name,
            Requisition.title,
            Application.stage,
            columns.status,
            columns.next_update_due,
        )
        .order_by(columns.urgency, columns.next_update_due, Application.id)
        .limit(limit)
    )
    if cadence_status:
        query = query.where(columns.status == cadence_status)
    if requisition_id is not None:
        query = query.where(Application.requisition_id == requisition_id)
    rows = [
        (
            str(app_id),
            name,
            title,
            LABELS[Stage(stage)],
            CADENCE_LABELS[CadenceStatus(status)],
            local_date(as_date(due)) if due else "—",
        )
        for app_id, name, title, stage, status, due in db.session.execute(query)
    ]
    if not rows:
        click.echo("No open applications match.")
        return

    echo_table(rows, ("ID", "CANDIDATE", "REQUISITION", "STAGE", "CADENCE", "NEXT UPDATE DUE"))


COMMANDS = [applications_group]
