"""JSON API v1: candidates, with their data-protection export and anonymisation."""

from flask import jsonify
from sqlalchemy import func, select

from hiretrack.api import presenters as present
from hiretrack.api import schemas as s
from hiretrack.api.blueprint import HIRING_ROLES, PRIVACY_ROLES, api
from hiretrack.audit.services import record_change
from hiretrack.auth import access
from hiretrack.auth.models import User
from hiretrack.candidates.models import Candidate
from hiretrack.candidates.privacy import anonymise_candidate, erase_leftovers, export_candidate
from hiretrack.candidates.services import (
    create_candidate,
    update_candidate,
)
from hiretrack.extensions import db

CandidatePage = s.page_of(s.CandidateOut)


@api.operation(
    "GET",
    "/candidates",
    summary="List candidates",
    tag="Candidates",
    response=CandidatePage,
    query=s.CandidateQuery,
)
def list_candidates(user: User, query: s.CandidateQuery):
    """List candidates you may see, newest first; `email` finds one by address."""
    statement = (
        select(Candidate).where(access.visible_candidates(user)).order_by(Candidate.id.desc())
    )
    if query.email:
        statement = statement.where(func.lower(Candidate.email) == query.email.strip().lower())
    return CandidatePage.model_validate(present.paginate(statement, query, lambda rows: rows))


@api.operation(
    "POST",
    "/candidates",
    summary="Add a candidate",
    tag="Candidates",
    response=s.CandidateOut,
    status=201,
    body=s.CandidateCreate,
)
def add_candidate(user: User, body: s.CandidateCreate):
    """Add a person; the email address is checked now, not when we first write to them."""
    access.require_role(user, *HIRING_ROLES)
    candidate = create_candidate(user, body.name, body.email, body.phone)
    db.session.commit()
    return s.CandidateOut.model_validate(candidate)


@api.operation(
    "GET",
    "/candidates/<int:candidate_id>",
    summary="Get a candidate",
    tag="Candidates",
    response=s.CandidateOut,
)
def get_candidate(user: User, candidate_id: int):
    """Read one candidate you may see."""
    return s.CandidateOut.model_validate(access.get_candidate(user, candidate_id))


@api.operation(
    "PATCH",
    "/candidates/<int:candidate_id>",
    summary="Change a candidate",
    tag="Candidates",
    response=s.CandidateOut,
    body=s.CandidateUpdate,
)
def patch_candidate(user: User, candidate_id: int, body: s.CandidateUpdate):
    """Correct a candidate's name, email or phone (e.g. a typo that made an email bounce)."""
    candidate = access.get_candidate(user, candidate_id, for_edit=True)
    changes = body.model_dump(exclude_unset=True)
    version = changes.pop("version", None)
    update_candidate(user, candidate, expected_version=version, **changes)
    db.session.commit()
    return s.CandidateOut.model_validate(candidate)


@api.operation(
    "POST",
    "/candidates/<int:candidate_id>/anonymise",
    summary="Anonymise a candidate (recruiter, admin)",
    tag="Candidates",
    response=s.CandidateOut,
    body=s.CandidateAnonymise,
)
def candidate_anonymise(user: User, candidate_id: int, body: s.CandidateAnonymise):
    """Remove everything that identifies the candidate for good, keeping the report figures.

    Refused (409) while any of their applications is open: close each with closure first.
    """
    access.require_role(user, *PRIVACY_ROLES)
    candidate = access.get_candidate(user, candidate_id, for_edit=True)
    anonymise_candidate(user, candidate, body.reason)
    db.session.commit()
    erase_leftovers()
    return s.CandidateOut.model_validate(access.get_candidate(user, candidate_id))


@api.operation(
    "GET",
    "/candidates/<int:candidate_id>/export",
    summary="Everything held about a candidate (recruiter, admin)",
    tag="Candidates",
    response=None,
)
def candidate_export(user: User, candidate_id: int):
    """Export everything held about a candidate, for a subject access request (audited).

    The candidate, applications, stage changes, contacts, emails, drafts, holds (category and
    public reason), offers, status links, feedback and the audit entries about them.
    """
    access.require_role(user, *PRIVACY_ROLES)
    candidate = access.get_candidate(user, candidate_id)
    document = export_candidate(candidate)
    record_change(user, "candidate.export", candidate, after={"format": "api"})
    db.session.commit()
    return jsonify(document)
