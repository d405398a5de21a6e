"""A candidate's personal data: export everything held about them, or anonymise it for good.

Anonymising keeps every row, date, stage, outcome, status and count, so the reports' figures do
not change; what goes is what identifies the person: their name, email and phone, every free
text written to or about them (touchpoint and stage notes, drafts, the emails in the outbox),
their status links, and the personal fields in the audit log's before/after values. A last sweep
(`sweep.py`) removes their name, email and phone wherever else they were typed (a staff digest
listing them, a hold's notes). `records.py` finds every row about one person, for both the
export (`export.py`) and anonymisation (`anonymise.py`). After the commit, `leftovers.py`
removes the old bytes from disk (SQLite's WAL, PostgreSQL's dead tuples). See docs/operations.md.
"""

from hiretrack.candidates.privacy.anonymise import ANONYMISE_REASONS, anonymise_candidate
from hiretrack.candidates.privacy.export import export_candidate, export_json
from hiretrack.candidates.privacy.leftovers import erase_leftovers

__all__ = [
    "ANONYMISE_REASONS",
    "anonymise_candidate",
    "erase_leftovers",
    "export_candidate",
    "export_json",
]
