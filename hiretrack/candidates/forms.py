"""Candidate forms: add and edit a person, apply them, change stage with closure, log a contact, offer terms."""

from wtforms import (
    DateField,
    EmailField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from hiretrack.cadence.queries import CADENCE_LABELS
from hiretrack.candidates.models import CHANNEL_LABELS, Channel, Direction
from hiretrack.candidates.stages import (
    CLOSED_OUTCOMES,
    LABELS,
    Stage,
    allowed_next_stages,
    check_transition,
)
from hiretrack.errors import TransitionNotAllowed
from hiretrack.submissions import submission_token_field
from hiretrack.web import DateWithin, Form, VersionField, as_choices, optional_int

START_STAGES = [
    (Stage.INTERVIEWING.value, "Interviewing"),
    (Stage.FINAL_ROUND.value, "Final round"),
]


class CandidateForm(Form):
    name = StringField("Full name", validators=[DataRequired(), Length(max=200)])
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    phone = StringField("Phone", validators=[Optional(), Length(max=40)])
    version = VersionField()
    submit = SubmitField("Save candidate")


class NewCandidateForm(CandidateForm):
    submission_token = submission_token_field()
    requisition_id = SelectField("Apply to", coerce=optional_int, validators=[Optional()])
    stage = SelectField(
        "Starting at", choices=as_choices(START_STAGES), default=Stage.INTERVIEWING.value
    )
    submit = SubmitField("Add candidate")


class CandidateFilterForm(Form):
    """The list's search and filters, from the query string (no CSRF: they change nothing)."""

    class Meta:
        csrf = False

    q = StringField("Name or email contains", validators=[Optional(), Length(max=200)])
    stage = SelectField(
        "Stage",
        choices=as_choices([("", "Any stage")] + [(s.value, LABELS[s]) for s in Stage]),
        validators=[Optional()],
    )
    cadence = SelectField(
        "Update status",
        choices=as_choices(
            [("", "Any")] + [(s.value, label) for s, label in CADENCE_LABELS.items()]
        ),
        validators=[Optional()],
    )


class ApplyForm(Form):
    submission_token = submission_token_field()
    requisition_id = SelectField(
        "Requisition", coerce=optional_int, validators=[DataRequired("Choose a requisition.")]
    )
    stage = SelectField(
        "Starting at", choices=as_choices(START_STAGES), default=Stage.INTERVIEWING.value
    )
    submit = SubmitField("Apply")


def move_refusal(current: str | None, target: str | None) -> str:
    """Why the stage rules refuse this move, in their own words ("" when they allow it)."""
    if not current or not target:
        return ""
    try:
        check_transition(current, target)
    except TransitionNotAllowed as error:
        return error.message
    return ""


class StageTargetField(SelectField):
    """The stage select: a move outside its choices is explained by the stage rules themselves.

    The stage form and the pipeline board both use it, so they refuse a move with one message.
    """

    def pre_validate(self, form) -> None:
        try:
            super().pre_validate(form)
        except ValidationError:
            reason = move_refusal(getattr(form, "current_stage", None), self.data)
            raise ValidationError(f"Not a valid choice. {reason}".strip()) from None


class StageForm(Form):
    submission_token = submission_token_field()
    target = StageTargetField("Move to", validators=[InputRequired("Choose the new stage.")])
    note = TextAreaField("Note (internal)", validators=[Optional(), Length(max=5000)])
    closure_method = RadioField(
        "How does the candidate hear about it?",
        choices=as_choices(
            [
                ("email", "Send them the closure email now (you review it first)"),
                ("recorded", "I told them another way: record it below"),
            ]
        ),
        validators=[Optional()],
    )
    closure_channel = SelectField(
        "How you told them",
        choices=as_choices([(c.value, CHANNEL_LABELS[c]) for c in Channel]),
        default=Channel.PHONE.value,
        validators=[Optional()],
    )
    closure_note = TextAreaField("What you told them", validators=[Optional(), Length(max=5000)])
    version = VersionField()
    submit = SubmitField("Change stage")

    def validate(self, extra_validators=None) -> bool:
        """Closing needs closure: the email, or a recorded contact with a note."""
        valid = super().validate(extra_validators)
        if self.target.data not in {s.value for s in CLOSED_OUTCOMES}:
            return valid
        if not self.closure_method.data:
            self.closure_method.errors = [
                *self.closure_method.errors,
                "Closing an application needs closure: send the closure email, or record how "
                "you told the candidate.",
            ]
            return False
        if self.closure_method.data == "recorded" and not (self.closure_note.data or "").strip():
            self.closure_note.errors = [
                *self.closure_note.errors,
                "Say how the candidate was told (a short note is required).",
            ]
            return False
        return valid


def stage_form_for(current_stage: str, **kwargs) -> StageForm:
    """A stage form offering only the moves the rules allow from `current_stage`."""
    form = StageForm(**kwargs)
    form.current_stage = current_stage
    form.target.choices = as_choices(
        [("", "Choose…")]
        + [(stage.value, LABELS[stage]) for stage in allowed_next_stages(current_stage)]
    )
    return form


class TouchpointForm(Form):
    submission_token = submission_token_field()
    direction = RadioField(
        "Who reached out",
        choices=as_choices(
            [
                (Direction.OUTBOUND.value, "We contacted the candidate"),
                (Direction.INBOUND.value, "The candidate contacted us"),
            ]
        ),
        default=Direction.OUTBOUND.value,
        validators=[InputRequired("Say who reached out.")],
    )
    channel = SelectField(
        "How",
        choices=as_choices([(c.value, CHANNEL_LABELS[c]) for c in Channel]),
        default=Channel.PHONE.value,
    )
    note = TextAreaField("What was said", validators=[Optional(), Length(max=5000)])
    promised_next_update = DateField(
        "Next update promised by",
        validators=[Optional(), DateWithin(days_ahead=366, what="The promised date")],
    )
    submit = SubmitField("Log contact")

    def validate_channel(self, field) -> None:
        if field.data == Channel.EMAIL.value and self.direction.data == Direction.OUTBOUND.value:
            raise ValidationError(
                "Send emails with 'Send update', so they are delivered and tracked; log calls, "
                "meetings and the candidate's own emails here."
            )


class OfferForm(Form):
    submission_token = submission_token_field()
    salary = IntegerField(
        "Annual salary",
        validators=[InputRequired("Enter the salary."), NumberRange(min=1, max=100_000_000)],
    )
    currency = StringField("Currency", validators=[Optional(), Length(min=3, max=3)])
    start_date = DateField(
        "Start date", validators=[Optional(), DateWithin(days_ahead=2 * 366, what="The start date")]
    )
    approver_id = SelectField(
        "Offer approver", coerce=optional_int, validators=[DataRequired("Choose who signs off.")]
    )
    compensation_approver_id = SelectField(
        "Compensation approver (if the salary is outside the band)",
        coerce=optional_int,
        validators=[Optional()],
    )
    due_date = DateField(
        "Approval due by", validators=[Optional(), DateWithin(what="The due date")]
    )
    submit = SubmitField("Record terms and ask for approval")
