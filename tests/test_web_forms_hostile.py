"""Every manager form against a table of hostile inputs: never a 500, nothing lost, clear errors.

Each form is posted once per (field, hostile value) with every other field valid. The answer must
be an accepted redirect or the form again (422) with an inline error and the other values still
filled in; markup in the input never comes back unescaped. A separate test posts with CSRF on.
"""

import itertools
from dataclasses import dataclass, field
from datetime import timedelta
from html import escape

import pytest

from hiretrack.database import utcnow
from hiretrack.extensions import db
from tests.conftest import PASSWORD

SCRIPT = "<script>alert(1)</script>"

HOSTILE = {
    "empty": "",
    "huge": "x" * 10_000,
    "unicode and RTL": "\u202eZoë 日本語 مرحبا \u200fשלום",
    "html": SCRIPT,
    "sql": "'; DROP TABLE candidate; --",
    "nul": "a\x00b",
    "date far past": "0001-01-01",
    "date far future": "9999-12-31",
    "negative": "-5",
    "huge number": "99999999999999999999999",
}

#: A distinctive value put in one text field of each form, to check nothing typed is lost.
KEPT = "Kept-value-42"

_sequence = itertools.count(1)


@dataclass
class FormCase:
    """One form: how to get a fresh URL for it, and a valid submission."""

    name: str
    url: object  # callable(world) -> str
    data: object  # callable(world) -> dict
    fields: list[str]
    kept: str | None = None  # the field holding KEPT, when the form has free text
    foreign: dict[str, str] = field(default_factory=dict)  # field -> world key of another's id


class World:
    """A manager with data, plus another manager's requisition and application for foreign ids."""

    def __init__(
        self, make_user, make_requisition, make_application, make_department, make_candidate
    ):
        self.manager = make_user("manager", name="Hostile Tester")
        self.approver = make_user("approver")
        self.department = make_department()
        self.requisition = make_requisition(manager=self.manager, department=self.department)
        self.other_requisition = make_requisition(manager=make_user("manager"))
        self.other_application = make_application(
            requisition=self.other_requisition, candidate=make_candidate(actor=self.manager)
        )
        self._make_application = make_application
        self._make_candidate = make_candidate
        self._make_requisition = make_requisition

    def fresh_application(self, stage: str = "interviewing"):
        requisition = self._make_requisition(manager=self.manager, department=self.department)
        return self._make_application(
            requisition=requisition, stage=stage, candidate=self._make_candidate(actor=self.manager)
        )

    def fresh_requisition(self, **values):
        return self._make_requisition(manager=self.manager, department=self.department, **values)

    def fresh_hold(self):
        from hiretrack.holds.services import place_hold

        requisition = self.fresh_requisition()
        self._make_application(
            requisition=requisition, candidate=self._make_candidate(actor=self.manager)
        )
        hold = place_hold(
            self.manager, requisition, reason="budget", summary="Budget", owner_name="HQ"
        ).hold
        db.session.commit()
        return hold

    def approval(self):
        from hiretrack.approvals.services import request_approval

        approval = request_approval(
            self.manager, self.fresh_requisition(status="draft"), "budget", self.manager.id
        )
        db.session.commit()
        return approval


def _unique_email() -> str:
    return f"hostile{next(_sequence)}@example.org"


def _future(days: int = 5) -> str:
    return (utcnow().date() + timedelta(days=days)).isoformat()


