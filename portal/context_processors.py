from __future__ import annotations

from django.http import HttpRequest

from accounts import permissions


def navigation(request: HttpRequest) -> dict:
    """What the Settings menu may show to this user: entries they may not use are not shown."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "nav": {
            "api_keys": permissions.can_view_keys(user),
            "applications": permissions.can_view_applications(user),
            "audit_log": permissions.can_view_audit_log(user),
            "admin": user.is_superuser,
        }
    }
