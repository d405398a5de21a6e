"""Drafts: messages prepared for a manager's review before anything is queued.

Prepared from a template for one candidate or a whole requisition, checked again on review,
edited, and sent all-or-nothing through `services.send_message`, the one send path.
"""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, func, select, update

from hiretrack.audit.services import record_change
from hiretrack.auth.access import (
    can_manage_all,
    editable_requisitions,
    get_application,
)
from hiretrack.auth.models import User
from hiretrack.candidates.models import Application
from hiretrack.database import utcnow
from hiretrack.errors import DomainError, GuardrailRefused, NotFound, ValidationFailed
from hiretrack.extensions import db
from hiretrack.formatting import long_date
from hiretrack.holds.models import Hold
from hiretrack.messages.context import RenderingTimeUsedUp, default_promise, render_for
from hiretrack.messages.models import (
    CLOSURE_OUTCOMES,
    Draft,
    DraftStatus,
    EmailTemplate,
    TemplateCategory,
)
from hiretrack.messages.rendering import REQUEST_RENDER_BUDGET, RenderedEmail, render_allowance
from hiretrack.messages.services import (
    OFFER_CATEGORIES,
    SentMessage,
    check_guardrails,
    choose_template,
    send_message,
)
from hiretrack.messages.templates import check_sources
from hiretrack.requisitions.models import Requisition
from hiretrack.requisitions.services import open_applications


def prepare_drafts(
    actor: User, applications: list[Application], category: str, hold: Hold | None = None
) -> list[Draft]:
    """Prepare one draft per open application for the manager to review before sending."""
    drafts = []
    for application in applications:
        if not application.is_open:
            continue
        manager = application.requisition.manager
        template = choose_template(manager, category)
        draft = Draft(
            application=application,
            template=template,
            hold=hold,
            promised_next_update=default_promise(application, template),
            created_by_id=actor.id if actor else None,
        )
        db.session.add(draft)
        drafts.append(draft)
    db.session.flush()
    return drafts


@dataclass
class DraftProblem:
    draft_id: int
    candidate: str
    message: str


@dataclass
class DraftReview:
    """One draft as the manager reviews it: the rendered email, or why it cannot be sent."""

    draft: Draft
    rendered: RenderedEmail | None
    problem: str | None
    not_checked: bool = False  # the batch's rendering time ran out before this draft


def review_drafts(drafts: list[Draft]) -> list[DraftReview]:
    """Review a batch within one render allowance: a slow template cannot hold the worker long.

    Once the time is used up, the drafts left are marked not checked, without rendering.
    """
    with render_allowance(REQUEST_RENDER_BUDGET):
        return [review_draft(draft) for draft in drafts]


def review_draft(draft: Draft, today: date | None = None) -> DraftReview:
    """Render a draft and run every check its sending would run."""
    try:
        if draft.status != DraftStatus.PENDING:
            raise GuardrailRefused(f"This draft was already {draft.status}.")
        check_guardrails(draft.application, draft.template)
        if draft.promised_next_update and draft.promised_next_update < (today or utcnow().date()):
            raise ValidationFailed(
                f"The promised next update ({long_date(draft.promised_next_update)}) has passed; "
                "edit the draft to promise a new date."
            )
        rendered = render_draft(draft)
    except RenderingTimeUsedUp as error:
        return DraftReview(draft, None, error.message, not_checked=True)
    except DomainError as error:
        return DraftReview(draft, None, _located_message(error))
    return DraftReview(draft, rendered, None)


def _located_message(error: DomainError) -> str:
    """The error's message, with the template line when a render says where it failed."""
    if isinstance(error, ValidationFailed):
        located = [message for messages in error.errors.values() for message in messages]
        if located and located[0].startswith("line "):
            return f"{error.message} ({located[0]})"
    return error.message


def draft_subject(draft: Draft) -> str:
    """The subject template this draft sends: the manager's edit, else its template's."""
    return draft.subject if draft.subject is not None else draft.template.subject


def draft_body(draft: Draft) -> str:
    """The body template this draft sends: the manager's edit, else its template's."""
    return draft.body if draft.body is not None else draft.template.body


def render_draft(draft: Draft) -> RenderedEmail:
    """The draft as it would be sent now: its wording, hold and promised date, for this candidate."""
    return render_for(
        draft.application,
        draft_subject(draft),
        draft_body(draft),
        hold=draft.hold,
        promised_next_update=draft.promised_next_update,
    )


def check_drafts(drafts: list[Draft]) -> list[DraftProblem]:
    """Render and check every draft; an empty list means all of them can be sent."""
    return [
        DraftProblem(review.draft.id, review.draft.application.candidate.name, review.problem)
        for review in review_drafts(drafts)
        if review.problem is not None
    ]


