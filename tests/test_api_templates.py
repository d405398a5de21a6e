"""Contract tests for the template and report endpoints of API v1."""

import csv
import io

import pytest

from hiretrack.extensions import db
from hiretrack.messages.models import EmailTemplate
from tests import api_support
from tests.api_support import assert_problem

as_user = api_support.as_user
make_staff = api_support.make_staff

DELAY = {
    "name": "Finance delay",
    "slug": "delay-finance",
    "category": "delay",
    "subject": "Your application for {{ requisition.title }}",
    "body": "Dear {{ candidate.first_name }},\n\nFinance is still reviewing.\n",
    "promise_business_days": 3,
}


@pytest.fixture
def callers(make_staff, as_user):
    return {role: as_user(make_staff(role)) for role in ("recruiter", "manager", "approver")}


def test_templates_list_filter_and_read(callers):
    listed = callers["manager"].get("/templates", per_page=200).get_json()
    categories = {t["category"] for t in listed["items"]}
    assert {
        "acknowledgement",
        "delay",
        "hold_notice",
        "check_in",
        "moving_forward",
        "offer_cover",
        "closure_cancelled",
        "closure_not_selected",
        "closure_withdrawn",
    } <= categories
    assert listed["total"] == len(listed["items"])
    only = callers["manager"].get("/templates", category="hold_notice").get_json()["items"]
    assert {t["category"] for t in only} == {"hold_notice"}
    slug = only[0]["slug"]
    detail = callers["manager"].get(f"/templates/{slug}").get_json()
    assert detail["versions"][0]["number"] == detail["current_version"]
    assert_problem(callers["manager"].get("/templates/no-such-template"), 404)
    assert_problem(callers["manager"].get("/templates/NOT_A_SLUG!"), 422, "slug")
    assert_problem(callers["approver"].get("/templates"), 403)
    assert_problem(callers["manager"].get("/templates", category="spam"), 422, "category")


def test_create_shared_and_personal_templates(callers):
    created = callers["recruiter"].post("/templates", DELAY)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["slug"] == "delay-finance" and body["personal"] is False and body["version"] == 1
    assert [v["number"] for v in body["versions"]] == [1]

    assert_problem(callers["manager"].post("/templates", {**DELAY, "slug": "mine"}), 403)
    personal = callers["manager"].post(
        "/templates", {**DELAY, "slug": "my-delay", "personal": True}
    )
    assert personal.status_code == 201
    assert personal.get_json()["personal"] is True
    # Another user's personal variant is invisible.
    assert_problem(callers["recruiter"].get("/templates/my-delay"), 404)

    taken = assert_problem(callers["recruiter"].post("/templates", DELAY), 422, "slug")
    assert "already" in taken["errors"]["slug"][0]
    broken = assert_problem(
        callers["recruiter"].post(
            "/templates", {**DELAY, "slug": "broken", "body": "Hi\n{{ candidate.salary }}"}
        ),
        422,
        "body",
    )
    assert broken["errors"]["body"][0].startswith("line 2")
    assert_problem(
        callers["recruiter"].post("/templates", {**DELAY, "slug": "x", "category": "spam"}),
        422,
        "category",
    )
    assert_problem(
        callers["recruiter"].post(
            "/templates", {**DELAY, "slug": "x", "promise_business_days": 61}
        ),
        422,
        "promise_business_days",
    )
    assert_problem(callers["approver"].post("/templates", {**DELAY, "slug": "nope"}), 403)


def test_patch_template_versions_restore_and_retire(callers):
    callers["recruiter"].post("/templates", DELAY)
    path = "/templates/delay-finance"
    edited = callers["recruiter"].patch(
        path,
        {
            "subject": "Still reviewing: {{ requisition.title }}",
            "change_note": "Shorter",
            "version": 1,
        },
    )
    assert edited.status_code == 200, edited.get_json()
    body = edited.get_json()
    assert body["current_version"] == 2 and body["version"] == 2
    assert body["versions"][0]["change_note"] == "Shorter"
    assert_problem(callers["recruiter"].patch(path, {"subject": "Lost", "version": 1}), 409)
    assert_problem(callers["recruiter"].patch(path, {"body": "{% for %}"}), 422, "body")
    assert_problem(callers["manager"].patch(path, {"subject": "Mine"}), 403)

    restored = callers["recruiter"].patch(path, {"restore_version": 1}).get_json()
    assert restored["subject"] == DELAY["subject"] and restored["current_version"] == 3
    assert_problem(callers["recruiter"].patch(path, {"restore_version": 99}), 404)
    retired = callers["recruiter"].patch(path, {"is_active": False}).get_json()
    assert retired["is_active"] is False
    inactive = callers["recruiter"].get("/templates", active="false").get_json()["items"]
    assert [t["slug"] for t in inactive] == ["delay-finance"]


def test_preview_renders_for_a_real_application(callers, make_application):
    application = make_application(stage="final_round")
    preview = callers["recruiter"].post(
        "/templates/preview",
        {
            "subject": "Hi {{ candidate.first_name }}",
            "body": "About {{ requisition.title }}.",
            "application_id": application.id,
        },
    )
    assert preview.status_code == 200, preview.get_json()
    body = preview.get_json()
    assert body["subject"] == f"Hi {application.candidate.first_name}"
    assert application.requisition.title in body["text"] and body["html"].startswith("<p>")
    problem = assert_problem(
        callers["recruiter"].post(
            "/templates/preview",
            {
                "subject": "Hi",
                "body": "Line one\n{{ candidate.name ",
                "application_id": application.id,
            },
        ),
        422,
        "body",
    )
    assert problem["errors"]["body"][0].startswith("line 2")
    # A manager cannot preview against another manager's application.
    assert_problem(
        callers["manager"].post(
            "/templates/preview", {"subject": "Hi", "body": "B", "application_id": application.id}
        ),
        404,
    )
    assert db.session.query(EmailTemplate).count() >= 9


@pytest.mark.parametrize("name", ["holds", "approvals", "cadence", "closure"])
def test_reports_as_json_and_csv_for_every_role(callers, make_application, name):
    pytest.importorskip("hiretrack.reports.services")
    make_application(stage="final_round")
    for caller in callers.values():
        response = caller.get(f"/reports/{name}")
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        assert body["report"] == name and body["tables"]
        exported = caller.get(f"/reports/{name}", format="csv")
        assert exported.status_code == 200 and exported.mimetype == "text/csv"
        rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
        assert rows[0][0] == "Section"


def test_report_filters_are_validated(callers):
    pytest.importorskip("hiretrack.reports.services")
    assert_problem(
        callers["recruiter"].get("/reports/closure", **{"from": "1900-01-01"}), 422, "from"
    )
    assert_problem(
        callers["recruiter"].get("/reports/closure", **{"from": "yesterday"}), 422, "from"
    )
    assert_problem(callers["recruiter"].get("/reports/closure", department=999), 422, "department")
    assert_problem(callers["recruiter"].get("/reports/closure", format="xlsx"), 422, "format")
    assert_problem(callers["recruiter"].get("/reports/everything"), 404)
    filtered = (
        callers["recruiter"]
        .get("/reports/closure", **{"from": "2026-01-01", "to": "2026-01-31"})
        .get_json()
    )
    assert filtered["filters"]["from"] == "2026-01-01" and filtered["filters"]["to"] == "2026-01-31"
