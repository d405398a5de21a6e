"""Approval forms: add a step to a requisition's chain, record a decision."""

from wtforms import DateField, RadioField, SelectField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from hiretrack.approvals.models import KIND_LABELS, ApprovalKind
from hiretrack.submissions import submission_token_field
from hiretrack.web import DateWithin, Form, VersionField, as_choices, optional_int


class ApprovalStepForm(Form):
    submission_token = submission_token_field()
    kind = SelectField(
        "Kind of approval",
        choices=as_choices(
            [(k.value, KIND_LABELS[k]) for k in ApprovalKind if k != ApprovalKind.OFFER]
        ),
        validators=[InputRequired()],
    )
    approver_id = SelectField(
        "Approver", coerce=optional_int, validators=[DataRequired("Choose the approver.")]
    )
    due_date = DateField(
        "Decision due by",
        validators=[Optional(), DateWithin(what="The due date")],
    )
    submit = SubmitField("Add approval step")


class DecisionForm(Form):
    submission_token = submission_token_field()
    decision = RadioField(
        "Decision",
        choices=as_choices([("approved", "Approve"), ("rejected", "Reject")]),
        validators=[InputRequired("Choose approve or reject.")],
    )
    note = TextAreaField(
        "Note (why, or what would change your mind)", validators=[Length(max=5000)]
    )
    version = VersionField()
    submit = SubmitField("Record decision")
