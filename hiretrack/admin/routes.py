"""Admin pages: users, departments, organisation settings, and the audit log with CSV export."""

import csv
import io
import json
from datetime import UTC, datetime, time, timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import func, select

from hiretrack.admin import services
from hiretrack.admin.audit_log import describe
from hiretrack.admin.forms import (
    AuditFilterForm,
    DepartmentForm,
    SettingsForm,
    UserForm,
)
from hiretrack.admin.models import Department
from hiretrack.audit.models import AuditEntry
from hiretrack.auth import services as auth_services
from hiretrack.auth.access import require_role
from hiretrack.auth.models import ROLE_LABELS, User
from hiretrack.database import Base
from hiretrack.extensions import db
from hiretrack.formatting import user_timezone
from hiretrack.submissions import submitted_once
from hiretrack.web import FORM_REJECTED, as_choices, paginate, run_service, user_choices

bp = Blueprint("admin", __name__, url_prefix="/admin")

#: Characters that make a spreadsheet treat a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@bp.before_request
@login_required
def require_admin():
    """Every admin page is for admins only."""
    require_role(current_user, "admin")


@bp.get("/")
def index():
    """The admin start page, with a count for each section."""
    counts = db.session.execute(
        select(
            select(func.count(User.id)).where(User.active.is_(True)).scalar_subquery(),
            select(func.count(User.id)).where(User.active.is_(False)).scalar_subquery(),
            select(func.count(Department.id)).scalar_subquery(),
        )
    ).one()
    return render_template(
        "admin/index.html",
        active_users=counts[0],
        inactive_users=counts[1],
        departments=counts[2],
        settings=services.effective_settings(),
    )


@bp.get("/users")
def users():
    """List users, active first."""
    page = paginate(select(User).order_by(User.active.desc(), User.name, User.id))
    return render_template("admin/users.html", page=page, roles=ROLE_LABELS)


@bp.route("/users/new", methods=["GET", "POST"])
@submitted_once
def new_user():
    """Create a user with an initial password they should change on first sign-in."""
    form = UserForm()
    if form.validate_on_submit():

        def create():
            user = auth_services.create_user(
                form.email.data,
                form.name.data,
                form.role.data,
                form.password.data,
                actor=current_user,
                phone=(form.phone.data or "").strip(),
            )
            user.timezone = (form.timezone.data or "").strip() or None
            return user

        ok, user = run_service(form, create)
        if ok:
            db.session.commit()
            flash(f"User {user.email} created. Ask them to change the password.", "success")
            return redirect(url_for("admin.users"))
    status = FORM_REJECTED if form.is_submitted() else 200
    return render_template("admin/user_form.html", form=form), status


def _set_active(user_id: int, active: bool):
    """Switch a user on or off (CSRFProtect has already checked the form's token)."""
    user = db.session.get(User, user_id) if 0 < user_id < 2**63 else None
    if user is None:
        abort(404)
    if user.id == current_user.id and not active:
        flash("You cannot deactivate yourself: ask another admin.", "error")
        return redirect(url_for("admin.users"))
    auth_services.set_active(user, active, current_user)
    db.session.commit()
    state = "reactivated" if active else "deactivated: their sessions and API tokens ended"
    flash(f"{user.name} {state}.", "success")
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/deactivate")
def deactivate_user(user_id: int):
    """Deactivate a user: they cannot sign in, and every session and token ends at once."""
    return _set_active(user_id, False)


@bp.post("/users/<int:user_id>/activate")
def activate_user(user_id: int):
    """Let a deactivated user sign in again."""
    return _set_active(user_id, True)


