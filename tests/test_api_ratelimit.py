"""API rate limits: per token, per client address, failed authentications, in the database or Redis.

Each test builds an app with small limits of its own (the suite's default limits are too high to
meet). Database counters are moved past their window with time-machine; Redis keeps its own
clock, so the Redis tests use a window of a couple of seconds and wait it out. Every Redis test
counts under a key prefix of its own, so test runs sharing this machine's Redis never collide.
"""

import logging
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis
import time_machine
from werkzeug.middleware.proxy_fix import ProxyFix

from hiretrack import create_app
from hiretrack.api.limits_storage import purge_expired
from hiretrack.api.models import RateLimitCounter
from hiretrack.auth.models import Role, User
from hiretrack.auth.services import create_api_token
from hiretrack.config import ConfigurationError
from hiretrack.extensions import db
from tests.conftest import IsolatedClient, base_config, empty_all_tables
from tests.smtp_server import free_port

REDIS_URL = "redis://127.0.0.1:6379/0"
START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def build_app(database_url, tmp_path, **limits):
    """An app on an empty database with the given rate-limit settings."""
    app = create_app(base_config(database_url, tmp_path) | limits)
    app.test_client_class = IsolatedClient
    with app.app_context():
        if database_url.startswith("sqlite"):
            db.create_all()
    return app


@pytest.fixture
def limited(database_url, tmp_path):
    """limited(API_RATE_LIMIT="3 per minute", ...) -> an app; its tables are emptied afterwards."""
    apps = []

    def make(**limits):
        apps.append(build_app(database_url, tmp_path, **limits))
        return apps[-1]

    yield make
    for app in apps:
        with app.app_context():
            db.session.remove()
            if not database_url.startswith("sqlite"):
                empty_all_tables()
            db.engine.dispose()


@pytest.fixture
def redis_prefix():
    """A key prefix of this test's own in the machine's Redis, removed afterwards."""
    prefix = f"hiretrack-test-{uuid.uuid4().hex}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"*{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def token_for(app, role: str = Role.RECRUITER, email: str = "sync@acme.example") -> str:
    with app.app_context():
        user = User(email=email, name="Sync", role=role, password_hash="-")
        db.session.add(user)
        db.session.flush()
        _, token = create_api_token(user, "sync")
        db.session.commit()
    return token


def call(client, token: str | None = None, path: str = "/me", address: str = "127.0.0.1"):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(f"/api/v1{path}", headers=headers, environ_base={"REMOTE_ADDR": address})


def limit_headers(response) -> tuple[int, int, int]:
    """(RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset) as numbers."""
    return tuple(
        int(response.headers[name])
        for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
    )


def assert_refused(response, words: str) -> int:
    """A 429 problem naming why, with Retry-After in seconds; returns Retry-After."""
    assert response.status_code == 429, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 429 and words in body["detail"]
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    assert limit_headers(response)[1] == 0
    return retry_after


def test_a_token_over_its_limit_is_refused_until_the_window_ends(limited):
    app = limited(API_RATE_LIMIT="3 per minute")
    token = token_for(app)
    client = app.test_client()
    with time_machine.travel(START, tick=False) as clock:
        for remaining in (2, 1, 0):
            response = call(client, token)
            assert response.status_code == 200
            assert limit_headers(response) == (3, remaining, 60)
        clock.shift(20)
        refused = call(client, token)
        assert assert_refused(refused, "requests with this token") == 40
        assert limit_headers(refused) == (3, 0, 40)
        # Refused requests do not push the window on.
        clock.shift(39)
        assert_refused(call(client, token), "requests with this token")
        clock.shift(2)
        again = call(client, token)
        assert again.status_code == 200
        assert limit_headers(again) == (3, 2, 60)


def test_every_answer_carries_the_headers(limited):
    app = limited(
        API_RATE_LIMIT="50 per minute",
        API_CLIENT_RATE_LIMIT="100 per minute",
        API_AUTH_FAILURE_LIMIT="10 per 10 minutes",
    )
    token = token_for(app, Role.ADMIN)
    client = app.test_client()
    answers = {
        200: call(client, token),
        404: call(client, token, "/candidates/999"),
        422: call(client, token, "/candidates?page=0"),
        401: call(client, "ht_wrong"),
    }
    answers[201] = client.post(
        "/api/v1/departments",
        json={"name": "Sales"},
        headers={"Authorization": f"Bearer {token}"},
    )
    answers["document"] = client.get("/api/v1/openapi.json")
    for status, response in answers.items():
        if isinstance(status, int):
            assert response.status_code == status, response.get_data(as_text=True)
        limit, remaining, reset = limit_headers(response)
        assert 0 <= remaining < limit and 0 < reset <= 600
    # The token's own count: four calls with it so far (the 401 and the document had none).
    assert limit_headers(answers[201])[:2] == (50, 46)


def test_the_client_limit_counts_every_token_from_one_address(limited):
    app = limited(API_RATE_LIMIT="100 per minute", API_CLIENT_RATE_LIMIT="4 per minute")
    first, second = token_for(app), token_for(app, email="other@acme.example")
    client = app.test_client()
    with time_machine.travel(START, tick=False):
        for token in (first, first, second, second):
            assert call(client, token).status_code == 200
        assert_refused(call(client, second), "requests from your address")
        assert_refused(client.get("/api/v1/openapi.json"), "requests from your address")
        elsewhere = call(client, second, address="192.0.2.7")
        assert elsewhere.status_code == 200
        assert limit_headers(elsewhere)[:2] == (4, 3)


def test_behind_a_proxy_the_client_is_the_forwarded_address(limited):
    app = limited(API_CLIENT_RATE_LIMIT="2 per minute")
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)
    token = token_for(app)
    client = app.test_client()

    def via_proxy(address: str):
        return client.get(
            "/api/v1/me",
            headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": address},
        )

    with time_machine.travel(START, tick=False):
        assert via_proxy("203.0.113.5").status_code == 200
        assert via_proxy("203.0.113.5").status_code == 200
        assert_refused(via_proxy("203.0.113.5"), "from your address")
        assert via_proxy("203.0.113.6").status_code == 200


