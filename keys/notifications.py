"""Email the people who can act on a key before it expires (``manage.py notify_expiring_keys``).

One email per person per run, listing every key of theirs that expires within the window. A key
is announced once per expiry date: ``ApiKey.expiry_notice_sent_for`` remembers the date that was
announced (set before sending, so the guarantee is at most once), so running the command every
hour sends nothing new, while bringing the expiry earlier announces the new date. The emails
carry what identifies a key (name, Client ID, application, account, expiry, a link to it); there
is no secret to leak, as none is stored.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts import permissions
from accounts.actors import Actor
from accounts.catalogue import portal_base_url
from accounts.models import User
from keys.models import EXPIRING_SOON, ApiKey

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NoticeRun:
    keys: int
    emails: int
    failed: tuple[str, ...] = ()


def keys_due_a_notice(now: datetime, within: timedelta, *, lock: bool = False) -> list[ApiKey]:
    """Active keys expiring within the window whose current expiry has not been announced."""
    due = (
        ApiKey.objects.in_use(now)
        .filter(expires_at__lte=now + within)
        .filter(Q(expiry_notice_sent_for__isnull=True) | ~Q(expiry_notice_sent_for=F("expires_at")))
        .order_by("expires_at", "name")
    )
    if lock:
        due = due.select_for_update(skip_locked=True, of=("self",))
    return list(due.select_related("organization", "application", "account"))


def recipients_for(key: ApiKey, members: list[User]) -> list[User]:
    """Everyone in the key's organization who may regenerate or revoke it."""
    return [
        user for user in members if user.is_active and permissions.may_manage_key(Actor.for_user(user), key)
    ]


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
            f"  {portal_base_url()}{key.get_absolute_url()}",
            "",
        ]
    lines.append("You receive this because you may manage these keys in the API Key Portal.")
    return EmailMessage(subject=subject, body="\n".join(lines), to=[user.email])


def _claim(now: datetime, within: timedelta) -> list[ApiKey]:
    """Mark the due keys as announced before anything is sent, in one transaction with the rows
    locked (skipping rows another run holds): two overlapping runs never announce a key twice."""
    with transaction.atomic():
        due = keys_due_a_notice(now, within, lock=True)
        for key in due:
            ApiKey.objects.filter(pk=key.pk).update(expiry_notice_sent_for=key.expires_at)
    return due


def notify_expiring_keys(
    *, now: datetime | None = None, within: timedelta = EXPIRING_SOON, dry_run: bool = False
) -> NoticeRun:
    """Each due key is announced at most once per expiry date: keys are claimed first, then one
    email per person is sent on its own, so a refused recipient neither stops the others nor makes
    a later run send the same emails again. Refused recipients are returned to be reported."""
    now = now or timezone.now()
    due = keys_due_a_notice(now, within) if dry_run else _claim(now, within)
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
    sent, failed = 0, []
    connection = get_connection()
    for user, keys in sorted(per_user.items(), key=lambda item: item[0].email):
        try:
            sent += connection.send_messages([_email(user, keys, now)]) or 0
        except Exception as exc:  # an SMTP refusal, a timeout: report it, go on with the others
            log.warning("Expiry notice to %s not sent: %s", user.email, exc)
            failed.append(user.email)
    return NoticeRun(keys=len(due), emails=sent, failed=tuple(failed))
