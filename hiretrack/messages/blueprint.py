"""The messages blueprint: its pages write to candidates or edit their emails, so writers only."""

from flask import Blueprint, request
from flask_login import current_user, login_required

from hiretrack.auth.access import require_role
from hiretrack.error_pages import problem
from hiretrack.errors import PermissionDenied

bp = Blueprint("messages", __name__)

WRITER_ROLES = ("manager", "recruiter", "admin")


@bp.before_request
@login_required
def require_writer():
    """Every page here writes to candidates or edits their emails: approvers have no access."""
    try:
        require_role(current_user, *WRITER_ROLES)
    except PermissionDenied as error:
        if request.is_json:  # the live preview reads JSON answers
            return problem(error.status, error.title, error.message)
        raise
    return None
