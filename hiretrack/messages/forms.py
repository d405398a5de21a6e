"""Forms for editing templates, composing one message, reviewing drafts and bulk preparation."""

from datetime import timedelta

from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from hiretrack.messages.models import CATEGORY_LABELS, TemplateCategory
from hiretrack.submissions import submission_token_field
from hiretrack.web import DayField, Form, as_choices, today

CATEGORY_PAIRS = [(category.value, label) for category, label in CATEGORY_LABELS.items()]
CATEGORY_CHOICES = as_choices(CATEGORY_PAIRS)

#: Written offers go one at a time, from the candidate's page, never in bulk.
BULK_CATEGORY_CHOICES = as_choices(
    [(value, label) for value, label in CATEGORY_PAIRS if value != TemplateCategory.OFFER_COVER]
)

SUBJECT_MAX = 300
BODY_MAX = 20_000
MAX_DAYS_AHEAD = 366


def within_a_year(form, field) -> None:
    """Refuse dates more than a year ahead: a typo in the year, not a real plan.

    Dates in the past are left to the send service, which explains them in its own words.
    """
    if field.data is not None and field.data > today() + timedelta(days=MAX_DAYS_AHEAD):
        raise ValidationError("Choose a date within the next year.")


class TemplateForm(Form):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    slug = StringField("Short name for links (slug)", validators=[DataRequired(), Length(max=80)])
    category = SelectField("Category", choices=CATEGORY_CHOICES, validators=[DataRequired()])
    promise_business_days = IntegerField(
        "Promise the next update in (business days)",
        validators=[Optional(), NumberRange(min=1, max=60)],
    )
    subject = StringField("Subject", validators=[DataRequired(), Length(max=SUBJECT_MAX)])
    body = TextAreaField("Body", validators=[DataRequired(), Length(max=BODY_MAX)])
    personal = BooleanField("Personal variant (only I use it)")
    change_note = StringField("What did you change, and why?", validators=[Length(max=300)])
    expected_version = HiddenField()
    preview = SubmitField("Preview")
    submit = SubmitField("Save template")


class RestoreForm(Form):
    expected_version = HiddenField()
    submit = SubmitField("Restore this version")


class ActiveForm(Form):
    expected_version = HiddenField()
    submit = SubmitField()


class ComposeForm(Form):
    template = HiddenField(validators=[DataRequired()])
    subject = StringField("Subject", validators=[DataRequired(), Length(max=SUBJECT_MAX)])
    body = TextAreaField("Message", validators=[DataRequired(), Length(max=BODY_MAX)])
    promised_next_update = DayField(
        "Promise the next update by", validators=[Optional(), within_a_year]
    )
    send_when = RadioField(
        "When",
        choices=as_choices(
            [
                ("now", "Send now"),
                ("at", "Send at a date and time"),
                ("in_days", "Send in a number of business days"),
            ]
        ),
        default="now",
        validate_choice=False,  # the service explains an unknown choice in words
    )
    send_on = DayField("Date", validators=[Optional(), within_a_year])
    send_time = TimeField("Time", validators=[Optional()])
    send_in_days = IntegerField(
        "Business days from today", validators=[Optional(), NumberRange(min=1, max=60)]
    )
    submission_token = submission_token_field()
    preview = SubmitField("Preview")
    submit = SubmitField("Send")


class DraftForm(Form):
    subject = StringField("Subject", validators=[DataRequired(), Length(max=SUBJECT_MAX)])
    body = TextAreaField("Message", validators=[DataRequired(), Length(max=BODY_MAX)])
    promised_next_update = DayField(
        "Promise the next update by", validators=[Optional(), within_a_year]
    )
    submit = SubmitField("Save draft")


class SendDraftsForm(Form):
    hold_id = HiddenField()
    requisition_id = HiddenField()
    kind = HiddenField()
    draft_ids = HiddenField(validators=[InputRequired()])
    submission_token = submission_token_field()
    submit = SubmitField("Send all")


class PrepareDraftsForm(Form):
    category = SelectField(
        "Message", choices=BULK_CATEGORY_CHOICES, default=TemplateCategory.CHECK_IN.value
    )
    submit = SubmitField("Prepare drafts for every open application")


class ButtonForm(Form):
    """A form that is only a button with CSRF protection (cancel, discard, re-queue...)."""

    submit = SubmitField()
