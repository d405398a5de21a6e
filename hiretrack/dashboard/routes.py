"""The dashboard: who is waiting on the signed-in user, most urgent first."""

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required

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
    """Show the user's waiting candidates ordered by urgency."""
    return render_template("dashboard/index.html")
