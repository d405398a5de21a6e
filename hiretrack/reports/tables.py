"""What a report is made of: tables of typed columns over SQL queries, and one chart.

A report's figures come only from its queries; this module turns the values the database
returns into one canonical form (ints, rounded decimals, dates), so the page, the CSV, the JSON
and the CLI show the same numbers, and says how each kind of value is written out.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select

from hiretrack.cadence.queries import as_date

if TYPE_CHECKING:
    from hiretrack.reports.sql import Sections


class Kind(StrEnum):
    TEXT = "text"
    CODE = "code"  # a stored code shown through Column.labels (JSON keeps the code)
    INT = "int"
    DECIMAL = "decimal"  # one decimal place
    PERCENT = "percent"  # 0-100, one decimal place
    DATE = "date"
    DATETIME = "datetime"
    BOOL = "bool"


@dataclass(frozen=True)
class Column:
    """One column of a report table: its key in the query, its heading and kind."""

    key: str
    label: str
    kind: Kind = Kind.TEXT
    labels: Mapping[str, str] | None = None
    # On the page, link the cell: (endpoint, URL argument, key of the row value to pass).
    link: tuple[str, str, str] | None = None
    # Identifiers that belong in exports but would clutter the page.
    on_page: bool = True
    numeric: bool = field(init=False)

    def __post_init__(self) -> None:
        numeric = self.kind in (Kind.INT, Kind.DECIMAL, Kind.PERCENT)
        object.__setattr__(self, "numeric", numeric)
        # Chosen once: a ledger of 6,000 rows normalises 100,000 values.
        object.__setattr__(self, "_convert", _CONVERTERS[self.kind])

    def normalise(self, raw: Any) -> Any:
        """The canonical value of a database value: what every output format starts from."""
        return None if raw is None else self._convert(raw)

    def text(self, value: Any) -> str:
        """The value for a CSV cell or a terminal table."""
        if value is None:
            return ""
        if self.kind == Kind.BOOL:
            return "yes" if value else "no"
        if self.kind in (Kind.DECIMAL, Kind.PERCENT):
            return f"{value:.1f}"
        if self.kind == Kind.DATE:
            return value.isoformat()
        if self.kind == Kind.DATETIME:
            return value.strftime("%Y-%m-%d %H:%M UTC")
        if self.kind == Kind.CODE and self.labels:
            return self.labels.get(value, value)
        return str(value)

    def json(self, value: Any) -> Any:
        """The value for the JSON export: numbers stay numbers, codes stay codes."""
        if isinstance(value, date | datetime):
            return value.isoformat()
        return value


def as_datetime(value: Any) -> datetime:
    """SQLite hands back computed timestamps as text; normalise to an aware UTC datetime."""
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    elif value.tzinfo is UTC:
        return value
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _one_decimal(raw: Any) -> float:
    return round(float(raw), 1)


_CONVERTERS = {
    Kind.TEXT: str,
    Kind.CODE: str,
    Kind.INT: int,
    Kind.DECIMAL: _one_decimal,
    Kind.PERCENT: _one_decimal,
    Kind.DATE: as_date,
    Kind.DATETIME: as_datetime,
    Kind.BOOL: bool,
}


@dataclass(frozen=True)
class Table:
    """One table of a report: its columns and the SQL query that computes every figure in it."""

    name: str
    title: str
    columns: tuple[Column, ...]
    query: Select
    # A single row of totals (an object in JSON rather than a list).
    single_row: bool = False
    # Long tables are paginated on the page; exports always carry every row.
    paged: bool = False
    description: str = ""
    # Computed with other tables of the report by one statement (see reports.sql.Sections);
    # `query` then still computes this table on its own.
    sections: "Sections | None" = field(default=None, compare=False, repr=False)

    def row(self, raw) -> dict[str, Any]:
        """Normalise one result row into {column key: canonical value}."""
        mapping = raw._mapping
        return {column.key: column.normalise(mapping[column.key]) for column in self.columns}

    def rows(self, raws: Iterable) -> list[dict[str, Any]]:
        return [self.row(raw) for raw in raws]

    def normaliser(self, keys: Sequence[str]) -> Callable[[Any], dict[str, Any]]:
        """`row` for many rows with these result keys: looks each column up by position once."""
        positions = list(keys)
        plan = [
            (column.key, positions.index(column.key), column._convert) for column in self.columns
        ]

        def normalise(raw) -> dict[str, Any]:
            return {
                key: None if (value := raw[index]) is None else convert(value)
                for key, index, convert in plan
            }

        return normalise

    @property
    def page_columns(self) -> tuple[Column, ...]:
        return tuple(column for column in self.columns if column.on_page)


@dataclass(frozen=True)
class Chart:
    """A bar chart drawn from one of the report's tables, shown with that table beside it."""

    table: str
    title: str
    description: str
    group: str  # the column naming each group of bars
    bars: tuple[str, ...]  # the numeric columns drawn as bars, one per group
    unit: tuple[str, str] = ("", "")  # what a bar counts: singular, plural


@dataclass(frozen=True)
class ReportFilters:
    """The period and department a report covers (None: no limit)."""

    date_from: date | None = None
    date_to: date | None = None
    department_id: int | None = None
    department_name: str | None = None

    @property
    def has_period(self) -> bool:
        return self.date_from is not None or self.date_to is not None

    def query_args(self) -> dict[str, str]:
        """The filters as URL query arguments, for export links and pagination."""
        args = {}
        if self.date_from:
            args["from"] = self.date_from.isoformat()
        if self.date_to:
            args["to"] = self.date_to.isoformat()
        if self.department_id:
            args["department"] = str(self.department_id)
        return args

    def as_json(self) -> dict[str, Any]:
        return {
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "department_id": self.department_id,
            "department": self.department_name,
        }

    def describe(self) -> str:
        """The filters in words, for headings and the CLI."""
        if self.date_from and self.date_to:
            period = f"{self.date_from.isoformat()} to {self.date_to.isoformat()}"
        elif self.date_from:
            period = f"from {self.date_from.isoformat()}"
        elif self.date_to:
            period = f"up to {self.date_to.isoformat()}"
        else:
            period = "no period"
        department = self.department_name or "all departments"
        return f"{period}; {department}"


@dataclass(frozen=True)
class Report:
    """A report: its tables (the first is the main one), its chart, and what it covers."""

    name: str
    title: str
    summary: str
    filters: ReportFilters
    today: date
    tables: tuple[Table, ...]
    chart: Chart | None = None
    period_note: str = ""

    def table(self, name: str) -> Table:
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)

    def export_columns(self) -> list[Column]:
        """Every table's columns once, in order of first appearance: the CSV's header."""
        seen: dict[str, Column] = {}
        for table in self.tables:
            for column in table.columns:
                seen.setdefault(column.key, column)
        return list(seen.values())
