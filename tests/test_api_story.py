"""A whole hiring story driven through the API only, delivered to a real SMTP server.

An admin sets up a department and the people; a manager opens a requisition that an approver
approves; three candidates reach the final stages; head office freezes the budget (a hold: each
candidate is told), then cancels the role (closure for everyone). The outbox is delivered to
aiosmtpd on loopback, which must receive exactly one closure per candidate.
"""

from datetime import timedelta

from hiretrack.messages.delivery import drain
from tests import api_support
from tests.api_support import ApiCaller
from tests.conftest import PASSWORD, today

make_staff = api_support.make_staff


def token_from_cli(runner, email: str) -> str:
    """Create a personal token the way an integrator does: `hiretrack tokens create`."""
    result = runner.invoke(args=["tokens", "create", "--email", email, "--label", "story"])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def test_hold_then_cancellation_ends_with_one_closure_per_candidate(
    app, client, runner, make_staff, smtp_server
):
    app.config.update(smtp_server.app_config())
    admin = ApiCaller(client, token_from_cli(runner, make_staff("admin").email))

    # The admin sets up the department and the people.
    department = ok(admin.post("/departments", {"name": "Data Platform"}), 201)
    manager_user = ok(
        admin.post(
            "/users",
            {
                "email": "mia@acme.example",
                "name": "Mia Manager",
                "role": "manager",
                "password": PASSWORD,
            },
        ),
        201,
    )
    approver_user = ok(
        admin.post(
            "/users", {"email": "fin@acme.example", "name": "Finn Finance", "role": "approver"}
        ),
        201,
    )
    assert approver_user["initial_password"]
    manager = ApiCaller(client, token_from_cli(runner, "mia@acme.example"))
    approver = ApiCaller(client, token_from_cli(runner, "fin@acme.example"))
    assert ok(manager.get("/me"))["id"] == manager_user["id"]

    # The manager drafts a requisition and asks for budget approval.
    requisition = ok(
        manager.post(
            "/requisitions",
            {
                "title": "Senior Data Engineer",
                "department_id": department["id"],
                "salary_min": 70_000,
                "salary_max": 90_000,
                "currency": "EUR",
            },
        ),
        201,
    )
    path = f"/requisitions/{requisition['id']}"
    due = str(today() + timedelta(days=5))
    budget = ok(
        manager.post(
            f"{path}/approvals",
            {"kind": "budget", "approver_id": approver_user["id"], "due_date": due},
        ),
        201,
    )
    ok(manager.patch(path, {"status": "pending_approval", "version": requisition["version"]}))

    # The approver finds the pending decision and approves it: the requisition opens.
    pending = ok(approver.get("/approvals", decision="pending"))
    assert [a["id"] for a in pending["items"]] == [budget["id"]]
    ok(
        approver.post(
            f"/approvals/{budget['id']}/decision", {"decision": "approved", "note": "Funded"}
        )
    )
    assert ok(manager.get(path))["status"] == "open"

    # Three candidates apply and move on; one hears the manager wants to hire them.
    applications = []
    for name in ("Ada Lovelace", "Alan Turing", "Grace Hopper"):
        email = name.split()[0].lower() + "@example.org"
        candidate = ok(manager.post("/candidates", {"name": name, "email": email}), 201)
        application = ok(
            manager.post(
                "/applications",
                {
                    "candidate_id": candidate["id"],
                    "requisition_id": requisition["id"],
                    "stage": "final_round",
                },
            ),
            201,
        )
        applications.append(application)
    ok(manager.post(f"/applications/{applications[0]['id']}/transitions", {"to": "verbal_intent"}))

    # Head office freezes the budget: a hold, with a hold notice drafted for every candidate.
    placed = ok(
        manager.post(
            f"{path}/holds",
            {
                "reason": "budget",
                "summary": "Q3 budget frozen by the CFO",
                "public_reason": "a budget review",
                "owner_id": approver_user["id"],
                "expected_clear_date": str(today() + timedelta(days=3)),
            },
        ),
        201,
    )
    hold = placed["hold"]
    assert {d["application_id"] for d in placed["drafts"]} == {a["id"] for a in applications}
    assert {d["category"] for d in placed["drafts"]} == {"hold_notice"}
    sent = ok(manager.post("/drafts/send", {"ids": [d["id"] for d in placed["drafts"]]}))
    assert sent["sent"] == 3
    assert ok(manager.get(path))["status"] == "on_hold"
    # The delivery worker sends the hold notices while the hold is on (one still queued when the
    # hold is cancelled is withdrawn at delivery: see tests/test_withdrawal.py).
    with app.app_context():
        assert drain("story-worker").sent == 3

    # The approver who owns the hold cancels it: the role is gone, closure is drafted for all.
    cancelled = ok(
        approver.post(
            f"/holds/{hold['id']}/resolve",
            {"outcome": "cancelled", "note": "Role cut", "version": hold["version"]},
        )
    )
    assert cancelled["hold"]["outcome"] == "cancelled"
    closures = ok(manager.get("/drafts", hold_id=hold["id"]))["items"]
    assert {d["category"] for d in closures} == {"closure_cancelled"}
    assert len(closures) == 3
    result = ok(manager.post("/drafts/send", {"ids": [d["id"] for d in closures]}))
    assert {r["application_stage"] for r in result["results"]} == {"position_cancelled"}

    # Every application is closed, the requisition cancelled, nothing is left waiting.
    listed = ok(manager.get("/applications", requisition_id=requisition["id"]))
    assert listed["total"] == 3
    assert all(not a["open"] and a["stage"] == "position_cancelled" for a in listed["items"])
    assert (
        ok(manager.get("/applications", requisition_id=requisition["id"], open="true"))["total"]
        == 0
    )
    assert ok(manager.get(path))["status"] == "cancelled"
    assert ok(manager.get("/drafts"))["total"] == 0

    # The delivery worker sends the outbox to the real SMTP server.
    queued = ok(manager.get("/outbox", status="queued"))["items"]
    assert len(queued) == 3  # the closures: the hold notices went out while the hold was on
    with app.app_context():
        report = drain("story-worker")
    assert report.sent == 3 and report.failed == 0 and report.withdrawn == 0

    received = smtp_server.received
    assert len(received) == 6
    closure_ids = {o["message_id"] for o in queued if o["category"] == "closure_cancelled"}
    closures_received = [r for r in received if r.message_id in closure_ids]
    recipients = sorted(address for r in closures_received for address in r.recipients)
    assert recipients == ["ada@example.org", "alan@example.org", "grace@example.org"]
    for message in closures_received:
        assert "cancelled" in message.message["Subject"]
        assert "Senior Data Engineer" in message.message.get_body(("plain",)).get_content()
    notices = [r for r in received if r.message_id not in closure_ids]
    assert sorted(a for r in notices for a in r.recipients) == recipients

    outbox = ok(manager.get("/outbox", per_page=10))
    assert {o["status"] for o in outbox["items"]} == {"sent"}
    # Delivered email counts as contact: each application now shows it.
    after = ok(manager.get("/applications", requisition_id=requisition["id"]))["items"]
    assert all(a["last_contact_at"] is not None for a in after)
