"""Contract tests for JSON API v1: every endpoint, as each role, with its refusals.

Paths, field names, stage and category names are a contract with integrations: these tests
spell them out literally on purpose.
"""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from hiretrack.api import schemas
from hiretrack.auth.models import ApiToken
from hiretrack.auth.services import set_active
from hiretrack.candidates.models import Application
from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.messages.models import EmailTemplate, OutboxEmail, OutboxStatus
from tests import api_support
from tests.api_support import ApiCaller, assert_problem
from tests.conftest import PASSWORD, today

as_user = api_support.as_user
make_staff = api_support.make_staff


def slug_of(category: str) -> str:
    """The slug of the shared default template of a category (slugs are data, not contract)."""
    return db.session.scalars(
        select(EmailTemplate.slug).where(
            EmailTemplate.category == category, EmailTemplate.owner_id.is_(None)
        )
    ).first()


@pytest.fixture
def team(make_staff):
    """One user of each role, plus a second manager and approver to test scoping."""
    return {
        "admin": make_staff("admin"),
        "recruiter": make_staff("recruiter"),
        "manager": make_staff("manager"),
        "other_manager": make_staff("manager"),
        "approver": make_staff("approver"),
        "other_approver": make_staff("approver"),
    }


@pytest.fixture
def callers(team, as_user):
    return {role: as_user(user) for role, user in team.items()}


# --- Authentication ------------------------------------------------------------------------------


def test_missing_token_is_401_with_a_bearer_challenge(client):
    response = client.get("/api/v1/me")
    body = assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in body["detail"]


@pytest.mark.parametrize(
    "header",
    ["Bearer ht_not-a-real-token", "Bearer ", "Basic dXNlcjpwdw==", "ht_x", "Bearer " + "x" * 5000],
)
def test_invalid_tokens_are_401(client, header):
    assert_problem(client.get("/api/v1/me", headers={"Authorization": header}), 401)


def test_revoked_token_and_deactivated_user_are_401(client, as_user, team):
    manager = as_user(team["manager"])
    assert manager.get("/me").status_code == 200
    token = db.session.scalars(select(ApiToken).where(ApiToken.user_id == team["manager"].id)).one()
    token.revoked_at = utcnow()
    db.session.commit()
    assert_problem(manager.get("/me"), 401)

    recruiter = as_user(team["recruiter"])
    assert recruiter.get("/me").status_code == 200
    set_active(team["recruiter"], False, team["admin"])
    db.session.commit()
    assert_problem(recruiter.get("/me"), 401)


def test_a_session_cookie_is_not_accepted_by_the_api(client, login, team):
    """The API is exempt from CSRF, so it must never act on a browser's session cookie."""
    assert login(team["manager"]).status_code == 302
    assert_problem(client.get("/api/v1/me"), 401)
    assert_problem(
        client.post("/api/v1/candidates", json={"name": "A", "email": "a@example.org"}), 401
    )


def test_me_says_who_the_token_acts_as(callers, team):
    body = callers["approver"].get("/me").get_json()
    assert body["id"] == team["approver"].id
    assert body["role"] == "approver"
    assert body["email"] == team["approver"].email


# --- Departments and users -----------------------------------------------------------------------


def test_departments_admin_creates_everyone_lists(callers):
    created = callers["admin"].post("/departments", {"name": "  Platform   Engineering "})
    assert created.status_code == 201
    assert created.get_json()["name"] == "Platform Engineering"
    assert_problem(
        callers["admin"].post("/departments", {"name": "platform engineering"}), 422, "name"
    )
    assert_problem(callers["admin"].post("/departments", {"name": ""}), 422, "name")
    assert_problem(callers["manager"].post("/departments", {"name": "Sales"}), 403)
    for role in ("manager", "approver", "recruiter"):
        listed = callers[role].get("/departments").get_json()
        assert [d["name"] for d in listed["items"]] == ["Platform Engineering"]
        assert listed["total"] == 1


def test_users_only_admins_list_and_create(callers, team):
    created = callers["admin"].post(
        "/users", {"email": "Grace@Acme.example", "name": "Grace Hopper", "role": "approver"}
    )
    assert created.status_code == 201
    body = created.get_json()
    assert body["email"] == "grace@acme.example"
    assert body["role"] == "approver"
    assert len(body["initial_password"]) >= 20
    from hiretrack.auth.models import User

    user = db.session.get(User, body["id"])
    assert user.check_password(body["initial_password"])

    with_password = (
        callers["admin"]
        .post(
            "/users",
            {"email": "m@acme.example", "name": "M", "role": "manager", "password": PASSWORD},
        )
        .get_json()
    )
    assert with_password["initial_password"] is None

    assert_problem(
        callers["admin"].post(
            "/users", {"email": "grace@acme.example", "name": "G", "role": "manager"}
        ),
        422,
        "email",
    )
    assert_problem(
        callers["admin"].post("/users", {"email": "x@acme.example", "name": "X", "role": "boss"}),
        422,
        "role",
    )
    assert_problem(
        callers["admin"].post(
            "/users",
            {"email": "x@acme.example", "name": "X", "role": "manager", "password": "short"},
        ),
        422,
        "password",
    )
    listed = callers["admin"].get("/users", role="approver").get_json()
    assert {u["email"] for u in listed["items"]} >= {"grace@acme.example", team["approver"].email}
    assert all(u["role"] == "approver" for u in listed["items"])
    for role in ("manager", "recruiter", "approver"):
        assert_problem(callers[role].get("/users"), 403)
        assert_problem(
            callers[role].post(
                "/users", {"email": "y@acme.example", "name": "Y", "role": "manager"}
            ),
            403,
        )


# --- Requisitions --------------------------------------------------------------------------------


@pytest.fixture
def department(make_department):
    return make_department("Engineering")


