"""The "Waiting on you" dashboard: urgency order, counters, suggested messages, bounded SQL."""

import re
from datetime import timedelta

import pytest
from flask import url_for
from sqlalchemy import event

from hiretrack.cadence.calendar import add_business_days
from hiretrack.cadence.queries import cadence_key
from hiretrack.candidates.services import log_touchpoint
from hiretrack.database import utcnow
from hiretrack.extensions import db
from hiretrack.holds.services import place_hold
from hiretrack.messages.models import OutboxEmail, OutboxStatus
from hiretrack.web import template_url_for
from tests.conftest import PASSWORD


def _silent_for(application, days: int) -> None:
    """Make an application look as if nobody wrote to the candidate for `days` calendar days."""
    application.opened_at = utcnow() - timedelta(days=days)
    application.stage_entered_at = application.opened_at
    application.last_contact_at = None
    application.promised_next_update = None
    db.session.commit()


def _rows(html: str) -> list[str]:
    """The candidate names of the dashboard table, in order."""
    table = html.split('id="waiting"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<th scope="row"><a href="/candidates/\d+">([^<]+)</a>', table)


@pytest.fixture
def manager(make_user):
    return make_user("manager", name="Maria Manager")


def test_dashboard_orders_by_urgency_and_says_each_status_in_words(
    client, login, manager, make_requisition, make_candidate, make_application
):
    requisition = make_requisition(manager=manager)
    names = {
        "Gina Ghosted": 40,  # far past twice the cadence
        "Olga Overdue": 9,  # past the 5-business-day cadence
        "Tom OnTrack": 0,
    }
    for name, days in names.items():
        application = make_application(
            requisition=requisition, candidate=make_candidate(name=name), stage="final_round"
        )
        _silent_for(application, days)
    due = make_application(
        requisition=requisition, candidate=make_candidate(name="Dora Due"), stage="final_round"
    )
    today, holidays, _ = cadence_key()
    log_touchpoint(
        manager,
        due,
        direction="outbound",
        channel="phone",
        note="Called",
        # Today, or on a weekend or holiday the next business day (a promise for Saturday is
        # due on Friday, so on a Saturday "today" would already be overdue).
        promised_next_update=add_business_days(today, 0, holidays),
    )
    db.session.commit()

    login(manager)
    html = client.get("/dashboard").get_data(as_text=True)
    assert _rows(html) == ["Gina Ghosted", "Olga Overdue", "Dora Due", "Tom OnTrack"]
    for word in ("Ghosted", "Overdue", "Due", "On track"):
        assert f">{word}</span>" in html
    counters = html.split('aria-label="At a glance"', 1)[1].split("</section>", 1)[0]
    assert re.search(r"<strong>2</strong>\s*<a [^>]*>Overdue for an update", counters)
    assert "of which 1 ghosted" in counters

    filtered = client.get("/dashboard?status=attention").get_data(as_text=True)
    assert _rows(filtered) == ["Gina Ghosted", "Olga Overdue"]


def test_dashboard_shows_only_the_managers_own_candidates(
    client, login, manager, make_user, make_requisition, make_candidate, make_application
):
    make_application(
        requisition=make_requisition(manager=manager), candidate=make_candidate(name="Mine Only")
    )
    other = make_user("manager")
    make_application(
        requisition=make_requisition(manager=other), candidate=make_candidate(name="Not Yours")
    )
    login(manager)
    html = client.get("/dashboard").get_data(as_text=True)
    assert "Mine Only" in html
    assert "Not Yours" not in html


@pytest.mark.parametrize("as_role", ["manager", "recruiter"])
def test_hold_shows_as_blocker_and_suggests_a_hold_notice_until_one_is_sent(
    client, login, manager, make_requisition, make_candidate, make_application, make_user, as_role
):
    from hiretrack.messages.drafts import send_drafts
    from hiretrack.messages.models import Draft

    requisition = make_requisition(manager=manager)
    make_application(requisition=requisition, candidate=make_candidate(name="Hana Held"))
    result = place_hold(
        manager,
        requisition,
        reason="budget",
        summary="Budget technicality at head office",
        owner_name="Head office",
    )
    db.session.commit()
    login(manager if as_role == "manager" else make_user("recruiter"))
    html = client.get("/dashboard").get_data(as_text=True)
    assert "Budget technicality at head office" in html
    assert "category=hold_notice" in html
    counters = html.split('aria-label="At a glance"', 1)[1].split("</section>", 1)[0]
    assert re.search(r"<strong>1</strong>\s*<a [^>]*>Open holds", counters)

    drafts = [db.session.get(Draft, draft.id) for draft in result.drafts]
    send_drafts(manager, drafts)
    db.session.commit()
    statements = []

    def note(_connection, _cursor, statement, *_):
        statements.append(statement)

    with client.application.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        html = client.get("/dashboard").get_data(as_text=True)
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert "category=hold_notice" not in html
    assert "category=check_in" in html
    # The rows' holds and last notices come with the page: the user, then the counters and the
    # page (one statement for a manager, whose page needs no counts to know its slice).
    assert len(statements) == (2 if as_role == "manager" else 3), statements
    assert "hold_notice" in statements[-1]


