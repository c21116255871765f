"""`GET /api/v1/me`: who the token acts as, and what it may do."""
from __future__ import annotations

from flask import g

from helpdesk.models import Company

from .core import bp
from .tickets import iso


@bp.get("/me")
def me():
    user, token = g.api_user, g.api_token
    company = Company.get_or_none(Company.id == user.company_id) if user.company_id else None
    return {"id": user.id, "email": user.email, "name": user.name, "role": user.role,
            "company": {"id": company.id, "name": company.name, "nip": company.nip} if company else None,
            "token": {"id": token.id, "name": token.name, "prefix": token.prefix, "scopes": sorted(token.scope_set),
                      "created_at": iso(token.created_at), "expires_at": iso(token.expires_at)}}
