"""Reading the audit log, narrowed by the access policy."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts import permissions
from accounts.actors import Actor
from audit.models import AuditEvent


def visible_events(actor: Actor) -> QuerySet[AuditEvent]:
    """Events of the actor's organization and account subtrees, none about a key it may not see."""
    return AuditEvent.objects.filter(permissions.event_filter(actor))
