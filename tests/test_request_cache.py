"""Values computed once per web request, and never carried from one request to the next."""

from hiretrack.request_cache import forget, once_per_request


def test_a_value_is_computed_once_per_request_and_again_after_forget(app):
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    with app.test_request_context():
        assert once_per_request("figure", compute) == 1
        assert once_per_request("figure", compute) == 1
        forget("figure")
        assert once_per_request("figure", compute) == 2
    with app.app_context():  # one app context around two requests, as in a CLI command or test
        with app.test_request_context():
            assert once_per_request("figure", compute) == 3
        with app.test_request_context():
            assert once_per_request("figure", compute) == 4
        assert once_per_request("figure", compute) == 5  # outside a request: every time
        assert once_per_request("figure", compute) == 6


def test_each_request_sees_the_settings_saved_before_it(app, client, login, make_user):
    from hiretrack.admin.services import effective_settings, save_settings
    from hiretrack.extensions import db

    admin = make_user("admin")
    with app.test_request_context():
        before = effective_settings().cadence_business_days
        save_settings(admin, cadence_business_days=before + 2, company_name="Acme Two")
        assert effective_settings().cadence_business_days == before + 2
        db.session.commit()
    with app.test_request_context():
        assert effective_settings().company_name == "Acme Two"
