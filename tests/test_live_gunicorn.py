"""The live gunicorn helper: real workers on a shared database, started and stopped cleanly."""

import json
import socket
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hiretrack.auth.services import create_api_token, create_user
from hiretrack.extensions import db
from tests.conftest import PASSWORD
from tests.live_gunicorn import living_group_members


def worker_pids(master_pid: int) -> set[int]:
    """The processes whose parent is gunicorn's master: its workers."""
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # the process ended while we looked
        if int(fields[1]) == master_pid:
            children.add(int(stat.parent.name))
    return children


def get_json(url: str, token: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        return json.load(response)


def test_workers_serve_parallel_requests_from_the_seeded_database(live_app, live_gunicorn):
    with live_app.app_context():
        user = create_user("grace@acme.example", "Grace Hopper", "manager", PASSWORD)
        _, token = create_api_token(user)
        db.session.commit()

    server = live_gunicorn(workers=2)
    master = server.process.pid
    workers = worker_pids(master)
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: get_json(server.url + "/api/v1/me", token), range(30)))
    readiness = json.load(urllib.request.urlopen(server.url + "/readyz", timeout=10))
    server.stop()

    assert len(workers) == 2
    assert {answer["email"] for answer in answers} == {"grace@acme.example"}
    assert readiness["status"] == "ready", readiness
    assert living_group_members(master) == []
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", server.port)) != 0  # nothing listens any more
