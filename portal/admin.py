"""The Django admin site: for platform superusers only.

The admin is not tenant-aware (it lists every organization's keys and users), so a tenant's staff
user must get nothing there, even if someone grants it model permissions."""

from __future__ import annotations

from django.contrib.admin import AdminSite
from django.http import HttpRequest


class SuperuserAdminSite(AdminSite):
    site_header = "API Key Portal administration"
    site_title = "API Key Portal admin"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return user.is_active and user.is_staff and user.is_superuser
