"""The candidate's status page (no login: the link is the key) and the manager's revoke action.

Every status request is counted per address and, for a valid link, per link, in the database;
a wrong, revoked or expired link gets the same neutral page and status code. See
docs/status-page.md.
"""

import logging

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf.csrf import CSRFError
from sqlalchemy.orm.exc import StaleDataError

from hiretrack.auth.access import get_application
from hiretrack.auth.redirects import safe_next_url
from hiretrack.candidates.models import Application
from hiretrack.error_pages import handle_http_error
from hiretrack.errors import DomainError, ValidationFailed
from hiretrack.extensions import db
from hiretrack.status import links, ratelimit, services
from hiretrack.status.forms import FeedbackForm, QuestionForm, WithdrawForm

logger = logging.getLogger(__name__)

bp = Blueprint("status", __name__)

#: One status code for every link that does not open a page, whatever the reason.
NEUTRAL_STATUS = 404
FORM_REJECTED = 422


@bp.after_app_request
def protect_status_responses(response):
    """Keep status pages (their URL is the secret) out of referrers, search engines and caches."""
    if request.path.startswith("/status/"):
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Robots-Tag"] = "noindex"
        response.headers["Cache-Control"] = "no-store"
    return response


def _open(token: str, *, asking: bool = False):
    """Count this request and resolve its link: (application, None), or (None, the page to show).

    The link is looked up before counting so that the per-link counters exist only for real
    links; a guess costs one per-address hit and never creates a row of its own.
    """
    application = links.find_application(token)
    checks = [(ratelimit.ip_key(request.remote_addr), ratelimit.PER_IP)]
    if application is not None:
        token_hash = links.hash_token(token)
        checks.append((ratelimit.link_key(token_hash), ratelimit.PER_LINK))
        if asking:
            checks.append((ratelimit.question_key(token_hash), ratelimit.QUESTIONS_PER_LINK))
    if ratelimit.hit(checks):
        wait = ratelimit.seconds_until_unblocked([key for key, _ in checks])
        minutes = max(1, -(-wait // 60))
        response = render_template("status/too_many.html", minutes=minutes), 429
        return None, (*response, {"Retry-After": str(wait)})
    if application is None:
        return None, (render_template("status/invalid.html"), NEUTRAL_STATUS)
    return application, None


def _render_page(token: str, application: Application, *, question_form=None, status=200):
    page = services.status_page(application)
    return (
        render_template(
            "status/page.html",
            token=token,
            page=page,
            question_form=question_form or QuestionForm(),
        ),
        status,
    )


def _page_url(token: str, anchor: str = "") -> str:
    return url_for("status.page", token=token) + (f"#{anchor}" if anchor else "")


@bp.get("/status/<token>")
def page(token: str):
    """Show the candidate where things stand and when they will hear from us next."""
    application, refusal = _open(token)
    if refusal is not None:
        return refusal
    return _render_page(token, application)


@bp.get("/status/<path:anything>")
def unknown(anything: str):
    """Any other address under /status/ is a link that does not work: the same neutral page."""
    _, refusal = _open("")
    return refusal


@bp.route("/status/<token>/question", methods=["GET", "POST"])
def ask(token: str):
    """Take the candidate's question: an inbound contact, due for an answer, emailed to the manager."""
    application, refusal = _open(token, asking=request.method == "POST")
    if refusal is not None:
        return refusal
    if request.method == "GET":
        return redirect(_page_url(token, "ask"))
    if not application.is_open:
        manager = application.requisition.manager
        flash(
            "This application is closed, so questions are no longer taken here. Please email "
            f"{manager.name} at {manager.email}.",
            "info",
        )
        return redirect(_page_url(token))
    form = QuestionForm()
    if not form.validate():
        return _render_page(token, application, question_form=form, status=FORM_REJECTED)
    contact = application.requisition.manager.name
    try:
        services.ask_question(application, form.question.data)
        db.session.commit()
    except (DomainError, StaleDataError) as error:
        db.session.rollback()
        form.question.errors = [_candidate_message(error)]
        return _render_page(token, application, question_form=form, status=FORM_REJECTED)
    question = services.clean_question(form.question.data)
    quoted = question if len(question) <= 200 else question[:200] + "…"
    flash(f"Thank you. {contact} has your question and will reply by email: “{quoted}”", "success")
    # No anchor: the thanks is at the top of the page, where the browser lands.
    return redirect(_page_url(token))


@bp.route("/status/<token>/withdraw", methods=["GET", "POST"])
def withdraw(token: str):
    """Ask the candidate to confirm, then close the application as withdrawn with a confirmation."""
    application, refusal = _open(token)
    if refusal is not None:
        return refusal
    if not application.is_open:
        flash("This application is already closed.", "info")
        return redirect(_page_url(token))
    form = WithdrawForm()
    if form.validate_on_submit():
        try:
            services.withdraw(application, form.reason.data)
            db.session.commit()
        except (DomainError, StaleDataError) as error:
            db.session.rollback()
            form.form_errors.append(_candidate_message(error, application))
        else:
            flash(
                "Your application is withdrawn. We have emailed you a confirmation. "
                "Thank you for letting us know.",
                "success",
            )
            return redirect(_page_url(token))
    page = services.status_page(application)
    status = FORM_REJECTED if form.is_submitted() else 200
    return render_template("status/withdraw.html", token=token, page=page, form=form), status


@bp.route("/status/<token>/feedback", methods=["GET", "POST"])
def feedback(token: str):
    """Record the candidate's one-click answer to "were our updates useful?"."""
    application, refusal = _open(token)
    if refusal is not None:
        return refusal
    if request.method == "GET":
        return redirect(_page_url(token, "feedback"))
    form = FeedbackForm()
    if form.validate():
        try:
            services.record_feedback(application, form.useful.data == "yes")
            db.session.commit()
        except (DomainError, StaleDataError) as error:
            db.session.rollback()
            flash(_candidate_message(error, application), "error")
        else:
            flash("Thank you for telling us.", "success")
    else:
        flash("Please choose yes or no.", "error")
    return redirect(_page_url(token, "feedback"))


@bp.errorhandler(CSRFError)
def form_expired(error: CSRFError):
    """A form kept open too long (or from a closed browser): show the page again, text kept."""
    token = (request.view_args or {}).get("token")
    if token is None:
        return handle_http_error(error)
    application, refusal = _open(token)
    if refusal is not None:
        return refusal
    flash(
        "This page had been open for a while, so we could not accept it. Please try again.", "error"
    )
    form = QuestionForm(formdata=None, question=request.form.get("question", ""))
    return _render_page(token, application, question_form=form, status=400)


def _candidate_message(error: Exception, application: Application | None = None) -> str:
    """Say what went wrong in words for the candidate; staff-facing details go to the log."""
    if isinstance(error, ValidationFailed):
        return error.message
    if isinstance(error, StaleDataError):
        return "Something changed on our side at the same moment. Please try again."
    logger.warning("Status page action refused: %s", getattr(error, "message", error))
    if application is not None:
        manager = application.requisition.manager
        return (
            f"We could not do this online just now. Please email {manager.name} at {manager.email}."
        )
    return getattr(error, "message", "We could not do this just now. Please try again later.")


@bp.post("/applications/<int:application_id>/status-links/revoke")
@login_required
def revoke(application_id: int):
    """Revoke an application's status links (e.g. one was forwarded); the next email has a new one."""
    application = get_application(current_user, application_id, for_edit=True)
    count = links.revoke_links(application, current_user)
    db.session.commit()
    if count:
        flash(
            f"Revoked {count} status link{'s' if count != 1 else ''}. The next email you send "
            "carries a new one.",
            "success",
        )
    else:
        flash("There were no active status links to revoke.", "info")
    return redirect(safe_next_url(request.referrer) or _candidate_page(application))


def _candidate_page(application: Application) -> str:
    """The candidate's staff page when this build has one, else the dashboard."""
    if "candidates.detail" in current_app.view_functions:
        return url_for("candidates.detail", candidate_id=application.candidate_id)
    return url_for("dashboard.index")
