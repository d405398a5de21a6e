"""Build the OpenAPI 3.1 document from the operations and the pydantic models they validate with.

Nothing here is written by hand per endpoint: paths, parameters, request bodies and responses
come from the `Operation` records that `Api.operation` keeps, and every schema is pydantic's JSON
Schema of the very class that parses the request or shapes the answer.
"""

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from hiretrack.api.operations import Api, Operation
from hiretrack.api.schemas import (
    DATETIME_MAX_LENGTH,
    ID_MAX,
    SLUG_MAX_LENGTH,
    SLUG_PATTERN,
    Problem,
)

REF_TEMPLATE = "#/components/schemas/{model}"
API_PREFIX = "/api/v1"

DESCRIPTION = """\
Everything a hiring manager does in the web forms, for ATS exports, HR systems and scripts.

Authenticate with a personal API token: `Authorization: Bearer <token>` (create one on your
profile page or with `hiretrack tokens create --email EMAIL`). The same access rules as the web
apply: another manager's requisition answers 404. Errors are `application/problem+json`.
See docs/api.md for the conventions and a worked example.

Rate limits: each token may make {token} requests, each client address {client} (whatever
the token), and an address that fails authentication {failures} times is refused until the
window ends. Every answer carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`
(seconds until the window ends) for the limit closest to refusing you; past it the answer is 429
with `Retry-After` (seconds).
"""

#: Settings the document reads when an app's config is not given (the defaults).
DEFAULT_SETTINGS = {
    "BASE_URL": "http://127.0.0.1:5000",
    "ENV": "development",
    "COMPANY_NAME": "Example Ltd",
    "API_RATE_LIMIT": "300 per minute",
    "API_CLIENT_RATE_LIMIT": "1200 per minute",
    "API_AUTH_FAILURE_LIMIT": "20 per 10 minutes",
    "INBOUND_MAX_BYTES": 10 * 1024 * 1024,
}

ERROR_DESCRIPTIONS = {
    400: "The body is not a JSON object (or, for a raw body, not of the media type required).",
    401: "No token, or an unknown or revoked one.",
    403: "Your role may not do this.",
    404: "No such object, or not one you may see.",
    409: "The current state refuses it: a stage change the stage machine does not allow, a "
    "guardrail, or a stale `version`.",
    413: "The body is larger than the server accepts.",
    422: "Fields were refused; `errors` maps each to its messages.",
    429: "Too many requests: a rate limit refused this one. Retry after `Retry-After` seconds.",
    500: "Something went wrong on our side; `detail` gives a reference to quote.",
    503: "Another request was writing the same rows at the same moment and the database ended "
    "this one: nothing was done. Send it again after `Retry-After` seconds.",
}

#: Headers on every answer of every operation (see hiretrack.api.ratelimit).
RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": "Requests (or, after a failed authentication, failures) allowed in the "
    "window of the limit closest to refusing you.",
    "RateLimit-Remaining": "How many of them are left in the current window.",
    "RateLimit-Reset": "Seconds until the current window ends and the count starts again.",
}
RETRY_AFTER = "Seconds to wait before trying again."

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


class ApiJsonSchema(GenerateJsonSchema):
    """pydantic's JSON Schema, minus `"default": null` on fields that may be omitted but not null,
    plus the bounds API linters ask of every scalar: a `format` on integers and a `maxLength` on
    dates and times (both enforced: bodies are parsed strictly, see `schemas.UtcDatetime`)."""

    def default_schema(self, schema):
        json_schema = super().default_schema(schema)
        if json_schema.get("default", 0) is None and not _allows_null(json_schema):
            del json_schema["default"]
        return json_schema

    def int_schema(self, schema):
        json_schema = super().int_schema(schema)
        low = json_schema.get("minimum", json_schema.get("exclusiveMinimum"))
        high = json_schema.get("maximum", json_schema.get("exclusiveMaximum"))
        fits = low is not None and high is not None and low >= INT32_MIN and high <= INT32_MAX
        json_schema.setdefault("format", "int32" if fits else "int64")
        return json_schema

    def date_schema(self, schema):
        return {**super().date_schema(schema), "maxLength": len("2026-12-31")}

    def datetime_schema(self, schema):
        return {**super().datetime_schema(schema), "maxLength": DATETIME_MAX_LENGTH}


