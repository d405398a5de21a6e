"""The dashboard: who is waiting on the signed-in user, most urgent first."""

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from hiretrack.dashboard.queries import (
    STATUS_FILTERS,
    dashboard_statements,
    load_dashboard,
)
from hiretrack.inbound.queries import SORTING_ROLES, open_unmatched_count
from hiretrack.messages.blueprint import WRITER_ROLES
from hiretrack.web import today

bp = Blueprint("dashboard", __name__)


@bp.get("/")
def home():
    """Send visitors to their dashboard, or to sign in."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    return redirect(url_for("auth.login"))


@bp.get("/dashboard")
@login_required
def index():
    """Show the user's waiting candidates ordered by urgency, with the counters that need action."""
    status_filter = request.args.get("status")
    if status_filter not in STATUS_FILTERS:
        status_filter = None
    statements = dashboard_statements(current_user, today())
    figures, page = load_dashboard(current_user, statements, status_filter)
    sorts_mail = current_user.role in SORTING_ROLES
    return render_template(
        "dashboard/index.html",
        counters=figures,
        unmatched_mail=open_unmatched_count() if sorts_mail else 0,
        sees_outbox=current_user.role in WRITER_ROLES,
        page=page,
        status_filter=status_filter,
        today=today(),
    )
