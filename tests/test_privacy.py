"""Candidates' personal data: retention anonymises it everywhere, exports show all of it."""

import html
import json
from datetime import date, timedelta

import pytest
import time_machine
from sqlalchemy import select

from hiretrack.audit.models import AuditEntry
from hiretrack.candidates.models import Application, Candidate
from hiretrack.candidates.privacy import anonymise_candidate, export_candidate
from hiretrack.candidates.services import (
    ClosureNote,
    apply_to_requisition,
    change_stage,
    log_touchpoint,
    update_candidate,
)
from hiretrack.database import utcnow
from hiretrack.errors import GuardrailRefused
from hiretrack.extensions import db
from hiretrack.holds.services import place_hold, resolve_hold
from hiretrack.messages import delivery
from hiretrack.messages.drafts import send_drafts, update_draft
from hiretrack.messages.models import OutboxEmail, OutboxStatus
from hiretrack.reports.services import build_report
from hiretrack.status.models import StatusLink
from hiretrack.status.services import ask_question, record_feedback
from tests import api_support

as_user = api_support.as_user
make_staff = api_support.make_staff

NAME = "Zébulon Quartermaine-O'Hara"
EMAIL = "zebulon.quartermaine@example.org"
PHONE = "+44 7700 900123"


def every_value_in_the_database():
    """(table, column, text) for every non-null value of every column of every table."""
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(select(table)).all():
            for column, value in zip(table.columns, row, strict=True):
                if value is None:
                    continue
                if isinstance(value, dict | list):
                    yield table.name, column.name, json.dumps(value, ensure_ascii=False)
                    yield table.name, column.name, str(value)
                else:
                    yield table.name, column.name, str(value)


def places_holding(*needles: str) -> list[tuple[str, str, str]]:
    found = []
    lowered = [n.lower() for n in needles]
    for table, column, text in every_value_in_the_database():
        for needle in lowered:
            if needle in text.lower():
                found.append((table, column, needle))
    return found


def row_counts() -> dict[str, int]:
    return {
        table.name: db.session.scalar(select(db.func.count()).select_from(table))
        for table in db.metadata.sorted_tables
    }


def closure_and_hold_figures(user, day: date) -> dict:
    """The closure report by outcome and in total, and the hold report's figures, for day."""
    values = {
        "from": (day - timedelta(days=2)).isoformat(),
        "to": (day + timedelta(days=2)).isoformat(),
    }
    figures = {}
    closure = build_report("closure", user, values, today=day)
    for name in ("by_outcome", "totals"):
        table = closure.table(name)
        figures[f"closure.{name}"] = table.rows(db.session.execute(table.query))
    holds = build_report("holds", user, values, today=day)
    for table in holds.tables:
        numeric = [
            c for c in table.columns if c.kind.value in ("int", "decimal", "percent", "code")
        ]
        rows = db.session.execute(table.query).all()
        figures[f"holds.{table.name}"] = [
            {c.key: c.normalise(row._mapping[c.key]) for c in numeric} for row in rows
        ]
    return figures


@pytest.fixture
def history(ctx, make_user, make_requisition, make_candidate):
    """A candidate with a full history: contacts, a hold and its notice, a question, a closure."""
    recruiter = make_user("recruiter", name="Rita Recruiter")
    manager = make_user("manager", name="Mo Manager")
    requisition = make_requisition(manager=manager, title="Platform engineer")
    candidate = make_candidate(actor=recruiter, name=NAME, email=EMAIL)
    update_candidate(recruiter, candidate, phone=PHONE)
    application = apply_to_requisition(manager, candidate, requisition, "final_round")
    log_touchpoint(
        manager,
        application,
        direction="outbound",
        channel="phone",
        note=f"Called {NAME} on {PHONE}; asked them to confirm {EMAIL}.",
    )
    hold = place_hold(
        manager,
        requisition,
        reason="visa",
        summary=f"Visa sponsorship for {NAME}",
        public_reason="A visa check is under way",
        internal_notes=f"{NAME} ({EMAIL}, {PHONE}) needs a sponsor letter",
        owner_id=manager.id,
        expected_clear_date=utcnow().date() + timedelta(days=7),
        application=application,
    ).hold
    db.session.commit()
    (draft,) = [d for d in hold_drafts(hold)]
    update_draft(
        manager,
        draft,
        subject=f"An update for {NAME}",
        body=f"Dear {NAME},\n\nWe are checking your visa. Call {PHONE} with questions.",
        promised_next_update=None,
    )
    send_drafts(manager, [draft])
    db.session.commit()
    delivery.deliver_batch("test-worker")
    ask_question(application, f"Hello, this is {NAME}: please call me on {PHONE}.")
    record_feedback(application, True)
    resolve_hold(manager, hold, "cleared", note=f"Sponsor letter sent to {NAME}")
    change_stage(
        manager,
        application,
        "not_selected",
        note=f"{NAME} chose another team",
        closure=ClosureNote("phone", f"Told {NAME} on {PHONE} that we will not go ahead"),
    )
    db.session.commit()
    # Someone still in process: their data must stay.
    other = make_candidate(actor=recruiter, name="Olive Stillwaiting", email="olive@example.org")
    apply_to_requisition(manager, other, requisition, "interviewing")
    db.session.commit()
    return {
        "recruiter": recruiter,
        "manager": manager,
        "candidate_id": candidate.id,
        "application_id": application.id,
        "other_id": other.id,
        "closed_on": utcnow().date(),
    }


