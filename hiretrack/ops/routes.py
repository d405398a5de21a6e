"""Health endpoints for load balancers and monitoring: no login, nothing sensitive in them."""

from flask import Blueprint, jsonify

from hiretrack.ops.health import readiness

bp = Blueprint("ops", __name__)


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/healthz")
def healthz():
    """Say the process is alive and serving; touches no database, so it stays cheap."""
    return _no_store(jsonify(status="ok"))


@bp.get("/readyz")
def readyz():
    """Say whether this instance can serve: database reachable and migrations current (else 503)."""
    result = readiness()
    return _no_store(jsonify(result.as_json())), 200 if result.ready else 503