def new_requisition(caller: ApiCaller, department, **values) -> dict:
    response = caller.post(
        "/requisitions", {"title": "Backend Engineer", "department_id": department.id, **values}
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_requisitions_are_scoped_to_their_manager(callers, team, department):
    own = new_requisition(callers["manager"], department, manager_id=team["other_manager"].id)
    # A manager always creates their own requisition, whatever manager_id says.
    assert own["manager_id"] == team["manager"].id
    assert own["status"] == "draft"
    assert own["version"] == 1
    assert own["department_name"] == "Engineering"
    theirs = new_requisition(
        callers["recruiter"], department, manager_id=team["other_manager"].id, status="open"
    )
    assert theirs["manager_id"] == team["other_manager"].id and theirs["status"] == "open"

    mine = callers["manager"].get("/requisitions").get_json()
    assert [r["id"] for r in mine["items"]] == [own["id"]]
    assert_problem(callers["manager"].get(f"/requisitions/{theirs['id']}"), 404)
    assert_problem(
        callers["manager"].patch(f"/requisitions/{theirs['id']}", {"title": "Mine now"}), 404
    )
    everything = callers["recruiter"].get("/requisitions").get_json()
    assert everything["total"] == 2
    assert callers["approver"].get("/requisitions").get_json()["total"] == 0
    assert_problem(
        callers["approver"].post("/requisitions", {"title": "X", "department_id": department.id}),
        403,
    )

    filtered = callers["recruiter"].get("/requisitions", status="open").get_json()
    assert [r["id"] for r in filtered["items"]] == [theirs["id"]]
    assert (
        callers["recruiter"]
        .get("/requisitions", department_id=department.id + 1)
        .get_json()["total"]
        == 0
    )


def test_requisition_validation_is_422_with_fields(callers, department):
    body = assert_problem(
        callers["manager"].post(
            "/requisitions",
            {
                "title": "X",
                "department_id": department.id,
                "salary_min": 90_000,
                "salary_max": 50_000,
                "currency": "EUR",
            },
        ),
        422,
        "salary_max",
    )
    assert body["errors"]["salary_max"] == ["Must be at least the minimum."]
    assert_problem(
        callers["manager"].post("/requisitions", {"title": "X", "department_id": 999}),
        422,
        "department_id",
    )
    assert_problem(
        callers["manager"].post(
            "/requisitions", {"title": "X", "department_id": department.id, "status": "filled"}
        ),
        422,
        "status",
    )
    assert_problem(
        callers["manager"].post(
            "/requisitions", {"title": "X", "department_id": department.id, "currency": "euro"}
        ),
        422,
        "currency",
    )
    assert_problem(
        callers["manager"].post("/requisitions", {"title": "X", "department_id": "1"}),
        422,
        "department_id",
    )
    assert_problem(
        callers["manager"].post(
            "/requisitions", {"title": "X", "department_id": department.id, "headcount": 0}
        ),
        422,
        "headcount",
    )


def test_patch_requisition_with_version_and_stale_version(callers, department):
    created = new_requisition(callers["manager"], department)
    path = f"/requisitions/{created['id']}"
    changed = callers["manager"].patch(
        path, {"title": "Staff Engineer", "version": 1, "salary_min": 10, "salary_max": 20}
    )
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["title"] == "Staff Engineer"
    assert changed.get_json()["version"] == 2
    stale = assert_problem(
        callers["manager"].patch(path, {"title": "Lost update", "version": 1}), 409
    )
    assert "version" in stale["detail"]
    assert callers["manager"].get(path).get_json()["title"] == "Staff Engineer"
    cleared = callers["manager"].patch(path, {"salary_min": None}).get_json()
    assert cleared["salary_min"] is None and cleared["salary_max"] == 20
    assert_problem(callers["manager"].patch(path, {"title": None}), 422, "title")
    assert_problem(callers["manager"].patch(path, {"status": "open"}), 422, "status")


def test_requisition_lifecycle_submit_approve_open(callers, team, department):
    created = new_requisition(callers["manager"], department)
    path = f"/requisitions/{created['id']}"
    refused = assert_problem(callers["manager"].patch(path, {"status": "pending_approval"}), 409)
    assert "approval" in refused["detail"]

    approval = callers["manager"].post(
        f"{path}/approvals",
        {
            "kind": "budget",
            "approver_id": team["approver"].id,
            "due_date": str(today() + timedelta(days=3)),
        },
    )
    assert approval.status_code == 201, approval.get_json()
    approval = approval.get_json()
    assert approval["decision"] == "pending" and approval["kind"] == "budget"
    assert approval["approver_name"] == team["approver"].name
    submitted = callers["manager"].patch(path, {"status": "pending_approval"}).get_json()
    assert submitted["status"] == "pending_approval"

    # The approver now sees the requisition (read-only) and their approval.
    assert callers["approver"].get(path).status_code == 200
    assert_problem(callers["approver"].patch(path, {"title": "No"}), 403)
    assert [a["id"] for a in callers["approver"].get("/approvals").get_json()["items"]] == [
        approval["id"]
    ]
    assert callers["other_approver"].get("/approvals").get_json()["total"] == 0
    assert_problem(callers["other_approver"].get(f"/approvals/{approval['id']}"), 404)
    assert_problem(
        callers["other_approver"].post(
            f"/approvals/{approval['id']}/decision", {"decision": "approved"}
        ),
        404,
    )
    assert_problem(
        callers["manager"].post(f"/approvals/{approval['id']}/decision", {"decision": "approved"}),
        403,
    )
    assert_problem(
        callers["approver"].post(f"/approvals/{approval['id']}/decision", {"decision": "maybe"}),
        422,
        "decision",
    )
    assert_problem(
        callers["approver"].post(
            f"/approvals/{approval['id']}/decision", {"decision": "approved", "version": 7}
        ),
        409,
    )

    decided = callers["approver"].post(
        f"/approvals/{approval['id']}/decision", {"decision": "approved", "note": "Budget found"}
    )
    assert decided.status_code == 200
    assert decided.get_json()["decision"] == "approved"
    assert decided.get_json()["decided_at"].endswith("Z") or "+" in decided.get_json()["decided_at"]
    assert callers["manager"].get(path).get_json()["status"] == "open"
    again = assert_problem(
        callers["approver"].post(f"/approvals/{approval['id']}/decision", {"decision": "rejected"}),
        409,
    )
    assert "already" in again["detail"]
    assert_problem(
        callers["approver"].post(
            f"{path}/approvals", {"kind": "budget", "approver_id": team["approver"].id}
        ),
        403,
    )
    assert_problem(
        callers["manager"].post(
            f"{path}/approvals", {"kind": "vibes", "approver_id": team["approver"].id}
        ),
        422,
        "kind",
    )
    assert_problem(
        callers["manager"].post(f"{path}/approvals", {"kind": "budget", "approver_id": 424242}),
        422,
        "approver_id",
    )
    assert_problem(
        callers["manager"].post(
            f"{path}/approvals",
            {"kind": "budget", "approver_id": team["approver"].id, "due_date": "2001-01-01"},
        ),
        422,
        "due_date",
    )
    assert_problem(
        callers["manager"].post(
            f"{path}/approvals",
            {"kind": "budget", "approver_id": team["approver"].id, "due_date": "01/02/2030"},
        ),
        422,
        "due_date",
    )


def test_closing_a_requisition_needs_closure_for_everyone(
    callers, team, make_requisition, make_application
):
    requisition = make_requisition(manager=team["manager"])
    make_application(requisition=requisition)
    refused = assert_problem(
        callers["manager"].patch(f"/requisitions/{requisition.id}", {"status": "cancelled"}), 409
    )
    assert "closure" in refused["detail"]


# --- Candidates ----------------------------------------------------------------------------------


def test_candidates_create_read_patch_and_scope(callers, team):
    created = callers["manager"].post(
        "/candidates",
        {"name": "Zoë Ångström", "email": "Zoe@Example.org", "phone": "+44 20 7946 0000"},
    )
    assert created.status_code == 201
    candidate = created.get_json()
    assert candidate["name"] == "Zoë Ångström" and candidate["email"] == "zoe@example.org"
    path = f"/candidates/{candidate['id']}"
    assert callers["manager"].get(path).get_json()["version"] == 1
    assert_problem(callers["other_manager"].get(path), 404)
    assert_problem(
        callers["approver"].post("/candidates", {"name": "A", "email": "a@example.org"}), 403
    )
    assert_problem(
        callers["manager"].post("/candidates", {"name": "Dup", "email": "zoe@example.org"}),
        422,
        "email",
    )
    assert_problem(
        callers["manager"].post("/candidates", {"name": "Bad", "email": "not-an-email"}),
        422,
        "email",
    )

    patched = callers["manager"].patch(path, {"email": "zoe.a@example.org", "version": 1})
    assert patched.status_code == 200
    assert patched.get_json()["email"] == "zoe.a@example.org" and patched.get_json()["version"] == 2
    assert_problem(callers["manager"].patch(path, {"name": "Old", "version": 1}), 409)
    assert callers["manager"].patch(path, {"phone": None}).get_json()["phone"] is None
    assert_problem(callers["manager"].patch(path, {"email": None}), 422, "email")
    assert_problem(callers["other_manager"].patch(path, {"name": "Mine"}), 404)

    found = callers["recruiter"].get("/candidates", email="ZOE.A@example.org").get_json()
    assert [c["id"] for c in found["items"]] == [candidate["id"]]
    assert callers["other_manager"].get("/candidates").get_json()["total"] == 0


# --- Applications and stage changes --------------------------------------------------------------


def test_applications_create_list_filter_and_scope(callers, team, make_requisition, make_candidate):
    requisition = make_requisition(manager=team["manager"])
    candidate = make_candidate(actor=team["manager"])
    created = callers["manager"].post(
        "/applications",
        {"candidate_id": candidate.id, "requisition_id": requisition.id, "stage": "final_round"},
    )
    assert created.status_code == 201, created.get_json()
    application = created.get_json()
    assert application["stage"] == "final_round" and application["open"] is True
    for field in ("cadence", "last_contact_at", "next_update_due", "open_holds", "version"):
        assert field in application
    assert application["cadence"] in ("on_track", "due", "overdue", "ghosted")
    assert application["open_holds"] == []

    duplicate = assert_problem(
        callers["manager"].post(
            "/applications", {"candidate_id": candidate.id, "requisition_id": requisition.id}
        ),
        409,
    )
    assert "already" in duplicate["detail"]
    assert_problem(
        callers["manager"].post(
            "/applications",
            {"candidate_id": candidate.id, "requisition_id": requisition.id, "stage": "hired"},
        ),
        409,
    )
    assert_problem(
        callers["other_manager"].post(
            "/applications", {"candidate_id": candidate.id, "requisition_id": requisition.id}
        ),
        404,
    )
    assert_problem(
        callers["manager"].post(
            "/applications",
            {"candidate_id": candidate.id, "requisition_id": requisition.id, "stage": "nowhere"},
        ),
        422,
        "stage",
    )
    assert_problem(callers["other_manager"].get(f"/applications/{application['id']}"), 404)

    listed = (
        callers["manager"]
        .get("/applications", requisition_id=requisition.id, stage="final_round", open="true")
        .get_json()
    )
    assert [a["id"] for a in listed["items"]] == [application["id"]]
    assert callers["manager"].get("/applications", open="false").get_json()["total"] == 0
    assert (
        callers["manager"].get("/applications", candidate_id=candidate.id).get_json()["total"] == 1
    )
    assert callers["other_manager"].get("/applications").get_json()["total"] == 0
    assert_problem(callers["manager"].get("/applications", open="perhaps"), 422, "open")
    assert_problem(callers["manager"].get("/applications", cadence="late"), 422, "cadence")


def test_cadence_filter_finds_overdue_and_ghosted(
    callers, team, make_requisition, make_application
):
    requisition = make_requisition(manager=team["manager"])
    fresh = make_application(requisition=requisition, stage="final_round")
    overdue = make_application(requisition=requisition, stage="final_round")
    ghosted = make_application(requisition=requisition, stage="final_round")
    now = utcnow()
    overdue.opened_at = now - timedelta(days=9)
    ghosted.opened_at = now - timedelta(days=40)
    db.session.commit()

    def ids(status):
        body = callers["manager"].get("/applications", cadence=status).get_json()
        assert all(item["cadence"] == status for item in body["items"])
        return [item["id"] for item in body["items"]]

    assert ids("overdue") == [overdue.id]
    assert ids("ghosted") == [ghosted.id]
    assert fresh.id in ids("on_track") + ids("due")
    assert callers["other_manager"].get("/applications", cadence="overdue").get_json()["total"] == 0


def test_managers_sharing_the_built_list_statements_each_see_only_their_own(
    callers, team, make_requisition, make_application
):
    """The list's statements are built once per role and status; each call binds its user."""
    overdue = {}
    for role in ("manager", "other_manager"):
        application = make_application(
            requisition=make_requisition(manager=team[role]), stage="final_round"
        )
        application.opened_at = utcnow() - timedelta(days=9)
        overdue[role] = application
    db.session.commit()
    for role in ("manager", "other_manager", "manager"):
        body = callers[role].get("/applications", cadence="overdue").get_json()
        assert [item["id"] for item in body["items"]] == [overdue[role].id]
        assert body["total"] == 1
        assert body["items"][0]["business_days_silent"] >= 5
    everyone = callers["recruiter"].get("/applications", cadence="overdue").get_json()
    assert sorted(item["id"] for item in everyone["items"]) == sorted(
        application.id for application in overdue.values()
    )


def test_application_lists_are_in_id_order_for_a_manager_and_a_recruiter(
    callers, team, make_requisition, make_application
):
    """A manager's list is sorted from their own rows (see access.scoped_order), still by id."""
    first, second = (make_requisition(manager=team["manager"]) for _ in range(2))
    made = [make_application(requisition=r) for r in (second, first, second, first, second)]
    expected = sorted(application.id for application in made)

    def ids(caller, **query):
        pages = [
            caller.get("/applications", per_page=2, page=page, **query).get_json()
            for page in (1, 2, 3)
        ]
        return [item["id"] for body in pages for item in body["items"]]

    assert ids(callers["manager"]) == expected
    assert ids(callers["manager"], open="true") == expected
    assert [i for i in ids(callers["recruiter"]) if i in expected] == expected


def test_transitions_follow_the_stage_machine_and_the_closure_guarantee(
    callers, team, make_application
):
    application = make_application(stage="interviewing", manager=team["manager"])
    path = f"/applications/{application.id}"
    moved = callers["manager"].post(f"{path}/transitions", {"to": "final_round", "note": "Strong"})
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["stage"] == "final_round"
    version = moved.get_json()["version"]

    skipped = assert_problem(callers["manager"].post(f"{path}/transitions", {"to": "hired"}), 409)
    assert "cannot go from" in skipped["detail"]
    assert (
        callers["manager"].post(f"{path}/transitions", {"to": "verbal_intent"}).status_code == 200
    )
    version += 1
    no_offer = assert_problem(
        callers["manager"].post(f"{path}/transitions", {"to": "offer_approved"}), 409
    )
    assert "no approved offer" in no_offer["detail"].lower()
    no_closure = assert_problem(
        callers["manager"].post(f"{path}/transitions", {"to": "not_selected"}), 409
    )
    assert "closure" in no_closure["detail"].lower()
    assert_problem(
        callers["manager"].post(
            f"{path}/transitions",
            {"to": "not_selected", "closure": {"channel": "phone", "note": ""}},
        ),
        422,
        "closure.note",
    )
    assert_problem(
        callers["manager"].post(
            f"{path}/transitions",
            {"to": "not_selected", "closure": {"channel": "pigeon", "note": "x"}},
        ),
        422,
        "closure.channel",
    )
    assert_problem(
        callers["manager"].post(
            f"{path}/transitions",
            {
                "to": "not_selected",
                "version": version - 1,
                "closure": {"channel": "phone", "note": "Called"},
            },
        ),
        409,
    )
    assert_problem(callers["approver"].post(f"{path}/transitions", {"to": "withdrawn"}), 404)
    assert_problem(callers["manager"].post(f"{path}/transitions", {"to": "sideways"}), 422, "to")

    closed = callers["manager"].post(
        f"{path}/transitions",
        {
            "to": "not_selected",
            "version": version,
            "closure": {"channel": "phone", "note": "Called them with feedback."},
        },
    )
    assert closed.status_code == 200, closed.get_json()
    body = closed.get_json()
    assert body["stage"] == "not_selected" and body["open"] is False and body["cadence"] is None
    assert body["closed_at"] is not None
    touchpoints = callers["manager"].get(f"{path}/touchpoints").get_json()["items"]
    assert touchpoints[0]["is_closure"] is True and touchpoints[0]["channel"] == "phone"
    reopened = assert_problem(
        callers["manager"].post(f"{path}/transitions", {"to": "interviewing"}), 409
    )
    assert "closed" in reopened["detail"]


def test_touchpoints_record_contact_and_validate(callers, team, make_application):
    application = make_application(stage="final_round", manager=team["manager"])
    path = f"/applications/{application.id}/touchpoints"
    promise = str(today() + timedelta(days=7))
    created = callers["manager"].post(
        path,
        {
            "direction": "outbound",
            "channel": "phone",
            "note": "Called",
            "promised_next_update": promise,
        },
    )
    assert created.status_code == 201
    assert created.get_json()["occurred_at"] is not None
    detail = callers["manager"].get(f"/applications/{application.id}").get_json()
    assert detail["last_contact_at"] is not None and detail["promised_next_update"] == promise
    inbound = callers["manager"].post(
        path, {"direction": "inbound", "channel": "email", "note": "Any news?"}
    )
    assert inbound.status_code == 201
    listed = callers["manager"].get(path, per_page=1).get_json()
    assert listed["total"] == 2 and len(listed["items"]) == 1 and listed["per_page"] == 1
    assert_problem(
        callers["manager"].post(path, {"direction": "sideways", "channel": "phone"}),
        422,
        "direction",
    )
    assert_problem(
        callers["manager"].post(
            path,
            {"direction": "outbound", "channel": "phone", "promised_next_update": "2000-01-01"},
        ),
        422,
        "promised_next_update",
    )
    assert_problem(
        callers["manager"].post(
            path, {"direction": "outbound", "channel": "phone", "note": "x" * 5001}
        ),
        422,
        "note",
    )
    assert_problem(
        callers["approver"].post(path, {"direction": "outbound", "channel": "phone"}), 404
    )
    assert_problem(callers["other_manager"].get(path), 404)


# --- Messages and offers -------------------------------------------------------------------------


def test_send_message_queues_email_with_touchpoint(callers, team, make_application):
    application = make_application(stage="final_round", manager=team["manager"])
    path = f"/applications/{application.id}/messages"
    sent = callers["manager"].post(path, {"template": slug_of("check_in")})
    assert sent.status_code == 201, sent.get_json()
    body = sent.get_json()
    assert body["outbox"]["status"] == "queued"
    assert body["outbox"]["to_address"] == application.candidate.email
    assert (
        body["touchpoint"]["channel"] == "email"
        and body["touchpoint"]["outbox_id"] == body["outbox"]["id"]
    )
    # The email counts as contact only once delivered.
    assert body["touchpoint"]["occurred_at"] is None
    assert body["application"]["id"] == application.id

    offer = assert_problem(callers["manager"].post(path, {"template": slug_of("offer_cover")}), 409)
    assert "offer" in offer["detail"].lower()
    assert_problem(callers["manager"].post(path, {"template": "no-such-template"}), 404)
    assert_problem(callers["manager"].post(path, {"template": "Not A Slug!"}), 422, "template")
    assert_problem(callers["other_manager"].post(path, {"template": slug_of("check_in")}), 404)
    assert_problem(
        callers["manager"].post(
            path, {"template": slug_of("check_in"), "send_at": "2030-01-01T10:00:00"}
        ),
        422,
        "send_at",
    )
    broken = assert_problem(
        callers["manager"].post(
            path, {"template": slug_of("check_in"), "body": "Hi {{ candidate.name "}
        ),
        422,
        "body",
    )
    assert "line" in broken["errors"]["body"][0]
    unknown = assert_problem(
        callers["manager"].post(
            path, {"template": slug_of("check_in"), "body": "{{ candidate.salary }}"}
        ),
        422,
    )
    assert unknown["errors"]


def test_scheduled_message_and_closure_template(callers, team, make_application):
    application = make_application(stage="final_round", manager=team["manager"])
    path = f"/applications/{application.id}/messages"
    later = (datetime.now(UTC) + timedelta(days=2)).astimezone().isoformat()
    scheduled = callers["manager"].post(
        path, {"template": slug_of("closure_not_selected"), "send_at": later}
    )
    assert scheduled.status_code == 201, scheduled.get_json()
    assert scheduled.get_json()["outbox"]["status"] == "scheduled"
    assert scheduled.get_json()["application"]["open"] is True

    other = make_application(stage="final_round", manager=team["manager"])
    closed = callers["manager"].post(
        f"/applications/{other.id}/messages", {"template": slug_of("closure_not_selected")}
    )
    assert closed.status_code == 201
    assert closed.get_json()["application"]["stage"] == "not_selected"
    assert closed.get_json()["touchpoint"]["is_closure"] is True
    after = assert_problem(
        callers["manager"].post(
            f"/applications/{other.id}/messages", {"template": slug_of("check_in")}
        ),
        409,
    )
    assert "closed" in after["detail"]


def test_offer_approval_then_written_offer(callers, team, make_application):
    application = make_application(
        stage="verbal_intent", manager=team["manager"], salary_min=50_000, salary_max=70_000
    )
    path = f"/applications/{application.id}"
    assert_problem(callers["manager"].get(f"{path}/offer"), 404)
    assert_problem(
        callers["manager"].post(f"{path}/offer", {"salary": 0, "approver_id": team["approver"].id}),
        422,
        "salary",
    )
    proposed = callers["manager"].post(
        f"{path}/offer",
        {"salary": 80_000, "approver_id": team["approver"].id, "start_date": "2031-03-01"},
    )
    assert proposed.status_code == 201, proposed.get_json()
    offer = proposed.get_json()
    assert offer["status"] == "pending_approval"
    # Outside the band: a compensation approval joins the offer approval.
    assert sorted(a["kind"] for a in offer["approvals"]) == ["compensation", "offer"]
    assert_problem(
        callers["manager"].post(f"{path}/messages", {"template": slug_of("offer_cover")}), 409
    )
    for approval in offer["approvals"]:
        decided = callers["approver"].post(
            f"/approvals/{approval['id']}/decision", {"decision": "approved"}
        )
        assert decided.status_code == 200
    assert callers["manager"].get(f"{path}/offer").get_json()["status"] == "approved"
    moved = callers["manager"].post(f"{path}/transitions", {"to": "offer_approved"})
    assert moved.status_code == 200, moved.get_json()
    sent = callers["manager"].post(f"{path}/messages", {"template": slug_of("offer_cover")})
    assert sent.status_code == 201, sent.get_json()
    assert sent.get_json()["application"]["stage"] == "offer_extended"
    assert callers["manager"].get(f"{path}/offer").get_json()["status"] == "extended"


# --- Holds and drafts ----------------------------------------------------------------------------


def test_requisition_hold_drafts_a_notice_for_each_candidate(
    callers, team, make_requisition, make_application
):
    requisition = make_requisition(manager=team["manager"])
    first = make_application(requisition=requisition, stage="final_round")
    second = make_application(requisition=requisition, stage="verbal_intent")
    placed = callers["manager"].post(
        f"/requisitions/{requisition.id}/holds",
        {
            "reason": "budget",
            "summary": "CFO froze Q3 budget",
            "public_reason": "a budget review",
            "owner_id": team["approver"].id,
            "expected_clear_date": str(today() + timedelta(days=5)),
        },
    )
    assert placed.status_code == 201, placed.get_json()
    body = placed.get_json()
    hold = body["hold"]
    assert hold["status"] == "open" and hold["owner_name"] == team["approver"].name
    assert sorted(d["application_id"] for d in body["drafts"]) == sorted([first.id, second.id])
    assert {d["category"] for d in body["drafts"]} == {"hold_notice"}
    assert (
        callers["manager"].get(f"/requisitions/{requisition.id}").get_json()["status"] == "on_hold"
    )
    detail = callers["manager"].get(f"/applications/{first.id}").get_json()
    assert [h["id"] for h in detail["open_holds"]] == [hold["id"]]

    # The approver who owns the hold sees it; another approver and manager do not.
    assert callers["approver"].get(f"/holds/{hold['id']}").status_code == 200
    assert_problem(callers["other_approver"].get(f"/holds/{hold['id']}"), 404)
    assert_problem(callers["other_manager"].get(f"/holds/{hold['id']}"), 404)
    assert callers["other_manager"].get("/holds").get_json()["total"] == 0

    listed = callers["manager"].get("/drafts", hold_id=hold["id"]).get_json()
    assert listed["total"] == 2
    assert callers["other_manager"].get("/drafts").get_json()["total"] == 0

    assert_problem(
        callers["approver"].post(
            f"/holds/{hold['id']}/resolve", {"outcome": "cleared", "version": 99}
        ),
        409,
    )
    cleared = callers["approver"].post(
        f"/holds/{hold['id']}/resolve", {"outcome": "cleared", "note": "Budget back"}
    )
    assert cleared.status_code == 200, cleared.get_json()
    assert cleared.get_json()["hold"]["status"] == "resolved"
    assert {d["category"] for d in cleared.get_json()["drafts"]} == {"moving_forward"}
    assert callers["manager"].get(f"/requisitions/{requisition.id}").get_json()["status"] == "open"
    again = assert_problem(
        callers["manager"].post(f"/holds/{hold['id']}/resolve", {"outcome": "cancelled"}), 409
    )
    assert "already" in again["detail"]


def test_hold_validation_scope_and_status_filter(callers, team, make_requisition, make_application):
    requisition = make_requisition(manager=team["manager"])
    application = make_application(requisition=requisition, stage="final_round")
    path = f"/applications/{application.id}/holds"
    assert_problem(
        callers["manager"].post(path, {"reason": "weather", "summary": "x", "owner_name": "HQ"}),
        422,
        "reason",
    )
    assert_problem(
        callers["manager"].post(path, {"reason": "visa", "summary": "", "owner_name": "HQ"}),
        422,
        "summary",
    )
    assert_problem(
        callers["manager"].post(path, {"reason": "visa", "summary": "Visa"}), 422, "owner_id"
    )
    assert_problem(
        callers["other_manager"].post(
            path, {"reason": "visa", "summary": "Visa", "owner_name": "HQ"}
        ),
        404,
    )
    assert_problem(
        callers["approver"].post(path, {"reason": "visa", "summary": "Visa", "owner_name": "HQ"}),
        404,
    )

    placed = callers["manager"].post(
        path, {"reason": "visa", "summary": "Visa paperwork", "owner_name": "Immigration"}
    )
    assert placed.status_code == 201
    hold = placed.get_json()["hold"]
    assert hold["application_id"] == application.id and len(placed.get_json()["drafts"]) == 1
    from hiretrack.holds.models import Hold

    late = db.session.get(Hold, hold["id"])
    late.expected_clear_date = today() - timedelta(days=2)
    db.session.commit()
    assert [
        h["id"] for h in callers["manager"].get("/holds", status="overdue").get_json()["items"]
    ] == [hold["id"]]
    assert callers["manager"].get(f"/holds/{hold['id']}").get_json()["status"] == "overdue"
    assert callers["manager"].get("/holds", status="open").get_json()["total"] == 1
    assert callers["manager"].get("/holds", status="resolved").get_json()["total"] == 0
    assert_problem(callers["manager"].get("/holds", status="stuck"), 422, "status")

    cancelled = (
        callers["manager"].post(f"/holds/{hold['id']}/resolve", {"outcome": "cancelled"}).get_json()
    )
    assert {d["category"] for d in cancelled["drafts"]} == {"closure_cancelled"}
    assert callers["manager"].get("/holds", status="resolved").get_json()["total"] == 1
    assert_problem(
        callers["manager"].post(f"/holds/{hold['id']}/resolve", {"outcome": "paused"}),
        422,
        "outcome",
    )


def test_send_drafts_is_all_or_nothing(callers, team, make_requisition, make_application):
    mine = make_requisition(manager=team["manager"])
    theirs = make_requisition(manager=team["other_manager"])
    make_application(requisition=mine, stage="final_round")
    make_application(requisition=mine, stage="final_round")
    make_application(requisition=theirs, stage="final_round")
    my_drafts = (
        callers["manager"]
        .post(
            f"/requisitions/{mine.id}/holds",
            {"reason": "freeze", "summary": "Freeze", "owner_name": "HQ"},
        )
        .get_json()["drafts"]
    )
    their_drafts = (
        callers["other_manager"]
        .post(
            f"/requisitions/{theirs.id}/holds",
            {"reason": "freeze", "summary": "Freeze", "owner_name": "HQ"},
        )
        .get_json()["drafts"]
    )
    ids = [d["id"] for d in my_drafts]

    mixed = assert_problem(
        callers["manager"].post("/drafts/send", {"ids": ids + [their_drafts[0]["id"]]}),
        422,
        str(their_drafts[0]["id"]),
    )
    assert "Nothing was sent" in mixed["detail"]
    assert_problem(callers["manager"].post("/drafts/send", {"ids": ids + [999_999]}), 422, "999999")
    assert db.session.scalar(select(db.func.count()).select_from(OutboxEmail)) == 0

    sent = callers["manager"].post("/drafts/send", {"ids": ids})
    assert sent.status_code == 200, sent.get_json()
    body = sent.get_json()
    assert body["sent"] == 2
    assert {r["draft_id"] for r in body["results"]} == set(ids)
    assert all(r["status"] == "sent" and r["outbox_status"] == "queued" for r in body["results"])
    twice = assert_problem(callers["manager"].post("/drafts/send", {"ids": ids}), 422, str(ids[0]))
    assert "already sent" in twice["detail"]
    assert callers["manager"].get("/drafts").get_json()["total"] == 0
    assert callers["manager"].get("/drafts", status="sent").get_json()["total"] == 2
    assert_problem(callers["manager"].post("/drafts/send", {"ids": []}), 422, "ids")
    assert_problem(callers["manager"].post("/drafts/send", {"ids": ["1"]}), 422, "ids.0")


# --- Outbox --------------------------------------------------------------------------------------


def test_outbox_list_and_retry_after_fixing_the_address(callers, team, make_application):
    application = make_application(stage="final_round", manager=team["manager"])
    sent = (
        callers["manager"]
        .post(f"/applications/{application.id}/messages", {"template": slug_of("check_in")})
        .get_json()
    )
    outbox_id = sent["outbox"]["id"]
    assert_problem(callers["manager"].post(f"/outbox/{outbox_id}/retry"), 409)

    row = db.session.get(OutboxEmail, outbox_id)
    row.status, row.attempts, row.last_error = OutboxStatus.FAILED, 3, "550 No such user"
    db.session.commit()
    failed = callers["manager"].get("/outbox", status="failed").get_json()
    assert [o["id"] for o in failed["items"]] == [outbox_id]
    assert failed["items"][0]["last_error"] == "550 No such user"
    assert callers["other_manager"].get("/outbox").get_json()["total"] == 0
    assert_problem(callers["approver"].get("/outbox"), 403)
    assert_problem(callers["other_manager"].post(f"/outbox/{outbox_id}/retry"), 404)

    candidate_id = application.candidate_id
    assert (
        callers["manager"]
        .patch(f"/candidates/{candidate_id}", {"email": "fixed@example.org"})
        .status_code
        == 200
    )
    retried = callers["manager"].post(f"/outbox/{outbox_id}/retry")
    assert retried.status_code == 200, retried.get_json()
    body = retried.get_json()
    assert body["status"] == "queued" and body["to_address"] == "fixed@example.org"
    assert body["attempts"] == 0 and body["last_error"] is None
    assert callers["recruiter"].get("/outbox", status="queued").get_json()["total"] == 1
    assert_problem(callers["manager"].get("/outbox", status="lost"), 422, "status")


# --- Bad input never answers 500 -----------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"{",
        b"[1, 2]",
        b'"just a string"',
        b"null",
        b"\xff\xfe",
        b"",
        b'{"name": "\\ud800"}',
        b"[" * 100_000,
    ],
)
def test_malformed_bodies_are_400(callers, data):
    response = callers["recruiter"].post("/candidates", data=data, content_type="application/json")
    assert_problem(response, 400)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": None, "email": "a@example.org"}, "name"),
        ({"name": 12, "email": "a@example.org"}, "name"),
        ({"name": "A" * 201, "email": "a@example.org"}, "name"),
        ({"name": "A" * 100_000, "email": "a@example.org"}, "name"),
        ({"name": "Nul\x00Byte", "email": "a@example.org"}, "name"),
        ({"name": "A", "email": "a@example.org", "phone": "1" * 41}, "phone"),
        ({"name": "A", "email": "a@example.org", "surname": "B"}, "surname"),
        ({"name": "A", "email": ["a@example.org"]}, "email"),
        ({"name": "A", "email": "a" * 300 + "@example.org"}, "email"),
    ],
)
def test_wrong_types_huge_strings_and_unknown_fields_are_422(callers, body, field):
    assert_problem(callers["recruiter"].post("/candidates", body), 422, field)


