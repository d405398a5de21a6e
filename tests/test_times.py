"""Times and dates: every time shows its zone, each user picks theirs, dates read one way."""

from datetime import UTC, date, datetime

import pytest
from flask_login import login_user

from hiretrack.extensions import db
from hiretrack.formatting import local_date, local_datetime, parse_day

WINTER = datetime(2026, 12, 4, 14, 10, tzinfo=UTC)
SUMMER = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "moment", "shown"),
    [
        ("Europe/Berlin", WINTER, "Fri 04 Dec 2026 15:10 CET"),
        ("Europe/Berlin", SUMMER, "Wed 01 Jul 2026 11:00 CEST"),
        ("Asia/Dubai", WINTER, "Fri 04 Dec 2026 18:10 UTC+04"),
        ("UTC", WINTER, "Fri 04 Dec 2026 14:10 UTC"),
    ],
)
def test_a_time_always_says_its_zone(app, make_user, zone, moment, shown):
    user = make_user("manager", timezone=zone)
    with app.test_request_context():
        login_user(user)
        assert local_datetime(moment) == shown
        # A date is shown the same way as the date part of a time.
        assert shown.startswith(local_date(moment))


def test_typed_dates_are_read_as_the_pages_show_them_or_year_month_day():
    for text in (
        "11 Dec 2026",
        "2026-12-11",
        "Fri 11 Dec 2026",
        "11 december 2026",
        "11 Dec, 2026",
    ):
        assert parse_day(text) == date(2026, 12, 11), text
    for text in ("12/11/2026", "11.12.2026", "tomorrow", ""):
        with pytest.raises(ValueError):
            parse_day(text)


def test_a_user_picks_their_zone_on_the_profile_and_every_time_follows(
    client, login, make_user, make_requisition, make_candidate, make_application
):
    manager = make_user("manager")
    application = make_application(
        requisition=make_requisition(manager=manager), candidate=make_candidate(name="Kenji Tz")
    )
    application.last_contact_at = datetime(2026, 1, 1, 23, 30, tzinfo=UTC)
    db.session.commit()
    login(manager)
    profile = client.get("/profile").get_data(as_text=True)
    assert 'Times are shown in <strong id="current-zone">UTC</strong>' in profile
    saved = client.post(
        "/profile", data={"tz-timezone": "Asia/Tokyo", "tz-submit": "Save time zone"}
    )
    assert saved.status_code == 302
    assert "Fri 02 Jan 2026 08:30 JST" in client.get("/dashboard").get_data(as_text=True)
    assert 'selected value="Asia/Tokyo"' in client.get("/profile").get_data(as_text=True)
    # An unknown zone is refused in words and changes nothing.
    refused = client.post("/profile", data={"tz-timezone": "Mars/Olympus", "tz-submit": "Save"})
    assert refused.status_code == 200 and "Not a valid choice" in refused.get_data(as_text=True)
    assert "08:30 JST" in client.get("/dashboard").get_data(as_text=True)
    # Back to the organisation's default.
    client.post("/profile", data={"tz-timezone": "", "tz-submit": "Save time zone"})
    assert "Thu 01 Jan 2026 23:30 UTC" in client.get("/dashboard").get_data(as_text=True)


def test_date_fields_are_text_in_the_pages_format(client, login, make_user, make_requisition):
    manager = make_user("manager")
    requisition = make_requisition(manager=manager)
    login(manager)
    form = client.get(f"/requisitions/{requisition.id}/holds/new").get_data(as_text=True)
    assert 'type="date"' not in form
    assert 'placeholder="e.g. 2026-12-11"' in form and "e.g. 2026-12-11 (or 11 Dec 2026)" in form
    report = client.get("/reports/holds?from=2 Nov 2026&to=2026-11-30").get_data(as_text=True)
    assert 'value="2026-11-02"' in report and 'value="2026-11-30"' in report
    bad = client.get("/reports/holds?from=11/02/2026")
    assert bad.status_code == 422 and "is not a date" in bad.get_data(as_text=True)
