"""The Django admin for keys and their usage (superusers only, see ``portal.admin``): no secret or
digest anywhere, revocation through ``revoke_key``, usage rows read-only."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.actors import Actor, client_ip, user_agent
from accounts.models import User
from audit.admin import ReadOnlyModelAdmin
from keys import services
from keys.metering.usage import FIELDS as USAGE_FIELDS
from keys.models import ApiKey, KeyUsageDay
from keys.state import Action

# What identifies a key and what it may do: the first columns of the list and the form.
KEY_IDENTITY = ("name", "client_id", "organization", "application", "account", "role")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        *KEY_IDENTITY,
        "status",
        "created_at",
        "last_used_at",
        "expires_at",
    )
    list_filter = ("organization", "application", "role", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "client_id")
    list_select_related = ("organization", "application", "account")
    # Everything is read-only: a key's powers are fixed at creation, and its secret is never here.
    fields = (
        *KEY_IDENTITY,
        "scopes",
        "expires_at",
        "allowed_ips",
        "rate_limit_override",
        "created_at",
        "created_by",
        "regenerated_at",
        "disabled_at",
        "revoked_at",
        "revoked_by_label",
        "last_used_at",
        "recent_ips",
    )
    readonly_fields = fields
    actions = ["revoke_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are created in the portal, the API or `create_api_key`, where the secret is shown

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False  # revoke instead: the audit trail keeps pointing at the key

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Revoke selected keys (irreversible)")
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        user = request.user
        assert isinstance(user, User)  # the admin serves staff members only
        revoked = 0
        for key in queryset.select_related("organization", "application", "account"):
            actor = Actor(
                organization_id=key.organization_id,
                user=user,
                label=f"{user.email} (Django admin)",
                ip=client_ip(request),
                user_agent=user_agent(request),
                is_system=True,
            )
            if key.allows(Action.REVOKE):
                services.revoke_key(actor=actor, key=key)
                revoked += 1
        self.message_user(request, f"Revoked {revoked} key(s).", messages.SUCCESS)


@admin.register(KeyUsageDay)
class KeyUsageDayAdmin(ReadOnlyModelAdmin):
    list_display = ("key", "day", *USAGE_FIELDS)
    list_filter = ("day",)
    search_fields = ("key__name", "key__client_id")
