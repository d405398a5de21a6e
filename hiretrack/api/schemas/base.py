"""API v1 shapes: base types every shape is built from: bounded ids, texts and times, pages, problems."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    create_model,
)

from hiretrack.requisitions.currencies import CURRENCY_MESSAGE, is_currency
from hiretrack.text import MULTI_LINE_PATTERN, SINGLE_LINE_PATTERN, check_text

#: Ids are database integers; anything outside this range cannot name a row.
ID_MAX = 2**31 - 1
#: Whole numbers in bodies are bounded so no value can overflow a database column.
INT_MAX = 2**31 - 1
#: Template slugs as stored: lower-case letters, digits, dashes and underscores.
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,79}$"
SLUG_MAX_LENGTH = 80
#: Offsets past this page would ask the database for absurd OFFSETs.
MAX_PAGE = 1_000_000
MAX_PER_PAGE = 200
#: Longest text a date-time may take (ISO 8601 with microseconds and an offset takes 32).
DATETIME_MAX_LENGTH = 64


def _single_line(value: str, info: ValidationInfo) -> str:
    """Refuse line breaks and other control characters (`hiretrack.text`), naming the field."""
    return check_text(value, info.field_name or "This text")


def _multi_line(value: str, info: ValidationInfo) -> str:
    """Refuse control characters other than line breaks and tabs (`hiretrack.text`)."""
    return check_text(value, info.field_name or "This text", multi_line=True)


@dataclass(frozen=True)
class _Documented:
    """Publish a pattern the validator beside it enforces, without pydantic checking it again.

    The validator's own message names the character and where it is; pydantic's pattern check
    would only say "should match pattern".
    """

    pattern: str

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict:
        schema = handler(core_schema)
        schema["pattern"] = self.pattern
        return schema


def _to_utc(value: datetime) -> datetime:
    """Normalise an aware time to UTC, refusing ones that fall outside the representable years."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("Out of range.") from None


Id = Annotated[int, Field(ge=1, le=ID_MAX)]
Count = Annotated[int, Field(ge=0, le=INT_MAX)]
Version = Annotated[
    int,
    Field(
        ge=1,
        le=INT_MAX,
        description="The `version` you read; a stale one is refused with 409, nothing is changed.",
    ),
]


def _datetime_text(value: Any) -> Any:
    """Take a time only as text of at most DATETIME_MAX_LENGTH characters (the document's bound).

    The parse that follows is pydantic's lax one, which would also read a number as a Unix
    time: refusing anything but a string here keeps the strict behaviour of the other fields.
    """
    if not isinstance(value, str):
        raise ValueError("A date and time as text, e.g. 2026-11-25T14:05:00Z.")
    if len(value) > DATETIME_MAX_LENGTH:
        raise ValueError(f"A date and time of at most {DATETIME_MAX_LENGTH} characters.")
    return value


UtcDatetime = Annotated[
    AwareDatetime,
    Field(strict=False),
    BeforeValidator(_datetime_text),
    AfterValidator(_to_utc),
]


def Text(max_length: int, min_length: int = 0, **field: Any) -> Any:  # noqa: N802  (a type factory)
    """A single line of text of bounded length: names, titles, subjects, one-line reasons."""
    return Annotated[
        str,
        Field(min_length=min_length, max_length=max_length, **field),
        AfterValidator(_single_line),
        _Documented(SINGLE_LINE_PATTERN),
    ]


def MultiLineText(max_length: int, min_length: int = 0, **field: Any) -> Any:  # noqa: N802
    """Text of bounded length that may hold line breaks and tabs: notes, message bodies."""
    return Annotated[
        str,
        Field(min_length=min_length, max_length=max_length, **field),
        AfterValidator(_multi_line),
        _Documented(MULTI_LINE_PATTERN),
    ]


Note = MultiLineText(5000)


def _iso_4217(value: str) -> str:
    if not is_currency(value):
        raise ValueError(CURRENCY_MESSAGE)
    return value


Currency = Annotated[
    str,
    Field(
        min_length=3,
        max_length=3,
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 currency code, e.g. EUR.",
    ),
    AfterValidator(_iso_4217),
]
Slug = Annotated[str, Field(min_length=1, max_length=SLUG_MAX_LENGTH, pattern=SLUG_PATTERN)]


class RequestBody(BaseModel):
    """Base of every JSON request body: exact types, no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid")


class QueryString(BaseModel):
    """Base of every query string: text parsed into the declared types; unknown names ignored."""

    model_config = ConfigDict(extra="ignore")


class Output(BaseModel):
    """Base of every response shape; readable straight from ORM objects."""

    model_config = ConfigDict(
        from_attributes=True, json_schema_serialization_defaults_required=True
    )


# --- Problems and pages --------------------------------------------------------------------------


class Problem(Output):
    """An RFC 9457 problem: every error the API answers has this shape."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=False)

    type: str = Field(
        max_length=200, description="Always `about:blank`: `title` names the kind of problem."
    )
    title: str = Field(max_length=200)
    status: int = Field(ge=400, le=599)
    detail: str = Field(
        max_length=20_000, description="What went wrong and what to do about it, for a person."
    )
    errors: (
        dict[
            Annotated[str, Field(max_length=200)],
            Annotated[list[Annotated[str, Field(max_length=2_000)]], Field(max_length=100)],
        ]
        | None
    ) = Field(default=None, description="For 422: each field that was refused, with its messages.")


class PageQuery(QueryString):
    page: int = Field(default=1, ge=1, le=MAX_PAGE, description="Page number, from 1.")
    per_page: int = Field(
        default=50, ge=1, le=MAX_PER_PAGE, description=f"Items per page (at most {MAX_PER_PAGE})."
    )


#: How far past a page's first item an organisation-wide list counts for its `total`: counting
#: every row of a table that grows with the company, on every request, would cost more than
#: the page (the outbox at 400,000 applications: 104,000 rows).
TOTAL_COUNT_LIMIT = 1_000


def page_of(item: type[BaseModel]) -> type[BaseModel]:
    """A list response of `item`: {"items", "page", "per_page", "total", "total_capped"}."""
    return create_model(
        f"{item.__name__.removesuffix('Out')}Page",
        __base__=Output,
        __doc__=f"One page of {item.__name__} items.",
        items=(list[item], ...),
        page=(int, ...),
        per_page=(int, ...),
        total=(int, Field(description="How many items match, over all pages.")),
        total_capped=(
            bool,
            Field(
                default=False,
                description=(
                    f"True when counting stopped at {TOTAL_COUNT_LIMIT:,} items past this page's "
                    "first: at least `total` items match (organisation-wide outbox and "
                    "application lists)."
                ),
            ),
        ),
    )
