"""The last unbounded request strings: currencies, the message template and the slug in a path.

Each is refused with 422 naming the field, before any service runs, and nothing is changed.
"""

import pytest

from hiretrack.errors import ValidationFailed
from hiretrack.extensions import db
from hiretrack.requisitions.models import Requisition
from hiretrack.requisitions.services import create_requisition
from tests import api_support
from tests.api_support import assert_problem

as_user = api_support.as_user
make_staff = api_support.make_staff

#: Well-formed but not currencies, wrong case, wrong length, and one far too long.
BAD_CURRENCIES = ["ABC", "XXX", "XAU", "eur", "EURO", "E", "", "€", "EUR" * 100_000]


@pytest.fixture
def manager(make_staff, as_user):
    user = make_staff("manager")
    return user, as_user(user)


@pytest.mark.parametrize("currency", BAD_CURRENCIES)
def test_requisition_currency_must_be_an_iso_4217_code(manager, make_department, currency):
    _, caller = manager
    department = make_department()
    body = {"title": "Engineer", "department_id": department.id, "currency": currency}
    assert_problem(caller.post("/requisitions", body), 422, "currency")
    assert db.session.query(Requisition).count() == 0


def test_requisition_update_and_offer_currency_are_checked_too(
    manager, make_staff, make_application
):
    user, caller = manager
    approver = make_staff("approver")
    application = make_application(stage="verbal_intent", manager=user)
    requisition_id = application.requisition_id
    for bad in ("ABC", "usd", "US"):
        assert_problem(
            caller.patch(f"/requisitions/{requisition_id}", {"currency": bad}), 422, "currency"
        )
        offer = {"salary": 60_000, "approver_id": approver.id, "currency": bad}
        assert_problem(caller.post(f"/applications/{application.id}/offer", offer), 422, "currency")
    assert db.session.get(Requisition, requisition_id).currency == "EUR"

    changed = caller.patch(f"/requisitions/{requisition_id}", {"currency": "GBP"})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["currency"] == "GBP"
    offer = {"salary": 60_000, "approver_id": approver.id, "currency": "CHF"}
    proposed = caller.post(f"/applications/{application.id}/offer", offer)
    assert proposed.status_code == 201, proposed.get_json()
    assert proposed.get_json()["currency"] == "CHF"


@pytest.mark.parametrize("template", ["a" * 81, "Not-A-Slug", "-leading-dash", "", "x" * 100_000])
def test_message_template_is_a_bounded_slug(manager, make_application, template):
    user, caller = manager
    application = make_application(manager=user)
    response = caller.post(f"/applications/{application.id}/messages", {"template": template})
    assert_problem(response, 422, "template")


@pytest.mark.parametrize("slug", ["a" * 81, "UPPER", "with space", "-dash-first", "x" * 5000])
def test_slug_in_a_path_is_refused_by_pattern_and_length(manager, slug):
    _, caller = manager
    body = assert_problem(caller.get(f"/templates/{slug}"), 422, "slug")
    assert "80" in body["errors"]["slug"][0]
    assert_problem(caller.patch(f"/templates/{slug}", {"name": "New"}), 422, "slug")


def test_a_well_formed_unknown_slug_is_still_not_found(manager):
    _, caller = manager
    assert_problem(caller.get("/templates/" + "a" * 80), 404)


def test_services_behind_the_web_forms_check_the_same_codes(ctx, make_user, make_department):
    manager = make_user("manager")
    department = make_department()
    with pytest.raises(ValidationFailed) as refused:
        create_requisition(manager, title="Engineer", department_id=department.id, currency="ABC")
    assert "currency" in refused.value.errors
    lower = create_requisition(
        manager, title="Engineer", department_id=department.id, currency=" gbp "
    )
    assert lower.currency == "GBP"


@pytest.mark.parametrize(
    "send_at", ["2031-01-06T09:00:00." + "1" * 60 + "+00:00", 1_900_000_000, "2031-01-06T09:00:00"]
)
def test_a_scheduled_time_is_bounded_text_with_an_offset(manager, make_application, send_at):
    user, caller = manager
    application = make_application(manager=user)
    body = {"template": "check-in", "send_at": send_at}
    response = caller.post(f"/applications/{application.id}/messages", body)
    assert_problem(response, 422, "send_at")