def _allows_null(json_schema: dict) -> bool:
    if json_schema.get("type") == "null":
        return True
    return any(_allows_null(option) for option in json_schema.get("anyOf", []))


def _without_null(json_schema: dict) -> dict:
    """A query parameter is absent rather than null: drop the null branch of an optional type."""
    options = [option for option in json_schema.get("anyOf", []) if option.get("type") != "null"]
    if "anyOf" not in json_schema or len(options) != 1:
        return json_schema
    rest = {key: value for key, value in json_schema.items() if key not in ("anyOf", "default")}
    merged = {**options[0], **rest}
    if json_schema.get("default") is not None:
        merged["default"] = json_schema["default"]
    return merged


def openapi_path(operation: Operation) -> str:
    path = operation.rule
    for name, converter in operation.path_parameters:
        path = path.replace(f"<{converter}:{name}>", f"{{{name}}}").replace(
            f"<{name}>", f"{{{name}}}"
        )
    return API_PREFIX + path


def _path_parameter(name: str, converter: str) -> dict:
    if converter == "int":
        schema: dict[str, Any] = {
            "type": "integer",
            "format": "int32",
            "minimum": 1,
            "maximum": ID_MAX,
        }
    else:
        schema = {
            "type": "string",
            "minLength": 1,
            "maxLength": SLUG_MAX_LENGTH,
            "pattern": SLUG_PATTERN,
        }
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query_parameters(model: type[BaseModel], definitions: dict) -> list[dict]:
    definition = definitions[model.__name__]
    required = set(definition.get("required", []))
    parameters = []
    for name, json_schema in definition["properties"].items():
        json_schema = _without_null(dict(json_schema))
        description = json_schema.pop("description", None)
        json_schema.pop("title", None)
        parameter = {"name": name, "in": "query", "required": name in required}
        if description:
            parameter["description"] = description
        parameter["schema"] = json_schema
        parameters.append(parameter)
    return parameters


def _success(operation: Operation, references: dict) -> dict:
    description = HTTPStatus(operation.status).phrase
    if operation.response is None:
        content = {"application/json": {"schema": {"type": "object"}}}
    else:
        content = {"application/json": {"schema": references[operation.response]}}
    content.update(operation.other_content)
    headers = _header_references()
    answer = {"description": description, "headers": headers, "content": content}
    responses = {str(operation.status): answer}
    for status, meaning in operation.other_statuses.items():
        responses[str(status)] = {"description": meaning, "headers": headers, "content": content}
    return responses


def _header_references(*extra: str) -> dict:
    names = [*RATE_LIMIT_HEADERS, *extra]
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def _headers() -> dict:
    descriptions = {**RATE_LIMIT_HEADERS, "Retry-After": RETRY_AFTER}
    return {
        name: {
            "description": description,
            "required": True,
            "schema": {"type": "integer", "format": "int32", "minimum": 0, "maximum": INT32_MAX},
        }
        for name, description in descriptions.items()
    }


def _raw_body(content: dict, max_bytes: int) -> dict:
    """A raw body (an email) as documented, bounded by how much of it is read at most."""
    bounded = {}
    for media_type, media in content.items():
        schema = dict(media.get("schema", {}))
        if schema.get("type") == "string":
            schema.setdefault("maxLength", max_bytes)
        bounded[media_type] = {**media, "schema": schema}
    return bounded


IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Make a retry safe: the first request with a key does the work and its answer is kept "
        "for 24 hours; the same key with the same request answers it again "
        "(`Idempotent-Replayed: true`) without doing anything, with another request 422, and "
        "while the first still works 409. Keys are per user; use a fresh UUID per operation."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
}