def hold_drafts(hold):
    from hiretrack.messages.models import Draft

    return db.session.scalars(select(Draft).where(Draft.hold_id == hold.id)).all()


def test_the_history_really_holds_the_personal_data(history):
    places = {table for table, _, _ in places_holding(EMAIL, NAME, PHONE)}
    assert {"candidate", "outbox_email", "touchpoint", "stage_change", "draft", "hold"} <= places
    assert "audit_entry" in places
    assert db.session.scalar(select(StatusLink.id)) is not None


def test_retention_run_removes_the_person_from_every_table_and_keeps_the_figures(history, runner):
    recruiter = history["recruiter"]
    figures_before = closure_and_hold_figures(recruiter, history["closed_on"])
    counts_before = row_counts()
    later = utcnow() + timedelta(days=400)
    with time_machine.travel(later, tick=False):
        result = runner.invoke(args=["retention", "run"])
        assert result.exit_code == 0, result.output
        assert "Anonymised 1 candidate(s)." in result.output

    db.session.expire_all()
    assert places_holding(EMAIL, NAME, PHONE, html.escape(NAME)) == []
    candidate = db.session.get(Candidate, history["candidate_id"])
    assert candidate.name == f"Anonymised candidate #{candidate.id}"
    assert candidate.email is None and candidate.phone is None
    assert candidate.anonymised_at is not None
    # Rows, stages and dates stay: the application is still a closed 'not selected'.
    application = db.session.get(Application, history["application_id"])
    assert application.stage == "not_selected" and application.closed_at is not None
    after = row_counts()
    assert after.pop("audit_entry") == counts_before.pop("audit_entry") + 1
    assert after == counts_before
    assert all(link.revoked_at is not None for link in db.session.scalars(select(StatusLink)))
    assert closure_and_hold_figures(recruiter, history["closed_on"]) == figures_before
    # The one still in process keeps everything.
    other = db.session.get(Candidate, history["other_id"])
    assert other.email == "olive@example.org" and other.name == "Olive Stillwaiting"
    # The anonymisation is audited, by the run, with no personal data.
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "candidate.anonymise")
    ).one()
    assert entry.actor_id is None and entry.actor_label == "retention run"
    assert entry.entity_id == candidate.id
    assert entry.after["reason"] == "retention"
    assert set(entry.after) == {"anonymised_at", "reason", "applications"}