@pytest.mark.parametrize(
    "path",
    [
        "/requisitions/0",
        "/requisitions/2147483648",
        "/requisitions/99999999999999999999999999",
        "/applications/-1",
        "/holds/abc",
        "/candidates/1.5",
        "/approvals/9223372036854775808",
    ],
)
def test_ids_out_of_range_are_404(callers, path):
    assert_problem(callers["recruiter"].get(path), 404)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"candidate_id": 2**31, "requisition_id": 1}, "candidate_id"),
        ({"candidate_id": 10**30, "requisition_id": 1}, "candidate_id"),
        ({"candidate_id": -5, "requisition_id": 1}, "candidate_id"),
        ({"candidate_id": 1.0, "requisition_id": 1}, "candidate_id"),
        ({"candidate_id": True, "requisition_id": 1}, "candidate_id"),
    ],
)
def test_ids_out_of_range_in_bodies_are_422(callers, body, field):
    assert_problem(callers["recruiter"].post("/applications", body), 422, field)


@pytest.mark.parametrize(
    "params, field",
    [
        ({"page": 0}, "page"),
        ({"page": "abc"}, "page"),
        ({"page": 10**12}, "page"),
        ({"per_page": 201}, "per_page"),
        ({"per_page": -1}, "per_page"),
        ({"requisition_id": 2**40}, "requisition_id"),
    ],
)
def test_invalid_paging_and_filters_are_422(callers, params, field):
    assert_problem(callers["recruiter"].get("/applications", **params), 422, field)


