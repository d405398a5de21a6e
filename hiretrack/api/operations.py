"""Declare an API operation once: its route, its schemas, and what the OpenAPI document says.

`Api.operation` registers a Flask view and records the models it reads and answers with; the
wrapper authenticates the caller, validates the query string and the JSON body through those
models, and serialises the view's result through the response model. The OpenAPI document is
built from the same records, so the document cannot drift from what the code accepts.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Blueprint, Response, request
from pydantic import BaseModel, ValidationError

from hiretrack.api.auth import authenticated_user
from hiretrack.api.idempotency import HEADER, idempotent
from hiretrack.api.problems import MalformedBody
from hiretrack.api.schemas import ID_MAX, SLUG_MAX_LENGTH, SLUG_PATTERN
from hiretrack.errors import NotFound, ValidationFailed

_PATH_PARAMETER = re.compile(r"<(?:(\w+):)?(\w+)>")


@dataclass(frozen=True)
class Operation:
    """What the OpenAPI document needs to know about one endpoint."""

    method: str
    rule: str  # the Flask rule inside the blueprint, e.g. "/holds/<int:hold_id>"
    endpoint: str
    summary: str
    description: str
    tag: str
    response: type[BaseModel] | None
    status: int
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    public: bool = False
    errors: tuple[int, ...] = field(default_factory=tuple)
    # Other media types the success response may have, e.g. {"text/csv": {...}}.
    other_content: dict[str, dict] = field(default_factory=dict)
    # A request body that is not JSON, which the view reads itself: {"message/rfc822": {...}}.
    raw_body: dict[str, dict] = field(default_factory=dict)
    # Other success statuses with the same response, and what each means.
    other_statuses: dict[int, str] = field(default_factory=dict)

    @property
    def path_parameters(self) -> list[tuple[str, str]]:
        """(name, Flask converter) for each parameter in the path."""
        return [
            (name, converter or "string") for converter, name in _PATH_PARAMETER.findall(self.rule)
        ]

    def error_statuses(self) -> list[int]:
        """Every problem status this operation may answer with."""
        statuses = set(self.errors) | {429, 500}
        if not self.public:
            statuses |= {401, 403, 404}
        slug_in_path = any(kind == "string" for _, kind in self.path_parameters)
        if self.query is not None or self.body is not None or self.raw_body or slug_in_path:
            statuses.add(422)
        if self.body is not None or self.raw_body:
            statuses |= {400, 413}
        if self.method != "GET":
            statuses |= {409, 503}  # 503: a deadlock with a concurrent writer ended it, retry
        if self.method == "POST" and not self.public:
            statuses.add(422)  # a reused Idempotency-Key
        return sorted(statuses)


def parse_query(model: type[BaseModel]) -> BaseModel:
    """Validate the query string; a repeated name counts once (its first value)."""
    return model.model_validate({name: request.args.get(name) for name in request.args})


def parse_body(model: type[BaseModel]) -> BaseModel:
    """Validate the JSON body: 400 if it is not a JSON object, 422 if its fields are refused."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise MalformedBody("This endpoint takes a JSON object as the request body.")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedBody("The request body is not valid JSON (UTF-8).") from None
    if not isinstance(document, dict):
        raise MalformedBody('The request body must be a JSON object, e.g. {"name": "..."}.')
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        if any(item["type"] == "json_invalid" for item in error.errors()):
            # Valid JSON syntax carrying invalid Unicode, such as a lone surrogate escape.
            raise MalformedBody("The request body is not valid JSON (UTF-8).") from None
        raise


def json_response(payload: BaseModel | None, status: int) -> Response:
    """Serialise a response model (None: an empty 204)."""
    if payload is None:
        return Response(status=204)
    return Response(payload.model_dump_json(), status=status, mimetype="application/json")


def check_path_value(name: str, value: int | str) -> int | str:
    """Refuse path values no row can have: an id out of range is unknown (404), a slug that
    breaks the slug pattern or length is refused like a bad field (422, naming it)."""
    if isinstance(value, int):
        if not 1 <= value <= ID_MAX:
            raise NotFound("No such object.")
    elif len(value) > SLUG_MAX_LENGTH or not re.fullmatch(SLUG_PATTERN, value):
        raise ValidationFailed(
            f"Please correct these fields: {name}.",
            {name: [f"Lowercase letters, digits, '-' and '_', at most {SLUG_MAX_LENGTH}."]},
        )
    return value


class Api:
    """A blueprint plus the list of operations it serves, for the OpenAPI document."""

    def __init__(self, blueprint: Blueprint):
        self.blueprint = blueprint
        self.operations: list[Operation] = []

    def operation(
        self,
        method: str,
        rule: str,
        *,
        summary: str,
        tag: str,
        response: type[BaseModel] | None,
        status: int = 200,
        query: type[BaseModel] | None = None,
        body: type[BaseModel] | None = None,
        public: bool = False,
        errors: tuple[int, ...] = (),
        other_content: dict[str, dict] | None = None,
        raw_body: dict[str, dict] | None = None,
        other_statuses: dict[int, str] | None = None,
    ) -> Callable:
        """Register `view(user, **path, [query=..., body=...])` as an endpoint.

        The view returns an instance of `response` (or the document itself for raw JSON). With
        `raw_body` (media type to OpenAPI media object) the view reads the body itself.
        """

        def decorator(view: Callable) -> Callable:
            description = (view.__doc__ or "").strip()
            self.operations.append(
                Operation(
                    method=method,
                    rule=rule,
                    endpoint=view.__name__,
                    summary=summary,
                    description=description,
                    tag=tag,
                    response=response,
                    status=status,
                    query=query,
                    body=body,
                    public=public,
                    errors=errors,
                    other_content=other_content or {},
                    raw_body=raw_body or {},
                    other_statuses=other_statuses or {},
                )
            )

            @wraps(view)
            def handler(**path: Any) -> Response:
                user = None if public else authenticated_user()
                for name, value in path.items():
                    check_path_value(name, value)
                arguments: dict[str, Any] = dict(path)
                if query is not None:
                    arguments["query"] = parse_query(query)
                if body is not None:
                    arguments["body"] = parse_body(body)

                def run() -> Response:
                    result = view(user, **arguments)
                    if isinstance(result, Response):
                        return result
                    return json_response(result, status)

                if method == "POST" and user is not None and HEADER in request.headers:
                    return idempotent(user, run)
                return run()

            self.blueprint.add_url_rule(
                rule, endpoint=view.__name__, view_func=handler, methods=[method]
            )
            return handler

        return decorator
