"""Lint the served OpenAPI document with Spectral's `spectral:oas` and the OWASP API ruleset.

The test fails on any error in what the issue asks the document to get right: the request side
(every string, integer and array a client sends is bounded), the rate limits (a 429 on every
operation, the RateLimit headers on every answer, Retry-After on the 429) and the error answers
(401, 422/400, 500 defined with the problem schema), plus anything `spectral:oas` finds wrong
with the document itself. A few rules are out of scope, each for the reason given in OUT_OF_SCOPE.

Spectral is a Node program: `.ci/run` installs it (`python tests/spectral.py install`). Without
it the test is skipped, except in CI, where a missing linter is a failure.
"""

import json
import os

import pytest

from tests import spectral
from tests.conftest import POSTGRES_URL

#: Rules that fire on the document but are not what this issue is about, and why.
OUT_OF_SCOPE = {
    # Ids are integers: a contract of /api/v1. Access is checked on every object (404 when not
    # yours), which is what the rule's concern (guessable ids) comes down to.
    "owasp:api1:2023-no-numeric-ids",
    # The API sends no CORS headers on purpose: browsers must not call it from other sites. The
    # rule fires on every documented header, asking for Access-Control-Allow-Origin.
    "owasp:api8:2023-define-cors-origin",
}

pytestmark = pytest.mark.skipif(
    bool(POSTGRES_URL), reason="the document does not depend on the database: linted once"
)


@pytest.fixture(scope="module")
def document():
    return spectral.served_document()


@pytest.fixture(scope="module")
def findings(document):
    command = spectral.spectral_command()
    if not command.exists():
        if os.environ.get("CI"):
            pytest.fail(f"Spectral is not installed at {command}: .ci/run installs it")
        pytest.skip("Spectral is not installed: run `.venv/bin/python tests/spectral.py install`")
    return spectral.lint(document)


def request_schemas(document: dict) -> set[str]:
    """Names of the component schemas a request body can reach, following every $ref."""
    schemas = document["components"]["schemas"]
    pending = [
        media["schema"]
        for item in document["paths"].values()
        for operation in item.values()
        for media in operation.get("requestBody", {}).get("content", {}).values()
    ]
    seen: set[str] = set()
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            reference = node.get("$ref", "")
            if reference.startswith("#/components/schemas/"):
                name = reference.rsplit("/", 1)[1]
                if name not in seen:
                    seen.add(name)
                    pending.append(schemas[name])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return seen


def in_scope(finding: dict, requests: set[str]) -> bool:
    """Whether an error is about the request side, the rate limits or the error answers."""
    code, path = finding["code"], [str(part) for part in finding["path"]]
    if code in OUT_OF_SCOPE:
        return False
    if not code.startswith("owasp:") or "rate-limit" in code or "define-error" in code:
        return True
    if path[:2] == ["components", "schemas"]:
        return path[2] in requests or path[2] == "Problem"
    if path[:2] == ["components", "responses"]:
        return True  # the problem answers
    if path[:1] == ["paths"]:
        return "responses" not in path  # parameters and request bodies
    return True  # servers, info, security: the document's inventory


def test_no_errors_on_the_request_side_rate_limits_or_error_answers(document, findings):
    requests = request_schemas(document)
    assert {"RequisitionCreate", "MessageSend", "OfferPropose", "ClosureIn"} <= requests
    errors = [
        f"{finding['code']} at {'/'.join(map(str, finding['path']))}: {finding['message']}"
        for finding in findings
        if finding["severity"] == 0 and in_scope(finding, requests)
    ]
    assert errors == [], (
        "\n".join(errors) + "\n\nAll findings: " + json.dumps(spectral.counts(findings))
    )


def test_the_rules_that_matter_here_ran(findings):
    """The ruleset is really the OWASP one: its out-of-scope rules fire, so its others ran."""
    codes = {finding["code"] for finding in findings}
    assert "owasp:api1:2023-no-numeric-ids" in codes