CASES = [
    FormCase(
        "add candidate",
        lambda w: "/candidates/new",
        lambda w: {
            "name": KEPT,
            "email": _unique_email(),
            "phone": "+44 20 1234",
            "requisition_id": str(w.requisition.id),
            "stage": "interviewing",
        },
        ["name", "email", "phone", "requisition_id", "stage"],
        kept="name",
        foreign={"requisition_id": "other_requisition"},
    ),
    FormCase(
        "edit candidate",
        lambda w: f"/candidates/{w.fresh_application().candidate_id}/edit",
        lambda w: {"name": KEPT, "email": _unique_email(), "phone": "", "version": "1"},
        ["name", "email", "phone", "version"],
        kept="name",
    ),
    FormCase(
        "apply",
        lambda w: f"/candidates/{w.fresh_application().candidate_id}/apply",
        lambda w: {"requisition_id": str(w.requisition.id), "stage": "final_round"},
        ["requisition_id", "stage"],
        foreign={"requisition_id": "other_requisition"},
    ),
    FormCase(
        "change stage",
        lambda w: f"/candidates/applications/{w.fresh_application().id}/stage",
        lambda w: {
            "target": "not_selected",
            "note": "internal",
            "closure_method": "recorded",
            "closure_channel": "phone",
            "closure_note": KEPT,
            "version": "1",
        },
        ["target", "note", "closure_method", "closure_channel", "closure_note", "version"],
        kept="closure_note",
    ),
    FormCase(
        "log contact",
        lambda w: f"/candidates/applications/{w.fresh_application().id}/contact",
        lambda w: {
            "direction": "inbound",
            "channel": "phone",
            "note": KEPT,
            "promised_next_update": _future(),
        },
        ["direction", "channel", "note", "promised_next_update"],
        kept="note",
    ),
    FormCase(
        "offer terms",
        lambda w: f"/candidates/applications/{w.fresh_application('verbal_intent').id}/offer",
        lambda w: {
            "salary": "60000",
            "currency": "EUR",
            "start_date": _future(30),
            "approver_id": str(w.approver.id),
            "compensation_approver_id": "None",
            "due_date": _future(),
        },
        ["salary", "currency", "start_date", "approver_id", "compensation_approver_id", "due_date"],
    ),
    FormCase(
        "new requisition",
        lambda w: "/requisitions/new",
        lambda w: {
            "title": KEPT,
            "department_id": str(w.department.id),
            "headcount": "1",
            "salary_min": "40000",
            "salary_max": "50000",
            "currency": "EUR",
            "cadence_business_days": "5",
            "status": "open",
        },
        [
            "title",
            "department_id",
            "headcount",
            "salary_min",
            "salary_max",
            "currency",
            "cadence_business_days",
            "status",
        ],
        kept="title",
    ),
    FormCase(
        "edit requisition",
        lambda w: f"/requisitions/{w.fresh_requisition().id}/edit",
        lambda w: {
            "title": KEPT,
            "department_id": str(w.department.id),
            "headcount": "2",
            "currency": "EUR",
            "version": "1",
        },
        ["title", "department_id", "headcount", "currency", "version"],
        kept="title",
    ),
    FormCase(
        "close requisition",
        lambda w: f"/requisitions/{w.fresh_requisition().id}/close",
        lambda w: {"status": "cancelled", "version": "1"},
        ["status", "version"],
    ),
    FormCase(
        "add approval step",
        lambda w: f"/approvals/requisitions/{w.fresh_requisition(status='draft').id}/new",
        lambda w: {"kind": "budget", "approver_id": str(w.approver.id), "due_date": _future()},
        ["kind", "approver_id", "due_date"],
    ),
    FormCase(
        "decide approval",
        lambda w: f"/approvals/{w.approval().id}/decide",
        lambda w: {"decision": "approved", "note": KEPT, "version": "1"},
        ["decision", "note", "version"],
        kept="note",
    ),
    FormCase(
        "place hold",
        lambda w: f"/requisitions/{w.fresh_application().requisition_id}/holds/new",
        lambda w: {
            "application_id": "None",
            "reason": "budget",
            "summary": KEPT,
            "public_reason": "waiting for budget",
            "owner_id": "None",
            "owner_name": "Head office",
            "expected_clear_date": _future(),
            "internal_notes": "notes",
        },
        [
            "application_id",
            "reason",
            "summary",
            "public_reason",
            "owner_id",
            "owner_name",
            "expected_clear_date",
            "internal_notes",
        ],
        kept="summary",
        foreign={"application_id": "other_application"},
    ),
    FormCase(
        "change hold",
        lambda w: f"/holds/{w.fresh_hold().id}/edit",
        lambda w: {
            "edit-reason": "budget",
            "edit-summary": KEPT,
            "edit-public_reason": "",
            "edit-owner_id": "None",
            "edit-owner_name": "Head office",
            "edit-expected_clear_date": _future(),
            "edit-internal_notes": "",
            "edit-version": "1",
        },
        [
            "edit-reason",
            "edit-summary",
            "edit-owner_name",
            "edit-expected_clear_date",
            "edit-version",
        ],
        kept="edit-summary",
    ),
    FormCase(
        "resolve hold",
        lambda w: f"/holds/{w.fresh_hold().id}/resolve",
        lambda w: {"resolve-outcome": "cleared", "resolve-note": KEPT, "resolve-version": "1"},
        ["resolve-outcome", "resolve-note", "resolve-version"],
        kept="resolve-note",
    ),
]

ADMIN_CASES = [
    FormCase(
        "new user",
        lambda w: "/admin/users/new",
        lambda w: {
            "name": KEPT,
            "email": _unique_email().replace("example.org", "acme.example"),
            "role": "manager",
            "phone": "",
            "timezone": "Europe/Paris",
            "password": PASSWORD,
        },
        ["name", "email", "role", "phone", "timezone", "password"],
        kept="name",
    ),
    FormCase(
        "department",
        lambda w: "/admin/departments",
        lambda w: {"name": f"Department {next(_sequence)}"},
        ["name"],
    ),
    FormCase(
        "settings",
        lambda w: "/admin/settings",
        lambda w: {
            "company_name": KEPT,
            "mail_from": "Acme <jobs@acme.example>",
            "cadence_business_days": "5",
            "holidays": "GB-ENG",
        },
        ["company_name", "mail_from", "cadence_business_days", "holidays"],
        kept="company_name",
    ),
]


@pytest.fixture
def world(ctx, make_user, make_requisition, make_application, make_department, make_candidate):
    return World(make_user, make_requisition, make_application, make_department, make_candidate)


