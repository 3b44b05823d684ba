"""Refusals of the key services, audited as every refusal is. Apart from :mod:`keys.errors` so that
the error codes import nothing of the models (the hot path's modules load them before Django's apps
are ready)."""

from __future__ import annotations

from typing import Any

from accounts.actors import Actor
from audit.services import refuse
from keys.errors import ErrorCode, ServiceError


def forbidden(actor: Actor, what: str, message: str, *, key: Any = None, **details: Any) -> ServiceError:
    """403 ``forbidden``, audited as every refusal is (``audit.services.refuse``).

    Use as ``raise forbidden(...)``."""
    error = ServiceError(ErrorCode.FORBIDDEN, message)
    return refuse(error, actor=actor, what=what, key=key, details=details)