def test_counters_for_closure_pending_and_failed_deliveries(
    client, login, manager, make_requisition, make_candidate, make_application
):
    from hiretrack.holds.services import resolve_hold

    requisition = make_requisition(manager=manager)
    first = make_application(requisition=requisition, candidate=make_candidate(name="Ann One"))
    make_application(requisition=requisition, candidate=make_candidate(name="Ben Two"))
    hold = place_hold(
        manager, requisition, reason="freeze", summary="Hiring freeze", owner_name="CFO"
    ).hold
    resolve_hold(manager, hold, "cancelled", "The role is gone")
    db.session.add(
        OutboxEmail(
            application_id=first.id,
            to_address="ann@example.org",
            from_address="hiring@acme.example",
            subject="Update",
            body_text="x",
            body_html="x",
            message_id="<failed-1@acme.example>",
            status=OutboxStatus.FAILED,
        )
    )
    db.session.commit()
    login(manager)
    html = client.get("/dashboard").get_data(as_text=True)
    counters = html.split('aria-label="At a glance"', 1)[1].split("</section>", 1)[0]
    assert re.search(r"<strong>2</strong>\s*<a [^>]*>Closure pending", counters)
    assert re.search(r"<strong>1</strong>\s*(<a [^>]*>|<span>)Failed deliveries", counters)
    assert re.search(r"<strong>0</strong>\s*<a [^>]*>Open holds", counters)


def test_dashboard_runs_the_same_number_of_queries_for_5_or_30_applications(
    app, client, login, manager, make_requisition, make_candidate, make_application
):
    requisition = make_requisition(manager=manager)
    hold_requisition = make_requisition(manager=manager)

    def add(count: int, target) -> None:
        for _ in range(count):
            make_application(requisition=target, stage="final_round")

    add(3, requisition)
    add(2, hold_requisition)
    place_hold(manager, hold_requisition, reason="budget", summary="Budget", owner_name="HQ")
    db.session.commit()
    login(manager)
    # Warm up twice: the calendar table is built, then remembered as checked for today.
    client.get("/dashboard")
    client.get("/dashboard")

    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert client.get("/dashboard").status_code == 200
        with_five = len(statements)
        add(15, requisition)
        add(10, hold_requisition)
        statements.clear()
        response = client.get("/dashboard")
        with_thirty = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 200
    assert "(30 in all)" in response.get_data(as_text=True)
    assert with_thirty == with_five, statements
    assert with_five <= 12


def test_approver_sees_decisions_waiting_without_send_buttons(
    client, login, make_user, manager, make_requisition, make_application
):
    from hiretrack.approvals.services import request_approval

    approver = make_user("approver")
    requisition = make_requisition(manager=manager)
    make_application(requisition=requisition)
    request_approval(manager, requisition, "budget", approver.id)
    db.session.commit()
    login(approver)
    html = client.get("/dashboard").get_data(as_text=True)
    assert "Approvals waiting on your decision" in html
    assert "Send update" not in html


def test_times_are_shown_in_the_users_time_zone(
    client, login, make_user, make_requisition, make_candidate, make_application
):
    from datetime import UTC, datetime

    manager = make_user("manager", timezone="Asia/Tokyo")
    application = make_application(
        requisition=make_requisition(manager=manager), candidate=make_candidate(name="Kenji Tz")
    )
    application.last_contact_at = datetime(2026, 1, 1, 23, 30, tzinfo=UTC)
    db.session.commit()
    login(manager)
    html = client.get("/dashboard").get_data(as_text=True)
    assert "02 Jan 2026 08:30" in html  # 23:30 UTC is 08:30 the next day in Tokyo


def test_managers_sharing_the_built_statements_each_see_only_their_own(
    app, client, login, manager, make_user, make_requisition, make_candidate, make_application
):
    """The dashboard's statements are built once per role and bind the user's id per request."""
    other = make_user("manager")
    make_application(
        requisition=make_requisition(manager=manager), candidate=make_candidate(name="Mine Only")
    )
    for number in range(3):
        make_application(
            requisition=make_requisition(manager=other),
            candidate=make_candidate(name=f"Theirs {number}"),
        )

    login(manager)
    other_client = app.test_client()
    other_client.post("/login", data={"email": other.email, "password": PASSWORD})
    mine = client.get("/dashboard").get_data(as_text=True)
    theirs = other_client.get("/dashboard").get_data(as_text=True)
    mine_again = client.get("/dashboard").get_data(as_text=True)

    assert _rows(mine) == _rows(mine_again) == ["Mine Only"]
    assert sorted(_rows(theirs)) == ["Theirs 0", "Theirs 1", "Theirs 2"]
    assert "All open (1)" in mine and "All open (3)" in theirs


