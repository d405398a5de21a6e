"""Bulk actions on several applications at once: send a template, log a call, move, close.

Each action runs the same service as its one-application form, for every selected application,
in the caller's transaction: if one is refused, the caller rolls back and nothing is done,
and the refusal names the candidate.
"""

from collections.abc import Callable
from datetime import date

from sqlalchemy import select

from hiretrack.auth.access import get_applications
from hiretrack.auth.models import User
from hiretrack.candidates.models import Application, Channel, Direction
from hiretrack.candidates.services import ClosureNote, change_stage, log_touchpoint
from hiretrack.candidates.stages import CLOSED_OUTCOMES, LABELS, Stage, parse_stage
from hiretrack.errors import DomainError, GuardrailRefused, ValidationFailed
from hiretrack.extensions import db
from hiretrack.messages.drafts import prepare_drafts
from hiretrack.messages.models import CLOSURE_OUTCOMES, Draft, DraftStatus, TemplateCategory
from hiretrack.messages.services import OFFER_CATEGORIES, suggested_categories

#: More than a page of the longest list is a mistake, not a plan.
MAX_SELECTED = 200

#: The closure email for each closed outcome (an offer declined has none: record it instead).
CLOSURE_CATEGORY_FOR = {stage: category for category, stage in CLOSURE_OUTCOMES.items()}


def selected_applications(user: User, raw_ids: list[str]) -> list[Application]:
    """Load the chosen applications through the access rules (another manager's is a 404),
    in a fixed number of queries however many are chosen."""
    ids = []
    for raw in raw_ids:
        if not str(raw).isdigit() or not 0 < int(raw) < 2**63:
            raise ValidationFailed("The selection was altered; reload the page and try again.")
        if int(raw) not in ids:
            ids.append(int(raw))
    if not ids:
        raise ValidationFailed(
            "Select at least one application first.", {"application_id": ["Nothing selected."]}
        )
    if len(ids) > MAX_SELECTED:
        raise ValidationFailed(f"Select at most {MAX_SELECTED} applications at once.")
    return get_applications(user, ids, for_edit=True)


def _for_each(applications: list[Application], action: Callable[[Application], object]) -> list:
    """Run `action` on every application; the first refusal names its candidate, and stops all."""
    results = []
    for application in applications:
        try:
            results.append(action(application))
        except DomainError as error:
            raise ValidationFailed(
                f"Nothing was done. {application.candidate.name} "
                f"({application.requisition.title}): {error.message}",
                getattr(error, "errors", None) or {},
            ) from error
    return results


def prepare_bulk_drafts(
    actor: User, applications: list[Application], category: str
) -> tuple[list[Draft], list[str]]:
    """Prepare one draft per application for review; those with a draft already waiting are skipped.

    Returns the new drafts and the names of the candidates skipped.
    """
    try:
        category = TemplateCategory(category)
    except ValueError:
        raise ValidationFailed(
            "Choose which message to send.", {"category": ["Unknown message."]}
        ) from None
    if category in OFFER_CATEGORIES:
        raise GuardrailRefused(
            "Written offers are sent one at a time, from the candidate's page, never in bulk."
        )
    closed = [a.candidate.name for a in applications if not a.is_open]
    if closed:
        raise GuardrailRefused(
            "Nothing was prepared: these applications are closed: " + ", ".join(closed) + "."
        )
    waiting = set(
        db.session.scalars(
            select(Draft.application_id).where(
                Draft.status == DraftStatus.PENDING,
                Draft.application_id.in_([a.id for a in applications]),
            )
        )
    )
    targets = [a for a in applications if a.id not in waiting]
    skipped = [a.candidate.name for a in applications if a.id in waiting]
    return (prepare_drafts(actor, targets, category) if targets else []), skipped


def shared_suggestion(applications: list[Application]) -> TemplateCategory:
    """The message to preselect for a bulk send: the one the dashboard suggests for every
    selected application (a hold notice for held candidates who asked), else a check-in.

    Two queries, however many applications are selected.
    """
    suggestions = set(suggested_categories(applications).values())
    if len(suggestions) == 1 and not suggestions <= OFFER_CATEGORIES:
        return suggestions.pop()
    return TemplateCategory.CHECK_IN


def log_calls(
    actor: User,
    applications: list[Application],
    *,
    note: str,
    promised_next_update: date | None,
    channel: str = Channel.PHONE,
) -> list:
    """Log the same call (or meeting) with every selected candidate, with its promise."""
    return _for_each(
        applications,
        lambda application: log_touchpoint(
            actor,
            application,
            direction=Direction.OUTBOUND,
            channel=channel,
            note=note,
            promised_next_update=promised_next_update,
        ),
    )


def move_stages(actor: User, applications: list[Application], target: str, note: str = "") -> list:
    """Move every selected application to `target`, through the stage rules; closing is `close`."""
    stage = parse_stage(target)
    if stage in CLOSED_OUTCOMES:
        raise GuardrailRefused(
            "Closing needs closure: choose “Close with closure” to tell the candidates."
        )
    return _for_each(
        applications, lambda application: change_stage(actor, application, stage, note=note)
    )


def close_with_recorded_closure(
    actor: User, applications: list[Application], outcome: str, *, channel: str, note: str
) -> list:
    """Close every selected application, recording how each candidate was told (the closure)."""
    stage = _closed_outcome(outcome)
    closure = ClosureNote(channel, note)
    return _for_each(
        applications,
        lambda application: change_stage(
            actor, application, stage, closure=closure, note=f"Closed in bulk: {LABELS[stage]}"
        ),
    )


def prepare_closure_drafts(
    actor: User, applications: list[Application], outcome: str
) -> tuple[list[Draft], list[str]]:
    """Prepare each candidate's closure email for review; sending it closes the application."""
    stage = _closed_outcome(outcome)
    category = CLOSURE_CATEGORY_FOR.get(stage)
    if category is None:
        raise ValidationFailed(
            f"There is no closure email for “{LABELS[stage]}”: record how you told them.",
            {"closure_method": ["Record it instead."]},
        )
    return prepare_bulk_drafts(actor, applications, category)


def _closed_outcome(outcome: str) -> Stage:
    stage = parse_stage(outcome)
    if stage not in CLOSED_OUTCOMES:
        raise ValidationFailed(
            "Choose how the applications end.", {"outcome": ["Not a closed outcome."]}
        )
    return stage


def drafts_by_id(user: User, raw_ids: str, pending: list[Draft]) -> list[Draft]:
    """The pending drafts named in `raw_ids` ("1,2,3"), in that order; a missing one is refused."""
    wanted = [int(part) for part in raw_ids.split(",") if part.strip().isdigit()]
    by_id = {draft.id: draft for draft in pending}
    if not wanted or any(draft_id not in by_id for draft_id in wanted):
        raise ValidationFailed(
            "These drafts changed since you opened this page (one was sent, discarded or closed). "
            "Nothing was sent: review the list again."
        )
    return [by_id[draft_id] for draft_id in wanted]