def send_drafts(actor: User, drafts: list[Draft]) -> list[SentMessage]:
    """Send reviewed drafts all together: if any one fails its checks, none is sent.

    The caller commits once after this returns; an error part-way leaves the caller to roll
    back, so the batch is sent entirely or not at all.
    """
    if not drafts:
        raise ValidationFailed("Choose at least one draft to send.", {"ids": ["Empty."]})
    problems = check_drafts(drafts)
    if problems:
        detail = "; ".join(f"draft {p.draft_id} ({p.candidate}): {p.message}" for p in problems)
        raise ValidationFailed(
            f"Nothing was sent. Fix these drafts first: {detail}",
            {str(p.draft_id): [p.message] for p in problems},
        )
    claim_drafts(drafts)
    sent = []
    for draft in drafts:
        try:
            result = send_message(
                actor,
                draft.application,
                draft.template,
                subject=draft.subject,
                body=draft.body,
                promised_next_update=draft.promised_next_update,
                hold=draft.hold,
            )
        except DomainError as error:
            name = draft.application.candidate.name
            raise ValidationFailed(
                f"Nothing was sent. Draft {draft.id} ({name}) failed: {error.message}",
                {str(draft.id): [error.message]},
            ) from error
        draft.status, draft.sent_at, draft.outbox_email_id = (
            DraftStatus.SENT,
            utcnow(),
            result.outbox.id,
        )
        sent.append(result)
    return sent


