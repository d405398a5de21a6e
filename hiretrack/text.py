"""What typed text may hold: one rule for a single line and one for multi-line text.

The API schemas and the web forms both check their text fields here, so a name refused on one
side is refused on the other with the same words. A single line (a name, a title, a subject, a
reason) ends up in email headers, CSV cells, page titles and one-line table cells, where a line
break or another control character splits, hides or forges what follows: it holds no C0 control
(TAB, CR and LF included), no DEL, no C1 control (NEL included) and no Unicode line or paragraph
separator. A TAB is refused too: the Tab key cannot type one into a one-line input (it moves the
focus), so one only arrives pasted from a spreadsheet cell or sent by a program, and headers,
exports and the header check (`messages.headers`) all treat it as a control character.

Multi-line text (notes, message bodies) keeps its line breaks (CR and LF; browsers send CRLF)
and TABs, and refuses every other control character and the Unicode separators (a line ends
with a line break, not with a character some readers break on and others do not).

Both patterns are written so that Python's `re`, pydantic's Rust engine and the ECMA-262 regexes
of JSON Schema read them alike: the OpenAPI document publishes them as each field's `pattern`.
"""

import re

from hiretrack.errors import ValidationFailed

#: Characters a single line refuses: C0 (with TAB, LF, CR), DEL, C1 (with NEL), U+2028, U+2029.
SINGLE_LINE_REFUSED = r"\u0000-\u001f\u007f-\u009f\u2028\u2029"
#: Characters multi-line text refuses: the same, less TAB (U+0009), LF (U+000A) and CR (U+000D).
MULTI_LINE_REFUSED = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029"

#: Whole-value patterns, as the OpenAPI document publishes them.
SINGLE_LINE_PATTERN = f"^[^{SINGLE_LINE_REFUSED}]*$"
MULTI_LINE_PATTERN = f"^[^{MULTI_LINE_REFUSED}]*$"

_SINGLE_LINE_BAD = re.compile(f"[{SINGLE_LINE_REFUSED}]")
_MULTI_LINE_BAD = re.compile(f"[{MULTI_LINE_REFUSED}]")

_NAMES = {
    "\t": "tab",
    "\n": "line break",
    "\r": "line break",
    "\x85": "line break",
    "\u2028": "line separator",
    "\u2029": "paragraph separator",
    "\x00": "invisible control character NUL",
}


def text_problem(value: str, label: str, *, multi_line: bool = False) -> str | None:
    """Why `value` is refused as the text of the field called `label`, or None when it is fine.

    The message names the field, the character (by name and code point) and where it is, so the
    person can find an invisible character they pasted.
    """
    match = (_MULTI_LINE_BAD if multi_line else _SINGLE_LINE_BAD).search(value)
    if match is None:
        return None
    character = match.group()
    name = _NAMES.get(character, "invisible control character")
    where = f"{name} (U+{ord(character):04X}) at character {match.start() + 1}"
    if multi_line:
        return f"{label} must not contain control characters: remove the {where}."
    return f"{label} must be a single line of text: remove the {where}."


def check_text(value: str, label: str, *, multi_line: bool = False) -> str:
    """Return `value` if it is a single line (or, with `multi_line`, acceptable multi-line text).

    Raises ValueError with `text_problem`'s message: pydantic and WTForms both turn a ValueError
    from a validator into the field's error.
    """
    problem = text_problem(value, label, multi_line=multi_line)
    if problem:
        raise ValueError(problem)
    return value


def require_text(value: str, field: str, label: str, *, multi_line: bool = False) -> str:
    """`check_text` for the services, which every form, API call, import and command reaches:
    refuse with ValidationFailed naming `field`, as their other checks do."""
    problem = text_problem(value, label, multi_line=multi_line)
    if problem:
        raise ValidationFailed(problem, {field: [problem]})
    return value