def test_failed_authentications_slow_the_client_down(limited):
    app = limited(API_AUTH_FAILURE_LIMIT="3 per 10 minutes")
    token = token_for(app)
    client = app.test_client()
    with time_machine.travel(START, tick=False) as clock:
        assert call(client, token).status_code == 200
        for remaining, wrong in zip((2, 1, 0), ("ht_a", "ht_b", None), strict=True):
            response = call(client, wrong)
            assert response.status_code == 401
            assert limit_headers(response) == (3, remaining, 600)
        # Past the failures allowed, the address is refused, even with a valid token ...
        retry_after = assert_refused(call(client, token), "failed authentications")
        assert retry_after == 600
        assert_refused(call(client, "ht_c"), "failed authentications")
        # ... while another address is served, and so is this one once the window is over.
        assert call(client, token, address="192.0.2.8").status_code == 200
        clock.shift(601)
        assert call(client, token).status_code == 200


def test_counters_live_in_the_database_and_expired_ones_are_purged(limited):
    app = limited(API_RATE_LIMIT="5 per minute")
    token = token_for(app)
    client = app.test_client()
    with time_machine.travel(START, tick=False):
        call(client, token)
        call(client, token)
    with app.app_context():
        counts = sorted(counter.count for counter in db.session.query(RateLimitCounter))
        assert counts == [2, 2]  # one for the token (a minute), one for the address (an hour)
        assert not any(token in counter.key for counter in db.session.query(RateLimitCounter))
        assert purge_expired(START + timedelta(seconds=30)) == 0
        assert purge_expired(START + timedelta(seconds=61)) == 1
        db.session.rollback()
    # The retention run (cron) removes them once their windows are over.
    with time_machine.travel(START + timedelta(hours=1), tick=False):
        result = app.test_cli_runner().invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "Removed 2 expired API rate-limit counter(s)." in result.output
    with app.app_context():
        assert db.session.query(RateLimitCounter).count() == 0


def test_a_refused_request_still_counts_every_counter_it_hit(limited):
    """The request's counters are written in one transaction, committed even when refused."""
    app = limited(API_RATE_LIMIT="1 per minute", API_CLIENT_RATE_LIMIT="100 per hour")
    token = token_for(app)
    client = app.test_client()
    with time_machine.travel(START, tick=False):
        assert call(client, token).status_code == 200
        assert_refused(call(client, token), "requests with this token")
    with app.app_context():
        counts = sorted(counter.count for counter in db.session.query(RateLimitCounter))
        db.session.rollback()
    assert counts == [2, 2]  # the address and the token, the refused request included


