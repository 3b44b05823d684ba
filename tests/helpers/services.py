"""Calling the key services directly, as a member would through the portal."""

from __future__ import annotations

from accounts.actors import Actor
from accounts.models import Role
from keys.services import IssuedKey, create_key


def user_actor(demo, email: str = "advanced@acme.test") -> Actor:
    return Actor.for_user(demo.user(email), ip="203.0.113.7", user_agent="pytest")


def create(demo, actor: Actor | None = None, **overrides) -> IssuedKey:
    """An Admin + API InCharge key on Acme North, created by Ada (Advanced Admin) unless overridden."""
    params = dict(
        application=demo.incharge,
        account=demo.north,
        role=Role.ADMIN_API,
        name="ERP integration",
        scopes=["billing:read", "charge-points:write"],
        expires_in_days=30,
    )
    params.update(overrides)
    return create_key(actor=actor or user_actor(demo), **params)