def test_pages_come_from_the_counters_and_an_old_link_past_the_end_shows_the_last_page(
    client, login, manager, make_requisition, make_candidate, make_application
):
    requisition = make_requisition(manager=manager)
    for number in range(27):
        application = make_application(
            requisition=requisition,
            candidate=make_candidate(name=f"Cand {number:02d}"),
            stage="final_round",
        )
        _silent_for(application, 9 if number < 26 else 0)  # 26 overdue, 1 on track
    login(manager)

    first = _rows(client.get("/dashboard?status=attention").get_data(as_text=True))
    second = _rows(client.get("/dashboard?status=attention&page=2").get_data(as_text=True))
    assert len(first) == 25 and len(second) == 1
    assert set(first).isdisjoint(second)
    past_end = client.get("/dashboard?status=attention&page=9").get_data(as_text=True)
    assert _rows(past_end) == second
    assert _rows(client.get("/dashboard?status=on_track").get_data(as_text=True)) == ["Cand 26"]
    assert len(_rows(client.get("/dashboard?page=2").get_data(as_text=True))) == 2


def test_row_links_match_url_for(app, client, login, manager, make_requisition, make_application):
    from flask import url_for

    application = make_application(requisition=make_requisition(manager=manager))
    login(manager)
    html = client.get("/dashboard").get_data(as_text=True)
    with app.test_request_context():
        expected = [
            url_for("candidates.detail", candidate_id=application.candidate_id),
            url_for("requisitions.detail", requisition_id=application.requisition_id),
            url_for("messages.compose", application_id=application.id, category="check_in"),
        ]
    for link in expected:
        assert f'href="{link.replace("&", "&amp;")}"' in html


def test_navigation_shows_the_drafts_the_dashboard_counted(
    client, login, manager, make_user, make_requisition, make_application
):
    """The dashboard hands its count of waiting drafts to the navigation; both say the same."""
    requisition = make_requisition(manager=manager)
    for _ in range(3):
        make_application(requisition=requisition)
    place_hold(manager, requisition, reason="budget", summary="Frozen", owner_id=manager.id)
    db.session.commit()
    login(manager)
    html = client.get("/dashboard").get_data(as_text=True)
    assert re.search(r"<strong>3</strong>\s*<a [^>]*>Drafts waiting for your review", html)
    assert html.count('Drafts <span class="badge">3</span>') == 2  # the row and the menu
    client.post("/logout")
    login(make_user("manager"))
    other = client.get("/dashboard").get_data(as_text=True)
    assert "Drafts waiting" not in other and 'Drafts <span class="badge">' not in other


def test_links_follow_where_the_app_is_mounted_though_built_once(app, client, login, manager):
    """Templates reuse built links per process, keyed by the script root the app is mounted at."""
    login(manager)
    plain = client.get("/dashboard").get_data(as_text=True)
    mounted = client.get("/dashboard", base_url="http://localhost/hiretrack").get_data(as_text=True)
    again = client.get("/dashboard").get_data(as_text=True)
    assert 'href="/requisitions/"' in plain or 'href="/requisitions"' in plain
    assert "/hiretrack/requisitions" in mounted
    assert 'href="/requisitions' in again and "/hiretrack/" not in again
    with app.test_request_context("/dashboard"):
        assert template_url_for("dashboard.index", status="due") == url_for(
            "dashboard.index", status="due"
        )
        assert template_url_for("dashboard.index", _anchor="waiting") == "/dashboard#waiting"


def test_row_texts_are_escaped_though_rows_are_written_in_python(
    client, login, manager, make_requisition, make_candidate, make_application
):
    requisition = make_requisition(manager=manager, title="R&D <Lead>")
    make_application(
        requisition=requisition, candidate=make_candidate(name="<script>x</script> O'Neil")
    )
    place_hold(
        manager, requisition, reason="budget", summary='Wait <b>"now"</b>', owner_name="Head"
    )
    db.session.commit()
    login(manager)
    html = client.get("/dashboard").get_data(as_text=True)
    table = html.split('id="waiting"', 1)[1].split("</table>", 1)[0]
    assert "<script>" not in table and "<b>" not in table
    assert "&lt;script&gt;x&lt;/script&gt; O&#39;Neil</a>" in table
    assert (
        'aria-label="Select &lt;script&gt;x&lt;/script&gt; O&#39;Neil (R&amp;D &lt;Lead&gt;)"'
        in table
    )
    assert "R&amp;D &lt;Lead&gt;</a>" in table
    assert "Wait &lt;b&gt;&#34;now&#34;&lt;/b&gt;" in table


def test_a_manager_with_nobody_waiting_still_sees_the_counters(
    client, login, manager, make_requisition, make_candidate, make_application
):
    """The page's rows come beside the counters; with no rows the counters must still arrive."""
    requisition = make_requisition(manager=manager)
    application = make_application(requisition=requisition, candidate=make_candidate())
    place_hold(manager, requisition, reason="budget", summary="Frozen", owner_name="Finance")
    application.closed_at = utcnow()
    db.session.commit()
    login(manager)

    html = client.get("/dashboard").get_data(as_text=True)

    assert "Nobody is waiting on you right now." in html
    assert 'id="waiting"' not in html
    counters = html.split('aria-label="At a glance"', 1)[1].split("</section>", 1)[0]
    assert re.search(r"<strong>1</strong>\s*<a [^>]*>Open holds", counters)
