"""The bulk form on the lists (which action) and the review page's form (its details)."""

from wtforms import DateField, HiddenField, RadioField, SelectField, SubmitField, TextAreaField
from wtforms.validators import Length, Optional

from hiretrack.candidates.models import CHANNEL_LABELS, Channel
from hiretrack.candidates.stages import CLOSED_OUTCOMES, LABELS, OPEN_STAGES, Stage
from hiretrack.messages.forms import BULK_CATEGORY_CHOICES
from hiretrack.messages.models import CLOSURE_OUTCOMES, TemplateCategory
from hiretrack.submissions import submission_token_field
from hiretrack.web import DateWithin, Form, as_choices

ACTIONS = {
    "send": "Send a message (you review the drafts first)",
    "log_call": "Log a call",
    "move": "Move to a stage",
    "close": "Close with closure",
}

#: Closure emails are sent by closing; the send action offers the other messages.
SEND_CATEGORY_CHOICES = [
    choice for choice in BULK_CATEGORY_CHOICES if choice.value not in set(CLOSURE_OUTCOMES)
]


class BulkSelectForm(Form):
    """On the dashboard, the candidate list and the board: what to do with the ticked rows."""

    action = SelectField("With the selected applications", choices=as_choices(ACTIONS.items()))
    back = HiddenField()
    submit = SubmitField("Review selected")


class BulkReviewForm(Form):
    """The review page: the chosen action's details, for every selected application at once."""

    action = HiddenField()
    application_ids = HiddenField()
    back = HiddenField()
    submission_token = submission_token_field()
    category = SelectField(
        "Message", choices=SEND_CATEGORY_CHOICES, default=TemplateCategory.CHECK_IN.value
    )
    target = SelectField(
        "Move to",
        choices=as_choices(
            [("", "Choose…")]
            + [(s.value, LABELS[s]) for s in Stage if s in OPEN_STAGES or s == Stage.HIRED]
        ),
        validators=[Optional()],
    )
    outcome = SelectField(
        "How the applications end",
        choices=as_choices(
            [("", "Choose…")] + [(s.value, LABELS[s]) for s in Stage if s in CLOSED_OUTCOMES]
        ),
        validators=[Optional()],
    )
    closure_method = RadioField(
        "How do the candidates hear about it?",
        choices=as_choices(
            [
                ("email", "Prepare each one's closure email (you review them, then send)"),
                ("recorded", "I told them another way: record it below"),
            ]
        ),
        validators=[Optional()],
    )
    channel = SelectField(
        "How you reached them",
        choices=as_choices([(c.value, CHANNEL_LABELS[c]) for c in Channel if c != Channel.EMAIL]),
        default=Channel.PHONE.value,
    )
    note = TextAreaField("What was said", validators=[Optional(), Length(max=5000)])
    promised_next_update = DateField(
        "Next update promised by",
        validators=[Optional(), DateWithin(days_ahead=366, what="The promised date")],
    )
    submit = SubmitField("Confirm")


class BulkSendForm(Form):
    """Send the drafts a bulk action prepared, all together."""

    draft_ids = HiddenField()
    back = HiddenField()
    submission_token = submission_token_field()
    submit = SubmitField("Send all")
