"""Build the OpenAPI 3.1 document from the operations and the pydantic models they validate with.

Nothing here is written by hand per endpoint: paths, parameters, request bodies and responses
come from the `Operation` records that `Api.operation` keeps, and every schema is pydantic's JSON
Schema of the very class that parses the request or shapes the answer.
"""

from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from hiretrack.api.operations import Api, Operation
from hiretrack.api.schemas import ID_MAX, SLUG_MAX_LENGTH, SLUG_PATTERN, Problem

REF_TEMPLATE = "#/components/schemas/{model}"
API_PREFIX = "/api/v1"

DESCRIPTION = """\
Everything a hiring manager does in the web forms, for ATS exports, HR systems and scripts.

Authenticate with a personal API token: `Authorization: Bearer <token>` (create one on your
profile page or with `hiretrack tokens create --email EMAIL`). The same access rules as the web
apply: another manager's requisition answers 404. Errors are `application/problem+json`.
See docs/api.md for the conventions and a worked example.
"""

ERROR_DESCRIPTIONS = {
    400: "The body is not a JSON object (or, for a raw body, not of the media type required).",
    401: "No token, or an unknown or revoked one.",
    403: "Your role may not do this.",
    404: "No such object, or not one you may see.",
    409: "The current state refuses it: a stage change the stage machine does not allow, a "
    "guardrail, or a stale `version`.",
    413: "The body is larger than the server accepts.",
    422: "Fields were refused; `errors` maps each to its messages.",
}


class ApiJsonSchema(GenerateJsonSchema):
    """pydantic's JSON Schema, minus `"default": null` on fields that may be omitted but not null."""

    def default_schema(self, schema):
        json_schema = super().default_schema(schema)
        if json_schema.get("default", 0) is None and not _allows_null(json_schema):
            del json_schema["default"]
        return json_schema


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
        schema: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": ID_MAX}
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
    responses = {str(operation.status): {"description": description, "content": content}}
    for status, meaning in operation.other_statuses.items():
        responses[str(status)] = {"description": meaning, "content": content}
    return responses


def _operation_document(operation: Operation, references: dict, definitions: dict) -> dict:
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
    if parameters:
        document["parameters"] = parameters
    if operation.body is not None:
        document["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": references[operation.body]}},
        }
    elif operation.raw_body:
        document["requestBody"] = {"required": True, "content": operation.raw_body}
    responses = _success(operation, references)
    for status in operation.error_statuses():
        responses[str(status)] = {"$ref": f"#/components/responses/Problem{status}"}
    document["responses"] = responses
    if operation.public:
        document["security"] = []
    return document


def _problem_responses() -> dict:
    media = {"schema": {"$ref": REF_TEMPLATE.format(model="Problem")}}
    return {
        f"Problem{status}": {
            "description": description,
            "content": {"application/problem+json": media},
        }
        for status, description in ERROR_DESCRIPTIONS.items()
    }


def openapi_document(api: Api) -> dict:
    """The OpenAPI 3.1 document for every operation registered on `api`."""
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
            _operation_document(operation, references, definitions)
        )
    # Query strings are described as parameters, not as schemas of their own.
    for model in queries - bodies - responses:
        definitions.pop(model.__name__, None)

    tags = list(dict.fromkeys(operation.tag for operation in api.operations))
    return {
        "openapi": "3.1.0",
        "info": {"title": "HireTrack API", "version": "1.0.0", "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "tags": [{"name": tag} for tag in tags],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": definitions,
            "responses": _problem_responses(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A personal API token (starts with `ht_`).",
                }
            },
        },
    }


def _name(model: type[BaseModel]) -> str:
    return model.__name__
