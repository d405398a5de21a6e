"""Who may see and change what. Every route and API call loads objects through these functions.

A manager reaches only the requisitions they manage (and their applications and candidates); an
approver reaches the approvals and holds assigned to them and what those block, read-only;
recruiters and admins reach everything. An object the user may not see raises NotFound, so the
answer never reveals that it exists.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import (
    ColumnElement,
    Integer,
    bindparam,
    exists,
    false,
    or_,
    select,
    true,
)
from sqlalchemy.orm import aliased, joinedload

from hiretrack.approvals.models import Approval
from hiretrack.auth.models import Role, User
from hiretrack.candidates.models import Application, Candidate
from hiretrack.errors import NotFound, PermissionDenied
from hiretrack.extensions import db
from hiretrack.holds.models import Hold
from hiretrack.requisitions.models import Requisition


@dataclass(frozen=True)
class Viewer:
    """Stands in for a user while building statements shared by everyone of one role.

    The access rules only read a user's role and id; with the id a bound parameter, one
    statement serves every manager (say), and SQLAlchemy's compiled-statement cache is hit
    without rebuilding or re-walking the statement on each request.

    The parameter is read through a one-row subselect, `(SELECT :viewer_id)`, so PostgreSQL
    plans these statements without looking at its value: the generic plan then costs what the
    custom ones do and PostgreSQL keeps it (plan_cache_mode `auto`), where with the bare
    parameter it planned the manager's dashboard statements afresh on every request (0.6-0.7 ms
    each), a per-manager row estimate making the custom plans look a little cheaper. The plans
    are the same either way (EXPLAIN in docs/benchmarks.md); SQLite still searches its indexes
    with the value.
    """

    role: str
    id: ColumnElement[int] = field(
        default_factory=lambda: select(bindparam("viewer_id", type_=Integer)).scalar_subquery()
    )


def require_role(user: User, *roles: str) -> None:
    """Refuse with 403 when the user's role is not one of roles."""
    if user.role not in roles:
        allowed = ", ".join(roles)
        raise PermissionDenied(f"This needs one of these roles: {allowed}.")


def can_manage_all(user: User) -> bool:
    return user.role in (Role.RECRUITER, Role.ADMIN)


def visible_requisitions(user: User) -> ColumnElement[bool]:
    """SQL condition on Requisition: the rows this user may see."""
    if can_manage_all(user):
        return true()
    if user.role == Role.MANAGER:
        return Requisition.manager_id == user.id
    if user.role == Role.APPROVER:
        return or_(
            exists().where(
                Approval.requisition_id == Requisition.id, Approval.approver_id == user.id
            ),
            exists().where(Hold.requisition_id == Requisition.id, Hold.owner_id == user.id),
        )
    return false()


#: Roles that review and send drafts (candidate emails waiting for review), on the web and in
#: the API alike; approvers never see them, as they never write to candidates.
DRAFT_REVIEWER_ROLES = (Role.MANAGER, Role.RECRUITER, Role.ADMIN)


def can_review_drafts(user: User) -> bool:
    return user.role in DRAFT_REVIEWER_ROLES


def require_draft_reviewer(user: User) -> None:
    """Refuse with 403 anyone who may not review drafts (approvers)."""
    require_role(user, *DRAFT_REVIEWER_ROLES)


def scoped_order(user: User, column: ColumnElement) -> ColumnElement:
    """ORDER BY column for a list limited to what the user may see.

    For a user who sees only some rows, SQLite otherwise answers `ORDER BY id LIMIT 25` by
    walking the whole table in id order until 25 visible rows turn up (180 ms at 100,000
    applications); ordering by the expression `id + 0` makes it start from the user's rows
    and sort those (0.5 ms). Users who see everything keep the index order.
    """
    return column if can_manage_all(user) else column + 0


def editable_requisitions(user: User) -> ColumnElement[bool]:
    """SQL condition on Requisition: the rows this user may change."""
    if can_manage_all(user):
        return true()
    if user.role == Role.MANAGER:
        return Requisition.manager_id == user.id
    return false()


def visible_applications(user: User) -> ColumnElement[bool]:
    """SQL condition on Application, through its requisition."""
    if can_manage_all(user):
        return true()
    return Application.requisition_id.in_(select(Requisition.id).where(visible_requisitions(user)))


def visible_candidates(user: User) -> ColumnElement[bool]:
    """SQL condition on Candidate: created by the user or applying to a visible requisition."""
    if can_manage_all(user):
        return true()
    return or_(
        Candidate.created_by_id == user.id,
        exists().where(Application.candidate_id == Candidate.id, visible_applications(user)),
    )


def visible_holds(user: User) -> ColumnElement[bool]:
    if can_manage_all(user):
        return true()
    if user.role == Role.APPROVER:
        return Hold.owner_id == user.id
    return Hold.requisition_id.in_(select(Requisition.id).where(visible_requisitions(user)))


def visible_approvals(user: User) -> ColumnElement[bool]:
    if can_manage_all(user):
        return true()
    if user.role == Role.APPROVER:
        return Approval.approver_id == user.id
    return Approval.requisition_id.in_(select(Requisition.id).where(visible_requisitions(user)))


