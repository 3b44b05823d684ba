from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class PortalConfig(AppConfig):
    default = True
    name = "portal"
    verbose_name = "Portal"


class PortalAdminConfig(admin_apps.AdminConfig):
    """``django.contrib.admin`` with our site as the default ``admin.site``."""

    default = False
    default_site = "portal.admin.SuperuserAdminSite"
