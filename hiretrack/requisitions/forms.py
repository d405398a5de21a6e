"""Requisition forms: create and edit, filter the list, close."""

from wtforms import BooleanField, IntegerField, RadioField, SelectField, StringField, SubmitField
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from hiretrack.requisitions.models import STATUS_LABELS
from hiretrack.submissions import submission_token_field
from hiretrack.web import Form, VersionField, as_choices, optional_int


class RequisitionForm(Form):
    submission_token = submission_token_field()
    title = StringField("Job title", validators=[DataRequired(), Length(max=200)])
    department_id = SelectField(
        "Department", coerce=optional_int, validators=[DataRequired("Choose a department.")]
    )
    manager_id = SelectField("Hiring manager", coerce=optional_int)
    headcount = IntegerField(
        "Headcount", default=1, validators=[InputRequired(), NumberRange(min=1, max=1000)]
    )
    salary_min = IntegerField(
        "Salary band: minimum", validators=[Optional(), NumberRange(min=0, max=100_000_000)]
    )
    salary_max = IntegerField(
        "Salary band: maximum", validators=[Optional(), NumberRange(min=0, max=100_000_000)]
    )
    currency = StringField(
        "Currency", default="EUR", validators=[DataRequired(), Length(min=3, max=3)]
    )
    cadence_business_days = IntegerField(
        "Update cadence (business days)",
        validators=[Optional(), NumberRange(min=1, max=60)],
    )
    auto_check_in = BooleanField("Send check-ins automatically when an update falls due")
    status = SelectField(
        "Start as",
        choices=as_choices(
            [("draft", "Draft (needs approval)"), ("open", "Open (already approved)")]
        ),
        default="draft",
    )
    version = VersionField()
    submit = SubmitField("Save requisition")

    def validate_salary_max(self, field) -> None:
        low = self.salary_min.data
        if field.data is not None and low is not None and field.data < low:
            raise ValidationError("Must be at least the minimum.")

    def values(self) -> dict:
        """The fields the requisitions service takes."""
        values = {
            "title": self.title.data,
            "department_id": self.department_id.data,
            "headcount": self.headcount.data,
            "salary_min": self.salary_min.data,
            "salary_max": self.salary_max.data,
            "currency": self.currency.data,
            "cadence_business_days": self.cadence_business_days.data,
            "auto_check_in": bool(self.auto_check_in.data),
        }
        if "manager_id" in self._fields:
            values["manager_id"] = self.manager_id.data
        return values


class RequisitionFilterForm(Form):
    """The list's filters: read from the query string, no CSRF (they change nothing)."""

    class Meta:
        csrf = False

    department = SelectField("Department", coerce=optional_int, validators=[Optional()])
    status = SelectField(
        "Status",
        choices=as_choices(
            [("", "Any status")] + [(s.value, label) for s, label in STATUS_LABELS.items()]
        ),
        validators=[Optional()],
    )
    hold = SelectField(
        "Open hold",
        choices=as_choices([("", "Either"), ("yes", "Has an open hold"), ("no", "No open hold")]),
        validators=[Optional()],
    )
    closure_pending = SelectField(
        "Closure pending",
        choices=as_choices([("", "Either"), ("yes", "Candidates still owed closure")]),
        validators=[Optional()],
    )
    q = StringField("Title contains", validators=[Optional(), Length(max=200)])


class CloseRequisitionForm(Form):
    submission_token = submission_token_field()
    status = RadioField(
        "Close as",
        choices=as_choices(
            [
                ("filled", "Filled: a candidate accepted an offer"),
                ("cancelled", "Cancelled: the position will not be filled"),
            ]
        ),
        validators=[InputRequired("Choose filled or cancelled.")],
    )
    version = VersionField()
    submit = SubmitField("Close requisition")


class SubmitForApprovalForm(Form):
    """Only the CSRF token: submitting needs no other input."""

    submission_token = submission_token_field()

    submit = SubmitField("Submit for approval")
