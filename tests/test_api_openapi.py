"""The OpenAPI 3.1 document: valid, complete, and generated from the models that validate requests."""

from importlib.util import find_spec

import pytest
from openapi_spec_validator import validate

from hiretrack.api import schemas
from hiretrack.api.routes import bp

#: The resources the issue promises integrations, path and method, literally.
CONTRACT = [
    ("get", "/api/v1/me"),
    ("get", "/api/v1/departments"),
    ("post", "/api/v1/departments"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/users"),
    ("get", "/api/v1/requisitions"),
    ("post", "/api/v1/requisitions"),
    ("get", "/api/v1/requisitions/{requisition_id}"),
    ("patch", "/api/v1/requisitions/{requisition_id}"),
    ("post", "/api/v1/requisitions/{requisition_id}/approvals"),
    ("post", "/api/v1/approvals/{approval_id}/decision"),
    ("post", "/api/v1/requisitions/{requisition_id}/holds"),
    ("post", "/api/v1/applications/{application_id}/holds"),
    ("get", "/api/v1/holds"),
    ("get", "/api/v1/holds/{hold_id}"),
    ("post", "/api/v1/holds/{hold_id}/resolve"),
    ("get", "/api/v1/candidates"),
    ("post", "/api/v1/candidates"),
    ("get", "/api/v1/candidates/{candidate_id}"),
    ("patch", "/api/v1/candidates/{candidate_id}"),
    ("get", "/api/v1/applications"),
    ("post", "/api/v1/applications"),
    ("get", "/api/v1/applications/{application_id}"),
    ("post", "/api/v1/applications/{application_id}/transitions"),
    ("get", "/api/v1/applications/{application_id}/touchpoints"),
    ("post", "/api/v1/applications/{application_id}/touchpoints"),
    ("post", "/api/v1/applications/{application_id}/messages"),
    ("post", "/api/v1/applications/{application_id}/offer"),
    ("get", "/api/v1/drafts"),
    ("post", "/api/v1/drafts/send"),
    ("get", "/api/v1/outbox"),
    ("post", "/api/v1/outbox/{outbox_id}/retry"),
    ("get", "/api/v1/templates"),
    ("post", "/api/v1/templates"),
    ("get", "/api/v1/templates/{slug}"),
    ("patch", "/api/v1/templates/{slug}"),
    ("post", "/api/v1/templates/preview"),
    ("get", "/api/v1/reports/holds"),
    ("get", "/api/v1/reports/approvals"),
    ("get", "/api/v1/reports/cadence"),
    ("get", "/api/v1/reports/closure"),
]

STAGES = [
    "interviewing",
    "final_round",
    "verbal_intent",
    "offer_approved",
    "offer_extended",
    "accepted",
    "hired",
    "not_selected",
    "withdrawn",
    "position_cancelled",
    "offer_declined",
]
CATEGORIES = [
    "acknowledgement",
    "delay",
    "hold_notice",
    "check_in",
    "moving_forward",
    "offer_cover",
    "closure_cancelled",
    "closure_not_selected",
    "closure_withdrawn",
]


@pytest.fixture
def document(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def test_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_document_covers_the_contract_and_every_route(document, app):
    for method, path in CONTRACT:
        if "/reports/" in path and find_spec("hiretrack.reports.services") is None:
            continue  # the reports feature is not installed in this build
        assert method in document["paths"].get(path, {}), f"{method.upper()} {path} missing"
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = rule.rule
            for argument in rule.arguments:
                path = path.replace(f"<int:{argument}>", f"{{{argument}}}").replace(
                    f"<{argument}>", f"{{{argument}}}"
                )
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                served.add((method.lower(), path))
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert served == documented


def test_every_operation_documents_auth_parameters_and_problems(document):
    components = document["components"]
    assert components["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": components["securitySchemes"]["bearer"]["description"],
    }
    assert document["security"] == [{"bearer": []}]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            public = operation.get("security") == []
            assert public == path.endswith("openapi.json")
            if not public:
                assert {"401", "403", "404"} <= set(responses), (method, path)
            for name in (p["name"] for p in operation.get("parameters", []) if p["in"] == "path"):
                assert "{" + name + "}" in path
            if "requestBody" in operation:
                assert {"400", "422"} <= set(responses), (method, path)
            if method != "get":
                assert "409" in responses, (method, path)
            problem = components["responses"]["Problem422"]["content"]["application/problem+json"]
            assert problem["schema"]["$ref"] == "#/components/schemas/Problem"
    lists = document["paths"]["/api/v1/applications"]["get"]["parameters"]
    names = {parameter["name"]: parameter for parameter in lists}
    assert {"page", "per_page", "requisition_id", "stage", "cadence", "open"} <= set(names)
    assert names["per_page"]["schema"]["maximum"] == 200


def test_schemas_are_the_request_models(document):
    """The document's schemas are pydantic's own for the classes that parse requests."""
    components = document["components"]["schemas"]
    for model in (
        schemas.CandidateCreate,
        schemas.TransitionIn,
        schemas.HoldCreate,
        schemas.MessageSend,
    ):
        assert set(components[model.__name__]["properties"]) == set(model.model_fields)
        assert set(components[model.__name__].get("required", [])) == {
            name for name, field in model.model_fields.items() if field.is_required()
        }
        assert components[model.__name__]["additionalProperties"] is False
    operation = document["paths"]["/api/v1/applications/{application_id}/transitions"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/TransitionIn"}
    assert components["Stage"]["enum"] == STAGES
    assert components["TemplateCategory"]["enum"] == CATEGORIES
    page = components["ApplicationPage"]
    assert set(page["required"]) == {"items", "page", "per_page", "total", "total_capped"}
    application = components["ApplicationOut"]["properties"]
    for field in (
        "stage",
        "open",
        "cadence",
        "last_contact_at",
        "next_update_due",
        "open_holds",
        "version",
    ):
        assert field in application


def test_document_is_served_without_a_token_and_the_blueprint_is_the_api(client):
    assert bp.name == "api" and bp.url_prefix == "/api/v1"
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_every_operation_documents_limits_and_server_errors(document):
    """429 with Retry-After and 500 on every operation; the RateLimit headers on every answer."""
    components = document["components"]
    assert set(components["headers"]) == {
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
        "Retry-After",
    }
    limit_headers = {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert {"429", "500"} <= set(responses), (method, path)
            for status, answer in responses.items():
                if "$ref" in answer:
                    answer = components["responses"][answer["$ref"].rsplit("/", 1)[1]]
                assert limit_headers <= set(answer["headers"]), (method, path, status)
                if not status.startswith("2"):
                    media = answer["content"]["application/problem+json"]
                    assert media["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert "Retry-After" in components["responses"]["Problem429"]["headers"]
    assert "WWW-Authenticate" in components["responses"]["Problem401"]["headers"]
    slug = document["paths"]["/api/v1/templates/{slug}"]["get"]
    assert "422" in slug["responses"]
    (parameter,) = slug["parameters"]
    assert parameter["schema"]["maxLength"] == 80


def test_document_names_its_server_contact_and_limits(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    (server,) = document["servers"]
    assert server["url"] == app.config["BASE_URL"]
    assert server["x-internal"] is False
    assert document["info"]["contact"]["url"] == app.config["BASE_URL"]
    assert app.config["COMPANY_NAME"] in document["info"]["contact"]["name"]
    description = document["info"]["description"]
    assert app.config["API_RATE_LIMIT"] in description
    assert "RateLimit-Remaining" in description and "Retry-After" in description
