"""Calling the services directly. The one test key factory: keys created through the real
service, with sensible defaults.

The ``make_key`` fixture (tests/conftest.py) is this factory bound to the demo data, as the system;
``create`` is the same factory with the defaults of a key a member makes in the portal.
"""

from __future__ import annotations

import itertools

from accounts.actors import Actor
from accounts.models import Account, Application, Organization, Role
from keys.policy import SecurityPolicy, update_policy
from keys.services import IssuedKey, create_key

_numbers = itertools.count(1)


def user_actor(demo, email: str = "advanced@acme.test") -> Actor:
    return Actor.for_user(demo.user(email), ip="203.0.113.7", user_agent="pytest")


def make_key(
    demo,
    *,
    actor: Actor | None = None,
    scopes: list[str] | None = None,
    role: int = Role.ADVANCED_ADMIN,
    account: Account | None = None,
    application: Application | None = None,
    organization: Organization | None = None,
    name: str | None = None,
    expires_in_days: int | None = None,
    rate_limit: int | None = None,
    allowed_ips: list[str] | None = None,
) -> IssuedKey:
    """A key created through the real service: as the system unless an actor is given, in the
    organization's portal application and root account unless others are given."""
    organization = organization or demo.acme
    if application is None:
        application = Application.objects.get(organization=organization, is_portal=True)
    if account is None:
        account = Account.objects.get(organization=organization, parent__isnull=True)
    return create_key(
        actor=actor or Actor.system(organization.pk, label="test"),
        application=application,
        account=account,
        role=role,
        name=name if name is not None else f"test key {next(_numbers)}",
        scopes=scopes if scopes is not None else ["api-keys:read", "api-keys:write", "api-keys:verify"],
        expires_in_days=expires_in_days,
        rate_limit=rate_limit,
        allowed_ips=allowed_ips,
    )


def create(demo, actor: Actor | None = None, **overrides) -> IssuedKey:
    """An Admin + API InCharge key on Acme North, created by Ada (Advanced Admin) unless overridden."""
    member_key = dict(
        application=demo.incharge,
        account=demo.north,
        role=Role.ADMIN_API,
        name="ERP integration",
        scopes=["billing:read", "charge-points:write"],
        expires_in_days=30,
    )
    return make_key(demo, actor=actor or user_actor(demo), **{**member_key, **overrides})


def set_policy(demo, **changes) -> None:
    """Change Acme's security policy as the system, keeping what is not named."""
    current = SecurityPolicy.of(Organization.objects.get(pk=demo.acme.pk))
    update_policy(actor=Actor.system(demo.acme.pk), **{**vars(current), **changes})
