"""JSON API v1: reports as JSON or streamed CSV, one endpoint per report."""

from flask import Response, stream_with_context

from hiretrack.api import schemas as s
from hiretrack.api.blueprint import api
from hiretrack.auth.models import User
from hiretrack.reports import exports as report_exports
from hiretrack.reports import services as reports

CSV_CONTENT = {"text/csv": {"schema": {"type": "string"}}}


def _report_view(name: s.ReportName):
    """A view answering one report as JSON, or streamed as CSV."""

    def view(user: User, query: s.ReportQuery):
        values = {
            "from": query.date_from.isoformat() if query.date_from else None,
            "to": query.date_to.isoformat() if query.date_to else None,
            "department": str(query.department) if query.department else None,
        }
        report = reports.build_report(name.value, user, values)
        if query.format == "csv":
            filename = f"hiretrack-{report.name}-{report.today.isoformat()}.csv"
            return Response(
                stream_with_context(report_exports.csv_chunks(report)),
                mimetype="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{filename}"'},
            )
        return Response(
            stream_with_context(report_exports.json_chunks(report)), mimetype="application/json"
        )

    view.__name__ = f"{name.value}_report"
    view.__doc__ = (
        f"{reports.REPORTS[name.value]}, scoped to what you may see, with the same filters as "
        "the report page (`from`, `to`, `department`); `format=csv` streams a CSV file."
    )
    return view


def register_reports() -> None:
    """Serve /reports/* through the reports package's own queries and exports."""
    for name in s.ReportName:
        api.operation(
            "GET",
            f"/reports/{name.value}",
            summary=reports.REPORTS[name.value],
            tag="Reports",
            response=s.ReportOut,
            query=s.ReportQuery,
            other_content=CSV_CONTENT,
        )(_report_view(name))


register_reports()
