"""Sortable lists: the order lives in the address (`?sort=name`, `?sort=-name` for descending).

Each page names the columns it may be sorted by; anything else in the address is ignored and the
page keeps its own order, so an old or hand-edited link never breaks the page.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import request, url_for
from sqlalchemy import ColumnElement


@dataclass(frozen=True)
class Sort:
    """The order asked for: a whitelisted key (None: the page's default order) and direction."""

    key: str | None
    descending: bool = False
    param: str = "sort"

    def direction(self, key: str) -> str | None:
        """The value of aria-sort for the column `key`, or None when the list is not sorted by it."""
        if key != self.key:
            return None
        return "descending" if self.descending else "ascending"

    def url(self, key: str) -> str:
        """This page sorted by `key`: ascending first, reversed when already ascending by it."""
        value = f"-{key}" if key == self.key and not self.descending else key
        args = {k: v for k, v in request.args.items() if k not in (self.param, "page")}
        args[self.param] = value
        return url_for(request.endpoint, **(request.view_args or {}), **args)


def requested_sort(allowed: Iterable[str], param: str = "sort") -> Sort:
    """Read the sort from the query string; a key not in `allowed` means the default order."""
    raw = request.args.get(param, "")
    key = raw.removeprefix("-")
    if key not in set(allowed):
        return Sort(None, param=param)
    return Sort(key, raw.startswith("-"), param)


@dataclass(frozen=True)
class reverse_order:  # noqa: N801 (reads as a function where the columns are listed)
    """A column whose natural order runs against its label (age ascending = placed latest first)."""

    column: ColumnElement


def sort_clauses(
    sort: Sort, columns: Mapping[str, ColumnElement], default: Iterable
) -> list[ColumnElement]:
    """ORDER BY for a query: the chosen column (empty values last), then the default as tie-break."""
    default = list(default)
    if sort.key is None:
        return default
    column, descending = columns[sort.key], sort.descending
    if isinstance(column, reverse_order):
        column, descending = column.column, not descending
    ordered = column.desc() if descending else column.asc()
    return [ordered.nulls_last(), *default]


def sort_rows(sort: Sort, rows: list, value: Callable[[Any], Any]) -> list:
    """Sort rows already in memory by `value(row)` (empty values last); unchanged without a sort."""
    if sort.key is None:
        return rows
    present = [row for row in rows if value(row) is not None]
    empty = [row for row in rows if value(row) is None]
    return sorted(present, key=value, reverse=sort.descending) + empty
