"""The dashboard: who is waiting on the signed-in user, most urgent first."""

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from hiretrack.dashboard.display import shown_rows
from hiretrack.dashboard.queries import (
    STATUS_FILTERS,
    dashboard_statements,
    load_dashboard,
)
from hiretrack.messages.blueprint import WRITER_ROLES
from hiretrack.messages.routes.drafts import remember_drafts_waiting
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
    # The user itself, not the proxy: the page reads it for every row.
    user = current_user._get_current_object()
    status_filter = request.args.get("status")
    if status_filter not in STATUS_FILTERS:
        status_filter = None
    day = today()
    statements = dashboard_statements(user, day)
    figures, page = load_dashboard(user, statements, status_filter)
    remember_drafts_waiting(figures.drafts_waiting)
    return render_template(
        "dashboard/index.html",
        counters=figures,
        unmatched_mail=figures.unmatched_mail,
        sees_outbox=user.role in WRITER_ROLES,
        page=page,
        rows=shown_rows(page.items, day),
        status_filter=status_filter,
        today=day,
    )
