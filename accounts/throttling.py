"""What django-axes counts failed sign-ins by: the client (``accounts.actors.client_ip``, the one
rule for ``PROXY_COUNT``) and the email in its normalized form (``AXES_USERNAME_CALLABLE``), the
form the sign-in's case-insensitive match treats as one person. Counting the literal string would
give ``VIEWER@acme.test`` five more guesses at the account ``viewer@acme.test`` locked."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from accounts.models import normalized_email


def sign_in_username(request: HttpRequest, credentials: dict | None = None) -> str | None:
    """The email a sign-in attempt is for, normalized; None when there is none. Axes passes the
    credentials handed to ``authenticate`` and, when it has none, reads the posted form."""
    if credentials:
        value = credentials.get(settings.AXES_USERNAME_FORM_FIELD)
    else:
        value = getattr(request, "POST", {}).get(settings.AXES_USERNAME_FORM_FIELD)
    return normalized_email(value) if value else None
