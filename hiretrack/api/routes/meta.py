"""JSON API v1: its OpenAPI document, and who the caller is (`/me`)."""

from flask import current_app, jsonify

from hiretrack.api import schemas as s
from hiretrack.api.blueprint import api
from hiretrack.api.openapi import openapi_document as build_openapi_document
from hiretrack.auth.models import User


@api.operation(
    "GET",
    "/openapi.json",
    summary="This API's OpenAPI 3.1 document",
    tag="Meta",
    response=None,
    public=True,
)
def openapi_document(user):
    """Serve the OpenAPI document, generated from the schemas that validate requests."""
    cache = current_app.extensions.setdefault("hiretrack_openapi", {})
    if "document" not in cache:
        cache["document"] = build_openapi_document(api, current_app.config)
    return jsonify(cache["document"])


@api.operation("GET", "/me", summary="The user the token acts as", tag="Meta", response=s.UserOut)
def me(user: User):
    """Say whose token this is and what role they have."""
    return s.UserOut.model_validate(user)
