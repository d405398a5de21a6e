"""Walk every rule of the URL map, as every role, with another manager's ids: never a leak or a 500.

The walk is generic: rules added later by any feature are walked too. Each <int:...> argument
gets the id of an object that belongs to another manager (chosen by the argument's name), other
arguments a harmless word. Every GET is also tried with those ids in the query string, and every
POST with an empty form. The answers must be:
- never a server error (exceptions propagate under TESTING, so one fails the test);
- anonymous: a redirect to the sign-in page, except for pages with their own authentication;
- a manager or an unrelated approver: never a 200 that shows the other manager's candidate, and
  404 or 403 for any URL that names one of the other manager's objects.
"""

import re
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from werkzeug.routing import IntegerConverter

from hiretrack.auth.models import User
from hiretrack.extensions import db

#: Pages that authenticate in their own way (or need none).
PUBLIC_PREFIXES = ("/login", "/static", "/status/", "/healthz", "/readyz", "/api/")

OTHER_CANDIDATE = "Zebulon Otherworld"


@dataclass
class OtherManagersWorld:
    """Everything another manager owns, keyed by the argument names routes use for them."""

    ids: dict[str, int]

    def id_for(self, argument: str) -> int:
        if argument in self.ids:
            return self.ids[argument]
        stem = argument.removesuffix("_id")
        for name, value in self.ids.items():
            if name.removesuffix("_id") == stem:
                return value
        return self.ids["requisition_id"]


def build_other_world(make_user, make_requisition, make_candidate, make_application):
    """Another manager with a requisition, candidate, hold, approval, offer, draft and email."""
    from hiretrack.approvals.services import request_approval
    from hiretrack.auth.services import create_api_token
    from hiretrack.holds.services import place_hold
    from hiretrack.messages.services import choose_template, send_message
    from hiretrack.offers.services import propose_offer

    other = make_user("manager", name="Olivia Othermanager")
    their_approver = make_user("approver", name="Their Approver")
    requisition = make_requisition(manager=other)
    candidate = make_candidate(actor=other, name=OTHER_CANDIDATE)
    application = make_application(requisition=requisition, candidate=candidate)
    promised = make_application(
        requisition=requisition,
        candidate=make_candidate(actor=other, name=f"{OTHER_CANDIDATE} Junior"),
        stage="verbal_intent",
    )
    offer = propose_offer(other, promised, 70000, their_approver.id)
    approval = request_approval(other, requisition, "budget", their_approver.id)
    sent = send_message(other, application, choose_template(other, "check_in"))
    hold = place_hold(
        other, requisition, reason="budget", summary="Their hold", owner_id=their_approver.id
    )
    token, _ = create_api_token(other, "theirs")
    db.session.commit()
    return OtherManagersWorld(
        {
            "requisition_id": requisition.id,
            "application_id": application.id,
            "candidate_id": candidate.id,
            "hold_id": hold.hold.id,
            "approval_id": approval.id,
            "offer_id": offer.id,
            "draft_id": hold.drafts[0].id,
            "outbox_id": sent.outbox.id,
            "user_id": other.id,
            "token_id": token.id,
            "department_id": requisition.department_id,
        }
    )


def walk_requests(app, world: OtherManagersWorld):
    """Yield (method, url, names_another_managers_object) for every rule of the URL map."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        if rule.endpoint == "static":
            continue
        values, names_object = {}, False
        for argument, converter in rule._converters.items():
            if isinstance(converter, IntegerConverter):
                values[argument] = world.id_for(argument)
                names_object = True
            elif getattr(converter, "items", None):  # any(a, b)
                values[argument] = sorted(converter.items)[0]
            else:
                values[argument] = "x"
        with app.test_request_context():
            path = app.url_map.bind("localhost").build(rule.endpoint, values, force_external=False)
        methods = rule.methods - {"HEAD", "OPTIONS"}
        if "GET" in methods:
            yield "GET", path, names_object
            query = "&".join(f"{name}={value}" for name, value in world.ids.items())
            yield "GET", f"{path}{'&' if '?' in path else '?'}{query}", False
        for method in sorted(methods - {"GET"}):
            yield method, path, names_object


def _sign_in(client, user_id: int) -> None:
    """Put the user's current session token in the session (it rotates on logout)."""
    token = db.session.scalar(select(User.session_token).where(User.id == user_id))
    with client.session_transaction() as session:
        session["_user_id"] = token
        session["_fresh"] = True


def _refused(client, response) -> bool:
    """403/404, or (for a form post) a redirect back with an error message instead of the page."""
    if response.status_code in (403, 404):
        return True
    if response.status_code != 302 or response.request.method == "GET":
        return False
    followed = client.get(response.headers["Location"], buffered=True, follow_redirects=True)
    return 'class="flash flash-error"' in followed.get_data(as_text=True)


@pytest.mark.parametrize("role", ["anonymous", "manager", "approver", "recruiter", "admin"])
def test_every_url_as_every_role(
    app, client, role, make_user, make_requisition, make_candidate, make_application
):
    world = build_other_world(make_user, make_requisition, make_candidate, make_application)
    walker = None
    if role != "anonymous":
        walker = make_user(role, name=f"Walking {role.title()}")
        if role == "manager":  # a manager with data of their own, so their pages have content
            make_application(
                requisition=make_requisition(manager=walker),
                candidate=make_candidate(actor=walker, name="Walkers Own"),
            )
    walker_id = walker.id if walker else None
    problems: list[str] = []
    seen = 0
    for method, url, names_object in walk_requests(app, world):
        if walker_id:
            _sign_in(client, walker_id)
        response = client.open(url, method=method, data={}, buffered=True)
        seen += 1
        status = response.status_code
        where = f"{role} {method} {url} -> {status}"
        if status == 500:
            problems.append(f"server error: {where}")
        if role == "anonymous":
            if url.startswith(PUBLIC_PREFIXES):
                continue
            location = response.headers.get("Location", "")
            if status != 302 or "/login" not in location:
                problems.append(f"not sent to sign in: {where}")
            continue
        if role in ("manager", "approver"):
            body = response.get_data(as_text=True)
            if status == 200 and OTHER_CANDIDATE in body:
                problems.append(f"shows the other manager's candidate: {where}")
            if names_object and not url.startswith("/api/") and not _refused(client, response):
                problems.append(f"another manager's object answered: {where}")
    assert seen > 50, "the URL map looks empty"
    assert not problems, "\n".join(problems)


def test_walk_covers_every_blueprint_of_this_build(app):
    """The walk reaches each registered blueprint, so a new one cannot hide from it."""
    world = OtherManagersWorld({"requisition_id": 1})
    walked = {re.sub(r"\?.*", "", url) for _, url, _ in walk_requests(app, world)}
    endpoints = {rule.endpoint.split(".")[0] for rule in app.url_map.iter_rules()}
    assert {"dashboard", "candidates", "requisitions", "holds", "approvals", "admin"} <= endpoints
    assert len(walked) >= len([r for r in app.url_map.iter_rules() if r.endpoint != "static"]) / 2
