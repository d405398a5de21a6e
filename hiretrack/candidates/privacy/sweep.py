"""The last step of anonymising: remove a person's name, email and phone wherever else typed.

A staff digest listing them or a hold's notes may quote them; every text and JSON column outside
a few tables is searched in SQL and rewritten in Python on word boundaries.
"""

import html
import json
import re
from typing import Any

from sqlalchemy import JSON, String, Text, cast, func, or_, select, update

from hiretrack.candidates.models import Candidate
from hiretrack.candidates.privacy.records import anonymised_name
from hiretrack.extensions import db

#: Tables the final sweep leaves alone: staff accounts, organisation content and bookkeeping.
#: `candidate` is excluded so that another person who shares the name keeps it.
SWEEP_EXCLUDED_TABLES = frozenset(
    {
        "candidate",
        "user",
        "api_token",
        "throttle_counter",
        "email_template",
        "email_template_version",
        "department",
        "organisation_settings",
        "calendar_day",
        "business_calendar",
        "alembic_version",
    }
)
#: A name shorter than this with no space ("Li") is too likely to occur inside other words.
MIN_SWEPT_NAME_LENGTH = 5
MIN_SWEPT_PHONE_DIGITS = 6


def sweep_values(candidate: Candidate) -> list[tuple[str, str]]:
    """(personal value, its replacement) pairs to remove wherever else they were typed."""
    pairs = []
    if candidate.email:
        pairs.append((candidate.email, "[email removed]"))
    name = (candidate.name or "").strip()
    if len(name) >= MIN_SWEPT_NAME_LENGTH or " " in name:
        pairs.append((name, anonymised_name(candidate.id)))
    phone = (candidate.phone or "").strip()
    if sum(ch.isdigit() for ch in phone) >= MIN_SWEPT_PHONE_DIGITS:
        pairs.append((phone, "[phone removed]"))
    return pairs


def _variants(value: str) -> set[str]:
    """The spellings a value may have been stored in: as typed, HTML-escaped, JSON-escaped."""
    return {value, html.escape(value), html.escape(value, quote=False)}


def _pattern(pairs: list[tuple[str, str]]) -> tuple[re.Pattern, dict[str, str]]:
    replacements: dict[str, str] = {}
    for value, replacement in pairs:
        for variant in _variants(value):
            replacements[variant.casefold()] = replacement
    alternatives = sorted(replacements, key=len, reverse=True)
    # Whole words only: "Ann Lee" must not eat part of "Joann Leeds".
    pattern = re.compile(
        r"(?<!\w)(?:" + "|".join(re.escape(a) for a in alternatives) + r")(?!\w)", re.IGNORECASE
    )
    return pattern, replacements


def _redact(value: Any, pattern: re.Pattern, replacements: dict[str, str]) -> Any:
    """Replace personal values inside a string, or inside every string of JSON data."""
    if isinstance(value, str):
        return pattern.sub(lambda match: replacements[match.group(0).casefold()], value)
    if isinstance(value, dict):
        return {key: _redact(item, pattern, replacements) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item, pattern, replacements) for item in value]
    return value


def _text_columns(table) -> list:
    return [
        column
        for column in table.columns
        if isinstance(column.type, String | JSON) and not column.primary_key
    ]


def sweep_personal_values(
    candidate_id: int, pairs: list[tuple[str, str]], skip_audit_of_others: bool = True
) -> int:
    """Remove personal values from every text and JSON column outside SWEEP_EXCLUDED_TABLES.

    Rows are found in SQL (a case-insensitive substring match, also on the JSON-escaped form),
    then rewritten in Python on word boundaries. Returns how many rows changed.
    """
    if not pairs:
        return 0
    pattern, replacements = _pattern(pairs)
    needles: set[str] = set()
    for value, _ in pairs:
        for variant in _variants(value):
            needles |= {variant, variant.lower(), json.dumps(variant)[1:-1].lower()}
    changed = 0
    for table in db.metadata.sorted_tables:
        if table.name in SWEEP_EXCLUDED_TABLES:
            continue
        columns = _text_columns(table)
        primary_key = list(table.primary_key.columns)
        if not columns or len(primary_key) != 1:
            continue
        key = primary_key[0]
        matches = []
        for column in columns:
            as_text = cast(column, Text) if isinstance(column.type, JSON) else column
            for needle in needles:
                matches.append(as_text.contains(needle, autoescape=True))
                matches.append(func.lower(as_text).contains(needle.lower(), autoescape=True))
        statement = select(key, *columns).where(or_(*matches))
        if skip_audit_of_others and table.name == "audit_entry":
            # Another candidate's own audit trail keeps their name, even if it is the same.
            statement = statement.where(
                or_(
                    table.c.entity_type != "candidate",
                    table.c.entity_id.is_(None),
                    table.c.entity_id == candidate_id,
                )
            )
        for row in db.session.execute(statement).all():
            row_id, *values = row
            new_values = {}
            for column, value in zip(columns, values, strict=True):
                redacted = _redact(value, pattern, replacements)
                if redacted != value:
                    new_values[column.key] = redacted
            if not new_values:
                continue
            if "version" in table.c:
                # Keep optimistic locking honest: an edit made against the old text is stale.
                new_values["version"] = table.c.version + 1
            db.session.execute(update(table).where(key == row_id).values(**new_values))
            changed += 1
    return changed
