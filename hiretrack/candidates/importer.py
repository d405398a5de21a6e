"""Import candidates from the CSV files managers keep today, all or nothing.

Every row is checked before anything is written: the name, the email (email-validator, as in the
web form), the phone, duplicates by email within the file and against the database. If any row
is refused, nothing is imported and the report lists each bad row with its line number and why;
a dry run checks and reports without writing. Rows are then created through the same services as
the web form (`create_candidate`, `apply_to_requisition`), so each is audited.
"""

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import select

from hiretrack.auth.models import User
from hiretrack.auth.services import normalise_email
from hiretrack.candidates.models import Candidate
from hiretrack.candidates.services import apply_to_requisition, create_candidate
from hiretrack.candidates.stages import Stage
from hiretrack.errors import GuardrailRefused, ValidationFailed
from hiretrack.extensions import db
from hiretrack.requisitions.models import Requisition
from hiretrack.text import text_problem

#: The fields a column can fill.
FIELDS = ("name", "first_name", "last_name", "email", "phone", "stage")

#: Header spellings seen in real spreadsheets, after lower-casing and squeezing spaces, - and _.
ALIASES = {
    "name": "name",
    "full name": "name",
    "fullname": "name",
    "candidate": "name",
    "candidate name": "name",
    "first name": "first_name",
    "firstname": "first_name",
    "given name": "first_name",
    "forename": "first_name",
    "last name": "last_name",
    "lastname": "last_name",
    "surname": "last_name",
    "family name": "last_name",
    "email": "email",
    "e mail": "email",
    "email address": "email",
    "e mail address": "email",
    "mail": "email",
    "phone": "phone",
    "phone number": "phone",
    "telephone": "phone",
    "tel": "phone",
    "mobile": "phone",
    "mobile number": "phone",
    "stage": "stage",
}
STAGES = {
    "interviewing": Stage.INTERVIEWING,
    "interview": Stage.INTERVIEWING,
    "final round": Stage.FINAL_ROUND,
    "final_round": Stage.FINAL_ROUND,
    "final": Stage.FINAL_ROUND,
}
MAX_ROWS = 10_000
MAX_NAME_LENGTH = 200
MAX_PHONE_LENGTH = 40