def claim_drafts(drafts: list[Draft]) -> None:
    """Mark the drafts sent, each with a conditional UPDATE, before anything is queued.

    Of any number of concurrent sends of the same draft only one finds it still pending (the
    database serialises the UPDATEs of one row); the others are refused as "already sent" and
    their caller rolls back. Claimed in id order, so two overlapping batches never deadlock.
    """
    now = utcnow()
    for draft in sorted(drafts, key=lambda draft: draft.id):
        claimed = db.session.execute(
            update(Draft)
            .where(Draft.id == draft.id, Draft.status == DraftStatus.PENDING)
            .values(status=DraftStatus.SENT, sent_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            name = draft.application.candidate.name
            raise ValidationFailed(
                f"Nothing was sent. Draft {draft.id} ({name}) was already sent or discarded.",
                {str(draft.id): ["This draft was already sent or discarded."]},
            )


def drafts_all_sent(user: User, draft_ids: list[int]) -> bool:
    """Whether every one of these drafts the user may write has been sent (by a first click)."""
    if not draft_ids:
        return False
    sent = db.session.scalar(
        select(func.count())
        .select_from(Draft)
        .join(Application, Draft.application_id == Application.id)
        .where(
            Draft.id.in_(draft_ids),
            Draft.status == DraftStatus.SENT,
            reviewable_applications(user),
        )
    )
    return sent == len(set(draft_ids))


def discard_draft(actor: User, draft: Draft) -> None:
    """Drop a draft the manager decided not to send (conditionally, so a send racing it wins)."""
    discarded = db.session.execute(
        update(Draft)
        .where(Draft.id == draft.id, Draft.status == DraftStatus.PENDING)
        .values(status=DraftStatus.DISCARDED)
        .execution_options(synchronize_session=False)
    ).rowcount
    if draft.status != DraftStatus.PENDING or discarded != 1:
        raise GuardrailRefused(f"This draft was already {draft.status}.")
    draft.status = DraftStatus.DISCARDED


def reviewable_applications(user: User) -> ColumnElement[bool]:
    """SQL condition on Application (joined to Draft): whose drafts the user may review.

    The one rule for both doors: the drafts page and `GET /api/v1/drafts` list the same drafts.
    """
    return Application.requisition_id.in_(select(Requisition.id).where(editable_requisitions(user)))


def pending_drafts(
    user: User,
    *,
    hold: Hold | None = None,
    requisition_id: int | None = None,
    closures_only: bool = False,
) -> list[Draft]:
    """Drafts waiting for review on applications the user may write to, oldest first.

    With `closures_only`, only closure drafts (the close page sends people to those).
    """
    query = (
        select(Draft)
        .join(Application, Draft.application_id == Application.id)
        .where(Draft.status == DraftStatus.PENDING, reviewable_applications(user))
        .order_by(Draft.id)
    )
    if hold is not None:
        query = query.where(Draft.hold_id == hold.id)
    if requisition_id is not None:
        query = query.where(Application.requisition_id == requisition_id)
    if closures_only:
        query = query.where(
            Draft.template_id.in_(
                select(EmailTemplate.id).where(
                    EmailTemplate.category.in_([c.value for c in CLOSURE_OUTCOMES])
                )
            )
        )
    return list(db.session.scalars(query))


def pending_drafts_count(user: User) -> int:
    """How many drafts wait for this user's review: the navigation's and dashboard's figure.

    The same drafts `pending_drafts(user)` lists on /drafts. For those who see everything, the
    status index alone; for a manager, the counts their requisitions keep
    (`Requisition.drafts_waiting`, see hiretrack.messages.requisition_counts), where counting
    from their applications read every application they ever had, closed ones included.
    """
    if can_manage_all(user):
        statement = (
            select(func.count()).select_from(Draft).where(Draft.status == DraftStatus.PENDING)
        )
    else:
        statement = select(func.coalesce(func.sum(Requisition.drafts_waiting), 0)).where(
            editable_requisitions(user)
        )
    return db.session.scalar(statement) or 0


def drafts_waiting_by_manager() -> dict[int, int]:
    """How many drafts wait on each hiring manager's requisitions, for their daily digest."""
    rows = db.session.execute(
        select(Requisition.manager_id, func.count(Draft.id))
        .join(Application, Application.requisition_id == Requisition.id)
        .join(Draft, Draft.application_id == Application.id)
        .where(Draft.status == DraftStatus.PENDING)
        .group_by(Requisition.manager_id)
    )
    return {manager_id: count for manager_id, count in rows}


def get_draft(user: User, draft_id: int) -> Draft:
    """Load a draft on an application the user may write to."""
    draft = db.session.get(Draft, draft_id) if 0 < draft_id < 2**63 else None
    if draft is None:
        raise NotFound("No such draft.")
    get_application(user, draft.application_id, for_edit=True)
    return draft


def update_draft(
    actor: User,
    draft: Draft,
    *,
    subject: str,
    body: str,
    promised_next_update: date | None,
) -> Draft:
    """Edit one draft before sending; a draft that would not render is refused, by line."""
    if draft.status != DraftStatus.PENDING:
        raise GuardrailRefused(f"This draft was already {draft.status}.")
    subject = " ".join((subject or "").split())
    body = (body or "").replace("\r\n", "\n").strip() + "\n"
    if promised_next_update is not None and promised_next_update < utcnow().date():
        raise ValidationFailed(
            "The promised next update cannot be in the past.",
            {"promised_next_update": ["Must be today or later."]},
        )
    check_sources(subject, body)
    render_for(
        draft.application,
        subject,
        body,
        hold=draft.hold,
        promised_next_update=promised_next_update,
    )
    before = {"subject": draft.subject, "body": draft.body}
    # Unedited wording keeps following the template, so a fix to the template still applies.
    draft.subject = None if subject == draft.template.subject else subject
    draft.body = None if body.strip() == draft.template.body.strip() else body
    if CLOSURE_OUTCOMES.get(TemplateCategory(draft.template.category)) is None:
        draft.promised_next_update = promised_next_update
    record_change(
        actor,
        "draft.update",
        draft,
        before=before,
        after={"subject": draft.subject, "body": draft.body},
    )
    return draft


def prepare_requisition_drafts(
    actor: User, requisition: Requisition, category: str
) -> tuple[list[Draft], int, int]:
    """Prepare a draft of one category for every open application on a requisition.

    Applications that already have a draft waiting are skipped (they would get two messages
    in one batch), except for a closure: it ends the candidacy, so it replaces a waiting draft
    of another kind (a hold notice, say, would be untrue once the closure is sent) and skips
    only a candidate whose closure is already drafted. Returns the new drafts, how many
    candidates were skipped and how many waiting drafts the closures replaced.
    """
    try:
        category = TemplateCategory(category)
    except ValueError:
        raise ValidationFailed(
            "Choose which message to prepare.", {"category": ["Unknown category."]}
        ) from None
    if category in OFFER_CATEGORIES:
        raise GuardrailRefused(
            "Written offers are sent one at a time, from the candidate's page, never in bulk."
        )
    applications = open_applications(requisition)
    if not applications:
        raise GuardrailRefused("This requisition has no open applications to write to.")
    waiting = db.session.execute(
        select(Draft, EmailTemplate.category)
        .join(EmailTemplate, EmailTemplate.id == Draft.template_id)
        .where(
            Draft.status == DraftStatus.PENDING,
            Draft.application_id.in_([a.id for a in applications]),
        )
    ).all()
    closing = category in CLOSURE_OUTCOMES
    blocking = {
        draft.application_id
        for draft, kind in waiting
        if not closing or TemplateCategory(kind) in CLOSURE_OUTCOMES
    }
    replaced = [draft for draft, _ in waiting if draft.application_id not in blocking]
    for draft in replaced:
        draft.status = DraftStatus.DISCARDED
    targets = [a for a in applications if a.id not in blocking]
    drafts = prepare_drafts(actor, targets, category) if targets else []
    return drafts, len(applications) - len(targets), len(replaced)
