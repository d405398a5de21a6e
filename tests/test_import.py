"""CSV import: header aliases, every bad row reported by line, all or nothing, duplicates by email."""

import io

import pytest
from sqlalchemy import func, select

from hiretrack.audit.models import AuditEntry
from hiretrack.candidates.importer import import_candidates, parse_mapping
from hiretrack.candidates.models import Application, Candidate
from hiretrack.errors import ValidationFailed
from hiretrack.extensions import db

GOOD = (
    "\ufeffFull name,E-mail,Phone number,Notes\r\n"
    "Ada Lovelace,Ada@Example.org,+44 20 1234,met at a conference\r\n"
    '"Grace Hopper, Jr.",grace@example.org,,\r\n'
)


def candidate_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Candidate))


def test_aliases_bom_and_quoted_commas_import_everyone(ctx, make_user):
    recruiter = make_user("recruiter")
    report = import_candidates(recruiter, GOOD.encode("utf-8"))
    db.session.commit()
    assert report.imported == 2 and not report.bad_rows
    assert report.columns == {"Full name": "name", "E-mail": "email", "Phone number": "phone"}
    assert report.ignored_columns == ["Notes"]
    people = {c.email: c for c in db.session.scalars(select(Candidate))}
    assert people["ada@example.org"].name == "Ada Lovelace"
    assert people["ada@example.org"].phone == "+44 20 1234"
    assert people["grace@example.org"].name == "Grace Hopper, Jr."
    assert people["grace@example.org"].phone is None
    created = db.session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "candidate.create")
    )
    assert created == 2


def test_every_bad_row_is_reported_with_its_line_and_nothing_is_imported(ctx, make_user):
    recruiter = make_user("recruiter")
    import_candidates(recruiter, "Name,Email\nTaken Person,taken@example.org\n")
    db.session.commit()
    data = (
        "Name,Email,Phone\n"
        "Fine Person,fine@example.org,123\n"  # line 2
        ",nobody@example.org,\n"  # line 3: no name
        "Bad Email,not-an-address,\n"  # line 4
        "Again Fine,FINE@example.org,\n"  # line 5: duplicate of line 2
        '"Multi\nLine",taken@example.org,\n'  # lines 6-7: already in the database
        "\n"  # blank: skipped
        "Too Many,many@example.org,1,extra\n"  # line 9
    )
    report = import_candidates(recruiter, data)
    assert report.imported == 0
    errors = {row.line: "; ".join(row.errors) for row in report.bad_rows}
    assert set(errors) == {3, 4, 5, 6, 9}
    assert "name is empty" in errors[3]
    assert "invalid email address" in errors[4]
    assert "already on line 2" in errors[5]
    assert "already exists" in errors[6]
    assert "4 values" in errors[9]
    assert report.error_lines()[0].startswith("Line 3: ")
    db.session.rollback()
    assert candidate_count() == 1


def test_control_characters_are_refused_as_in_the_forms_and_the_api(ctx, make_user):
    """A name's line breaks become spaces (a spreadsheet cell may wrap); other control
    characters are refused, and a phone number must be one line."""
    data = (
        "Name,Email,Phone\n"
        '"Zoë\n山田 🎉",zoe@example.org,+44 20 1234\n'  # line 2: fine
        "Ana\x9bSilva,ana@example.org,\n"  # line 4: a C1 control (CSI)
        'Bo Berg,bo@example.org,"+44\n20 1234"\n'  # line 5: a phone on two lines
    )
    report = import_candidates(make_user("recruiter"), data, dry_run=True)
    errors = {row.line: "; ".join(row.errors) for row in report.bad_rows}
    assert set(errors) == {4, 5}
    assert "the name must not contain control characters: remove the invisible" in errors[4]
    assert "(U+009B) at character 4" in errors[4]
    assert "the phone number must be a single line of text: remove the line break" in errors[5]
    assert report.rows[0].name == "Zoë 山田 🎉"