def test_counting_stops_at_the_first_refusal(limited):
    """As the strategy counts one by one: nothing past the policy that refused the request."""
    app = limited(
        API_RATE_LIMIT="5 per minute",
        API_CLIENT_RATE_LIMIT="1 per minute",
        API_AUTH_FAILURE_LIMIT="1 per 10 minutes",
    )
    token = token_for(app)
    client = app.test_client()

    def counts(address: str = "127.0.0.1") -> dict[str, int]:
        """The counts by policy: the address's own and the token's."""
        with app.app_context():
            rows = [
                (row.key.split("/")[2:4], row.count) for row in db.session.query(RateLimitCounter)
            ]
            db.session.rollback()
        return {
            kind: count for (kind, subject), count in rows if kind == "token" or subject == address
        }

    with time_machine.travel(START, tick=False):
        assert call(client, token).status_code == 200
        # The address is over its limit: its counter counts the request, the token's does not.
        assert_refused(call(client, token), "requests from your address")
        assert counts() == {"client": 2, "token": 1}
        # Another address, one failed authentication: past it, nothing more is counted.
        other = "192.0.2.9"
        assert call(client, "ht_wrong", address=other).status_code == 401
        assert_refused(call(client, token, address=other), "failed authentications")
        assert counts() == {"client": 2, "token": 1}
        assert counts(other) == {"client": 1, "token": 1, "auth-failure": 1}


def test_redis_counts_instead_of_the_database_when_configured(limited, redis_prefix):
    app = limited(
        API_RATE_LIMIT="3 per 2 seconds",
        REDIS_URL=REDIS_URL,
        API_RATE_LIMIT_KEY_PREFIX=redis_prefix,
    )
    token = token_for(app)
    client = app.test_client()
    for remaining in (2, 1, 0):
        response = call(client, token)
        assert response.status_code == 200
        assert limit_headers(response)[:2] == (3, remaining)
    assert_refused(call(client, token), "requests with this token")
    with app.app_context():
        assert db.session.query(RateLimitCounter).count() == 0
    keys = redis.Redis.from_url(REDIS_URL).keys(f"*{redis_prefix}*")
    assert len(keys) == 2
    time.sleep(int(call(client, token).headers["Retry-After"]) + 0.1)
    again = call(client, token)
    assert again.status_code == 200
    assert limit_headers(again)[:2] == (3, 2)


def test_a_store_that_does_not_answer_leaves_the_api_up(limited, caplog):
    app = limited(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    token = token_for(app)
    with caplog.at_level(logging.ERROR, logger="hiretrack.api.ratelimit"):
        response = call(app.test_client(), token)
    assert response.status_code == 200
    assert "RateLimit-Limit" not in response.headers
    assert "rate limits are not enforced" in caplog.text


def test_the_limit_is_set_from_the_environment(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("HIRETRACK_API_RATE_LIMIT", "7 per hour")
    config = base_config(database_url, tmp_path)
    del config["API_RATE_LIMIT"]
    app = create_app(config)
    assert app.config["API_RATE_LIMIT"] == "7 per hour"
    monkeypatch.setenv("HIRETRACK_API_RATE_LIMIT", "300")
    with pytest.raises(ConfigurationError, match="HIRETRACK_API_RATE_LIMIT"):
        create_app(config)
    with pytest.raises(ConfigurationError, match="HIRETRACK_API_CLIENT_RATE_LIMIT"):
        create_app(config | {"API_RATE_LIMIT": "1/second", "API_CLIENT_RATE_LIMIT": "lots"})


def test_paths_under_the_api_that_match_no_route_count_and_carry_the_headers(limited):
    app = limited(API_CLIENT_RATE_LIMIT="2 per minute")
    client = app.test_client()
    with time_machine.travel(START, tick=False):
        for path in ("/requisitions/-1.5", "/no-such-thing"):
            response = call(client, path=path)
            assert response.status_code == 404
            assert response.mimetype == "application/problem+json"
            assert limit_headers(response)[0] == 2
        assert_refused(call(client, path="/me"), "from your address")
        # Outside the API nothing is counted or labelled.
        page = client.get("/login")
        assert page.status_code == 200 and "RateLimit-Limit" not in page.headers
