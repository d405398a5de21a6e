"""Admin forms: users, departments, organisation settings, and the audit log filter."""

from zoneinfo import available_timezones

from wtforms import (
    DateField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.validators import (
    DataRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from hiretrack.auth.models import ROLE_LABELS
from hiretrack.auth.services import MIN_PASSWORD_LENGTH
from hiretrack.submissions import submission_token_field
from hiretrack.web import DateWithin, Form, as_choices, optional_int


class UserForm(Form):
    submission_token = submission_token_field()
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    role = SelectField(
        "Role", choices=as_choices([(r.value, label) for r, label in ROLE_LABELS.items()])
    )
    phone = StringField("Phone", validators=[Optional(), Length(max=40)])
    timezone = StringField(
        "Time zone", validators=[Optional(), Length(max=64)], description="e.g. Europe/Berlin"
    )
    password = PasswordField(
        "Initial password",
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=500)],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField("Create user")

    def validate_timezone(self, field) -> None:
        if field.data and field.data.strip() not in available_timezones():
            raise ValidationError("Unknown time zone: use a name such as Europe/Berlin or UTC.")


class DepartmentForm(Form):
    name = StringField("Department name", validators=[DataRequired(), Length(max=120)])
    submit = SubmitField("Add department")


class SettingsForm(Form):
    company_name = StringField(
        "Company name (as candidates see it)", validators=[Optional(), Length(max=200)]
    )
    mail_from = StringField("Sender address", validators=[Optional(), Length(max=254)])
    cadence_business_days = IntegerField(
        "Default update cadence (business days)",
        validators=[Optional(), NumberRange(min=1, max=60)],
    )
    holidays = StringField("Holiday calendar", validators=[Optional(), Length(max=20)])
    submit = SubmitField("Save settings")


class AuditFilterForm(Form):
    """Filters for the audit log, from the query string."""

    class Meta:
        csrf = False

    entity_type = SelectField("Record type", validators=[Optional()])
    actor = SelectField("Who", coerce=optional_int, validators=[Optional()])
    action = StringField("Action contains", validators=[Optional(), Length(max=60)])
    date_from = DateField(
        "From", validators=[Optional(), DateWithin(days_back=20 * 366, days_ahead=366, what="From")]
    )
    date_to = DateField(
        "To (inclusive)",
        validators=[Optional(), DateWithin(days_back=20 * 366, days_ahead=366, what="To")],
    )

    def validate_date_to(self, field) -> None:
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError("Must be on or after the start date.")
