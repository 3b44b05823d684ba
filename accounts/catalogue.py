"""Setting up an organization's applications and scope catalogues (used by seed_demo and tests)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from accounts.models import (
    Application,
    Environment,
    Organization,
    Role,
    Scope,
    ScopeAction,
    resource_words,
)

PORTAL_SCOPES: list[tuple[str, str, str, int]] = [
    ("api-keys", ScopeAction.READ, "List and read API keys", Role.SUPPORT),
    ("api-keys", ScopeAction.WRITE, "Create, regenerate and revoke API keys", Role.ADMIN_API),
    ("api-keys", ScopeAction.VERIFY, "Verify keys presented to your own services", Role.ADMIN),
]


FALLBACK_BASE_URL = "http://127.0.0.1:8000"


def portal_base_url(request: HttpRequest | None = None) -> str:
    """Where this portal is really served: ``PORTAL_BASE_URL`` when set, else the address the
    request came to; never the value stored when the portal application was created."""
    if settings.PORTAL_BASE_URL:
        return settings.PORTAL_BASE_URL.rstrip("/")
    if request is not None:
        return request.build_absolute_uri("/").rstrip("/")
    return FALLBACK_BASE_URL


def ensure_portal_application(organization: Organization) -> Application:
    """Every organization has the portal application with the api-keys:* catalogue."""
    application, _ = Application.objects.get_or_create(
        organization=organization,
        is_portal=True,
        defaults={
            "name": "API Key Portal",
            "slug": "portal",
            "environment": Environment.LIVE,
            # Kept for the record only: pages and APIs show portal_base_url() instead.
            "base_url": portal_base_url(),
            "description": "This portal's own REST API: manage and verify API keys.",
        },
    )
    for position, (resource, action, description, min_role) in enumerate(PORTAL_SCOPES):
        Scope.objects.get_or_create(
            application=application,
            resource=resource,
            action=action,
            defaults={"description": description, "min_role": min_role, "position": position},
        )
    return application


def ensure_application(
    organization: Organization,
    *,
    name: str,
    slug: str,
    base_url: str,
    resources: list[str],
    environment: str = Environment.LIVE,
    description: str = "",
) -> Application:
    """An application whose catalogue holds ``<resource>:read`` and ``<resource>:write`` for each resource."""
    application, _ = Application.objects.get_or_create(
        organization=organization,
        slug=slug,
        defaults={"name": name, "base_url": base_url, "environment": environment, "description": description},
    )
    position = 0
    for resource in resources:
        for action in (ScopeAction.READ, ScopeAction.WRITE):
            description = catalogue_description(resource, action)
            scope, created = Scope.objects.get_or_create(
                application=application,
                resource=resource,
                action=action,
                defaults={
                    "description": description,
                    "min_role": Role.VIEWER if action == ScopeAction.READ else Role.ADMIN,
                    "position": position,
                },
            )
            if not created and scope.description in _earlier_descriptions(resource, action):
                # Written by an earlier seed ("Read iot"): the people-readable words replace it;
                # a description someone wrote in the admin is left alone.
                scope.description = description
                scope.save(update_fields=["description"])
            position += 1
    return application


def catalogue_description(resource: str, action: str) -> str:
    """What a scope of a demo catalogue lets a key do: "View work orders", "Create/update IoT"."""
    verb = "View" if action == ScopeAction.READ else "Create/update"
    return f"{verb} {resource_words(resource)}"


def _earlier_descriptions(resource: str, action: str) -> set[str]:
    label = resource.replace("-", " ")
    return {"", f"{'Read' if action == ScopeAction.READ else 'Change'} {label}"}
