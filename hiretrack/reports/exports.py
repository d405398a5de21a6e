"""CSV and JSON exports of a report, streamed row by row so memory stays flat at any size.

Both run the report's own queries (with `yield_per`, so rows arrive from the database in
batches) and write the canonical values of `Column.normalise`, so they match the page.
"""

import csv
import json
from collections.abc import Iterator
from typing import Any

from hiretrack.extensions import db
from hiretrack.reports.tables import Report, Table

#: Rows fetched from the database per batch while streaming.
BATCH_SIZE = 500

#: A spreadsheet treats a cell starting with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

#: The CSV's first column: which table of the report a row belongs to.
SECTION_HEADING = "Section"


def spreadsheet_safe(text: str) -> str:
    """Defuse a cell a spreadsheet would run as a formula by prefixing a single quote."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def stream_rows(table: Table) -> Iterator[dict[str, Any]]:
    """The table's rows, normalised, fetched from the database in batches.

    Tables computed together by one statement (`Table.sections`) come from that statement, run
    once for all of them.
    """
    if table.sections is not None:
        normalise = table.normaliser(table.sections.keys)
        for raw in table.sections.rows(table.name):
            yield normalise(raw)
        return
    result = db.session.execute(table.query.execution_options(yield_per=BATCH_SIZE))
    try:
        normalise = table.normaliser(result.keys())
        for raw in result:
            yield normalise(raw)
    finally:
        result.close()


class _Line:
    """A file-like object that hands back what csv.writer writes, so each row can be yielded."""

    def write(self, text: str) -> str:
        return text


def csv_chunks(report: Report) -> Iterator[str]:
    """The report as one CSV: a Section column, then every table's columns, one row per row.

    Numbers are written as numbers; text cells that would start a formula are escaped.
    """
    writer = csv.writer(_Line())
    columns = report.export_columns()
    yield writer.writerow([SECTION_HEADING, *(column.label for column in columns)])
    for table in report.tables:
        own = {column.key: column for column in table.columns}
        for row in stream_rows(table):
            cells = [spreadsheet_safe(table.title)]
            for column in columns:
                if column.key not in own:
                    cells.append("")
                    continue
                value = own[column.key].text(row[column.key])
                cells.append(value if own[column.key].numeric else spreadsheet_safe(value))
            yield writer.writerow(cells)


def json_chunks(report: Report) -> Iterator[str]:
    """The report as JSON, written piece by piece: its filters, then each table's rows.

    Multi-row tables are lists of objects; the totals table is one object.
    """
    header = {
        "report": report.name,
        "title": report.title,
        "as_of": report.today.isoformat(),
        "filters": report.filters.as_json(),
    }
    yield json.dumps(header)[:-1] + ', "tables": {'
    for index, table in enumerate(report.tables):
        yield ("" if index == 0 else ", ") + json.dumps(table.name) + ": "
        own = table.columns
        if table.single_row:
            rows = list(stream_rows(table))
            yield json.dumps(_json_row(own, rows[0]) if rows else None)
            continue
        yield "["
        for number, row in enumerate(stream_rows(table)):
            yield ("" if number == 0 else ", ") + json.dumps(_json_row(own, row))
        yield "]"
    yield "}}\n"


def _json_row(columns, row: dict[str, Any]) -> dict[str, Any]:
    return {column.key: column.json(row[column.key]) for column in columns}


def text_table(table: Table, rows: list[dict[str, Any]]) -> list[str]:
    """A table as aligned text lines for the terminal: numbers right-aligned, text left."""
    columns = table.page_columns
    headings = [column.label for column in columns]
    cells = [[column.text(row[column.key]) or "-" for column in columns] for row in rows]
    widths = [
        max(len(heading), *(len(line[index]) for line in cells)) if cells else len(heading)
        for index, heading in enumerate(headings)
    ]

    def line(values: list[str]) -> str:
        parts = [
            value.rjust(width) if column.numeric else value.ljust(width)
            for value, width, column in zip(values, widths, columns, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return [line(headings), *(line(values) for values in cells)]
