"""Email the people who can act on a key before it expires (SPEC §7, `notify_expiring_keys`).

One email per person per run, listing every key of theirs that expires within the window. A key
is announced once per expiry date: ``ApiKey.expiry_notice_sent_for`` remembers the date that was
announced, so running the command every hour sends nothing new, while bringing the expiry earlier
announces the new date. The emails carry what identifies a key (name, Client ID, application,
account, expiry, a link to it); there is no secret to leak, as none is stored.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db.models import F, Q
from django.utils import timezone

from accounts import permissions
from accounts.models import User
from keys.models import EXPIRING_SOON, ApiKey


@dataclass(frozen=True)
class NoticeRun:
    keys: int
    emails: int


def keys_due_a_notice(now: datetime, within: timedelta) -> list[ApiKey]:
    """Active keys expiring within the window whose current expiry has not been announced."""
    return list(
        ApiKey.objects.in_use(now)
        .filter(expires_at__lte=now + within)
        .filter(Q(expiry_notice_sent_for__isnull=True) | ~Q(expiry_notice_sent_for=F("expires_at")))
        .select_related("organization", "application", "account", "created_by")
        .order_by("expires_at", "name")
    )


def recipients_for(key: ApiKey, members: list[User]) -> list[User]:
    """Everyone in the key's organization who may regenerate or revoke it (SPEC §1)."""
    return [user for user in members if user.is_active and permissions.can_manage_key(user, key)]


def _email(user: User, keys: list[ApiKey], now: datetime) -> EmailMessage:
    count = len(keys)
    subject = f"{count} API key{'s' if count != 1 else ''} expire{'s' if count == 1 else ''} soon"
    lines = [
        f"Hello {user.get_short_name()},",
        "",
        "These API keys stop working soon. Integrations that use them will be refused from then on.",
        "Regenerate a key (with a grace period, to roll it over without downtime) or create a new one.",
        "",
    ]
    for key in keys:
        days = max(0, (key.expires_at - now).days)
        lines += [
            f"- {key.name} ({key.client_id})",
            f"  application {key.application.name}, account {key.account.name}",
            f"  expires {key.expires_at:%Y-%m-%d %H:%M} UTC (in {days} day{'s' if days != 1 else ''})",
            f"  {settings.PORTAL_BASE_URL.rstrip('/')}{key.get_absolute_url()}",
            "",
        ]
    lines.append("You receive this because you may manage these keys in the API Key Portal.")
    return EmailMessage(subject=subject, body="\n".join(lines), to=[user.email])


def notify_expiring_keys(
    *, now: datetime | None = None, within: timedelta = EXPIRING_SOON, dry_run: bool = False
) -> NoticeRun:
    now = now or timezone.now()
    due = keys_due_a_notice(now, within)
    members_by_org: dict[int, list[User]] = {}
    per_user: dict[User, list[ApiKey]] = defaultdict(list)
    for key in due:
        if key.organization_id not in members_by_org:
            members_by_org[key.organization_id] = list(
                User.objects.filter(organization_id=key.organization_id, is_active=True).prefetch_related(
                    "memberships__account"
                )
            )
        for user in recipients_for(key, members_by_org[key.organization_id]):
            per_user[user].append(key)
    if dry_run:
        return NoticeRun(keys=len(due), emails=len(per_user))
    messages = [_email(user, keys, now) for user, keys in sorted(per_user.items(), key=lambda i: i[0].email)]
    if messages:
        get_connection().send_messages(messages)
    # Marked only after the emails went out: a failed send is retried by the next run.
    for key in due:
        announced = ApiKey.objects.filter(pk=key.pk, expires_at=key.expires_at)
        announced.update(expiry_notice_sent_for=key.expires_at)
    return NoticeRun(keys=len(due), emails=len(messages))
