"""The API's rate limit holds across gunicorn workers, with counters in the database or in Redis.

Two real sync workers serve a burst of parallel requests with one token: exactly the limit is
served and the rest refused, although both workers answered (each one's CPU time grows). A
per-process counter would let each worker serve the limit on its own.
"""

import json
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from hiretrack.auth.models import Role, User
from hiretrack.auth.services import create_api_token
from hiretrack.extensions import db
from tests.conftest import POSTGRES_URL

REDIS_URL = "redis://127.0.0.1:6379/0"
LIMIT = 12
REQUESTS = 30


def worker_cpu_ticks(master_pid: int) -> dict[int, int]:
    """CPU time (user + system, in clock ticks) of each child of gunicorn's master process."""
    ticks = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(fields[1]) == master_pid:  # fields[1] is the parent's pid
            ticks[int(stat.parent.name)] = int(fields[11]) + int(fields[12])
    return ticks


def get(url: str, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        json.loads(error.read())  # a problem+json body
        return error.code, dict(error.headers)


@pytest.mark.parametrize("store", ["database", "redis"])
def test_two_workers_share_one_limit(live_app, live_gunicorn, store):
    if store == "redis" and POSTGRES_URL:
        pytest.skip("Redis counters do not depend on the database: tested once, on SQLite")
    with live_app.app_context():
        user = User(email="sync@acme.example", name="Sync", role=Role.RECRUITER, password_hash="-")
        db.session.add(user)
        db.session.flush()
        _, token = create_api_token(user, "sync")
        db.session.commit()
    prefix = f"hiretrack-test-{uuid.uuid4().hex}"
    settings = {"HIRETRACK_API_RATE_LIMIT": f"{LIMIT} per hour"}
    if store == "redis":
        settings |= {
            "HIRETRACK_REDIS_URL": REDIS_URL,
            "HIRETRACK_API_RATE_LIMIT_KEY_PREFIX": prefix,
        }
    server = live_gunicorn(workers=2, **settings)
    try:
        before = worker_cpu_ticks(server.process.pid)
        assert len(before) == 2
        with ThreadPoolExecutor(max_workers=6) as pool:
            answers = list(
                pool.map(lambda _: get(server.url + "/api/v1/me", token), range(REQUESTS))
            )
        after = worker_cpu_ticks(server.process.pid)
    finally:
        if store == "redis":
            client = redis.Redis.from_url(REDIS_URL)
            keys = list(client.scan_iter(match=f"*{prefix}*"))
            assert keys  # the counters were in Redis
            client.delete(*keys)
            client.close()
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * LIMIT + [429] * (REQUESTS - LIMIT), server.log()
    busy = [pid for pid, ticks in after.items() if ticks > before.get(pid, 0)]
    assert len(busy) == 2, (before, after)
    for status, headers in answers:
        assert int(headers["RateLimit-Limit"]) == LIMIT
        if status == 429:
            assert int(headers["RateLimit-Remaining"]) == 0
            assert int(headers["Retry-After"]) > 0
    if store == "database":
        # Each served request's own count, from its atomic upsert: no two saw the same.
        served = sorted(int(headers["RateLimit-Remaining"]) for s, headers in answers if s == 200)
        assert served == list(range(LIMIT))
    with live_app.app_context():
        counted = db.session.execute(db.text("SELECT count(*) FROM rate_limit_counter")).scalar()
    assert counted == (2 if store == "database" else 0)  # the token's and the address's
