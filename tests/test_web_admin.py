"""Admin screens: users, departments, settings, and the audit log with its CSV export."""

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from hiretrack.admin.models import Department, OrganisationSettings
from hiretrack.audit.models import AuditEntry
from hiretrack.auth.models import User
from hiretrack.database import utcnow
from hiretrack.extensions import db
from tests.conftest import PASSWORD


@pytest.fixture
def admin(make_user):
    return make_user("admin", name="Ada Admin")


@pytest.mark.parametrize("role", ["manager", "approver", "recruiter"])
def test_admin_pages_are_for_admins_only(client, login, make_user, role):
    login(make_user(role))
    for url in ("/admin/", "/admin/users", "/admin/audit", "/admin/audit.csv", "/admin/settings"):
        assert client.get(url).status_code == 403, url
    refused = client.post("/admin/departments", data={"name": "X"}, follow_redirects=True)
    assert "This needs one of these roles: admin." in refused.get_data(as_text=True)
    assert db.session.scalars(select(Department)).first() is None


def test_create_deactivate_and_reactivate_a_user(app, client, login, admin):
    login(admin)
    response = client.post(
        "/admin/users/new",
        data={
            "name": "New Person",
            "email": "new.person@acme.example",
            "role": "approver",
            "timezone": "Europe/Berlin",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 302
    user = db.session.scalars(select(User).where(User.email == "new.person@acme.example")).one()
    assert (user.role, user.timezone) == ("approver", "Europe/Berlin")

    theirs = app.test_client()
    theirs.post("/login", data={"email": user.email, "password": PASSWORD})
    assert theirs.get("/dashboard").status_code == 200
    client.post(f"/admin/users/{user.id}/deactivate")
    assert db.session.get(User, user.id).active is False
    assert theirs.get("/dashboard").status_code == 302  # their session ended at once
    client.post(f"/admin/users/{user.id}/activate")
    assert db.session.get(User, user.id).active is True


def test_user_form_rejects_bad_input_inline(client, login, admin):
    login(admin)
    response = client.post(
        "/admin/users/new",
        data={
            "name": "Kept",
            "email": admin.email,
            "role": "emperor",
            "timezone": "Mars/Base",
            "password": "short",
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Not a valid choice" in html
    assert "Unknown time zone" in html
    assert 'id="password-error"' in html
    assert 'value="Kept"' in html


def test_admin_cannot_deactivate_themselves(client, login, admin):
    login(admin)
    response = client.post(f"/admin/users/{admin.id}/deactivate", follow_redirects=True)
    assert "You cannot deactivate yourself" in response.get_data(as_text=True)
    assert db.session.get(User, admin.id).active is True
    assert client.post("/admin/users/999999/deactivate").status_code == 404


def test_departments_are_added_once(client, login, admin):
    login(admin)
    assert client.post("/admin/departments", data={"name": "People Ops"}).status_code == 302
    response = client.post("/admin/departments", data={"name": "people ops"})
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)
    assert [d.name for d in db.session.scalars(select(Department))] == ["People Ops"]


def test_settings_save_and_report_bad_values_on_their_fields(client, login, admin):
    login(admin)
    page = client.get("/admin/settings").get_data(as_text=True)
    assert 'value="Acme Widgets"' in page  # the configured value until an admin saves one
    bad = client.post(
        "/admin/settings",
        data={
            "company_name": "Acme",
            "mail_from": "Evil\r\nBcc: x@example.org",
            "cadence_business_days": "3",
            "holidays": "XX-YY",
        },
    )
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422
    # The form refuses the line break itself (one-line text); the service then checks the rest.
    assert 'id="mail_from-error"' in html and "must be a single line of text" in html
    bad = client.post(
        "/admin/settings",
        data={
            "company_name": "Acme",
            "mail_from": "Evil <not-an-address",
            "cadence_business_days": "3",
            "holidays": "XX-YY",
        },
    )
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert 'id="holidays-error"' in html and 'id="mail_from-error"' in html
    assert db.session.scalars(select(OrganisationSettings)).first() is None
    good = client.post(
        "/admin/settings",
        data={
            "company_name": "Acme Widgets GmbH",
            "mail_from": "Acme <jobs@acme.example>",
            "cadence_business_days": "3",
            "holidays": "DE",
        },
    )
    assert good.status_code == 302
    saved = db.session.scalars(select(OrganisationSettings)).one()
    assert (saved.company_name, saved.cadence_business_days, saved.holidays) == (
        "Acme Widgets GmbH",
        3,
        "DE",
    )


def test_audit_log_filters_and_exports_safe_csv(client, login, admin, make_user, make_candidate):
    manager = make_user("manager", name="Manny Manager")
    make_candidate(actor=manager, name='=HYPERLINK("http://evil.example")')
    old = AuditEntry(
        actor_id=manager.id,
        action="candidate.update",
        entity_type="candidate",
        entity_id=1,
        created_at=utcnow() - timedelta(days=40),
    )
    db.session.add(old)
    db.session.commit()
    login(admin)
    html = client.get(f"/admin/audit?entity_type=candidate&actor={manager.id}").get_data(
        as_text=True
    )
    assert html.count("<code>candidate.create</code>") == 1
    assert "<code>candidate.update</code>" in html
    assert "user.create" not in html
    recent = (utcnow().date() - timedelta(days=2)).isoformat()
    html = client.get(f"/admin/audit?entity_type=candidate&date_from={recent}").get_data(
        as_text=True
    )
    assert "candidate.create" in html and "candidate.update" not in html
    bad = client.get("/admin/audit?date_from=0001-01-01&actor=abc&entity_type=%3Cx%3E")
    assert bad.status_code == 200
    assert "From must be between" in bad.get_data(as_text=True)

    response = client.get(f"/admin/audit.csv?entity_type=candidate&actor={manager.id}")
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:3] == ["when_utc", "actor", "action"]
    assert len(rows) == 3
    created = next(row for row in rows if row[2] == "candidate.create")
    assert created[1] == manager.email
    assert '"name": "=HYPERLINK' in created[6]  # inside JSON, not at the start of a cell
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_audit_log_is_paginated(client, login, admin):
    for number in range(60):
        db.session.add(AuditEntry(action=f"test.{number}", entity_type="user", actor_label="cli"))
    db.session.commit()
    login(admin)
    html = client.get("/admin/audit?entity_type=user&action=test.").get_data(as_text=True)
    assert "Page 1 of 2 (60 in all)" in html
