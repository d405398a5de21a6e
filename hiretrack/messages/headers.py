"""Checks for values placed in email headers, where a stray line break starts a new header.

Python 3.11.7's email package refuses a raw newline in a header, but an RFC 2047 encoded word
that decodes to one (``=?UTF-8?Q?=0A?=``) is serialised as a real extra header (CVE-2024-6923).
So every value is checked both as written and as a mail client would decode it.

The delivery worker checks each outbox row before building its message, so these checks are
cheap for the common case: printable values with no encoded word are passed in C, a plain
`user@example.org` skips the address parser, and a parsed address list (the organisation's
sender, a manager's Reply-To: the same few values on every message) is remembered.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from email import errors, policy
from functools import lru_cache

__all__ = [
    "HeaderInjectionError",
    "check_address_header",
    "check_header_value",
    "decoded_header_text",
    "envelope_address",
    "parse_address_header",
]

# C0 controls (including TAB, CR, LF, NUL), DEL, C1 controls (including NEL) and the Unicode
# line and paragraph separators: everything some parser treats as the end of a line.
_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

# charset (optionally with an RFC 2231 *language), encoding, encoded text: no spaces, no "?".
_ENCODED_WORD = re.compile(r"=\?(?P<charset>[^?\s]+)\?(?P<encoding>[QqBb])\?(?P<text>[^?\s]*)\?=")
_BAD_QUOTED_PRINTABLE = re.compile(r"=(?![0-9A-Fa-f]{2})")

# A bare addr-spec in its simplest form (dot-atom local part, LDH domain labels): a strict subset
# of what the address parser accepts, so a match needs no parse.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*")


class HeaderInjectionError(ValueError):
    """A header value could smuggle content into other headers or the message body."""


def check_header_value(value: str, field: str) -> str:
    """Return value unchanged if it is safe in the `field` header; raise HeaderInjectionError."""
    if not isinstance(value, str):
        raise TypeError(f"{field} must be a str, not {type(value).__name__}")
    if value.isprintable() and "=?" not in value:
        return value  # the common case, checked in C: every control character is unprintable
    _reject_control_characters(value, field, "contains")
    start = value.find("=?")
    while start != -1:
        match = _ENCODED_WORD.match(value, start)
        if match is None:
            raise HeaderInjectionError(f"{field} has a malformed encoded word at position {start}")
        decoded = _decode_encoded_word(match, field)
        _reject_control_characters(decoded, field, "has an encoded word that decodes to")
        start = value.find("=?", match.end())
    return value


def check_address_header(value: str, field: str) -> str:
    """Return value unchanged if it is a safe list of one or more email addresses."""
    check_header_value(value, field)
    if _PLAIN_ADDRESS.fullmatch(value):
        return value
    parse_address_header(value, field)
    return value


@lru_cache(maxsize=1024)
def parse_address_header(value: str, field: str) -> tuple[tuple[str, str], ...]:
    """Check an address list and return its (display name, address) pairs, decoded.

    Remembered per value: a value that passed once always passes, and the parser is slow.
    """
    check_header_value(value, field)
    try:
        # The email package's strict parser; the message is built from the pairs it returns, so
        # what is sent is exactly what was checked.
        header = policy.default.header_factory("To", value)
    except Exception as error:  # the address parser raises assorted errors on bad input
        raise HeaderInjectionError(f"{field} is not a valid address list") from error
    # A non-ASCII local part is well formed; whether the relay can carry it (SMTPUTF8) is
    # decided when the address is entered and when the message is sent.
    defects = [d for d in header.defects if not isinstance(d, errors.NonASCIILocalPartDefect)]
    if defects:
        raise HeaderInjectionError(f"{field} is not a valid address list: {defects[0]}")
    if not header.addresses:
        raise HeaderInjectionError(f"{field} has no email address")
    for address in header.addresses:
        if not address.username or not address.domain:
            raise HeaderInjectionError(f"{field} has an incomplete address: {address}")
    return tuple((address.display_name, address.addr_spec) for address in header.addresses)


def envelope_address(value: str, field: str) -> str:
    """The one bare address (addr-spec) in a checked header value, as SMTP's MAIL and RCPT carry
    it; a plain address is its own, without a parse."""
    if _PLAIN_ADDRESS.fullmatch(value):
        return value
    addresses = parse_address_header(value, field)
    if len(addresses) != 1:
        raise HeaderInjectionError(f"{field} must name exactly one address for the envelope")
    return addresses[0][1]


def header_safe_text(value: str) -> str:
    """Our own header wording made safe from the stored text in it (a candidate's name, a role):
    each control character becomes a space, runs of spaces one, and an encoded-word opener
    `=?` loses its meaning, so `check_header_value` accepts it as the text it shows."""
    spaced = _CONTROL_CHARACTER.sub(" ", value).replace("=?", "= ?")
    return " ".join(spaced.split())


def decoded_header_text(value: str, field: str) -> str:
    """The text a mail client shows for a header value: each encoded word decoded, strictly."""
    parts = []
    position = 0
    start = value.find("=?")
    while start != -1:
        match = _ENCODED_WORD.match(value, start)
        if match is None:
            raise HeaderInjectionError(f"{field} has a malformed encoded word at position {start}")
        parts += [value[position:start], _decode_encoded_word(match, field)]
        position = match.end()
        start = value.find("=?", position)
    parts.append(value[position:])
    return "".join(parts)


def _reject_control_characters(text: str, field: str, how: str) -> None:
    """Refuse any character that ends a header line for some parser."""
    match = _CONTROL_CHARACTER.search(text)
    if match:
        raise HeaderInjectionError(
            f"{field} {how} a control character (U+{ord(match.group()):04X}), "
            "which is not allowed in email headers"
        )


def _decode_encoded_word(match: re.Match[str], field: str) -> str:
    """Decode one encoded word strictly: a lenient decoder is how bypasses happen."""
    charset = match["charset"].partition("*")[0]
    try:
        codecs.lookup(charset)
        raw = _decode_transfer_encoding(match["encoding"].upper(), match["text"])
        return raw.decode(charset)
    except (LookupError, ValueError) as error:  # unknown charset, bad base64, bad bytes
        raise HeaderInjectionError(
            f"{field} has a malformed encoded word at position {match.start()}"
        ) from error


def _decode_transfer_encoding(encoding: str, text: str) -> bytes:
    """Undo RFC 2047 Q or B encoding."""
    if encoding == "B":
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    if not text.isascii() or _BAD_QUOTED_PRINTABLE.search(text):
        raise ValueError("invalid Q encoding")
    return binascii.a2b_qp(text.encode("ascii"), header=True)