def _operation_document(
    operation: Operation, references: dict, definitions: dict, settings: Mapping[str, Any]
) -> dict:
    document: dict[str, Any] = {
        "operationId": operation.endpoint,
        "summary": operation.summary,
        "tags": [operation.tag],
    }
    if operation.description:
        document["description"] = operation.description
    parameters = [_path_parameter(name, kind) for name, kind in operation.path_parameters]
    if operation.query is not None:
        parameters += _query_parameters(operation.query, definitions)
    if operation.method == "POST" and not operation.public:
        parameters.append(IDEMPOTENCY_KEY_PARAMETER)
    if parameters:
        document["parameters"] = parameters
    if operation.body is not None:
        document["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": references[operation.body]}},
        }
    elif operation.raw_body:
        # Nothing past HIRETRACK_INBOUND_MAX_BYTES is read (see api/routes/inbound.py).
        content = _raw_body(operation.raw_body, int(settings["INBOUND_MAX_BYTES"]))
        document["requestBody"] = {"required": True, "content": content}
    responses = _success(operation, references)
    for status in operation.error_statuses():
        responses[str(status)] = {"$ref": f"#/components/responses/Problem{status}"}
    document["responses"] = responses
    if operation.public:
        document["security"] = []
    return document


def _problem_responses() -> dict:
    media = {"schema": {"$ref": REF_TEMPLATE.format(model="Problem")}}
    responses = {}
    for status, description in ERROR_DESCRIPTIONS.items():
        headers = _header_references(*(["Retry-After"] if status in (429, 503) else []))
        if status == 401:
            headers["WWW-Authenticate"] = {
                "description": '`Bearer realm="hiretrack"`: send a bearer token.',
                "required": True,
                "schema": {"type": "string", "maxLength": 100},
            }
        responses[f"Problem{status}"] = {
            "description": description,
            "headers": headers,
            "content": {"application/problem+json": media},
        }
    return responses


def openapi_document(api: Api, config: Mapping[str, Any] | None = None) -> dict:
    """The OpenAPI 3.1 document for every operation registered on `api`.

    `config` (the app's) gives the server's address, the contact and the rate limits in force.
    """
    settings = {
        **DEFAULT_SETTINGS,
        **{k: v for k, v in (config or {}).items() if k in DEFAULT_SETTINGS},
    }
    bodies = {op.body for op in api.operations if op.body is not None}
    queries = {op.query for op in api.operations if op.query is not None}
    responses = {op.response for op in api.operations if op.response is not None} | {Problem}
    inputs = [(model, "validation") for model in sorted(bodies | queries, key=_name)]
    outputs = [(model, "serialization") for model in sorted(responses, key=_name)]
    mapping, top = models_json_schema(
        inputs + outputs, ref_template=REF_TEMPLATE, schema_generator=ApiJsonSchema
    )
    definitions = top.get("$defs", {})
    references = {model: mapping[(model, mode)] for model, mode in inputs + outputs}

    paths: dict[str, dict] = {}
    for operation in api.operations:
        paths.setdefault(openapi_path(operation), {})[operation.method.lower()] = (
            _operation_document(operation, references, definitions, settings)
        )
    # Query strings are described as parameters, not as schemas of their own.
    for model in queries - bodies - responses:
        definitions.pop(model.__name__, None)

    tags = list(dict.fromkeys(operation.tag for operation in api.operations))
    return {
        "openapi": "3.1.0",
        "info": _info(settings),
        "servers": [_server(settings)],
        "tags": [{"name": tag} for tag in tags],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": definitions,
            "responses": _problem_responses(),
            "headers": _headers(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A personal API token (starts with `ht_`).",
                }
            },
        },
    }


def _info(settings: Mapping[str, Any]) -> dict:
    description = DESCRIPTION.format(
        token=settings["API_RATE_LIMIT"],
        client=settings["API_CLIENT_RATE_LIMIT"],
        failures=settings["API_AUTH_FAILURE_LIMIT"],
    )
    return {
        "title": "HireTrack API",
        "version": "1.0.0",
        "description": description,
        "contact": {
            "name": f"{settings['COMPANY_NAME']}: HireTrack administrators",
            "url": settings["BASE_URL"],
        },
    }


def _server(settings: Mapping[str, Any]) -> dict:
    """This installation, public to its integrations (`x-internal: false`)."""
    environment = "production" if settings["ENV"] == "production" else "local development"
    return {
        "url": settings["BASE_URL"],
        "description": f"This HireTrack installation ({environment}).",
        "x-internal": False,
    }


def _name(model: type[BaseModel]) -> str:
    return model.__name__
