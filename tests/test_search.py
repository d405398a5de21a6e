"""Global search: each kind found by its own words, only within what the user may see."""

from hiretrack.extensions import db
from hiretrack.holds.services import place_hold
from hiretrack.search.queries import RESULTS_PER_KIND, search_records


def test_search_finds_each_kind_only_within_what_the_user_may_see(
    ctx, make_user, make_requisition, make_candidate, make_application
):
    maria, olivia = make_user("manager"), make_user("manager")
    approver, recruiter = make_user("approver"), make_user("recruiter")
    mine = make_requisition(manager=maria, title="Data Platform Lead")
    theirs = make_requisition(manager=olivia, title="Data Platform Intern")
    make_application(mine, make_candidate(actor=maria, name="Clara Moreau", email="clara@m.org"))
    make_application(theirs, make_candidate(actor=olivia, name="Claude Roy", email="cr@o.org"))
    place_hold(olivia, theirs, reason="budget", summary="Budget freeze", owner_id=approver.id)
    db.session.commit()

    found = search_records(maria, "  CLA ")
    assert [c.name for c in found.candidates] == ["Clara Moreau"]
    assert [r.title for r in search_records(maria, "platform").requisitions] == [mine.title]
    assert search_records(maria, "freeze").holds == []
    assert search_records(maria, "@m.org").candidates[0].name == "Clara Moreau"
    # The approver owns the hold: they find it and the requisition it blocks, not Maria's.
    assert [h.summary for h in search_records(approver, "freeze").holds] == ["Budget freeze"]
    assert [r.title for r in search_records(approver, "platform").requisitions] == [theirs.title]
    assert len(search_records(recruiter, "cla").candidates) == 2
    assert search_records(recruiter, "").total == 0
    assert search_records(recruiter, "%").total == 0  # LIKE wildcards match literally


def test_search_stops_at_the_limit_and_says_so(ctx, make_user, make_candidate):
    recruiter = make_user("recruiter")
    for n in range(RESULTS_PER_KIND + 2):
        make_candidate(actor=recruiter, name=f"Same Name {n:02}")
    found = search_records(recruiter, "same name")
    assert len(found.candidates) == RESULTS_PER_KIND and found.more == {"candidates"}


def test_search_page_groups_results_and_answers_odd_input_in_words(
    client, login, make_user, make_candidate
):
    recruiter = make_user("recruiter")
    make_candidate(actor=recruiter, name="Ana Silva", email="ana.silva@example.org")
    login(recruiter)
    page = client.get("/search?q=silva@").get_data(as_text=True)
    assert "Candidates (1)" in page and "Ana Silva" in page and "1 result for" in page
    assert 'id="site-search"' in page and 'aria-keyshortcuts="/"' in page
    for odd in ("x" * 201, "a\x00b", "\u202eRTL", "<script>", "' OR 1=1 --"):
        assert client.get("/search", query_string={"q": odd}).status_code == 200
    assert "&lt;script&gt;" in client.get("/search?q=<script>").get_data(as_text=True)
    assert "at most 200 characters" in client.get("/search?q=" + "x" * 201).get_data(as_text=True)
    assert client.get("/search").status_code == 200
