"""Configuration: defaults, then `HIRETRACK_*` environment variables, then explicit overrides.

Every setting a deployment may set is listed in DEFAULTS under its name without the prefix, so the
README's configuration table and this module stay one list.
"""

import os
import re
from typing import Any

from flask import Flask
from limits import RateLimitItem, parse_many

INSECURE_SECRET_KEY = "dev-insecure-secret-key-change-me"
#: Links in emails point here outside production when HIRETRACK_BASE_URL is not set and no
#: serving command has said where it serves (`hiretrack run` and `hiretrack demo` do).
DEVELOPMENT_BASE_URL = "http://127.0.0.1:5000"

#: A plain ASCII address whose local part can take a `+token`: letters, digits, dots, - and _.
_REPLY_ADDRESS = re.compile(r"[a-z0-9][a-z0-9._-]{0,40}@[a-z0-9](?:[a-z0-9.-]{0,200}[a-z0-9])?")

DEFAULTS: dict[str, Any] = {
    "ENV": "development",  # "production" turns on the secret key check and Secure cookies
    "SECRET_KEY": INSECURE_SECRET_KEY,
    "DATABASE_URL": None,  # default: sqlite:///<instance folder>/hiretrack.sqlite
    "BASE_URL": None,  # default: where `hiretrack run`/`demo` serve, else DEVELOPMENT_BASE_URL
    "MAIL_BACKEND": "file",  # smtp | file | console
    "MAIL_FROM": "HireTrack <hiring@example.com>",
    "MAIL_FILE_DIR": None,  # default: <instance folder>/outbox-mail
    "SMTP_HOST": "localhost",
    "SMTP_PORT": 25,
    "SMTP_USERNAME": None,
    "SMTP_PASSWORD": None,
    "SMTP_SECURITY": "none",  # none | starttls | ssl
    "SMTP_TIMEOUT": 30,
    "SMTP_CA_FILE": None,  # PEM CA certificate(s) to trust for the relay instead of the system's
    # The relay accepts SMTPUTF8 (RFC 6531): addresses may have non-ASCII before the @.
    "SMTP_SMTPUTF8": False,
    "DELIVERY_CLAIM_SIZE": 100,  # messages a delivery worker claims, sends and records at once
    # Inbound mail (docs/inbound.md): replies are copied to <local>+<token>@<domain> of this.
    "REPLY_ADDRESS": None,  # e.g. replies@hiring.example.com
    "IMAP_HOST": None,
    "IMAP_PORT": None,  # default: 993 with ssl, 143 otherwise
    "IMAP_USERNAME": None,
    "IMAP_PASSWORD": None,
    "IMAP_SECURITY": "ssl",  # none | starttls | ssl
    "IMAP_FOLDER": "INBOX",
    "IMAP_PROCESSED_FOLDER": None,  # move handled mail here; unset: flag it in place
    "IMAP_TIMEOUT": 30,
    "IMAP_POLL_SECONDS": 60,
    # Larger messages are recorded by their headers only.
    "INBOUND_MAX_BYTES": 10 * 1024 * 1024,
    "TIMEZONE": "UTC",
    "HOLIDAYS": None,  # e.g. "GB-ENG", "US-CA", "DE"
    "COMPANY_NAME": "Example Ltd",
    "CADENCE_BUSINESS_DAYS": 5,
    "REDIS_URL": None,  # e.g. redis://cache:6379/0: API rate-limit counters live there, not in the database
    "API_RATE_LIMIT": "300 per minute",  # requests per API token
    "API_CLIENT_RATE_LIMIT": "1200 per minute",  # API requests per client address, any token
    "API_AUTH_FAILURE_LIMIT": "20 per 10 minutes",  # failed API authentications per client address
    "RETENTION_MONTHS": 12,
    # Seconds a person's requests may spend rendering email templates per minute (drafts pages).
    "RENDER_SECONDS_PER_MINUTE": 10,
    "LOG_FORMAT": "text",  # text | json
}

#: Settings that hold a rate in the `limits` notation ("300 per minute", "50/10 seconds; 3000/hour").
RATE_SETTINGS = ("API_RATE_LIMIT", "API_CLIENT_RATE_LIMIT", "API_AUTH_FAILURE_LIMIT")

# Flask's own names for the settings above, where they differ.
FLASK_NAMES = {"DATABASE_URL": "SQLALCHEMY_DATABASE_URI"}


class ConfigurationError(RuntimeError):
    """The app was started with settings that would be unsafe or cannot work."""


