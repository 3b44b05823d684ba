"""Many keys and audit events at once (``bulk_create``), for tests about lists that must cost the
same whatever their length."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from accounts.models import Account, Application, Organization, Role, User
from audit.models import AuditAction, AuditEvent
from keys import credentials
from keys.models import ApiKey


def bulk_keys(
    organization: Organization,
    count: int,
    *,
    applications: list[Application],
    accounts: list[Account],
    prefix: str = "bulk",
    created_by: User | None = None,
    newest: datetime | None = None,
) -> list[ApiKey]:
    """``count`` keys named "<prefix> 0000"…, a minute apart (the last one at ``newest``, now by
    default), half of them used, spread over the applications and accounts given."""
    pepper = credentials.current_pepper()
    newest = newest or timezone.now()
    return ApiKey.objects.bulk_create(
        ApiKey(
            organization=organization,
            application=applications[n % len(applications)],
            account=accounts[n % len(accounts)],
            role=Role.ADMIN_API,
            name=f"{prefix} {n:04d}",
            scopes=["api-keys:read"],
            client_id=credentials.new_client_id("live"),
            secret_digest=credentials.digest(credentials.new_secret("live"), pepper),
            pepper_id=pepper.id,
            created_by=created_by,
            created_at=newest - timedelta(minutes=count - n),
            last_used_at=newest if n % 2 else None,
        )
        for n in range(count)
    )


def bulk_events(
    organization: Organization,
    count: int,
    *,
    key: ApiKey | None = None,
    label: str = "bulk@acme.test",
    newest: datetime | None = None,
) -> list[AuditEvent]:
    """``count`` sign-in events (about ``key`` when given), a second apart, the last at ``newest``."""
    newest = newest or timezone.now()
    return AuditEvent.objects.bulk_create(
        AuditEvent(
            organization=organization,
            action=AuditAction.KEY_UPDATED if key else AuditAction.LOGIN_SUCCEEDED,
            actor_label=label,
            key=key,
            account=key.account if key else None,
            occurred_at=newest - timedelta(seconds=count - n),
        )
        for n in range(count)
    )
