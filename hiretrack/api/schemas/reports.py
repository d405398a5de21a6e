"""API v1 shapes: reports and their filters."""

from datetime import date
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    ConfigDict,
    Field,
)

from hiretrack.api.schemas.base import Id, Output, QueryString


class ReportName(StrEnum):
    HOLDS = "holds"
    APPROVALS = "approvals"
    CADENCE = "cadence"
    CLOSURE = "closure"


class ReportQuery(QueryString):
    date_from: date | None = Field(
        default=None, alias="from", description="First day of the period (YYYY-MM-DD)."
    )
    date_to: date | None = Field(
        default=None, alias="to", description="Last day of the period (YYYY-MM-DD)."
    )
    department: Id | None = Field(default=None, description="Only this department's figures.")
    format: Literal["json", "csv"] = Field(
        default="json", description="`csv` streams the report as one CSV file."
    )


class ReportFiltersOut(Output):
    model_config = ConfigDict(populate_by_name=True)

    date_from: date | None = Field(alias="from", serialization_alias="from")
    date_to: date | None = Field(alias="to", serialization_alias="to")
    department_id: int | None
    department: str | None


class ReportOut(Output):
    """A report: each table's rows (a list), or its totals (one object)."""

    report: ReportName
    title: str
    as_of: date
    filters: ReportFiltersOut
    tables: dict[str, list[dict[str, Any]] | dict[str, Any] | None]
