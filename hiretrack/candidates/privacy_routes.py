"""Candidate data pages: the subject access export, anonymisation on request, and CSV import.

Registered on the `candidates` blueprint (imported at the bottom of `candidates/routes.py`).
"""

import json

from flask import Response, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from hiretrack.audit.services import record_change
from hiretrack.auth.access import get_candidate, get_requisition, require_role
from hiretrack.auth.models import Role
from hiretrack.candidates.importer import import_candidates, parse_mapping
from hiretrack.candidates.privacy import (
    ANONYMISE_REASONS,
    anonymise_candidate,
    erase_leftovers,
    export_candidate,
)
from hiretrack.candidates.routes import MANAGING_ROLES, _open_requisition_choices, bp
from hiretrack.extensions import db
from hiretrack.formatting import plural
from hiretrack.web import FORM_REJECTED, Form, as_choices, optional_int, run_service

#: Who handles data protection requests: they see every candidate.
PRIVACY_ROLES = (Role.RECRUITER, Role.ADMIN)


class AnonymiseForm(Form):
    reason = SelectField(
        "Why",
        choices=as_choices([("", "Choose…"), *ANONYMISE_REASONS.items()]),
        validators=[DataRequired(message="Choose why the data is being removed.")],
    )
    confirm = BooleanField(
        "I understand that the name, contact details, notes and emails are removed for good",
        validators=[InputRequired(message="Tick the box to confirm.")],
    )
    submit = SubmitField("Anonymise this candidate")


class ImportForm(Form):
    file = FileField("CSV file (UTF-8)", validators=[FileRequired("Choose a CSV file.")])
    requisition_id = SelectField(
        "Apply each candidate to", coerce=optional_int, validators=[Optional()]
    )
    mapping = TextAreaField("Column mapping (optional)", validators=[Optional(), Length(max=2000)])
    dry_run = BooleanField("Check only: report problems, import nothing", default=True)
    submit = SubmitField("Upload")


def _privacy_candidate(candidate_id: int):
    require_role(current_user, *PRIVACY_ROLES)
    return get_candidate(current_user, candidate_id)


def _audit_export(candidate, export_format: str) -> None:
    """Record who read a candidate's full data, and in which form (nothing of the data itself)."""
    record_change(current_user, "candidate.export", candidate, after={"format": export_format})
    db.session.commit()


@bp.get("/<int:candidate_id>/export")
@login_required
def export_page(candidate_id: int):
    """Show everything held about a candidate as a readable page, for a subject access request."""
    candidate = _privacy_candidate(candidate_id)
    export = export_candidate(candidate)
    _audit_export(candidate, "html")
    return render_template("candidates/export.html", candidate_id=candidate_id, export=export)


@bp.get("/<int:candidate_id>/export.json")
@login_required
def export_json_download(candidate_id: int):
    """Download everything held about a candidate as one JSON file."""
    candidate = _privacy_candidate(candidate_id)
    document = json.dumps(export_candidate(candidate), indent=2, ensure_ascii=False)
    _audit_export(candidate, "json")
    return Response(
        document,
        mimetype="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="candidate-{candidate_id}-export.json"',
            "Cache-Control": "no-store",
        },
    )


@bp.route("/<int:candidate_id>/anonymise", methods=["GET", "POST"])
@login_required
def anonymise(candidate_id: int):
    """Anonymise a candidate on request, after a confirmation step; the action is audited."""
    candidate = _privacy_candidate(candidate_id)
    if candidate.anonymised_at is not None:
        flash("This candidate's data was already anonymised.", "info")
        return redirect(url_for("candidates.detail", candidate_id=candidate_id))
    form = AnonymiseForm()
    if form.validate_on_submit():
        ok, _ = run_service(
            form, lambda: anonymise_candidate(current_user, candidate, form.reason.data)
        )
        if ok:
            db.session.commit()
            erase_leftovers()
            flash(f"Candidate #{candidate_id} was anonymised.", "success")
            return redirect(url_for("candidates.detail", candidate_id=candidate_id))
    candidate = get_candidate(current_user, candidate_id)
    status = FORM_REJECTED if form.is_submitted() else 200
    open_applications = [a for a in candidate.applications if a.closed_at is None]
    return render_template(
        "candidates/anonymise.html",
        form=form,
        candidate=candidate,
        open_applications=open_applications,
    ), status


@bp.route("/import", methods=["GET", "POST"])
@login_required
def import_csv():
    """Upload a CSV of candidates: check it (dry run) or import every row, all or nothing."""
    require_role(current_user, *MANAGING_ROLES)
    form = ImportForm()
    form.requisition_id.choices = as_choices([(None, "None")] + _open_requisition_choices())
    report = None
    if form.validate_on_submit():

        def run():
            mapping = parse_mapping(
                [line for line in (form.mapping.data or "").splitlines() if line.strip()]
            )
            requisition = (
                get_requisition(current_user, form.requisition_id.data, for_edit=True)
                if form.requisition_id.data is not None
                else None
            )
            return import_candidates(
                current_user,
                form.file.data.read(),
                mapping=mapping,
                requisition=requisition,
                dry_run=form.dry_run.data,
            )

        ok, report = run_service(form, run)
        if ok and report.imported:
            db.session.commit()
            flash(f"Imported {plural(report.imported, 'candidate')}.", "success")
            return redirect(url_for("candidates.index"))
        db.session.rollback()
    rejected = form.is_submitted() and (report is None or bool(report.bad_rows))
    return render_template(
        "candidates/import.html", form=form, report=report
    ), FORM_REJECTED if rejected else 200
