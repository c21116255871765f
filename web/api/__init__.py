"""The REST API under /api/v1 (see `core` for authentication, limits, errors and
idempotency, and `openapi` for the document): its blueprint, with every route module's
routes registered on it."""
from __future__ import annotations

from . import account, articles, contracts, openapi, tickets, webhooks  # noqa: F401  (their routes, on bp)
from .core import bp, http_problem

__all__ = ["bp", "http_problem"]