def test_dry_run_checks_without_writing(ctx, make_user):
    report = import_candidates(make_user("recruiter"), GOOD, dry_run=True)
    assert report.ok and report.dry_run and report.imported == 0
    db.session.commit()
    assert candidate_count() == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"Name,Email\n", "no rows"),
        (b"Name,Phone\nA,1\n", "an email"),
        (b"Email\na@example.org\n", "a name"),
        ("Name,Email\nJos\u00e9,j@example.org\n".encode("latin-1"), "not UTF-8"),
        (b"Name,Email,E-mail\nA,a@example.org,b@example.org\n", "Two columns"),
    ],
)
def test_file_level_problems_are_explained(ctx, make_user, data, message):
    with pytest.raises(ValidationFailed, match=message):
        import_candidates(make_user("recruiter"), data)


def test_mapping_and_first_and_last_name_columns(ctx, make_user, make_requisition):
    manager = make_user("manager")
    requisition = make_requisition(manager=manager)
    data = "Given name,Surname,Contact,Stage\nAlan,Turing,alan@example.org,Final round\n"
    mapping = parse_mapping(["Contact=email"])
    report = import_candidates(manager, data, mapping=mapping, requisition=requisition)
    db.session.commit()
    assert report.imported == 1
    application = db.session.scalars(select(Application)).one()
    assert application.candidate.name == "Alan Turing"
    assert application.stage == "final_round"
    assert application.requisition_id == requisition.id
    with pytest.raises(ValidationFailed, match="not a field"):
        parse_mapping(["Contact=mobile"])
    with pytest.raises(ValidationFailed, match="column=field"):
        parse_mapping(["Contact"])


def test_cli_import_dry_run_then_import_into_a_requisition(
    ctx, runner, tmp_path, make_user, make_requisition
):
    manager = make_user("manager")
    requisition = make_requisition(manager=manager)
    path = tmp_path / "people.csv"
    path.write_text(GOOD, encoding="utf-8")
    dry = runner.invoke(args=["import", "candidates", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Dry run: all 2 row(s) are fine" in dry.output
    assert candidate_count() == 0
    done = runner.invoke(
        args=["import", "candidates", str(path), "--requisition-id", str(requisition.id)]
    )
    assert done.exit_code == 0, done.output
    assert "Imported 2 candidate(s)" in done.output
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Application)) == 2
    again = runner.invoke(
        args=["import", "candidates", str(path), "--as", manager.email, "--mapping", "Notes=ignore"]
    )
    assert again.exit_code == 1
    assert "Line 2: a candidate with email ada@example.org already exists" in again.output
    assert "nothing was imported" in again.output


def test_upload_form_reports_bad_rows_then_imports(client, login, make_user, ctx):
    recruiter = make_user("recruiter")
    login(recruiter)
    page = client.get("/candidates/import")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.get_data(
        as_text=True
    )
    bad = GOOD + "No Email,,\r\n"
    response = client.post(
        "/candidates/import",
        data={"file": (io.BytesIO(bad.encode()), "people.csv"), "dry_run": "y"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "1 of 3 rows refused" in text and "the email is empty" in text
    checked = client.post(
        "/candidates/import",
        data={"file": (io.BytesIO(GOOD.encode()), "people.csv"), "dry_run": "y"},
        content_type="multipart/form-data",
    )
    assert checked.status_code == 200 and "All 2 rows are fine" in checked.get_data(as_text=True)
    assert candidate_count() == 0
    imported = client.post(
        "/candidates/import",
        data={"file": (io.BytesIO(GOOD.encode()), "people.csv")},
        content_type="multipart/form-data",
    )
    assert imported.status_code == 302
    assert candidate_count() == 2
    missing = client.post("/candidates/import", data={}, content_type="multipart/form-data")
    assert missing.status_code == 422 and "Choose a CSV file" in missing.get_data(as_text=True)


def test_upload_over_the_size_limit_is_refused_cleanly(client, login, make_user, ctx):
    login(make_user("recruiter"))
    # A body built by hand: the test client's own multipart encoder spools big files to a
    # temporary file that it leaves open when the server refuses the request.
    boundary = "----hiretrack-test"
    big = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
            "Content-Type: text/csv\r\n\r\nName,Email\r\n"
        ).encode()
        + b"x" * (2 * 1024 * 1024 + 10)
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = client.post(
        "/candidates/import",
        data=big,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert response.status_code == 413


def test_approvers_may_not_import(client, login, make_user, ctx):
    login(make_user("approver"))
    assert client.get("/candidates/import").status_code == 403
