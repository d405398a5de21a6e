"""The pipeline board of a requisition, and moving a card through the same rules as the stage form."""

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select, true

from hiretrack.auth.access import editable_requisitions, get_application, get_requisition
from hiretrack.candidates import services
from hiretrack.candidates.forms import stage_form_for
from hiretrack.candidates.stages import CLOSED_OUTCOMES, LABELS, Stage
from hiretrack.errors import NotFound
from hiretrack.extensions import db
from hiretrack.pipeline.queries import PIPELINE_COLUMNS, board_columns
from hiretrack.requisitions.models import Requisition
from hiretrack.submissions import submitted_once
from hiretrack.web import FORM_REJECTED, run_service, today, version_of

bp = Blueprint("pipeline", __name__, url_prefix="/requisitions")


def _can_move(requisition: Requisition) -> bool:
    """Whether the signed-in user may move this requisition's candidates (asked of the database)."""
    return bool(
        db.session.scalar(
            select(true()).where(
                Requisition.id == requisition.id, editable_requisitions(current_user)
            )
        )
    )


def _render_board(requisition: Requisition, refusal: dict | None = None, status: int = 200):
    columns = board_columns(requisition, today())
    return render_template(
        "pipeline/board.html",
        requisition=requisition,
        columns=columns,
        can_move=_can_move(requisition),
        stage_labels=LABELS,
        column_labels={stage.value: label for stage, label in PIPELINE_COLUMNS.items()},
        refusal=refusal,
        today=today(),
    ), status


@bp.get("/<int:requisition_id>/pipeline")
@login_required
def board(requisition_id: int):
    """Show the requisition's open candidates as a board, one column per stage, with counts."""
    return _render_board(get_requisition(current_user, requisition_id))


@bp.post("/<int:requisition_id>/pipeline/applications/<int:application_id>/move")
@login_required
@submitted_once
def move(requisition_id: int, application_id: int):
    """Move one card: the stage form's rules and closure guard, answered on the board."""
    requisition = get_requisition(current_user, requisition_id, for_edit=True)
    application = get_application(current_user, application_id, for_edit=True)
    if application.requisition_id != requisition.id:
        raise NotFound("No such application on this requisition.")
    form = stage_form_for(application.stage)
    valid = form.validate_on_submit()
    closing = form.target.data in {stage.value for stage in CLOSED_OUTCOMES}
    if closing and form.is_submitted() and not (form.target.errors or "csrf_token" in form.errors):
        # Closing needs closure (the email or a recorded contact): the stage form asks for it.
        flash(
            f"Closing {application.candidate.name}'s application needs closure: "
            "choose how they hear about it.",
            "info",
        )
        return redirect(
            url_for("candidates.change_stage", application_id=application.id, to=form.target.data)
        )
    if valid:
        target = Stage(form.target.data)
        ok, _ = run_service(
            form,
            lambda: services.change_stage(
                current_user,
                application,
                target,
                note=form.note.data or "",
                expected_version=version_of(form),
            ),
        )
        if ok:
            db.session.commit()
            flash(f"{application.candidate.name} moved to {LABELS[target]}.", "success")
            return redirect(
                url_for("pipeline.board", requisition_id=requisition.id) + f"#card-{application.id}"
            )
    messages = list(form.form_errors)
    for name, errors in form.errors.items():
        if name != "csrf_token":
            messages.extend(errors)
    if "csrf_token" in form.errors:
        messages.append("The form expired; reload the board and try again.")
    refusal = {
        "application_id": application.id,
        "candidate": application.candidate.name,
        "messages": list(dict.fromkeys(messages)),
    }
    db.session.rollback()
    return _render_board(get_requisition(current_user, requisition_id), refusal, FORM_REJECTED)
