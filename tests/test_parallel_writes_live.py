"""Writes to different applications at the same instant all succeed, and the counts kept by
writes (the cadence tally, closure pending) still equal a count from scratch afterwards.

Forty API requests released together against live gunicorn workers, each on its own
application: contacts, sends, stage moves and closures, every one of which moves the stored
cadence dates and so the shared tally rows. On PostgreSQL they lock those rows; none may fail
(a deadlock would answer 500).
"""

from sqlalchemy import select

from hiretrack.cadence.models import CadenceTally
from hiretrack.cadence.tally import counted_from_applications
from hiretrack.extensions import db
from hiretrack.requisitions.models import Requisition
from hiretrack.requisitions.services import closure_pending_count
from tests.live_support import api_post, in_parallel, seed_team

PARALLEL = 40

#: One write per application, in turn: what a busy morning of integrations does.
WRITES = (
    ("touchpoints", {"direction": "outbound", "channel": "phone", "note": "Called with news."}),
    ("messages", {"template": "check-in"}),
    ("transitions", {"to": "final_round"}),
    (
        "transitions",
        {"to": "not_selected", "closure": {"channel": "phone", "note": "Told them by phone."}},
    ),
)


def test_forty_parallel_writes_on_different_applications_all_succeed(live_app, live_gunicorn):
    with live_app.app_context():
        team = seed_team(candidates=PARALLEL, drafts=False)
    server = live_gunicorn(workers=4)

    def write(n: int):
        path, body = WRITES[n % len(WRITES)]
        url = f"{server.url}/api/v1/applications/{team.application_ids[n]}/{path}"
        return api_post(url, team.token, body)

    answers = in_parallel(PARALLEL, write)

    statuses = [answer.status_code for answer in answers]
    print(f"\n{PARALLEL} parallel writes on different applications: {sorted(set(statuses))}")
    assert all(status in (200, 201) for status in statuses), [
        (status, answer.text[:200])
        for status, answer in zip(statuses, answers, strict=True)
        if status >= 300
    ]
    with live_app.app_context():
        db.session.rollback()
        kept = set(
            db.session.execute(
                select(CadenceTally.kind, CadenceTally.day, CadenceTally.applications)
            )
        )
        counted = set(db.session.execute(counted_from_applications()))
        requisition = db.session.get(Requisition, team.requisition_id)
        assert kept == counted
        assert requisition.closure_pending == closure_pending_count(requisition)