def test_huge_numbers_and_unicode_are_handled(callers, department):
    assert_problem(
        callers["recruiter"].post(
            "/requisitions", {"title": "X", "department_id": department.id, "salary_min": 10**40}
        ),
        422,
        "salary_min",
    )
    created = callers["recruiter"].post(
        "/requisitions", {"title": "Ingénieur·e 🚀 数据", "department_id": department.id}
    )
    assert created.status_code == 201
    assert created.get_json()["title"] == "Ingénieur·e 🚀 数据"
    assert_problem(
        callers["recruiter"].post(
            "/requisitions", {"title": "X", "department_id": department.id, "headcount": 1e400}
        ),
        422,
        "headcount",
    )


def test_pagination_shape_and_pages(callers, make_candidate, team):
    for _ in range(5):
        make_candidate(actor=team["recruiter"])
    first = callers["recruiter"].get("/candidates", per_page=2).get_json()
    assert set(first) == {"items", "page", "per_page", "total", "total_capped"}
    assert first["total"] == 5 and first["page"] == 1 and len(first["items"]) == 2
    third = callers["recruiter"].get("/candidates", per_page=2, page=3).get_json()
    assert len(third["items"]) == 1
    beyond = callers["recruiter"].get("/candidates", per_page=2, page=50).get_json()
    assert beyond["items"] == [] and beyond["total"] == 5
    ids = [
        c["id"]
        for page in (1, 2, 3)
        for c in callers["recruiter"].get("/candidates", per_page=2, page=page).get_json()["items"]
    ]
    assert len(set(ids)) == 5


