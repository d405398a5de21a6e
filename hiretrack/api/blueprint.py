"""The API's blueprint and operation registry, which every module of `api/routes/` adds to."""

from flask import Blueprint

from hiretrack.api import problems, ratelimit
from hiretrack.api.operations import Api
from hiretrack.auth.models import Role

bp = Blueprint("api", __name__, url_prefix="/api/v1")
api = Api(bp)
problems.register(bp)
ratelimit.register(bp)

#: Roles that hire: they create candidates and requisitions and write to candidates.
HIRING_ROLES = (Role.MANAGER, Role.RECRUITER, Role.ADMIN)
#: Roles that handle data protection requests (exports and anonymisation).
PRIVACY_ROLES = (Role.RECRUITER, Role.ADMIN)