def load_config(app: Flask, overrides: dict[str, Any] | None) -> None:
    """Fill app.config from defaults, the environment and overrides, then check it."""
    app.config.update(DEFAULTS)
    app.config.update(
        # Pooled connections are checked by `database.check_postgresql_connection`.
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": False},
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.config.from_prefixed_env("HIRETRACK")
    if overrides:
        app.config.update(overrides)
    _normalise(app)
    _check(app)


def _normalise(app: Flask) -> None:
    """Coerce types that `from_prefixed_env` parses as JSON and map names to Flask's."""
    config = app.config
    # An all-digit secret arrives as an int; it is still a secret string.
    config["SECRET_KEY"] = str(config["SECRET_KEY"]) if config["SECRET_KEY"] is not None else None
    for name in ("SMTP_USERNAME", "SMTP_PASSWORD", "IMAP_USERNAME", "IMAP_PASSWORD"):
        if config[name] is not None:
            config[name] = str(config[name])
    config["SMTP_PORT"] = int(config["SMTP_PORT"])
    config["RENDER_SECONDS_PER_MINUTE"] = float(config["RENDER_SECONDS_PER_MINUTE"])
    config["SMTP_SMTPUTF8"] = str(config["SMTP_SMTPUTF8"]).lower() in ("true", "1", "yes", "on")
    config["SMTP_CA_FILE"] = str(config["SMTP_CA_FILE"]) if config["SMTP_CA_FILE"] else None
    config["DELIVERY_CLAIM_SIZE"] = int(config["DELIVERY_CLAIM_SIZE"])
    for name in ("IMAP_TIMEOUT", "IMAP_POLL_SECONDS", "INBOUND_MAX_BYTES"):
        config[name] = int(config[name])
    if config["IMAP_PORT"] in (None, ""):
        config["IMAP_PORT"] = 993 if config["IMAP_SECURITY"] == "ssl" else 143
    config["IMAP_PORT"] = int(config["IMAP_PORT"])
    if config["REPLY_ADDRESS"]:
        config["REPLY_ADDRESS"] = str(config["REPLY_ADDRESS"]).strip().lower()
    config["CADENCE_BUSINESS_DAYS"] = int(config["CADENCE_BUSINESS_DAYS"])
    # BASE_URL_DERIVED: no base URL was configured, so a serving command may use its own address.
    config["BASE_URL_DERIVED"] = not config["BASE_URL"]
    config["BASE_URL"] = str(config["BASE_URL"] or DEVELOPMENT_BASE_URL).rstrip("/")
    if not config.get("SQLALCHEMY_DATABASE_URI"):
        url = config["DATABASE_URL"] or f"sqlite:///{app.instance_path}/hiretrack.sqlite"
        if url.startswith("postgres://"):
            url = "postgresql://" + url.removeprefix("postgres://")
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        config["SQLALCHEMY_DATABASE_URI"] = url
    if config["ENV"] == "production":
        config["SESSION_COOKIE_SECURE"] = True
        config["REMEMBER_COOKIE_SECURE"] = True


def _check(app: Flask) -> None:
    """Refuse to start with settings that are unsafe in production or cannot work anywhere."""
    config = app.config
    if config["ENV"] == "production" and config["SECRET_KEY"] in (None, "", INSECURE_SECRET_KEY):
        raise ConfigurationError(
            "HIRETRACK_SECRET_KEY is missing or still the development default. In production set it "
            'to a long random value, e.g. HIRETRACK_SECRET_KEY="$(python3 -c '
            "'import secrets; print(secrets.token_hex(32))')\"."
        )
    if config["ENV"] == "production" and config["BASE_URL_DERIVED"]:
        raise ConfigurationError(
            "HIRETRACK_BASE_URL is not set. In production set it to the public address people "
            "open, e.g. HIRETRACK_BASE_URL=https://hiretrack.example.com (links in emails use it)."
        )
    if config["MAIL_BACKEND"] not in ("smtp", "file", "console", "memory"):
        raise ConfigurationError("HIRETRACK_MAIL_BACKEND must be one of smtp, file or console.")
    if config["SMTP_SECURITY"] not in ("none", "starttls", "ssl"):
        raise ConfigurationError("HIRETRACK_SMTP_SECURITY must be one of none, starttls or ssl.")
    ca_file = config["SMTP_CA_FILE"]
    if ca_file and not (os.path.isfile(ca_file) and os.access(ca_file, os.R_OK)):
        raise ConfigurationError(
            f"HIRETRACK_SMTP_CA_FILE names {ca_file}, which is not a file this process can read."
        )
    if not 1 <= config["DELIVERY_CLAIM_SIZE"] <= 1000:
        raise ConfigurationError("HIRETRACK_DELIVERY_CLAIM_SIZE must be between 1 and 1000.")
    if config["IMAP_SECURITY"] not in ("none", "starttls", "ssl"):
        raise ConfigurationError("HIRETRACK_IMAP_SECURITY must be one of none, starttls or ssl.")
    if config["INBOUND_MAX_BYTES"] < 64 * 1024:
        raise ConfigurationError("HIRETRACK_INBOUND_MAX_BYTES must be at least 65536 (64 KiB).")
    reply_address = config["REPLY_ADDRESS"]
    if reply_address and not _REPLY_ADDRESS.fullmatch(reply_address):
        raise ConfigurationError(
            "HIRETRACK_REPLY_ADDRESS must be a plain address such as replies@hiring.example.com "
            "(no display name and no '+': HireTrack adds +<token> to it)."
        )
    for setting in RATE_SETTINGS:
        try:
            parse_rate(setting, config[setting])
        except ValueError as error:
            raise ConfigurationError(str(error)) from None


def parse_rate(setting: str, value: Any) -> list[RateLimitItem]:
    """Parse a rate setting into `limits` items, or refuse it with a message naming the setting."""
    try:
        items = parse_many(value) if isinstance(value, str) else []
    except ValueError:
        items = []
    if not items or any(item.amount < 1 for item in items):
        raise ValueError(
            f"HIRETRACK_{setting} must be a rate such as '300 per minute' or "
            f"'50/10 seconds; 3000/hour', not {value!r}."
        )
    return items