class HostilePoster:
    """Posts one form again and again, on a fresh object only after a post was accepted."""

    def __init__(self, client, world, case: FormCase):
        self.client, self.world, self.case = client, world, case
        self.url: str | None = None

    def post(self, field_name: str, label: str, value: str) -> None:
        """The answer to one hostile post: accepted, or the form again with its errors and values."""
        case = self.case
        self.url = self.url or case.url(self.world)
        data = case.data(self.world) | {field_name: value}
        response = self.client.post(self.url, data=data)
        where = f"{case.name}: {field_name} = {label}"
        assert response.status_code in (302, 422), where
        body = response.get_data(as_text=True)
        assert SCRIPT not in body, where
        if response.status_code == 422:
            assert 'class="field-error"' in body or 'role="alert"' in body, where
            if case.kept and field_name != case.kept:
                assert escape(KEPT) in body, f"{where}: the other values were lost"
            return
        self.url = None  # the object changed: the next post gets a fresh one
        if value in (SCRIPT, HOSTILE["unicode and RTL"]):
            followed = self.client.get(response.headers["Location"])
            assert followed.status_code in (200, 302), where
            assert SCRIPT not in followed.get_data(as_text=True), where


def test_manager_forms_survive_hostile_input(client, login, world):
    """One test for all forms (each failure names its form): an app per form costs too much."""
    login(world.manager)
    for case in CASES:
        poster = HostilePoster(client, world, case)
        for field_name in case.fields:
            for label, value in HOSTILE.items():
                poster.post(field_name, label, value)
        for field_name, key in case.foreign.items():
            data = case.data(world) | {field_name: str(getattr(world, key).id)}
            response = client.post(case.url(world), data=data)
            assert response.status_code == 422, f"{case.name}: another manager's {key}"
            assert "Not a valid choice" in response.get_data(as_text=True)


def test_admin_forms_survive_hostile_input(client, login, world, make_user):
    login(make_user("admin"))
    for case in ADMIN_CASES:
        poster = HostilePoster(client, world, case)
        for field_name in case.fields:
            for label, value in HOSTILE.items():
                poster.post(field_name, label, value)


def test_text_is_stored_exactly_and_shown_escaped(client, login, world):
    from hiretrack.candidates.models import Candidate

    login(world.manager)
    name = f"{SCRIPT} \u202eRTL مرحبا ' OR 1=1 --"
    response = client.post(
        "/candidates/new", data={"name": name, "email": _unique_email(), "requisition_id": "None"}
    )
    assert response.status_code == 302
    candidate = db.session.scalars(db.select(Candidate).where(Candidate.name.contains("RTL"))).one()
    assert candidate.name == name
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert SCRIPT not in page and escape(SCRIPT) in page


def test_huge_text_is_refused_on_its_field(client, login, world):
    login(world.manager)
    response = client.post(
        "/candidates/new",
        data={"name": "x" * 10_000, "email": _unique_email(), "requisition_id": "None"},
    )
    assert response.status_code == 422
    assert 'id="name-error"' in response.get_data(as_text=True)


LIST_QUERIES = [
    "/dashboard?status=%3Cscript%3E&page=-1",
    "/dashboard?page=99999999999999999999",
    "/requisitions/?department=-1&status='--&hold=%00&q=" + "x" * 500,
    "/candidates/?q=%00&stage=<b>&cadence=9999-12-31&page=abc",
    "/holds?state=%27&page=0",
    "/approvals/?page=-3&holds_page=x&others_page=1e9",
]


def test_list_filters_survive_hostile_query_strings(client, login, world):
    login(world.manager)
    for query in LIST_QUERIES:
        response = client.get(query)
        assert response.status_code == 200, query
        assert "<script>" not in response.get_data(as_text=True), query


def _token(html: str) -> str:
    return html.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]


def test_forms_refuse_a_post_without_a_csrf_token(app, client, login, world):
    """With CSRF on (as in production), a forged post is refused and changes nothing."""
    from hiretrack.candidates.models import Candidate

    login(world.manager)
    app.config["WTF_CSRF_ENABLED"] = True
    forged = client.post(
        "/candidates/new",
        data={"name": "Forged", "email": "forged@example.org", "requisition_id": "None"},
    )
    assert forged.status_code == 400
    assert "CSRF token is missing" in forged.get_data(as_text=True)
    wrong = client.post(
        f"/requisitions/{world.requisition.id}/close",
        data={"status": "cancelled", "csrf_token": "not-the-token"},
    )
    assert wrong.status_code == 400
    token = _token(client.get("/candidates/new").get_data(as_text=True))
    accepted = client.post(
        "/candidates/new",
        data={
            "name": "Real",
            "email": "real@example.org",
            "requisition_id": "None",
            "stage": "interviewing",
            "csrf_token": token,
        },
    )
    assert accepted.status_code == 302
    names = set(db.session.scalars(db.select(Candidate.name)))
    assert "Real" in names and "Forged" not in names
