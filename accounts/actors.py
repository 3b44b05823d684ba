"""Who is acting: a signed-in member, an API key, or the system (a command, a superuser in the
Django admin). Built once per request (``request.actor``) and handed to every service, selector and
permission question, so the same rules hold for the portal, the REST API, the admin and commands.

The key an actor may carry is described by :class:`KeyPrincipal` so that this module, like the rest
of ``accounts``, never imports the ``keys`` app.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest

from accounts.models import User

MAX_USER_AGENT = 300


class KeyPrincipal(Protocol):
    """What the policy needs to know about a key that authenticated a request."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def organization_id(self) -> int: ...
    @property
    def application_id(self) -> int: ...
    @property
    def account_id(self) -> int: ...
    @property
    def account_path(self) -> str: ...
    @property
    def role(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def client_id(self) -> str: ...

    def has_scope(self, scope: str) -> bool: ...


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, or None when it is unknown.

    Behind ``PROXY_COUNT`` trusted proxies it is the entry the outermost of them appended to
    X-Forwarded-For (entries further left are whatever the client sent, so never trusted). With
    fewer entries than trusted proxies the request did not come through them all (a caller that
    reached the server directly, or a proxy that forwards no header): the address is unknown, not
    ``REMOTE_ADDR``, which is then a proxy's own or a trusted neighbour's (loopback, say). Unknown
    opens no allowed network and no ``/metrics``, audits as empty, and shares one sign-in throttle.
    Also django-axes' ``AXES_CLIENT_IP_CALLABLE``, so the lockout counts the same client.
    """
    proxies = settings.PROXY_COUNT
    if not proxies:
        return _normalized_address(request.META.get("REMOTE_ADDR", ""))
    forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
    if len(forwarded) < proxies:
        return None
    return _normalized_address(forwarded[-proxies])


@lru_cache(maxsize=4096)
def _normalized_address(address: str) -> str | None:
    """The written form of an address, or None; parsing one is a few µs of every API request, and
    an integration calls from the same few addresses."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def user_agent(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:MAX_USER_AGENT]


@dataclass(frozen=True)
class Actor:
    organization_id: int
    user: User | None = None
    key: KeyPrincipal | None = None
    label: str = "system"
    ip: str | None = None
    user_agent: str = ""
    # A management command or the Django admin acting for a superuser: the organization's rules
    # (quota, scope catalogue, role caps on scopes) still hold, the caller's own role does not.
    is_system: bool = False

    @classmethod
    def for_user(cls, user: User | AnonymousUser, *, ip: str | None = None, user_agent: str = "") -> Actor:
        if not isinstance(user, User):  # not signed in
            return cls.anonymous(ip=ip, user_agent=user_agent)
        return cls(
            organization_id=user.organization_id or 0,
            user=user,
            label=user.email,
            ip=ip,
            user_agent=user_agent[:MAX_USER_AGENT],
        )

    @classmethod
    def for_key(cls, key: KeyPrincipal, *, ip: str | None = None, user_agent: str = "") -> Actor:
        return cls(
            organization_id=key.organization_id,
            key=key,
            label=f"key {key.name} ({key.client_id})",
            ip=ip,
            user_agent=user_agent[:MAX_USER_AGENT],
        )

    @classmethod
    def system(cls, organization_id: int, *, label: str = "system", user: User | None = None) -> Actor:
        return cls(organization_id=organization_id, user=user, label=label, is_system=True)

    @classmethod
    def anonymous(cls, *, label: str = "anonymous", ip: str | None = None, user_agent: str = "") -> Actor:
        """Someone not signed in (a failed sign-in, an unknown API key): may do nothing."""
        return cls(organization_id=0, label=label[:200], ip=ip, user_agent=user_agent[:MAX_USER_AGENT])


class ActorRequest(HttpRequest):
    """An ``HttpRequest`` as views see it after ``ActorMiddleware``: it carries ``actor``. Only a type
    annotation for views (the request objects themselves are Django's)."""

    actor: Actor


class MemberRequest(ActorRequest):
    """A request to a page behind sign-in (``LoginRequiredMiddleware``): ``user`` is a member."""

    user: User
