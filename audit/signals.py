"""Sign-ins, failed sign-ins and sign-outs go into the audit log."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from accounts.actors import Actor, client_ip, user_agent
from accounts.models import User
from audit.models import AuditAction
from audit.services import record_event


def _actor(user: User | None, request: HttpRequest | None, label: str | None = None) -> Actor:
    ip = client_ip(request) if request is not None else None
    agent = user_agent(request) if request is not None else ""
    if user is not None:
        return Actor.for_user(user, ip=ip, user_agent=agent)
    return Actor.anonymous(label=label or "anonymous", ip=ip, user_agent=agent)


@receiver(user_logged_in)
def _logged_in(sender: object, request: HttpRequest, user: User, **kwargs: Any) -> None:
    record_event(
        actor=_actor(user, request), action=AuditAction.LOGIN_SUCCEEDED, organization_id=user.organization_id
    )


@receiver(user_logged_out)
def _logged_out(sender: object, request: HttpRequest | None, user: User | None, **kwargs: Any) -> None:
    if user is not None:
        record_event(
            actor=_actor(user, request), action=AuditAction.LOGOUT, organization_id=user.organization_id
        )


@receiver(user_login_failed)
def _login_failed(
    sender: object, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # Attribute the attempt to the organization of the email tried, when it exists, so that its
    # admins see it; the password is never recorded.
    email = str(credentials.get("username") or credentials.get("email") or "")[:200]
    user = User.objects.filter(email__iexact=email).only("organization_id").first() if email else None
    record_event(
        actor=_actor(None, request, label=email or "anonymous"),
        action=AuditAction.LOGIN_FAILED,
        organization_id=user.organization_id if user else None,
        details={"email": email},
    )
