"""Reads, always narrowed to what the actor may see: someone else's key is simply not found."""

from __future__ import annotations

import uuid
from functools import reduce
from operator import or_

from django.db.models import Q, QuerySet

from accounts import permissions
from keys.actors import Actor
from keys.models import ApiKey, AuditEvent
from keys.services import KeyNotFound


def _visibility(actor: Actor) -> Q | None:
    """A filter for the keys the actor may see, or None when it may see none."""
    if actor.is_system:
        return Q()
    if actor.key is not None:
        return Q(account__path__startswith=actor.key.account_path, role__lte=actor.key.role)
    if actor.user is None:
        return None
    grants = permissions.key_view_grants(actor.user)
    if not grants:
        return None
    parts = [
        Q(account__path__startswith=path) & (Q() if max_role is None else Q(role__lte=max_role))
        for path, max_role in grants
    ]
    return reduce(or_, parts)


def visible_keys(actor: Actor) -> QuerySet[ApiKey]:
    rule = _visibility(actor)
    keys = ApiKey.objects.filter(organization_id=actor.organization_id)
    if rule is None:
        return keys.none()
    return keys.filter(rule)


def get_visible_key(actor: Actor, key_id: str | uuid.UUID) -> ApiKey:
    """The key, or KeyNotFound for a malformed id, another tenant's key or one outside the subtree."""
    try:
        pk = key_id if isinstance(key_id, uuid.UUID) else uuid.UUID(str(key_id))
    except (ValueError, TypeError, AttributeError):
        raise KeyNotFound() from None
    key = (
        visible_keys(actor)
        .select_related("organization", "application", "account", "created_by", "revoked_by")
        .filter(pk=pk)
        .first()
    )
    if key is None:
        raise KeyNotFound()
    return key


def visible_audit_events(actor: Actor) -> QuerySet[AuditEvent]:
    """The organization's events: for a non-root user only those of its account subtree, and for a
    manager no events about keys above its own role (the same rule as :func:`visible_keys`)."""
    events = AuditEvent.objects.filter(organization_id=actor.organization_id)
    if actor.is_system:
        return events
    if actor.user is None:
        return events.none()
    grants = permissions.key_view_grants(actor.user)
    if not grants:
        return events.none()
    parts = []
    for path, max_role in grants:
        # A root membership also sees events tied to no account (sign-ins, refusals).
        where = Q() if path.count("/") == 1 else Q(account__path__startswith=path)
        if max_role is not None:
            where &= Q(key__isnull=True) | Q(key__role__lte=max_role)
        parts.append(where)
    return events.filter(reduce(or_, parts))
