"""Users, logins and API tokens: the rules for who may sign in and how a session ends."""

import hashlib
import secrets
from datetime import timedelta
from zoneinfo import available_timezones

from email_validator import EmailNotValidError, validate_email
from flask import current_app, has_app_context
from sqlalchemy import bindparam, func, select, true
from sqlalchemy.exc import IntegrityError

from hiretrack.admin.services import SAVED_SETTINGS, remember_saved_settings
from hiretrack.audit.services import record_change, snapshot
from hiretrack.auth import throttle
from hiretrack.auth.models import ApiToken, Role, User, new_session_token
from hiretrack.database import utcnow
from hiretrack.errors import DomainError, NotFound, ValidationFailed
from hiretrack.extensions import db
from hiretrack.text import require_text

LOGIN_FAILED_MESSAGE = "Those details did not work. Check your email and password and try again."
ACCOUNT_FAILURE_LIMIT = 5
IP_FAILURE_LIMIT = 20
#: Failures are forgotten after this long without a new one.
FAILURE_MEMORY = timedelta(hours=1)
#: The first delay past the free failures; each further failure doubles it, up to the longest.
FIRST_DELAY = timedelta(seconds=30)
LONGEST_DELAY = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10
API_TOKEN_PREFIX = "ht_"


class LoginFailed(DomainError):
    """Any failed login: the message never says whether the account exists."""

    status = 401
    title = "Sign-in failed"

    def __init__(self):
        super().__init__(LOGIN_FAILED_MESSAGE)


class LoginThrottled(DomainError):
    """Too many recent failures from this client: it must wait before the next try."""

    status = 429
    title = "Too many sign-in attempts"

    def __init__(self, retry_after: int):
        super().__init__(
            "Too many failed sign-ins from this device. "
            f"Wait {_duration(retry_after)} before trying again."
        )
        self.retry_after = retry_after


def _duration(seconds: int) -> str:
    """Say a wait in words a person reads at a glance."""
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def normalise_email(value: str, field: str = "email", *, smtputf8: bool | None = None) -> str:
    """Validate an address (syntax, no DNS) as the relay can deliver to it; return it normalised.

    Checked at input, so an address is refused with a reason when it is typed, never saved only
    to fail at delivery: encoded-word text (`=?utf-8?q?...?=`) is refused, and so is non-ASCII
    before the @ unless the relay accepts SMTPUTF8 (HIRETRACK_SMTP_SMTPUTF8). A non-ASCII domain
    is kept in its ASCII (IDNA) form when the relay has no SMTPUTF8.
    """
    text = (value or "").strip()
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValidationFailed(f"Invalid email address: {error}", {field: [str(error)]}) from None
    if "=?" in result.normalized:
        problem = (
            "The address contains encoded-word text (=?...?=), which mail software decodes "
            "instead of delivering: enter the plain address."
        )
        raise ValidationFailed(f"Invalid email address: {problem}", {field: [problem]})
    if smtputf8 is None:
        smtputf8 = bool(has_app_context() and current_app.config.get("SMTP_SMTPUTF8"))
    if result.smtputf8 and not smtputf8:
        problem = (
            "The part before the @ has non-ASCII characters, and the mail relay cannot deliver "
            "to such addresses (it would need SMTPUTF8, which is not enabled here). Ask for "
            "another address."
        )
        raise ValidationFailed(f"Invalid email address: {problem}", {field: [problem]})
    if not smtputf8 and result.ascii_email:
        return result.ascii_email.lower()
    return result.normalized.lower()


#: The statements that find each request's user, built once (they run on every page and call).
#: Each also reads the organisation settings (`admin.services.SAVED_SETTINGS`, outer-joined),
#: which every page and call needs: one round trip fewer a request on PostgreSQL.
_USER_BY_SESSION_TOKEN = (
    select(User, *SAVED_SETTINGS.c)
    .outerjoin(SAVED_SETTINGS, true())
    .where(User.session_token == bindparam("token"))
)
_TOKEN_AND_USER = (
    select(ApiToken, User, *SAVED_SETTINGS.c)
    .join(User, User.id == ApiToken.user_id)
    .outerjoin(SAVED_SETTINGS, true())
    .where(ApiToken.token_hash == bindparam("token_hash"))
)


def load_user_from_session_token(token: str) -> User | None:
    """Flask-Login's user loader: the cookie holds the user's rotating session token."""
    if not token:
        return None
    found = db.session.execute(_USER_BY_SESSION_TOKEN, {"token": token}).first()
    if found is None:
        return None
    user, *saved_settings = found
    remember_saved_settings(saved_settings)
    return user if user.active else None


def find_user_by_email(email: str) -> User | None:
    """Look a user up by email, ignoring case."""
    return db.session.scalars(
        select(User).where(func.lower(User.email) == email.strip().lower())
    ).first()


