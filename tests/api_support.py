"""Helpers for the API tests: call the API as a user, with a real token, through the test client."""

import itertools
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from hiretrack.auth.models import User
from hiretrack.auth.services import create_api_token
from hiretrack.extensions import db
from tests.conftest import PASSWORD

PREFIX = "/api/v1"
_numbers = itertools.count(1)


@cache
def _password_hash() -> str:
    """One real scrypt hash of the test password, computed once: hashing is slow by design."""
    return generate_password_hash(PASSWORD)


@dataclass
class ApiCaller:
    """Makes API calls as one user: `caller.post("/candidates", {...})` -> the test response."""

    client: FlaskClient
    token: str | None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any):
        if body is not None:
            kwargs["json"] = body
        headers = self.headers() | kwargs.pop("headers", {})
        return self.client.open(PREFIX + path, method=method, headers=headers, **kwargs)

    def get(self, path: str, **params: Any):
        return self.call("GET", path, query_string=params)

    def post(self, path: str, body: Any = None, **kwargs: Any):
        return self.call("POST", path, body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any):
        return self.call("PATCH", path, body, **kwargs)


def token_for(user) -> str:
    """Create a personal API token for user, as the profile page or the CLI would."""
    _, plain = create_api_token(user, "tests")
    db.session.commit()
    return plain


@pytest.fixture
def make_staff(ctx):
    """make_staff("approver") -> a user of that role, without paying for a fresh password hash."""

    def make(role: str = "manager", **values) -> User:
        n = next(_numbers)
        values.setdefault("email", f"api-{role}{n}@acme.example")
        values.setdefault("name", f"{role.title()} Api{n}")
        user = User(role=role, password_hash=_password_hash(), **values)
        db.session.add(user)
        db.session.commit()
        return user

    return make


@pytest.fixture
def as_user(client, ctx):
    """as_user(user) -> an ApiCaller acting with a fresh token of that user."""

    def make(user) -> ApiCaller:
        return ApiCaller(client, token_for(user))

    return make


def assert_problem(response, status: int, *fields: str) -> dict:
    """Check a problem+json answer with the given status, and the named 422 fields."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"]
    for field in fields:
        assert field in body["errors"], body
    return body
