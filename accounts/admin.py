from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest

from accounts.models import Account, Application, Membership, Organization, Scope, User


class AccountInline(admin.TabularInline):
    model = Account
    fields = ("name", "parent")
    extra = 0
    show_change_link = True


SECURITY_POLICY_FIELDS = (
    "rotation_policy_days",
    "max_key_lifetime_days",
    "require_ip_allowlist",
    "leak_policy",
    "policy_updated_at",
)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "slug",
        "plan",
        "key_limit_display",
        "rate_limit_per_minute",
        "rotation_policy_days",
    )
    list_filter = ("plan",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    fieldsets = (
        (None, {"fields": ("name", "slug", "plan")}),
        ("Plan overrides", {"fields": ("key_limit_override", "rate_limit_override")}),
        (
            "Security policy",
            {
                "fields": SECURITY_POLICY_FIELDS,
                "description": "Changed by the organization's Advanced Admins on Settings → Security, "
                "where every change is audited.",
            },
        ),
    )
    inlines = [AccountInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Organization | None = None) -> tuple[str, ...]:
        # A new organization starts with the default policy; after that only the audited page changes it.
        return SECURITY_POLICY_FIELDS

    @admin.display(description="Key limit")
    def key_limit_display(self, obj: Organization) -> str:
        return "unlimited" if obj.key_limit is None else str(obj.key_limit)


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "parent", "path")
    list_filter = ("organization",)
    search_fields = ("name",)
    list_select_related = ("organization", "parent")


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("account",)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("email",)
    list_display = ("email", "full_name", "organization", "is_active", "is_staff", "is_superuser")
    list_filter = ("organization", "is_active", "is_staff", "is_superuser")
    search_fields = ("email", "full_name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name", "organization")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "organization", "password1", "password2")}),
    )
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "account", "role")
    list_filter = ("role", "account__organization")
    search_fields = ("user__email", "account__name")
    list_select_related = ("user", "account")


class ScopeInline(admin.TabularInline):
    model = Scope
    extra = 0
    fields = ("resource", "action", "description", "min_role", "position")


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "organization", "environment", "base_url", "is_portal")
    list_filter = ("organization", "environment", "is_portal")
    search_fields = ("name", "slug")
    readonly_fields = ("is_portal",)
    inlines = [ScopeInline]