def authenticate(email: str, password: str, client_address: str) -> User:
    """Return the user for these credentials, or raise LoginFailed (one generic message).

    Throttling slows the attacker, not the owner (ASVS 2.2.1): failures are counted per typed
    address and per client address, in the database so every worker agrees, and past a few free
    ones each brings a doubling delay (LoginThrottled, checked before the password). A client's
    own delay comes from its failures; the address's delay holds only clients that have failed
    recently themselves, so a stranger's guesses never keep the owner out of a clean browser.
    """
    account_key = account_throttle_key(email)
    client_key = client_throttle_key(client_address)
    client_has_failed = throttle.recent_failures(client_key, FAILURE_MEMORY) > 0
    waits = [throttle.seconds_blocked(client_key)]
    if client_has_failed:
        waits.append(throttle.seconds_blocked(account_key))
    if max(waits) > 0:
        raise LoginThrottled(max(waits))
    user = find_user_by_email(email or "")
    if user is None or not user.active or not user.check_password(password or ""):
        _record_login_failure(account_key, client_key)
        raise LoginFailed()
    if client_has_failed:
        # Its own typos, most likely; a clean client's success leaves a stranger's failures counted.
        # The client's count stays: signing in to one's own account must not buy more guesses.
        throttle.reset(account_key)
    db.session.commit()
    return user


def account_throttle_key(email: str) -> str:
    """The throttle key of a typed address, whether or not an account has it."""
    return f"login:account:{(email or '').strip().lower()}"


def client_throttle_key(client_address: str) -> str:
    """The throttle key of a client address (the proxy's forwarded one, see hiretrack/proxy.py)."""
    return f"login:ip:{client_address}"


def _record_login_failure(account_key: str, client_key: str) -> None:
    """Count a failure against the address and the client; a first-insert race is retried once."""
    for attempt in range(2):
        try:
            throttle.record_failure(
                account_key, ACCOUNT_FAILURE_LIMIT, FAILURE_MEMORY, FIRST_DELAY, LONGEST_DELAY
            )
            throttle.record_failure(
                client_key, IP_FAILURE_LIMIT, FAILURE_MEMORY, FIRST_DELAY, LONGEST_DELAY
            )
            db.session.commit()
            return
        except IntegrityError:
            db.session.rollback()
            if attempt:
                raise


def end_all_sessions(user: User) -> None:
    """Rotate the session token so every copy of the user's session cookie stops working."""
    user.session_token = new_session_token()


def check_password_strength(password: str) -> None:
    """Refuse passwords that are too short to resist guessing."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters.",
            {"password": [f"At least {MIN_PASSWORD_LENGTH} characters."]},
        )


def create_user(
    email: str, name: str, role: str, password: str, actor: User | None = None, phone: str = ""
) -> User:
    """Create a user with a hashed password; the email must be new."""
    email = normalise_email(email)
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("A name is required.", {"name": ["Required."]})
    require_text(name, "name", "name")
    require_text(phone or "", "phone", "phone")
    if role not in {r.value for r in Role}:
        roles = ", ".join(r.value for r in Role)
        raise ValidationFailed(
            f"Unknown role '{role}'. Roles: {roles}.", {"role": [f"One of {roles}."]}
        )
    check_password_strength(password)
    if find_user_by_email(email) is not None:
        raise ValidationFailed(
            f"A user with email {email} already exists.", {"email": ["Already in use."]}
        )
    user = User(email=email, name=name[:200], role=role, phone=phone or None)
    user.set_password(password)
    db.session.add(user)
    record_change(actor, "user.create", user, actor_label=None if actor else "cli")
    return user


def change_password(user: User, current_password: str, new_password: str) -> None:
    """Change a password after checking the current one; ends every other session."""
    if not user.check_password(current_password or ""):
        raise ValidationFailed(
            "Your current password is not correct.", {"current_password": ["Not correct."]}
        )
    check_password_strength(new_password)
    user.set_password(new_password)
    record_change(user, "user.change_password", user, after={"password": "changed"})


def set_timezone(user: User, name: str | None) -> None:
    """Set the zone the user reads times in; empty means the organisation's default."""
    name = (name or "").strip() or None
    if name is not None and name not in available_timezones():
        raise ValidationFailed(
            "Unknown time zone: choose one from the list.", {"timezone": ["Unknown time zone."]}
        )
    before = snapshot(user)
    user.timezone = name
    record_change(user, "user.timezone", user, before=before)


def set_active(user: User, active: bool, actor: User) -> None:
    """Activate or deactivate a user; deactivation ends their sessions at once."""
    before = snapshot(user)
    user.active = active
    if not active:
        end_all_sessions(user)
        for token in user.api_tokens:
            token.revoked_at = token.revoked_at or utcnow()
    record_change(actor, "user.activate" if active else "user.deactivate", user, before=before)


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(user: User, label: str = "") -> tuple[ApiToken, str]:
    """Create a personal API token; the plain token is returned once and stored only hashed."""
    require_text(label or "", "label", "label")
    plain = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user, label=(label or "")[:100], token_hash=_hash_token(plain), prefix=plain[:10]
    )
    db.session.add(token)
    record_change(user, "api_token.create", token)
    return token, plain


def revoke_api_token(user: User, token_id: int) -> None:
    """Revoke one of the user's own tokens."""
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound("No such token.")
    token.revoked_at = token.revoked_at or utcnow()
    record_change(user, "api_token.revoke", token)


def user_for_api_token(plain: str) -> User | None:
    """Resolve a bearer token to its active user, or None."""
    if not plain or not plain.startswith(API_TOKEN_PREFIX) or len(plain) > 200:
        return None
    found = db.session.execute(_TOKEN_AND_USER, {"token_hash": _hash_token(plain)}).first()
    if found is None:
        return None
    token, user, *saved_settings = found
    remember_saved_settings(saved_settings)
    if token.revoked_at is not None or not user.active:
        return None
    now = utcnow()
    # Write the last-used time at most once a minute to keep reads cheap under load.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        token.last_used_at = now
        db.session.commit()
    return user
