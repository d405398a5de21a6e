"""Sign in, sign out, and the profile page (password, API tokens)."""

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from hiretrack.auth import services
from hiretrack.auth.forms import ApiTokenForm, ChangePasswordForm, LoginForm, TimezoneForm
from hiretrack.auth.models import ApiToken
from hiretrack.auth.redirects import safe_next_url
from hiretrack.errors import DomainError
from hiretrack.extensions import db

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in; every failure gets the same message, whatever its cause."""
    if current_user.is_authenticated:
        return redirect(safe_next_url(request.args.get("next")) or url_for("dashboard.index"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = services.authenticate(
                form.email.data, form.password.data, request.remote_addr or "-"
            )
        except (services.LoginFailed, services.LoginThrottled) as error:
            flash(error.message, "error")
        else:
            login_user(user)
            return redirect(safe_next_url(request.args.get("next")) or url_for("dashboard.index"))
    elif form.is_submitted():
        flash(services.LOGIN_FAILED_MESSAGE, "error")
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    """Sign out everywhere: the session token rotates, so copied cookies stop working too."""
    services.end_all_sessions(current_user)
    db.session.commit()
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    """Show the profile: change password, create and revoke personal API tokens."""
    password_form = ChangePasswordForm(prefix="pw")
    token_form = ApiTokenForm(prefix="tok")
    zone_form = TimezoneForm(
        prefix="tz", default_zone=current_app.config["TIMEZONE"], data=_zone_data()
    )
    new_token = None
    if password_form.submit.data and password_form.validate_on_submit():
        try:
            services.change_password(
                current_user, password_form.current_password.data, password_form.new_password.data
            )
        except DomainError as error:
            flash(error.message, "error")
        else:
            db.session.commit()
            # This session continues with the new token; every other one has ended.
            login_user(current_user._get_current_object())
            flash("Password changed. You were signed out everywhere else.", "success")
            return redirect(url_for("auth.profile"))
    elif zone_form.submit.data and zone_form.validate_on_submit():
        try:
            services.set_timezone(current_user, zone_form.timezone.data)
        except DomainError as error:
            flash(error.message, "error")
        else:
            db.session.commit()
            flash("Time zone saved: times are now shown in it.", "success")
            return redirect(url_for("auth.profile"))
    elif token_form.submit.data and token_form.validate_on_submit():
        _, new_token = services.create_api_token(current_user, token_form.label.data)
        db.session.commit()
        flash("Token created. Copy it now: it will not be shown again.", "success")
    tokens = db.session.scalars(
        select(ApiToken)
        .where(ApiToken.user_id == current_user.id)
        .order_by(ApiToken.created_at.desc())
    ).all()
    return render_template(
        "auth/profile.html",
        password_form=password_form,
        token_form=token_form,
        zone_form=zone_form,
        tokens=tokens,
        new_token=new_token,
    )


def _zone_data() -> dict | None:
    """Preselect the user's saved zone, unless this request posts the form."""
    if request.method == "POST":
        return None
    return {"timezone": current_user.timezone or ""}


@bp.post("/profile/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    """Revoke one of your API tokens."""
    services.revoke_api_token(current_user, token_id)
    db.session.commit()
    flash("Token revoked.", "success")
    return redirect(url_for("auth.profile"))