@bp.route("/departments", methods=["GET", "POST"])
def departments():
    """List departments and add one."""
    form = DepartmentForm()
    if form.validate_on_submit():
        ok, department = run_service(
            form, lambda: services.create_department(current_user, form.name.data)
        )
        if ok:
            db.session.commit()
            flash(f"Department '{department.name}' added.", "success")
            return redirect(url_for("admin.departments"))
    page = paginate(select(Department).order_by(Department.name))
    status = FORM_REJECTED if form.is_submitted() else 200
    return render_template("admin/departments.html", form=form, page=page), status


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    """Edit the company name, sender address, default cadence and holiday calendar."""
    effective = services.effective_settings()
    form = SettingsForm(
        data={
            "company_name": effective.company_name,
            "mail_from": effective.mail_from,
            "cadence_business_days": effective.cadence_business_days,
            "holidays": effective.holidays or "",
        }
        if request.method == "GET"
        else None
    )
    if form.validate_on_submit():
        ok, _ = run_service(
            form,
            lambda: services.save_settings(
                current_user,
                company_name=form.company_name.data,
                mail_from=form.mail_from.data,
                cadence_business_days=form.cadence_business_days.data,
                holidays=form.holidays.data,
            ),
        )
        if ok:
            db.session.commit()
            flash("Settings saved.", "success")
            return redirect(url_for("admin.settings"))
    status = FORM_REJECTED if form.is_submitted() else 200
    return render_template("admin/settings.html", form=form, effective=effective), status


def _audit_filters() -> tuple[AuditFilterForm, list]:
    """Read the audit filters; a bad one is reported on the form and not applied."""
    form = AuditFilterForm(request.args)
    form.entity_type.choices = as_choices(
        [("", "Any")] + [(name, name.replace("_", " ")) for name in sorted(Base.metadata.tables)]
    )
    form.actor.choices = user_choices(include_none="Anyone")
    form.validate()
    conditions = []
    if form.entity_type.data and not form.entity_type.errors:
        conditions.append(AuditEntry.entity_type == form.entity_type.data)
    if form.actor.data is not None and not form.actor.errors:
        conditions.append(AuditEntry.actor_id == form.actor.data)
    if form.action.data and not form.action.errors:
        conditions.append(
            AuditEntry.action.contains(form.action.data.strip().lower(), autoescape=True)
        )
    zone = user_timezone()
    if form.date_from.data and not form.date_from.errors:
        start = datetime.combine(form.date_from.data, time.min, tzinfo=zone).astimezone(UTC)
        conditions.append(AuditEntry.created_at >= start)
    if form.date_to.data and not form.date_to.errors:
        end = datetime.combine(form.date_to.data + timedelta(days=1), time.min, tzinfo=zone)
        conditions.append(AuditEntry.created_at < end.astimezone(UTC))
    return form, conditions


@bp.get("/audit")
def audit():
    """Who changed what: the audit log, filterable by record type, person, action and date."""
    form, conditions = _audit_filters()
    page = paginate(
        select(AuditEntry)
        .where(*conditions)
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc()),
        per_page=50,
    )
    return render_template("admin/audit.html", form=form, page=page, lines=describe(page.items))


def spreadsheet_safe(value) -> str:
    """Text for a CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


@bp.get("/audit.csv")
def audit_csv():
    """Export the filtered audit log as CSV, streamed so any size fits in constant memory."""
    form, conditions = _audit_filters()
    query = (
        select(AuditEntry, User.email)
        .outerjoin(User, User.id == AuditEntry.actor_id)
        .where(*conditions)
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .execution_options(yield_per=500)
    )

    def rows():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(
            ["when_utc", "actor", "action", "entity_type", "entity_id", "before", "after"]
        )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        for entry, email in db.session.execute(query):
            writer.writerow(
                [
                    spreadsheet_safe(value)
                    for value in (
                        entry.created_at.isoformat(),
                        email or entry.actor_label,
                        entry.action,
                        entry.entity_type,
                        entry.entity_id,
                        json.dumps(entry.before, sort_keys=True) if entry.before else "",
                        json.dumps(entry.after, sort_keys=True) if entry.after else "",
                    )
                ]
            )
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()

    return Response(
        stream_with_context(rows()),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=audit-log.csv"},
    )
