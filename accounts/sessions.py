"""Ending every session of a member at once, across workers and session engines.

Django can look a session up by its key but cannot list a user's sessions (the cache engine has no
index at all), so sign-in records the key in :class:`accounts.models.MemberSession` and sign-out
removes it. :func:`end_sessions` deletes each recorded session through the configured engine, so
the member's next request, on any worker, finds no session and is sent to sign in.

The index cannot know every session: a password change rotates the session to a new key, a
signed-cookie session lives in the browser. So :func:`end_sessions` also raises the member's
``session_generation``, which every session's authentication hash carries: any session begun
before, however it began, no longer matches and is ended at its next request, even after the
member is reactivated.
"""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.contrib.sessions.backends.base import SessionBase
from django.db.models import F
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import MemberSession, User


def _store(session_key: str) -> SessionBase:
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)


@receiver(user_logged_in)
def _remember(sender: object, request: HttpRequest, user: User, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    if session is None or not session.session_key:
        return
    # Sessions older than their cookie can live are gone anyway: keep the index small.
    too_old = timezone.now() - timedelta(seconds=settings.SESSION_COOKIE_AGE)
    MemberSession.objects.filter(user=user, created_at__lt=too_old).delete()
    MemberSession.objects.get_or_create(session_key=session.session_key, defaults={"user": user})


@receiver(user_logged_out)
def _forget(sender: object, request: HttpRequest | None, user: User | None, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        MemberSession.objects.filter(session_key=session.session_key).delete()


def end_sessions(user: User) -> int:
    """End every session of the member; returns how many the index recorded (and deleted)."""
    User.objects.filter(pk=user.pk).update(session_generation=F("session_generation") + 1)
    keys = list(MemberSession.objects.filter(user=user).values_list("session_key", flat=True))
    for key in keys:
        _store(key).delete()
    MemberSession.objects.filter(user=user).delete()
    return len(keys)
