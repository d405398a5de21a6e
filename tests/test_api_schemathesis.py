"""Property-based API tests: schemathesis sends generated requests, valid and invalid, to every
operation of the served OpenAPI document. No answer may be a server error, and every answer must
match what the document promises (status code, media type, body schema).

The app has real rows (and a token of a recruiter, who sees everything) so that generated ids
sometimes hit existing objects and reach the services, not only the 404 path.
"""

from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hiretrack import create_app
from hiretrack.admin.services import create_department
from hiretrack.api.openapi import openapi_path
from hiretrack.api.routes import api
from hiretrack.auth.services import create_api_token, create_user
from hiretrack.candidates.services import apply_to_requisition, create_candidate, log_touchpoint
from hiretrack.extensions import db
from hiretrack.holds.services import place_hold
from hiretrack.messages.defaults import install_default_templates
from hiretrack.messages.drafts import send_drafts
from hiretrack.requisitions.services import create_requisition
from tests.conftest import PASSWORD, base_config, empty_all_tables, today

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    # Every answer carries the documented RateLimit-* headers (and a 401 its WWW-Authenticate).
    response_headers_conformance,
]


def seed() -> str:
    """A small organisation: each role, a requisition with applications, a hold and its drafts.

    Returns the API token of a recruiter, who may see and change everything.
    """
    recruiter, manager, approver = (
        create_user(f"fuzz-{role}@acme.example", role.title(), role, PASSWORD)
        for role in ("recruiter", "manager", "approver")
    )
    department = create_department(recruiter, "Engineering")
    requisition = create_requisition(
        recruiter,
        title="Engineer",
        department_id=department.id,
        manager_id=manager.id,
        status="open",
        salary_min=1,
    )
    applications = []
    for number, stage in enumerate(("interviewing", "final_round", "final_round")):
        candidate = create_candidate(recruiter, f"Candidate {number}", f"c{number}@example.org")
        applications.append(apply_to_requisition(recruiter, candidate, requisition, stage))
    log_touchpoint(manager, applications[1], direction="outbound", channel="phone", note="Call")
    result = place_hold(
        manager,
        requisition,
        reason="budget",
        summary="Budget review",
        owner_id=approver.id,
        expected_clear_date=today() + timedelta(days=3),
    )
    send_drafts(manager, result.drafts[:1])
    _, token = create_api_token(recruiter)
    db.session.commit()
    return token


def admin_token() -> str:
    """An admin's token, for the operations only admins may call (posting inbound mail)."""
    admin = create_user("fuzz-admin@acme.example", "Admin", "admin", PASSWORD)
    _, token = create_api_token(admin)
    db.session.commit()
    return token


#: Raw emails for `POST /inbound`: well-formed ones, and any bytes at all.
schemathesis.openapi.media_type(
    "message/rfc822",
    st.one_of(
        st.sampled_from(
            [
                b"From: c0@example.org\r\nSubject: Re: update\r\nMessage-ID: <f1@example.org>"
                b"\r\n\r\nThanks!\r\n",
                b"From: MAILER-DAEMON@example.org\r\nContent-Type: multipart/report; "
                b'report-type=delivery-status; boundary="b"\r\n\r\n--b\r\nContent-Type: '
                b"message/delivery-status\r\n\r\nAction: failed\r\nStatus: 5.1.1\r\n--b--\r\n",
            ]
        ),
        st.binary(max_size=4000),
    ),
)


@pytest.fixture(scope="module")
def fuzzed(database_url, tmp_path_factory):
    """One app for every operation's run: state built by earlier requests makes later ones richer."""
    app = create_app(base_config(database_url, tmp_path_factory.mktemp("fuzz")))
    with app.app_context():
        if database_url.startswith("sqlite"):
            db.create_all()
        install_default_templates()
        db.session.commit()
        token = seed()
        admin = admin_token()
    yield app, token, admin
    with app.app_context():
        db.session.remove()
        if not database_url.startswith("sqlite"):
            empty_all_tables()
        db.engine.dispose()


@pytest.fixture(scope="module")
def api_schema(fuzzed):
    app = fuzzed[0]
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


#: About 25 generated requests per operation, split between valid and invalid data, so the
#: whole document is exercised in a couple of minutes.
EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 10}


def _cases() -> list:
    """Each operation with valid data, and with invalid data where it takes any input at all."""
    cases = []
    for operation in api.operations:
        method, path = operation.method, openapi_path(operation)
        takes_input = (
            operation.query or operation.body or operation.raw_body or operation.path_parameters
        )
        for mode in GenerationMode if takes_input else [GenerationMode.POSITIVE]:
            cases.append(pytest.param(method, path, mode, id=f"{method} {path} {mode.value}"))
    return cases


@pytest.mark.parametrize(("method", "path", "mode"), _cases())
def test_api_never_fails_and_matches_its_document(api_schema, fuzzed, method, path, mode):
    operation = api_schema[path][method]
    token = fuzzed[2] if path == "/api/v1/inbound" and method == "POST" else fuzzed[1]
    headers = {"Authorization": f"Bearer {token}"}

    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()