def test_retention_dry_run_lists_and_changes_nothing_then_the_run_is_idempotent(history, runner):
    later = utcnow() + timedelta(days=400)
    with time_machine.travel(later, tick=False):
        dry = runner.invoke(args=["retention", "run", "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert f"#{history['candidate_id']}  {NAME}" in dry.output
        assert "Olive" not in dry.output
        assert db.session.get(Candidate, history["candidate_id"]).email == EMAIL

        assert "Anonymised 1" in runner.invoke(args=["retention", "run"]).output
        again = runner.invoke(args=["retention", "run"])
        assert again.exit_code == 0
        assert "Nobody is due for anonymisation." in again.output
    assert (
        db.session.scalar(
            select(db.func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "candidate.anonymise")
        )
        == 1
    )


def test_retention_waits_for_the_period_after_the_last_application_closes(history, runner, app):
    eleven_months = utcnow() + timedelta(days=330)
    with time_machine.travel(eleven_months, tick=False):
        result = runner.invoke(args=["retention", "run", "--dry-run"])
        assert "Nobody is due" in result.output
    app.config["RETENTION_MONTHS"] = 6
    with time_machine.travel(utcnow() + timedelta(days=200), tick=False):
        result = runner.invoke(args=["retention", "run", "--dry-run"])
        assert f"#{history['candidate_id']}" in result.output


def test_a_candidate_with_one_open_application_is_kept(history, runner, make_requisition):
    candidate = db.session.get(Candidate, history["candidate_id"])
    second = make_requisition(manager=history["manager"])
    apply_to_requisition(history["manager"], candidate, second, "interviewing")
    db.session.commit()
    with time_machine.travel(utcnow() + timedelta(days=400), tick=False):
        result = runner.invoke(args=["retention", "run"])
    assert "Nobody is due" in result.output
    assert db.session.get(Candidate, history["candidate_id"]).email == EMAIL


def test_anonymising_is_refused_while_an_application_is_open(ctx, make_application, make_user):
    application = make_application()
    with pytest.raises(GuardrailRefused, match="still open"):
        anonymise_candidate(make_user("admin"), application.candidate, "candidate_request")


def test_queued_email_to_the_candidate_is_cancelled(history):
    queued = OutboxEmail(
        application_id=history["application_id"],
        to_address=EMAIL,
        to_name=NAME,
        from_address="hiring@acme.example",
        subject=f"For {NAME}",
        body_text="x",
        body_html="x",
        message_id="<queued-1@acme.example>",
        status=OutboxStatus.QUEUED,
    )
    db.session.add(queued)
    db.session.commit()
    candidate = db.session.get(Candidate, history["candidate_id"])
    anonymise_candidate(history["recruiter"], candidate, "candidate_request")
    db.session.commit()
    queued = db.session.get(OutboxEmail, queued.id)
    assert queued.status == OutboxStatus.CANCELLED
    assert queued.to_address == "" and queued.subject == ""


def test_export_holds_everything_about_the_person_and_no_internal_hold_notes(history):
    candidate = db.session.get(Candidate, history["candidate_id"])
    export = export_candidate(candidate)
    assert export["candidate"]["email"] == EMAIL and export["candidate"]["phone"] == PHONE
    assert [a["requisition_title"] for a in export["applications"]] == ["Platform engineer"]
    assert len(export["stage_changes"]) == 2 and len(export["touchpoints"]) == 4
    assert any(PHONE in t["note"] for t in export["touchpoints"])
    assert export["messages"] and export["messages"][0]["to_address"] == EMAIL
    assert export["drafts"] and export["status_links"] and export["feedback"]
    (hold,) = export["holds"]
    assert hold["category"] == "visa" and hold["public_reason"] == "A visa check is under way"
    assert "internal_notes" not in hold and "summary" not in hold
    assert "needs a sponsor" not in json.dumps(export)
    actions = {entry["action"] for entry in export["audit_entries"]}
    assert {"candidate.create", "candidate.update", "application.create"} <= actions
    json.dumps(export)  # JSON-safe throughout


def test_cli_export_prints_json(history, runner):
    result = runner.invoke(args=["candidates", "export", "--id", str(history["candidate_id"])])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["candidate"]["email"] == EMAIL
    missing = runner.invoke(args=["candidates", "export", "--id", "999999"])
    assert missing.exit_code != 0 and "no candidate 999999" in missing.output


def test_recruiter_exports_and_anonymises_from_the_candidate_page(history, client, login):
    candidate_id = history["candidate_id"]
    login(history["recruiter"])
    page = client.get(f"/candidates/{candidate_id}").get_data(as_text=True)
    assert (
        f"/candidates/{candidate_id}/export" in page
        and f"/candidates/{candidate_id}/anonymise" in page
    )

    readable = client.get(f"/candidates/{candidate_id}/export")
    assert readable.status_code == 200
    text = readable.get_data(as_text=True)
    assert EMAIL in text and "Platform engineer" in text and "needs a sponsor" not in text
    download = client.get(f"/candidates/{candidate_id}/export.json")
    assert download.status_code == 200 and download.mimetype == "application/json"
    assert "attachment" in download.headers["Content-Disposition"]
    assert download.get_json()["candidate"]["phone"] == PHONE

    confirm = client.get(f"/candidates/{candidate_id}/anonymise")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.get_data(as_text=True)
    unconfirmed = client.post(
        f"/candidates/{candidate_id}/anonymise", data={"reason": "candidate_request"}
    )
    assert unconfirmed.status_code == 422
    assert db.session.get(Candidate, candidate_id).email == EMAIL
    done = client.post(
        f"/candidates/{candidate_id}/anonymise",
        data={"reason": "candidate_request", "confirm": "y"},
    )
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(Candidate, candidate_id).email is None
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "candidate.anonymise")
    ).one()
    assert (
        entry.actor_id == history["recruiter"].id and entry.after["reason"] == "candidate_request"
    )
    exports = db.session.scalars(
        select(AuditEntry.after).where(AuditEntry.action == "candidate.export")
    ).all()
    assert {e["format"] for e in exports} == {"html", "json"}