def _report_departments(user: User):
    """A manager's departments: those of the requisitions they manage (a subquery of ids)."""
    managed = aliased(Requisition, name="managed_requisition")
    return select(managed.department_id).where(managed.manager_id == user.id)


def report_requisitions(user: User) -> ColumnElement[bool]:
    """SQL condition on Requisition for reports: a manager sees their departments' figures.

    A manager's departments are those of the requisitions they manage; an approver sees the
    requisitions their approvals and holds touch; recruiters and admins see everything.
    """
    if can_manage_all(user):
        return true()
    if user.role == Role.MANAGER:
        return Requisition.department_id.in_(_report_departments(user))
    return visible_requisitions(user)


def _in_report_departments(requisition_id, user: User) -> ColumnElement[bool]:
    """requisition_id belongs to one of a manager's departments (safe beside a Requisition join)."""
    scoped = aliased(Requisition, name="department_requisition")
    return requisition_id.in_(
        select(scoped.id).where(scoped.department_id.in_(_report_departments(user)))
    )


def report_holds(user: User) -> ColumnElement[bool]:
    """SQL condition on Hold for the hold report: approvers see only the holds they own."""
    if can_manage_all(user):
        return true()
    if user.role == Role.APPROVER:
        return Hold.owner_id == user.id
    if user.role == Role.MANAGER:
        return _in_report_departments(Hold.requisition_id, user)
    return false()


def report_approvals(user: User) -> ColumnElement[bool]:
    """SQL condition on Approval for the bottleneck report: approvers see only their own."""
    if can_manage_all(user):
        return true()
    if user.role == Role.APPROVER:
        return Approval.approver_id == user.id
    if user.role == Role.MANAGER:
        return _in_report_departments(Approval.requisition_id, user)
    return false()


def _get(model, object_id, condition, label: str):
    try:
        object_id = int(object_id)
    except (TypeError, ValueError):
        raise NotFound(f"No such {label}.") from None
    if not 0 < object_id < 2**63:
        raise NotFound(f"No such {label}.")
    found = db.session.scalars(select(model).where(model.id == object_id, condition)).first()
    if found is None:
        raise NotFound(f"No such {label}.")
    return found


def get_requisition(user: User, requisition_id, *, for_edit: bool = False) -> Requisition:
    """Load a requisition the user may see (or change, with for_edit)."""
    condition = editable_requisitions(user) if for_edit else visible_requisitions(user)
    requisition = _get(Requisition, requisition_id, visible_requisitions(user), "requisition")
    if for_edit and not db.session.scalar(
        select(true()).where(Requisition.id == requisition.id, condition)
    ):
        raise PermissionDenied("You can view this requisition but not change it.")
    return requisition


def get_application(user: User, application_id, *, for_edit: bool = False) -> Application:
    """Load an application the user may see (or change, with for_edit)."""
    application = _get(Application, application_id, visible_applications(user), "application")
    if for_edit:
        get_requisition(user, application.requisition_id, for_edit=True)
    return application


def get_applications(
    user: User, application_ids: Sequence[int], *, for_edit: bool = False
) -> list[Application]:
    """`get_application` for many ids at once, in their order, in two queries whatever their
    number (with each one's candidate and requisition); the first refused id raises as
    `get_application` would."""
    found = {
        application.id: application
        for application in db.session.scalars(
            select(Application)
            .where(Application.id.in_(application_ids), visible_applications(user))
            .options(joinedload(Application.candidate), joinedload(Application.requisition))
        )
    }
    editable: set[int] = set()
    if for_edit and found:
        editable = set(
            db.session.scalars(
                select(Requisition.id).where(
                    Requisition.id.in_({a.requisition_id for a in found.values()}),
                    editable_requisitions(user),
                )
            )
        )
    applications = []
    for application_id in application_ids:
        application = found.get(application_id)
        if application is None:
            raise NotFound("No such application.")
        if for_edit and application.requisition_id not in editable:
            raise PermissionDenied("You can view this requisition but not change it.")
        applications.append(application)
    return applications


def get_candidate(user: User, candidate_id, *, for_edit: bool = False) -> Candidate:
    """Load a candidate the user may see; approvers never change candidates."""
    candidate = _get(Candidate, candidate_id, visible_candidates(user), "candidate")
    if for_edit and user.role == Role.APPROVER:
        raise PermissionDenied("Approvers cannot change candidates.")
    return candidate


def get_hold(user: User, hold_id, *, for_edit: bool = False) -> Hold:
    """Load a hold; its owner and whoever may change the requisition may resolve it."""
    hold = _get(Hold, hold_id, visible_holds(user), "hold")
    if for_edit and hold.owner_id != user.id:
        get_requisition(user, hold.requisition_id, for_edit=True)
    return hold


def get_approval(user: User, approval_id, *, for_decision: bool = False) -> Approval:
    """Load an approval; only its approver (or a recruiter/admin) may decide it."""
    approval = _get(Approval, approval_id, visible_approvals(user), "approval")
    if for_decision and approval.approver_id != user.id and not can_manage_all(user):
        raise PermissionDenied("Only the assigned approver can decide this approval.")
    return approval