def test_unknown_paths_and_methods_answer_problem_json(callers):
    assert_problem(callers["recruiter"].get("/nowhere"), 404)
    assert_problem(callers["recruiter"].call("DELETE", "/candidates"), 405)


def test_dates_and_times_are_iso_with_offsets(callers, team, make_application):
    application = make_application(stage="final_round", manager=team["manager"])
    body = callers["manager"].get(f"/applications/{application.id}").get_json()
    opened = datetime.fromisoformat(body["opened_at"].replace("Z", "+00:00"))
    assert opened.tzinfo is not None
    detail = db.session.get(Application, application.id)
    assert abs(opened - detail.opened_at) < timedelta(seconds=1)


def test_a_concurrent_write_between_load_and_save_is_409(callers, team):
    """Another writer bumps the row's version after the API loaded it: the ORM's optimistic lock
    (StaleDataError) answers 409 and nothing of the request is saved."""
    from sqlalchemy import event, text
    from sqlalchemy.orm import Session

    candidate = callers["manager"].post("/candidates", {"name": "Ann", "email": "ann@example.org"})
    candidate_id = candidate.get_json()["id"]

    def concurrent_write(session, flush_context, instances):
        session.connection().execute(
            text("UPDATE candidate SET version = version + 1 WHERE id = :id"), {"id": candidate_id}
        )

    event.listen(Session, "before_flush", concurrent_write, once=True)
    try:
        response = callers["manager"].patch(f"/candidates/{candidate_id}", {"name": "Anne"})
    finally:
        if event.contains(Session, "before_flush", concurrent_write):
            event.remove(Session, "before_flush", concurrent_write)
    body = assert_problem(response, 409)
    assert "Reload" in body["detail"]
    assert callers["manager"].get(f"/candidates/{candidate_id}").get_json()["name"] == "Ann"


