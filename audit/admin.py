"""Audit events in the Django admin: strictly read-only (they are append-only everywhere)."""

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEvent


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """Listed and shown, never added, changed or deleted."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyModelAdmin):
    list_display = ("occurred_at", "organization", "action", "actor_label", "key", "ip")
    list_filter = ("action", "organization")
    search_fields = ("actor_label", "key__name", "key__client_id", "ip", "request_id")
    date_hierarchy = "occurred_at"
    list_select_related = ("organization", "key")
