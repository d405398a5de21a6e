"""Message pages: the outbox: what is waiting, sent or failed; cancel, requeue, mark sent."""

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func

from hiretrack.auth.access import visible_applications
from hiretrack.auth.redirects import safe_next_url
from hiretrack.errors import DomainError, NotFound
from hiretrack.extensions import db
from hiretrack.messages import after_delivery, services
from hiretrack.messages.blueprint import bp
from hiretrack.messages.forms import ButtonForm
from hiretrack.messages.models import (
    OutboxEmail,
    OutboxStatus,
)
from hiretrack.sorting import requested_sort, sort_clauses
from hiretrack.web import paginate

FAILED_SHOWN = 50


@bp.get("/outbox")
def outbox():
    """The user's messages by status, what is scheduled, and deliveries that need a person."""
    status = request.args.get("status") or None
    if status is not None and status not in {s.value for s in OutboxStatus}:
        status = None
    scheduled = list(
        db.session.scalars(
            services.outbox_query(current_user, OutboxStatus.SCHEDULED)
            .order_by(None)
            .order_by(OutboxEmail.send_after)
        )
    )
    sort = requested_sort(OUTBOX_SORTS)
    failed = list(
        db.session.scalars(
            after_delivery.failed_deliveries(visible_applications(current_user)).limit(FAILED_SHOWN)
        )
    )
    return render_template(
        "messages/outbox.html",
        status=status,
        counts=services.outbox_counts(current_user),
        page=paginate(_sorted(services.outbox_query(current_user, status), sort)),
        sort=sort,
        scheduled=scheduled,
        failed=failed,
    )


#: The outbox list's sortable columns (?sort=-sent).
OUTBOX_SORTS = {
    "created": OutboxEmail.created_at,
    "to": func.lower(OutboxEmail.to_name),
    "subject": func.lower(OutboxEmail.subject),
    "status": OutboxEmail.status,
    "sent": OutboxEmail.sent_at,
}


def _sorted(query, sort):
    """The outbox query in the order asked for, newest first otherwise."""
    if sort.key is None:
        return query
    default = [OutboxEmail.created_at.desc(), OutboxEmail.id.desc()]
    return query.order_by(None).order_by(*sort_clauses(sort, OUTBOX_SORTS, default))


def _outbox_action(outbox_id: int, action, done: str):
    """Run one outbox action (cancel, re-queue, mark sent) behind a CSRF-checked button."""
    message = services.get_outbox_email(current_user, outbox_id, for_edit=True)
    form = ButtonForm()
    if not form.validate_on_submit():
        flash("The form expired; try again.", "error")
        return redirect(url_for("messages.outbox"))
    try:
        action(message)
    except NotFound:
        raise
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(safe_next_url(request.referrer) or url_for("messages.outbox"))
    db.session.commit()
    flash(done.format(to=message.to_address), "success")
    return redirect(safe_next_url(request.referrer) or url_for("messages.outbox"))


@bp.post("/outbox/<int:outbox_id>/cancel")
def cancel_scheduled(outbox_id: int):
    """Cancel a scheduled message before it goes out."""
    return _outbox_action(
        outbox_id,
        lambda message: services.cancel_scheduled(current_user, message),
        "Scheduled message to {to} cancelled; it will not be sent.",
    )


@bp.post("/outbox/<int:outbox_id>/requeue")
def requeue(outbox_id: int):
    """Queue a failed or unconfirmed message again, to the candidate's current address."""
    return _outbox_action(
        outbox_id,
        lambda message: after_delivery.requeue(message, current_user),
        "Queued again for {to}.",
    )


@bp.post("/outbox/<int:outbox_id>/mark-sent")
def mark_sent(outbox_id: int):
    """Record that an unconfirmed message did reach the candidate, so it is never sent twice."""
    return _outbox_action(
        outbox_id,
        lambda message: after_delivery.mark_unconfirmed_as_sent(message, current_user),
        "Marked as delivered to {to}.",
    )