def test_managers_may_not_export_or_anonymise(history, client, login):
    login(history["manager"])
    candidate_id = history["candidate_id"]
    assert client.get(f"/candidates/{candidate_id}/export").status_code == 403
    assert client.get(f"/candidates/{candidate_id}/export.json").status_code == 403
    assert client.get(f"/candidates/{candidate_id}/anonymise").status_code == 403
    refused = client.post(
        f"/candidates/{candidate_id}/anonymise",
        data={"reason": "candidate_request", "confirm": "y"},
    )
    assert refused.status_code == 302  # web POSTs flash the refusal and go back
    assert db.session.get(Candidate, candidate_id).email == EMAIL
    assert "/anonymise" not in client.get(f"/candidates/{candidate_id}").get_data(as_text=True)


def test_anonymise_with_an_open_application_explains_why_not(
    client, login, make_user, make_application
):
    application = make_application()
    admin = make_user("admin")
    login(admin)
    response = client.post(
        f"/candidates/{application.candidate_id}/anonymise",
        data={"reason": "candidate_request", "confirm": "y"},
    )
    assert response.status_code == 422
    assert "still open" in response.get_data(as_text=True)


def test_api_export_and_anonymise(history, as_user, make_staff):
    admin = as_user(make_staff("admin"))
    candidate_id = history["candidate_id"]
    export = admin.get(f"/candidates/{candidate_id}/export")
    assert export.status_code == 200 and export.get_json()["candidate"]["email"] == EMAIL
    manager = as_user(history["manager"])
    assert manager.get(f"/candidates/{candidate_id}/export").status_code == 403
    assert manager.post(f"/candidates/{candidate_id}/anonymise", {}).status_code == 403
    refused = admin.post(f"/candidates/{candidate_id}/anonymise", {"reason": "because"})
    assert refused.status_code == 422
    done = admin.post(f"/candidates/{candidate_id}/anonymise", {"reason": "candidate_request"})
    assert done.status_code == 200, done.get_data(as_text=True)
    body = done.get_json()
    assert body["email"] is None and body["anonymised_at"] is not None
    again = admin.post(f"/candidates/{candidate_id}/anonymise", {})
    assert again.status_code == 409
    document = admin.get("/openapi.json").get_json()
    assert "post" in document["paths"]["/api/v1/candidates/{candidate_id}/anonymise"]
    assert "get" in document["paths"]["/api/v1/candidates/{candidate_id}/export"]


def test_retention_run_removes_spent_throttle_counters_and_keeps_live_ones(ctx, client, runner):
    """Throttle keys name IP addresses and emails: kept only while a throttle needs them."""
    from hiretrack.auth.models import ThrottleCounter

    for attempt in range(2):  # two failed sign-ins: counters per account and per IP
        client.post("/login", data={"email": "nobody@acme.example", "password": f"wrong{attempt}"})
    assert db.session.scalar(select(db.func.count()).select_from(ThrottleCounter)) == 2

    result = runner.invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(db.func.count()).select_from(ThrottleCounter)) == 2

    with time_machine.travel(utcnow() + timedelta(days=2), tick=False):
        result = runner.invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "Removed 2 expired sign-in and status-page throttle counter(s)." in result.output
    db.session.expire_all()
    assert db.session.scalar(select(db.func.count()).select_from(ThrottleCounter)) == 0
