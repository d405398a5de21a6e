"""Report pages and their CSV and JSON exports, each scoped to what the signed-in user may see."""

from flask import Blueprint, Response, render_template, request, stream_with_context
from flask_login import current_user, login_required
from sqlalchemy import select

from hiretrack.error_pages import problem
from hiretrack.errors import ValidationFailed
from hiretrack.extensions import db
from hiretrack.reports import services
from hiretrack.reports.charts import report_chart
from hiretrack.reports.exports import csv_chunks, json_chunks, stream_rows
from hiretrack.reports.tables import Report, Table
from hiretrack.sorting import Sort, requested_sort, sort_clauses, sort_rows
from hiretrack.web import FORM_REJECTED, paginate, paginate_list

bp = Blueprint("reports", __name__)

#: Rows of a report's long table per page; the exports always carry every row.
PAGE_SIZE = 50

DESCRIPTIONS = {
    "holds": "Every open hold, what it strands and the candidate-days it has cost, by owner "
    "and by reason.",
    "approvals": "Per approver: pending decisions, those past due, and how long decisions take.",
    "cadence": "Per manager and department: who is on track, due, overdue or ghosted, and "
    "broken promises.",
    "closure": "Applications closed in a period, and whether each candidate's closure message "
    "was actually delivered.",
}


@bp.get("/reports")
@login_required
def index():
    """List the reports, each with what it answers."""
    reports = [(name, title, DESCRIPTIONS[name]) for name, title in services.REPORTS.items()]
    return render_template("reports/index.html", reports=reports)


def _export_headers(report: Report, extension: str) -> dict[str, str]:
    filename = f"hiretrack-{report.name}-{report.today.isoformat()}.{extension}"
    return {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "private, no-store",
    }


def _table_sort(table: Table) -> Sort:
    """The order asked for one table of the page (`?sort-<table>=<column>`); totals do not sort."""
    if table.single_row:
        return Sort(None)
    return requested_sort([c.key for c in table.page_columns], param=f"sort-{table.name}")


def _sorted_query(table: Table, sort: Sort):
    """The table's query ordered by the chosen column (its own order otherwise)."""
    if sort.key is None:
        return table.query
    rows = table.query.subquery()
    first = rows.c[table.columns[0].key]
    return select(rows).order_by(*sort_clauses(sort, {sort.key: rows.c[sort.key]}, [first]))


def _sort_value(key: str):
    """Compare text without regard to case, everything else as it is."""
    return lambda row: row[key].lower() if isinstance(row[key], str) else row[key]


def _page(report: Report) -> dict:
    """Run the report's queries for the page: the long table one page at a time."""
    results, pages, sorts = {}, {}, {}
    for table in report.tables:
        sort = sorts[table.name] = _table_sort(table)
        if table.paged and table.sections is None:
            page = paginate(_sorted_query(table, sort), per_page=PAGE_SIZE, scalars=False)
            pages[table.name] = page
            results[table.name] = table.rows(page.items)
        elif table.paged:
            # Computed with the report's other tables, by a statement that reads every row.
            rows = sort_rows(sort, list(stream_rows(table)), _sort_value(sort.key))
            page = paginate_list(rows, per_page=PAGE_SIZE)
            pages[table.name] = page
            results[table.name] = page.items
        else:
            rows = list(stream_rows(table))
            results[table.name] = sort_rows(sort, rows, _sort_value(sort.key))
    chart = None
    if report.chart is not None:
        chart = report_chart(report, results[report.chart.table])
    return {"results": results, "pages": pages, "chart": chart, "sorts": sorts}


def show_report(name: str, fmt: str):
    """Build one report for the current user and answer as a page, CSV or JSON."""
    try:
        report = services.build_report(name, current_user, request.args)
    except ValidationFailed as error:
        db.session.rollback()
        if fmt == "json":
            return problem(error.status, error.title, error.message, errors=error.errors)
        if fmt == "csv":
            lines = [error.message] + [
                f"{field}: {message}"
                for field, messages in error.errors.items()
                for message in messages
            ]
            return Response("\n".join(lines) + "\n", FORM_REJECTED, mimetype="text/plain")
        return (
            render_template(
                "reports/report.html",
                name=name,
                title=services.REPORTS[name],
                report=None,
                errors=error.errors,
                message=error.message,
                values=request.args,
                departments=services.department_choices(current_user),
            ),
            FORM_REJECTED,
        )
    if fmt == "csv":
        return Response(
            stream_with_context(csv_chunks(report)),
            mimetype="text/csv",
            headers=_export_headers(report, "csv"),
        )
    if fmt == "json":
        return Response(
            stream_with_context(json_chunks(report)),
            mimetype="application/json",
            headers=_export_headers(report, "json"),
        )
    return render_template(
        "reports/report.html",
        name=name,
        title=report.title,
        report=report,
        errors={},
        message=None,
        values=request.args,
        departments=services.department_choices(current_user),
        **_page(report),
    )


@bp.get("/reports/holds", defaults={"fmt": "html"})
@bp.get("/reports/holds.<any(csv, json):fmt>")
@login_required
def holds(fmt: str):
    """Show approval holds with the candidates they strand, costliest first."""
    return show_report("holds", fmt)


@bp.get("/reports/approvals", defaults={"fmt": "html"})
@bp.get("/reports/approvals.<any(csv, json):fmt>")
@login_required
def approvals(fmt: str):
    """Show pending and past-due approvals per approver, and how long decisions take."""
    return show_report("approvals", fmt)


@bp.get("/reports/cadence", defaults={"fmt": "html"})
@bp.get("/reports/cadence.<any(csv, json):fmt>")
@login_required
def cadence(fmt: str):
    """Show cadence statuses and broken promises per manager and department."""
    return show_report("cadence", fmt)


@bp.get("/reports/closure", defaults={"fmt": "html"})
@bp.get("/reports/closure.<any(csv, json):fmt>")
@login_required
def closure(fmt: str):
    """Show the closure ledger: applications closed in a period and whether closure reached them."""
    return show_report("closure", fmt)
