"""`hiretrack report holds|approvals|cadence|closure`: reports for cron mail and spreadsheets."""

import click
from sqlalchemy import func, select

from hiretrack.admin.models import Department
from hiretrack.auth.models import Role, User
from hiretrack.auth.services import normalise_email
from hiretrack.errors import ValidationFailed
from hiretrack.extensions import db
from hiretrack.reports import services
from hiretrack.reports.exports import csv_chunks, json_chunks, stream_rows, text_table
from hiretrack.reports.tables import Report

FORMATS = ("table", "csv", "json")


def _department_id(value: str | None) -> str | None:
    """Accept a department's id or its name (any case); the filter parser checks ids."""
    if not value or value.strip().isdigit():
        return value
    found = db.session.scalar(
        select(Department.id).where(func.lower(Department.name) == value.strip().lower())
    )
    if found is None:
        names = ", ".join(db.session.scalars(select(Department.name).order_by(Department.name)))
        raise click.BadParameter(
            f"No department named '{value}'. Departments: {names or 'none yet'}.",
            param_hint="--department",
        )
    return str(found)


def _reader(email: str | None) -> User:
    """Whose view of the figures to print: a user's (by email), else the whole organisation's."""
    if not email:
        # Not stored: the command runs with server access, so it sees every department.
        return User(role=Role.ADMIN.value, name="HireTrack command line")
    try:
        address = normalise_email(email)
    except ValidationFailed as error:
        raise click.BadParameter(error.message, param_hint="--user") from None
    user = db.session.scalar(select(User).where(func.lower(User.email) == address))
    if user is None or not user.active:
        raise click.BadParameter(f"No active user with email {email}.", param_hint="--user")
    return user


def _echo_tables(report: Report) -> None:
    click.echo(f"{report.title} · as of {report.today.isoformat()} · {report.filters.describe()}")
    if report.period_note:
        click.echo(report.period_note)
    for table in report.tables:
        click.echo("")
        click.echo(table.title)
        click.echo("-" * len(table.title))
        for line in text_table(table, list(stream_rows(table))):
            click.echo(line)


def _report_command(name: str) -> click.Command:
    @click.command(name, help=f"Print the {services.REPORTS[name].lower()} report.")
    @click.option(
        "--format",
        "output_format",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="table for people, csv for spreadsheets, json for programs.",
    )
    @click.option("--from", "date_from", metavar="YYYY-MM-DD", help="First day of the period.")
    @click.option("--to", "date_to", metavar="YYYY-MM-DD", help="Last day of the period.")
    @click.option("--department", metavar="ID_OR_NAME", help="Only this department.")
    @click.option(
        "--user",
        "email",
        metavar="EMAIL",
        help="Show only what this user may see (default: the whole organisation).",
    )
    def command(output_format, date_from, date_to, department, email) -> None:
        values = {"from": date_from, "to": date_to, "department": _department_id(department)}
        try:
            report = services.build_report(name, _reader(email), values)
        except ValidationFailed as error:
            problems = "; ".join(
                f"--{field}: {' '.join(messages)}" for field, messages in error.errors.items()
            )
            raise click.UsageError(f"{error.message} {problems}".strip()) from None
        if output_format == "table":
            _echo_tables(report)
            return
        chunks = csv_chunks(report) if output_format == "csv" else json_chunks(report)
        for chunk in chunks:
            click.echo(chunk, nl=False)

    command.__doc__ = f"Print the {services.REPORTS[name].lower()} report."
    return command


@click.group("report", help="Print a report: holds, approvals, cadence or closure.")
def report_group() -> None:
    """Group the report commands under `hiretrack report`."""


for _name in services.REPORTS:
    report_group.add_command(_report_command(_name))

COMMANDS = [report_group]
