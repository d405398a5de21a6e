"""One search over the records a user may see: candidates, requisitions and holds.

Each kind is limited by the same access conditions as its own list (`auth.access`), so search
never reveals a record its page would answer "Not found" for.
"""

from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from hiretrack.auth.access import visible_candidates, visible_holds, visible_requisitions
from hiretrack.auth.models import User
from hiretrack.candidates.models import Candidate
from hiretrack.extensions import db
from hiretrack.holds.models import Hold
from hiretrack.requisitions.models import Requisition

#: Results shown per kind; past this the page asks for a narrower search.
RESULTS_PER_KIND = 20
#: The longest search accepted (the longest name or email stored is shorter).
MAX_QUERY_LENGTH = 200


@dataclass
class SearchResults:
    """What one search found, grouped by kind; `more` names the kinds cut at the limit."""

    text: str
    candidates: list[Candidate] = field(default_factory=list)
    requisitions: list[Requisition] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    more: set[str] = field(default_factory=set)

    @property
    def total(self) -> int:
        return len(self.candidates) + len(self.requisitions) + len(self.holds)


def _contains(column, text: str):
    """Case-insensitive "contains", with % and _ in the text matched literally."""
    return func.lower(column).contains(text.lower(), autoescape=True)


def _first(query, kind: str, results: SearchResults) -> list:
    """Run a query for one kind, keeping the first RESULTS_PER_KIND rows and noting any more."""
    rows = list(db.session.scalars(query.limit(RESULTS_PER_KIND + 1)).unique())
    if len(rows) > RESULTS_PER_KIND:
        results.more.add(kind)
    return rows[:RESULTS_PER_KIND]


def search_records(user: User, text: str) -> SearchResults:
    """Find candidates by name or email, requisitions by title, holds by summary, as `user` may see."""
    text = " ".join(text.split())
    results = SearchResults(text)
    if not text:
        return results
    results.candidates = _first(
        select(Candidate)
        .where(
            visible_candidates(user),
            or_(_contains(Candidate.name, text), _contains(Candidate.email, text)),
        )
        .order_by(Candidate.name, Candidate.id),
        "candidates",
        results,
    )
    results.requisitions = _first(
        select(Requisition)
        .options(joinedload(Requisition.department))
        .where(visible_requisitions(user), _contains(Requisition.title, text))
        .order_by(Requisition.title, Requisition.id),
        "requisitions",
        results,
    )
    results.holds = _first(
        select(Hold)
        .options(joinedload(Hold.requisition))
        .where(visible_holds(user), _contains(Hold.summary, text))
        .order_by(Hold.resolved_at.is_not(None), Hold.opened_at.desc(), Hold.id),
        "holds",
        results,
    )
    return results
