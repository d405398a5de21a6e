"""Sign-in, password and API token forms."""

from zoneinfo import available_timezones

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from hiretrack.web import Form


class LoginForm(FlaskForm):
    # The autocomplete hints let browsers and password managers fill the sign-in form.
    email = EmailField(
        "Email",
        validators=[DataRequired(), Length(max=254)],
        render_kw={"autocomplete": "username"},
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired(), Length(max=500)],
        render_kw={"autocomplete": "current-password"},
    )
    submit = SubmitField("Sign in")


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password",
        validators=[DataRequired(), Length(max=500)],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = PasswordField(
        "New password",
        validators=[DataRequired(), Length(min=10, max=500)],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[DataRequired(), EqualTo("new_password", message="The passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField("Change password")


class ApiTokenForm(Form):
    label = StringField("Label (what the token is for)", validators=[Length(max=100)])
    submit = SubmitField("Create token")


class TimezoneForm(FlaskForm):
    """The zone every time on the pages is shown in, for this user."""

    timezone = SelectField("Your time zone", validate_choice=True)
    submit = SubmitField("Save time zone")

    def __init__(self, *args, default_zone: str = "UTC", **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = [("", f"The organisation's default ({default_zone})")] + [
            (name, name.replace("_", " ")) for name in sorted(available_timezones())
        ]
