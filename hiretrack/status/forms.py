"""The candidate's forms on the status page: ask a question, withdraw, rate our updates."""

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length

from hiretrack.status.services import MAX_QUESTION_LENGTH, WITHDRAWAL_REASONS


class QuestionForm(FlaskForm):
    question = TextAreaField(
        "Your question",
        validators=[
            DataRequired("Please write your question."),
            Length(
                max=MAX_QUESTION_LENGTH,
                message=f"Questions are limited to {MAX_QUESTION_LENGTH:,} characters.",
            ),
        ],
        render_kw={"rows": 4, "maxlength": MAX_QUESTION_LENGTH},
    )
    submit = SubmitField("Send my question")


class WithdrawForm(FlaskForm):
    reason = RadioField(
        "Why are you withdrawing?",
        choices=[SelectChoice(value, label) for value, label in WITHDRAWAL_REASONS.items()],
        validators=[InputRequired("Please choose why you are withdrawing.")],
    )
    submit = SubmitField("Yes, withdraw my application")


class FeedbackForm(FlaskForm):
    """Two buttons named `useful`; the one pressed is the answer."""

    useful = SelectField(
        "Were our updates useful?",
        choices=[SelectChoice("yes", "Yes"), SelectChoice("no", "No")],
        validators=[InputRequired("Please choose yes or no.")],
    )
