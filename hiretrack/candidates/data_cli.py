"""`hiretrack candidates export --id N` and `hiretrack import candidates FILE.csv`.

Listed in `hiretrack.candidates.cli.COMMANDS` beside the applications commands.
"""

from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from hiretrack.auth.access import get_requisition
from hiretrack.auth.models import Role, User
from hiretrack.auth.services import find_user_by_email
from hiretrack.candidates.importer import import_candidates, parse_mapping
from hiretrack.candidates.models import Candidate
from hiretrack.candidates.privacy import export_json
from hiretrack.errors import DomainError
from hiretrack.extensions import db
from hiretrack.requisitions.models import Requisition


@click.group("candidates", help="Candidates' personal data: subject access exports.")
def candidates_group() -> None:
    pass


@candidates_group.command("export")
@click.option("--id", "candidate_id", type=int, required=True, help="The candidate's id.")
@with_appcontext
def export_command(candidate_id: int) -> None:
    """Print everything held about one candidate as JSON (a subject access export)."""
    candidate = db.session.get(Candidate, candidate_id)
    if candidate is None:
        raise click.ClickException(f"There is no candidate {candidate_id}.")
    click.echo(export_json(candidate))


@click.group("import", help="Import data from CSV files.")
def import_group() -> None:
    pass


def _importing_user(
    acting_as: str | None, requisition: Requisition | None, dry_run: bool
) -> User | None:
    """Who the import acts as: --as, else the requisition's manager, else the first admin."""
    if acting_as:
        user = find_user_by_email(acting_as)
        if user is None or not user.active:
            raise click.ClickException(f"There is no active user {acting_as}.")
        return user
    if requisition is not None:
        return requisition.manager
    admin = db.session.scalars(
        select(User).where(User.role == Role.ADMIN, User.active.is_(True)).order_by(User.id)
    ).first()
    if admin is None and not dry_run:
        raise click.ClickException("Say who is importing with --as EMAIL.")
    return admin


@import_group.command("candidates")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check every row and report; import nothing.")
@click.option(
    "--mapping",
    "mappings",
    multiple=True,
    metavar="COLUMN=FIELD",
    help="Map a column to name, first_name, last_name, email, phone, stage or ignore "
    '(repeatable), e.g. --mapping "Cand. email=email".',
)
@click.option(
    "--requisition-id", type=int, help="Apply every imported candidate to this requisition."
)
@click.option(
    "--as", "acting_as", metavar="EMAIL", help="Import as this user (their access applies)."
)
@with_appcontext
def import_candidates_command(
    file: Path,
    dry_run: bool,
    mappings: tuple[str, ...],
    requisition_id: int | None,
    acting_as: str | None,
) -> None:
    """Import candidates from a CSV file (UTF-8, first line names the columns), all or nothing."""
    try:
        mapping = parse_mapping(list(mappings))
        requisition = None
        if requisition_id is not None:
            requisition = db.session.get(Requisition, requisition_id)
            if requisition is None:
                raise click.ClickException(f"There is no requisition {requisition_id}.")
        actor = _importing_user(acting_as, requisition, dry_run)
        if requisition is not None:
            requisition = get_requisition(actor, requisition.id, for_edit=True)
        report = import_candidates(
            actor, file.read_bytes(), mapping=mapping, requisition=requisition, dry_run=dry_run
        )
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    columns = ", ".join(f"{header} → {target}" for header, target in report.columns.items())
    click.echo(f"Columns: {columns}")
    if report.ignored_columns:
        click.echo(f"Ignored columns: {', '.join(report.ignored_columns)}")
    if report.bad_rows:
        db.session.rollback()
        for line in report.error_lines():
            click.echo(line, err=True)
        raise click.ClickException(
            f"{len(report.bad_rows)} of {len(report.rows)} row(s) refused; nothing was imported. "
            "Fix them and run the import again."
        )
    if dry_run:
        click.echo(f"Dry run: all {len(report.rows)} row(s) are fine; nothing was imported.")
        return
    db.session.commit()
    target = f" and applied them to '{requisition.title}'" if requisition is not None else ""
    click.echo(f"Imported {report.imported} candidate(s){target}.")


COMMANDS = [candidates_group, import_group]