def test_organisation_wide_outbox_total_is_capped_and_says_so(
    callers, team, make_application, monkeypatch
):
    """Those who see everything get a capped count (the outbox grows with the company)."""
    application = make_application(stage="final_round", manager=team["manager"])
    for _ in range(6):
        callers["manager"].post(
            f"/applications/{application.id}/messages", {"template": slug_of("check_in")}
        )
    monkeypatch.setattr(schemas, "TOTAL_COUNT_LIMIT", 3)
    first = callers["admin"].get("/outbox", per_page=2).get_json()
    assert (len(first["items"]), first["total"], first["total_capped"]) == (2, 3, True)
    second = callers["admin"].get("/outbox", per_page=2, page=2).get_json()
    assert (second["total"], second["total_capped"]) == (5, True)
    last = callers["admin"].get("/outbox", per_page=2, page=3).get_json()
    assert (len(last["items"]), last["total"], last["total_capped"]) == (2, 6, False)
    exact = callers["manager"].get("/outbox", per_page=2).get_json()
    assert (exact["total"], exact["total_capped"]) == (6, False)


def test_organisation_wide_cadence_totals_come_from_the_tally(
    callers, team, make_requisition, make_application
):
    requisition = make_requisition(manager=team["manager"])
    for days in (0, 9, 9, 40):
        application = make_application(requisition=requisition, stage="final_round")
        application.opened_at = utcnow() - timedelta(days=days)
    db.session.commit()
    for status in ("ghosted", "overdue", "due", "on_track"):
        mine = callers["manager"].get("/applications", cadence=status).get_json()
        everyone = callers["recruiter"].get("/applications", cadence=status).get_json()
        assert everyone["total"] == mine["total"] == len(mine["items"]), status
        assert not everyone["total_capped"]
