"""Lists: sortable column headers (in the address, whitelisted), real plurals, the marked nav entry."""

import re

import pytest

from hiretrack.extensions import db
from hiretrack.holds.services import place_hold
from hiretrack.messages.services import choose_template, send_message

#: Each sortable list and the keys its headers offer.
SORTABLE = {
    "/candidates/": ["name", "email"],
    "/requisitions/": [
        "title",
        "department",
        "manager",
        "status",
        "candidates",
        "holds",
        "closure",
    ],
    "/holds?state=all": ["summary", "requisition", "owner", "age", "expected", "stranded"],
    "/outbox": ["created", "to", "subject", "status", "sent"],
}


@pytest.fixture
def world(ctx, make_user, make_requisition, make_candidate, make_application):
    """A recruiter's view of two requisitions, three candidates, a hold and a sent message."""
    recruiter = make_user("recruiter", name="Rita Recruiter")
    first = make_requisition(title="Backend Engineer")
    second = make_requisition(title="Android Engineer")
    applications = [
        make_application(requisition, make_candidate(actor=recruiter, name=name, email=email))
        for name, email, requisition in (
            ("Bea Zed", "bea@example.org", first),
            ("adam young", "adam@example.org", first),
            ("Carl Xu", "carl@example.org", second),
        )
    ]
    send_message(recruiter, applications[0], choose_template(recruiter, "check_in"))
    place_hold(recruiter, first, reason="budget", summary="Budget freeze", owner_name="Finance")
    db.session.commit()
    return recruiter


def names_in_order(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/candidates/\d+">([^<]+)</a>', html)


def test_candidates_sort_by_name_either_way_and_ignore_bad_values(client, login, world):
    login(world)
    assert names_in_order(client.get("/candidates/?sort=name").get_data(as_text=True)) == [
        "adam young",
        "Bea Zed",
        "Carl Xu",
    ]
    descending = client.get("/candidates/?sort=-name").get_data(as_text=True)
    assert names_in_order(descending) == ["Carl Xu", "Bea Zed", "adam young"]
    assert 'aria-sort="descending"' in descending
    # The header links keep the other filters, drop the page number, and flip the direction.
    page = client.get("/candidates/?q=e&sort=name&page=2").get_data(as_text=True)
    assert 'href="/candidates/?q=e&amp;sort=-name"' in page
    for bad in ("evil", "--name", "name;drop table candidate", "password_hash", "-", "\x00"):
        response = client.get("/candidates/", query_string={"sort": bad})
        assert response.status_code == 200, bad
        assert names_in_order(response.get_data(as_text=True))[0] == "adam young"
        assert "aria-sort" not in response.get_data(as_text=True)


@pytest.mark.parametrize("path", SORTABLE)
def test_every_sortable_column_sorts_both_ways(client, login, world, path):
    login(world)
    joiner = "&" if "?" in path else "?"
    for key in SORTABLE[path]:
        for value, direction in ((key, "ascending"), (f"-{key}", "descending")):
            response = client.get(f"{path}{joiner}sort={value}")
            assert response.status_code == 200, (path, value)
            assert f'aria-sort="{direction}"' in response.get_data(as_text=True), (path, value)


@pytest.mark.parametrize("report", ["holds", "approvals", "cadence", "closure"])
def test_report_tables_sort_by_any_of_their_columns(client, login, world, report):
    login(world)
    page = client.get(f"/reports/{report}").get_data(as_text=True)
    links = sorted(set(re.findall(r'class="sort-link" href="([^"]+)"', page)))
    assert links, "the report's tables have sortable headers"
    for link in links:
        link = link.replace("&amp;", "&")
        response = client.get(link)
        assert response.status_code == 200, link
        assert 'aria-sort="ascending"' in response.get_data(as_text=True), link
        assert client.get(link.replace("=", "=-", 1)).status_code == 200
    assert client.get(f"/reports/{report}?sort-{report}=nonsense").status_code == 200


def test_counts_read_as_words_and_the_nav_marks_the_right_entry(
    client, login, world, make_application
):
    login(world)
    application = make_application()
    requisition_id = application.requisition_id
    html = client.get(f"/requisitions/{requisition_id}").get_data(as_text=True)
    assert "(s)" not in html
    compose = client.get(f"/applications/{application.id}/compose").get_data(as_text=True)
    assert re.search(r'href="/candidates/"\s+aria-current="page"', compose)
    drafts = client.get("/drafts").get_data(as_text=True)
    assert re.search(r'href="/outbox"\s+aria-current="page"', drafts)
    assert not re.search(r'href="/templates"\s+aria-current="page"', compose + drafts)
