"""The audit log in sentences, with links and times in the reader's zone; the CSV stays raw."""

import csv
import io
from datetime import UTC, datetime

from sqlalchemy import select

from hiretrack.audit.models import AuditEntry
from hiretrack.candidates.services import ClosureNote, change_stage
from hiretrack.extensions import db
from hiretrack.holds.services import place_hold


def test_entries_read_as_sentences_with_links_and_local_times(
    client, login, make_user, make_requisition, make_candidate, make_application
):
    admin = make_user("admin", name="Ada Admin", timezone="Europe/Berlin")
    tom = make_user("manager", name="Tom Becker")
    requisition = make_requisition(manager=tom, title="Data Platform Lead")
    clara = make_candidate(actor=tom, name="Clara Moreau")
    application = make_application(requisition=requisition, candidate=clara)
    hold = place_hold(tom, requisition, reason="budget", summary="Budget freeze", owner_name="HQ")
    change_stage(
        tom,
        application,
        "position_cancelled",
        closure=ClosureNote(channel="phone", note="Told her on the phone"),
    )
    db.session.commit()
    stage_entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "application.stage")
    ).one()
    stage_entry.created_at = datetime(2026, 12, 4, 14, 10, 52, tzinfo=UTC)
    db.session.commit()
    login(admin)
    html = client.get("/admin/audit").get_data(as_text=True)
    candidate_link = f'<a href="/candidates/{clara.id}">Clara Moreau</a>'
    requisition_link = f'<a href="/requisitions/{requisition.id}">Data Platform Lead</a>'
    assert f"Tom Becker moved {candidate_link} to Closed: position cancelled." in html
    assert f"Tom Becker added {candidate_link} to {requisition_link}." in html
    assert f'<a href="/holds/{hold.hold.id}">“Budget freeze”</a> on {requisition_link}' in html
    assert "Tom Becker added the candidate" in html
    # Times in the reader's zone, with the zone; stage codes as labels in the details.
    assert "Fri 04 Dec 2026 15:10 CET" in html
    assert "Final round → Closed: position cancelled" in html or "Interviewing → Closed" in html
    assert "final_round -&gt; position_cancelled" not in html
    # The CSV keeps the raw record: codes, ids and UTC.
    rows = list(csv.reader(io.StringIO(client.get("/admin/audit.csv").get_data(as_text=True))))
    raw = next(row for row in rows if row[2] == "application.stage")
    assert raw[0].startswith("2026-12-04T14:10:52") and raw[3:5] == [
        "application",
        str(application.id),
    ]
    assert '"stage": "position_cancelled"' in raw[6]


def test_unknown_actions_and_removed_records_still_read_in_words(client, login, make_user):
    admin = make_user("admin", name="Ada Admin")
    db.session.add_all(
        [
            AuditEntry(
                action="widget.polish", entity_type="widget", entity_id=7, actor_label="cli"
            ),
            AuditEntry(
                action="application.stage",
                entity_type="application",
                entity_id=999,
                actor_label="system",
                before={"stage": "interviewing"},
                after={"stage": "withdrawn"},
            ),
        ]
    )
    db.session.commit()
    login(admin)
    html = client.get("/admin/audit").get_data(as_text=True)
    assert "An operator (command line) recorded “polish” on widget #7." in html
    assert "HireTrack moved application #999 to Closed: withdrawn." in html
