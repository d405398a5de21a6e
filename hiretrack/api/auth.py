"""Bearer-token authentication for the API: every call acts as the user who owns the token.

Session cookies are deliberately not accepted here: the API is exempt from CSRF protection, so a
cookie would let any web page make calls on a signed-in user's behalf.
"""

from flask import g, request

from hiretrack.auth.models import User
from hiretrack.auth.services import user_for_api_token


class AuthenticationRequired(Exception):
    """The request has no usable bearer token; answered with 401 and a WWW-Authenticate header."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


def bearer_token() -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if there is one."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticated_user() -> User:
    """Resolve the request's bearer token to its active user, or refuse with 401."""
    token = bearer_token()
    if token is None:
        raise AuthenticationRequired(
            "Send a personal API token as 'Authorization: Bearer <token>'. Create one on your "
            "profile page or with `hiretrack tokens create --email EMAIL`."
        )
    user = user_for_api_token(token)
    if user is None:
        raise AuthenticationRequired("This API token is not valid: it is unknown or revoked.")
    g.api_user = user
    return user