def header_key(header: str) -> str:
    """Normalise a header for alias lookup: "E-mail_Address " -> "e mail address"."""
    return " ".join(header.replace("-", " ").replace("_", " ").lower().split())


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    """Read `column=field` overrides (as given on the command line) into {column: field}."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        column, separator, target = pair.partition("=")
        column, target = column.strip(), target.strip()
        if not separator or not column or not target:
            raise ValidationFailed(
                f"'{pair}' is not a mapping: write it as column=field, e.g. \"Cand. name=name\".",
                {"mapping": ["Write column=field."]},
            )
        if target not in (*FIELDS, "ignore"):
            options = ", ".join((*FIELDS, "ignore"))
            raise ValidationFailed(
                f"'{target}' is not a field: map a column to one of {options}.",
                {"mapping": [f"One of {options}."]},
            )
        mapping[header_key(column)] = target
    return mapping


@dataclass
class RowResult:
    """One data row: where it is in the file, what it says, and what is wrong with it."""

    line: int
    name: str = ""
    email: str = ""
    phone: str | None = None
    stage: Stage = Stage.INTERVIEWING
    email_valid: bool = False
    errors: list[str] = field(default_factory=list)
    candidate_id: int | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class ImportReport:
    """What an import found and did; `imported` is 0 whenever any row was refused."""

    dry_run: bool
    columns: dict[str, str] = field(default_factory=dict)  # header -> field
    ignored_columns: list[str] = field(default_factory=list)
    rows: list[RowResult] = field(default_factory=list)
    imported: int = 0

    @property
    def bad_rows(self) -> list[RowResult]:
        return [row for row in self.rows if not row.ok]

    @property
    def ok(self) -> bool:
        return bool(self.rows) and not self.bad_rows

    def error_lines(self) -> list[str]:
        return [f"Line {row.line}: {'; '.join(row.errors)}" for row in self.bad_rows]


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValidationFailed(
            f"The file is not UTF-8 text (byte {error.start + 1} is not valid UTF-8). In your "
            "spreadsheet, save or export it as 'CSV UTF-8'.",
            {"file": ["Not UTF-8."]},
        ) from None


def _map_columns(
    headers: list[str], overrides: dict[str, str]
) -> tuple[dict[int, str], dict[str, str], list[str]]:
    """Map header positions to fields; refuse a file without a name and an email column."""
    by_position: dict[int, str] = {}
    columns: dict[str, str] = {}
    ignored: list[str] = []
    for position, header in enumerate(headers):
        key = header_key(header)
        target = overrides.get(key) or ALIASES.get(key)
        if target is None or target == "ignore" or not key:
            if header.strip():
                ignored.append(header.strip())
            continue
        if target in by_position.values():
            raise ValidationFailed(
                f"Two columns fill '{target}' (the second is '{header.strip()}'): map one of "
                f"them to 'ignore', e.g. --mapping \"{header.strip()}=ignore\".",
                {"file": ["Two columns for one field."]},
            )
        by_position[position] = target
        columns[header.strip()] = target
    fields = set(by_position.values())
    missing = []
    if "name" not in fields and not {"first_name", "last_name"} <= fields:
        missing.append("a name (a 'Name' or 'Full name' column, or 'First name' and 'Last name')")
    if "email" not in fields:
        missing.append("an email ('Email' or 'E-mail')")
    if missing:
        found = ", ".join(f"'{h.strip()}'" for h in headers if h.strip()) or "none"
        raise ValidationFailed(
            f"The first line must name the columns, with {' and '.join(missing)}. Columns "
            f"found: {found}. Map others with column=field.",
            {"file": ["Missing columns."]},
        )
    return by_position, columns, ignored


def _check_row(row: RowResult, values: dict[str, str]) -> None:
    name = values.get("name") or " ".join(
        part for part in (values.get("first_name"), values.get("last_name")) if part
    )
    row.name = " ".join(name.split())
    if not row.name:
        row.errors.append("the name is empty")
    elif len(row.name) > MAX_NAME_LENGTH:
        row.errors.append(f"the name is longer than {MAX_NAME_LENGTH} characters")
    raw_email = (values.get("email") or "").strip()
    if not raw_email:
        row.errors.append("the email is empty")
    else:
        try:
            row.email = normalise_email(raw_email)
            row.email_valid = True
        except ValidationFailed as error:
            row.email = raw_email
            row.errors.append(error.message[0].lower() + error.message[1:])
    phone = (values.get("phone") or "").strip()
    if len(phone) > MAX_PHONE_LENGTH:
        row.errors.append(f"the phone number is longer than {MAX_PHONE_LENGTH} characters")
    row.phone = phone or None
    stage = header_key(values.get("stage") or "")
    if stage:
        if stage not in STAGES:
            row.errors.append(
                f"the stage '{values['stage'].strip()}' is not one a new application starts "
                "at (interviewing or final round)"
            )
        else:
            row.stage = STAGES[stage]
    # The typed-text rule of the forms and the API (`hiretrack.text`): a cell may hold line
    # breaks and tabs (a name's are made spaces above), what is kept must be one line.
    for key, value in values.items():
        if problem := text_problem(value, f"the {key.replace('_', ' ')}", multi_line=True):
            row.errors.append(problem.removesuffix("."))
    if row.phone and (problem := text_problem(row.phone, "the phone number")):
        row.errors.append(problem.removesuffix("."))


def _existing_emails(emails: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(emails), 500):
        chunk = emails[start : start + 500]
        found |= set(db.session.scalars(select(Candidate.email).where(Candidate.email.in_(chunk))))
    return found


def read_rows(
    data: bytes | str, mapping: dict[str, str] | None = None
) -> tuple[ImportReport, list[RowResult]]:
    """Parse and check the file; every row's problems are collected, none raised."""
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    report = ImportReport(dry_run=True)
    try:
        headers = next(reader, None)
        if headers is None or not any(h.strip() for h in headers):
            raise ValidationFailed(
                "The file is empty: the first line must name the columns (e.g. Name,Email,Phone).",
                {"file": ["Empty."]},
            )
        by_position, report.columns, report.ignored_columns = _map_columns(headers, mapping or {})
        previous_line = reader.line_num
        for cells in reader:
            line, previous_line = previous_line + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(report.rows) >= MAX_ROWS:
                raise ValidationFailed(
                    f"The file has more than {MAX_ROWS:,} rows: split it into smaller files.",
                    {"file": ["Too many rows."]},
                )
            row = RowResult(line=line)
            if len(cells) > len(headers):
                row.errors.append(
                    f"it has {len(cells)} values but the first line names {len(headers)} "
                    "columns (a comma inside a value needs quotes)"
                )
            values = {
                target: (cells[position] if position < len(cells) else "")
                for position, target in by_position.items()
            }
            _check_row(row, values)
            report.rows.append(row)
    except csv.Error as error:
        raise ValidationFailed(
            f"Line {reader.line_num}: the file is not valid CSV ({error}).", {"file": [str(error)]}
        ) from None
    first_line: dict[str, int] = {}
    for row in report.rows:
        if not row.email_valid:
            continue
        if row.email in first_line:
            row.errors.append(f"{row.email} is already on line {first_line[row.email]}")
        else:
            first_line[row.email] = row.line
    existing = _existing_emails(list(first_line))
    for row in report.rows:
        if row.email in existing and first_line.get(row.email) == row.line:
            row.errors.append(f"a candidate with email {row.email} already exists")
    if not report.rows:
        raise ValidationFailed("The file has a header but no rows to import.", {"file": ["Empty."]})
    return report, report.rows


def import_candidates(
    actor: User | None,
    data: bytes | str,
    *,
    mapping: dict[str, str] | None = None,
    requisition: Requisition | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """Check every row, then create them all (and apply each to requisition) or none.

    The caller commits. With any bad row, or with dry_run, nothing is added to the session.
    """
    report, rows = read_rows(data, mapping)
    report.dry_run = dry_run
    if requisition is not None and requisition.is_closed:
        raise GuardrailRefused(f"The requisition '{requisition.title}' is {requisition.status}.")
    if dry_run or report.bad_rows:
        return report
    if actor is None:
        raise GuardrailRefused("Say who is importing: the candidates are added in their name.")
    for row in rows:
        candidate = create_candidate(actor, row.name, row.email, row.phone)
        if requisition is not None:
            apply_to_requisition(actor, candidate, requisition, row.stage)
        db.session.flush()
        row.candidate_id = candidate.id
    report.imported = len(rows)
    return report
