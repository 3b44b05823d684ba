from __future__ import annotations

from django.http import HttpRequest

from accounts import permissions


def navigation(request: HttpRequest) -> dict:
    """What the Settings menu may show: entries the member may not use are not shown."""
    user = getattr(request, "user", None)
    actor = getattr(request, "actor", None)
    if user is None or actor is None or not user.is_authenticated:
        return {}
    return {
        "nav": {
            "api_keys": permissions.can_view_keys(actor),
            "applications": permissions.can_view_applications(actor),
            "members": permissions.can_view_members(actor),
            "security": permissions.can_view_security_policy(actor),
            "audit_log": permissions.can_view_audit_log(actor),
            "admin": user.is_superuser,
        }
    }
