"""The append-only event log: who did what, to which key, from where, and when.

Below ``keys`` in the layering: events point at keys through a lazy ``"keys.ApiKey"`` reference and
nothing here imports the ``keys`` package, so the key services can write their events here.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Account, Organization
from audit.describe import describe_details, describe_lines


class AuditAction(models.TextChoices):
    KEY_CREATED = "key.created", "Key created"
    KEY_REGENERATED = "key.regenerated", "Key regenerated"
    KEY_REVOKED = "key.revoked", "Key revoked"
    KEY_UPDATED = "key.updated", "Key updated"
    KEY_DISABLED = "key.disabled", "Key disabled"
    KEY_ENABLED = "key.enabled", "Key enabled"
    KEY_AUTH_FAILED = "key.auth_failed", "Key authentication failed"
    KEY_IP_REFUSED = "key.ip_refused", "Key used from a network not allowed"
    KEY_LOOKED_UP = "key.looked_up", "Key looked up by its secret"
    KEY_LEAK_REPORTED = "key.leak_reported", "Key's secret reported leaked"
    POLICY_UPDATED = "policy.updated", "Security policy changed"
    MEMBER_DEACTIVATED = "member.deactivated", "Member deactivated"
    MEMBER_REACTIVATED = "member.reactivated", "Member reactivated"
    PERMISSION_DENIED = "permission.denied", "Permission denied"
    LOGIN_SUCCEEDED = "login.succeeded", "Signed in"
    LOGIN_FAILED = "login.failed", "Sign-in failed"
    LOGOUT = "logout", "Signed out"


class AppendOnlyError(Exception):
    """Audit events are never changed or deleted."""


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only: they cannot be updated.")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only: they cannot be deleted.")

    def _raw_delete(self, using: str | None) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only: they cannot be deleted.")


class AuditEvent(models.Model):
    """One thing that happened, who did it, from where. Append-only: the queryset above refuses
    changes, and database triggers refuse them too (see the ``keys`` migration that adds them)."""

    occurred_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    # Neither indexed alone: the indexes below start with them.
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
        db_index=False,
    )
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_key = models.ForeignKey(
        "keys.ApiKey", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=200, help_text="Who, as shown: email, key name or 'system'.")
    key = models.ForeignKey(
        "keys.ApiKey",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
        db_index=False,
    )
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True, default="")
    details = models.JSONField(default=dict, blank=True)
    # NULL rather than "" for events made outside a request: on SQLite a column with a default is
    # added by rebuilding the table, which would drop its append-only trigger.
    request_id = models.CharField(
        max_length=128, null=True, blank=True, help_text="The request it happened in (X-Request-ID)."
    )

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        # The table predates this app (events were part of ``keys``); its name and triggers stay.
        db_table = "keys_auditevent"
        ordering = ["-occurred_at", "-id"]
        # The log's order (newest first, the id breaking ties) behind each way it is read: an
        # organization's log, one action of it, one key's events. Keyset pages seek into them.
        # PostgreSQL also gets a trigram index for the actor filter: see
        # ``audit.migrations.0005_indexes_for_large_logs``.
        indexes = [
            models.Index(fields=["organization", "-occurred_at", "-id"], name="audit_org_time_id"),
            models.Index(
                fields=["organization", "action", "-occurred_at", "-id"], name="audit_org_action_time"
            ),
            models.Index(fields=["key", "-occurred_at", "-id"], name="audit_key_time"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.action} by {self.actor_label}"

    @property
    def details_text(self) -> str:
        return describe_details(self.details)

    @property
    def details_lines(self) -> list[str]:
        return describe_lines(self.details)

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None or kwargs.get("force_update") or kwargs.get("update_fields"):
            raise AppendOnlyError("Audit events are append-only: they cannot be updated.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only: they cannot be deleted.")
