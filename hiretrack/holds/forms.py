"""Hold forms: place one on a requisition (or one candidacy), change it, resolve it."""

from wtforms import DateField, RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from hiretrack.holds.models import REASON_LABELS
from hiretrack.submissions import submission_token_field
from hiretrack.web import DateWithin, Form, VersionField, as_choices, optional_int


class HoldDetailsForm(Form):
    reason = SelectField(
        "Reason",
        choices=as_choices([(r.value, label) for r, label in REASON_LABELS.items()]),
        validators=[InputRequired()],
    )
    summary = StringField(
        "What is blocking the offer (for your team)",
        validators=[DataRequired("Say what is blocking the offer."), Length(max=300)],
    )
    public_reason = TextAreaField(
        "What candidates may be told", validators=[Optional(), Length(max=300)]
    )
    owner_id = SelectField("Owner (a user)", coerce=optional_int, validators=[Optional()])
    owner_name = StringField(
        "…or the owner's name, if not a user", validators=[Optional(), Length(max=200)]
    )
    expected_clear_date = DateField(
        "Expected to clear by",
        validators=[Optional(), DateWithin(what="The expected clear date")],
    )
    internal_notes = TextAreaField("Internal notes", validators=[Optional(), Length(max=5000)])

    def validate_owner_name(self, field) -> None:
        if self.owner_id.data is None and not (field.data or "").strip():
            raise ValidationError(
                "Name who owns the hold: choose a user, or type a name such as 'Head office'."
            )

    def values(self) -> dict:
        return {
            "reason": self.reason.data,
            "summary": self.summary.data,
            "public_reason": self.public_reason.data or "",
            "owner_id": self.owner_id.data,
            "owner_name": self.owner_name.data or None,
            "expected_clear_date": self.expected_clear_date.data,
            "internal_notes": self.internal_notes.data or "",
        }


class PlaceHoldForm(HoldDetailsForm):
    submission_token = submission_token_field()
    application_id = SelectField(
        "Holds up", coerce=optional_int, validators=[Optional()], default=None
    )
    submit = SubmitField("Place hold and prepare hold notices")


class EditHoldForm(HoldDetailsForm):
    version = VersionField()
    submit = SubmitField("Save hold")


class ResolveHoldForm(Form):
    submission_token = submission_token_field()
    outcome = RadioField(
        "Outcome",
        choices=as_choices(
            [
                ("cleared", "Cleared: the offer can go ahead"),
                ("cancelled", "Cancelled: the offer will not happen"),
            ]
        ),
        validators=[InputRequired("Choose cleared or cancelled.")],
    )
    note = TextAreaField("Note", validators=[Optional(), Length(max=5000)])
    public_cancellation_reason = StringField(
        "If cancelled: what candidates are told about it (optional)",
        validators=[Optional(), Length(max=300)],
        description="Goes into the closure drafts, e.g. 'the budget for the role was withdrawn'. "
        "The hold's public reason described a wait, so it is not reused.",
    )
    version = VersionField()
    submit = SubmitField("Resolve hold")
