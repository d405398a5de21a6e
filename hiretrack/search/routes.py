"""The search page behind the header's search field."""

from flask import Blueprint, render_template, request
from flask_login import current_user, login_required

from hiretrack.search.queries import MAX_QUERY_LENGTH, SearchResults, search_records
from hiretrack.text import text_problem

bp = Blueprint("search", __name__)


@bp.get("/search")
@login_required
def index():
    """Search candidates, requisitions and holds the user may see; odd input gets a message, not an error."""
    text = request.args.get("q", "")
    problem = None
    if len(text) > MAX_QUERY_LENGTH:
        problem = f"Search for at most {MAX_QUERY_LENGTH} characters."
    else:
        problem = text_problem(text, "Your search")
    results = SearchResults(text) if problem else search_records(current_user, text)
    return render_template(
        "search/results.html", results=results, problem=problem, text=text[:MAX_QUERY_LENGTH]
    )
