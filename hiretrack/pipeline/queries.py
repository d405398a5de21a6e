"""What the pipeline board shows: one column per open stage, one card per open application.

Each card carries the figures a manager scans for (days since we last wrote, next update due,
any hold) from the shared cadence and hold queries, in a fixed number of statements.
"""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from hiretrack.cadence.queries import ApplicationCadence, cadence_for
from hiretrack.candidates.models import Application, Candidate
from hiretrack.candidates.stages import Stage, allowed_next_stages
from hiretrack.extensions import db
from hiretrack.holds.models import Hold
from hiretrack.holds.queries import open_holds_for_applications
from hiretrack.requisitions.models import Requisition

#: The board's columns, in lifecycle order, with the short names managers use.
PIPELINE_COLUMNS: dict[Stage, str] = {
    Stage.INTERVIEWING: "Interviewing",
    Stage.FINAL_ROUND: "Final round",
    Stage.VERBAL_INTENT: "Verbal intent",
    Stage.OFFER_APPROVED: "Offer approved",
    Stage.OFFER_EXTENDED: "Offer extended",
    Stage.ACCEPTED: "Accepted",
}


@dataclass(frozen=True)
class Card:
    """One application on the board, with what the card shows and where it may move."""

    application: Application
    days_since_we_wrote: int | None
    cadence: ApplicationCadence | None
    holds: list[Hold]
    moves: list[Stage]


@dataclass(frozen=True)
class Column:
    stage: Stage
    label: str
    cards: list[Card]


def board_columns(requisition: Requisition, today: date) -> list[Column]:
    """The requisition's open applications, grouped by stage, each with its cadence and holds."""
    applications = list(
        db.session.scalars(
            select(Application)
            .join(Candidate, Candidate.id == Application.candidate_id)
            .options(joinedload(Application.candidate))
            .where(
                Application.requisition_id == requisition.id,
                Application.stage.in_([stage.value for stage in PIPELINE_COLUMNS]),
            )
            .order_by(Application.stage_entered_at, Candidate.name, Application.id)
        )
    )
    cadence = cadence_for([a.id for a in applications], today)
    holds = open_holds_for_applications(applications)
    by_stage: dict[str, list[Card]] = {stage.value: [] for stage in PIPELINE_COLUMNS}
    for application in applications:
        last = application.last_contact_at
        by_stage[application.stage].append(
            Card(
                application,
                (today - last.date()).days if last else None,
                cadence.get(application.id),
                holds.get(application.id, []),
                allowed_next_stages(application.stage),
            )
        )
    return [
        Column(stage, label, by_stage[stage.value]) for stage, label in PIPELINE_COLUMNS.items()
    ]
