"""Email the people who can act on a key when it needs them (``manage.py notify_expiring_keys``).

Three notices, each sent once:

* **expiring soon**: the key expires within the window. Announced once per expiry date
  (``expiry_notice_sent_for``): bringing the expiry earlier announces the new date;
* **rotation due**: its secret is older than the organization's rotation period. Announced once per
  secret (``rotation_notice_sent_for`` holds the issue time of the secret announced): regenerating
  starts the count again;
* **outside the security policy**: a policy change left the key outside it. Announced once per
  change (``policy_notice_sent_for`` holds the time of the change announced).

One email per person per run lists every key of theirs that needs them, by notice, in a plain-text
part and an HTML part (tables, inline styles, no images or anything fetched from elsewhere). The
command decides who gets what, and in one transaction marks the keys as announced and enqueues one
email task per person (``accounts.emails.enqueue_email``, with the notices as key ids); the task
worker renders and sends it, so the guarantee is at most once. The emails carry what identifies a key (name,
Client ID, application, account, a link to it); there is no secret to leak, as none is stored.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.utils import timezone
from django_tasks import TaskResultStatus

from accounts import permissions, timezones
from accounts.actors import Actor
from accounts.catalogue import portal_base_url
from accounts.emails import email_builder, enqueue_email
from accounts.models import Organization, User
from keys.models import EXPIRING_SOON, ApiKey, KeyFlag
from keys.policy import SecurityPolicy, breaches, outside_filter

log = logging.getLogger(__name__)


class Notice(StrEnum):
    EXPIRING = "expiring"
    ROTATION_DUE = "rotation_due"
    OUTSIDE_POLICY = "outside_policy"


# Per notice: the section title, the sentence that says what to do, and how the count reads in
# a subject line (singular, plural).
SECTIONS = {
    Notice.EXPIRING: (
        "Expiring soon",
        "These keys stop working soon, and integrations that use them will be refused from then on. "
        "Regenerate a key (with a grace period, to roll it over without downtime) or create a new one.",
        ("expires soon", "expire soon"),
    ),
    Notice.ROTATION_DUE: (
        "Due for rotation",
        "Their secrets are older than your organization's rotation period. Regenerate each key with a "
        "grace period, move the integration to the new secret, and the old one stops by itself.",
        ("is due for rotation", "are due for rotation"),
    ),
    Notice.OUTSIDE_POLICY: (
        "Outside the security policy",
        "Your organization's security policy changed and these keys no longer follow it. They keep "
        "working: replace each with a key that follows the policy, then revoke it.",
        ("is outside the security policy", "are outside the security policy"),
    ),
}


@dataclass
class NoticeRun:
    """``emails``: the emails enqueued (would be, in a dry run), one per person; ``failed``: the
    recipients whose email failed already (a backend that runs tasks at once tells at once)."""

    keys: int
    emails: int
    failed: tuple[str, ...] = ()
    by_notice: dict[str, int] = field(default_factory=dict)


# ---- which keys are due which notice ----


def _expiring(now: datetime, within: timedelta) -> QuerySet[ApiKey]:
    return (
        ApiKey.objects.in_use(now)
        .filter(expires_at__lte=now + within)
        .filter(Q(expiry_notice_sent_for__isnull=True) | ~Q(expiry_notice_sent_for=F("expires_at")))
    )


def _rotation_due(organization: Organization, now: datetime) -> QuerySet[ApiKey]:
    return (
        ApiKey.objects.filter(organization=organization)
        .with_flag(KeyFlag.ROTATION_DUE, organization.rotation_policy_days, now)
        .filter(
            Q(rotation_notice_sent_for__isnull=True)
            | ~Q(rotation_notice_sent_for=Coalesce(F("regenerated_at"), F("created_at")))
        )
    )


def _outside_policy(organization: Organization, now: datetime) -> QuerySet[ApiKey]:
    if organization.policy_updated_at is None:
        return ApiKey.objects.none()
    return (
        ApiKey.objects.filter(organization=organization)
        .in_use(now)
        .filter(outside_filter(SecurityPolicy.of(organization)))
        .filter(
            Q(policy_notice_sent_for__isnull=True) | ~Q(policy_notice_sent_for=organization.policy_updated_at)
        )
    )


def due_notices(now: datetime, within: timedelta, *, lock: bool = False) -> list[tuple[Notice, ApiKey]]:
    """Every (notice, key) not announced yet, in the order the emails list them."""
    queries: list[tuple[Notice, QuerySet[ApiKey]]] = [(Notice.EXPIRING, _expiring(now, within))]
    for organization in Organization.objects.order_by("pk"):
        queries.append((Notice.ROTATION_DUE, _rotation_due(organization, now)))
        queries.append((Notice.OUTSIDE_POLICY, _outside_policy(organization, now)))
    found = []
    for notice, keys in queries:
        keys = keys.select_related("organization", "application", "account").order_by("expires_at", "name")
        if lock:
            keys = keys.select_for_update(skip_locked=True, of=("self",))
        found += [(notice, key) for key in keys]
    return found


def keys_due_a_notice(now: datetime, within: timedelta) -> list[ApiKey]:
    """The keys whose expiry has not been announced yet."""
    return [key for notice, key in due_notices(now, within) if notice == Notice.EXPIRING]


def _claim(now: datetime, within: timedelta) -> list[tuple[Notice, ApiKey]]:
    """Mark the due keys as announced before anything is sent, in one transaction with the rows
    locked (skipping rows another run holds): two overlapping runs never announce a key twice."""
    with transaction.atomic():
        due = due_notices(now, within, lock=True)
        for notice, key in due:
            markers: dict[Notice, dict[str, Any]] = {
                Notice.EXPIRING: {"expiry_notice_sent_for": key.expires_at},
                Notice.ROTATION_DUE: {"rotation_notice_sent_for": key.secret_issued_at},
                Notice.OUTSIDE_POLICY: {"policy_notice_sent_for": key.organization.policy_updated_at},
            }
            ApiKey.objects.filter(pk=key.pk).update(**markers[notice])
    return due


def recipients_for(key: ApiKey, members: list[User]) -> list[User]:
    """Everyone in the key's organization who may regenerate or revoke it."""
    return [
        user for user in members if user.is_active and permissions.may_manage_key(Actor.for_user(user), key)
    ]


# ---- the email ----


def _days(delta: timedelta) -> str:
    days = max(0, delta.days)
    return f"{days} day{'s' if days != 1 else ''}"


def _why(notice: Notice, key: ApiKey, now: datetime) -> str:
    if notice == Notice.EXPIRING:
        assert key.expires_at is not None  # only keys that expire get this notice
        return f"expires {timezones.when(key.expires_at)} (in {_days(key.expires_at - now)})"
    if notice == Notice.ROTATION_DUE:
        issued = key.secret_issued_at
        return (
            f"secret issued {timezones.day(issued)} ({_days(now - issued)} ago; the rotation period is "
            f"{key.organization.rotation_policy_days} days)"
        )
    return "; ".join(breaches(SecurityPolicy.of(key.organization), key))


def subject_for(counts: dict[Notice, int]) -> str:
    parts = []
    for notice, (_, _, (one, many)) in SECTIONS.items():
        if counts.get(notice):
            parts.append(f"{counts[notice]} {one if counts[notice] == 1 else many}")
    if list(counts) == [Notice.EXPIRING]:
        total = counts[Notice.EXPIRING]
        return f"{total} API key{'s' if total != 1 else ''} {parts[0].split(' ', 1)[1]}"
    return "API keys need your attention: " + ", ".join(parts)


def _message(user: User, notices: list[tuple[Notice, ApiKey]], now: datetime) -> EmailMultiAlternatives:
    base = portal_base_url()
    grouped: dict[Notice, list[dict]] = defaultdict(list)
    for notice, key in notices:
        grouped[notice].append(
            {
                "name": key.name,
                "client_id": key.client_id,
                "application": key.application.name,
                "account": key.account.name,
                "why": _why(notice, key, now),
                "url": f"{base}{key.get_absolute_url()}",
            }
        )
    sections = [
        {"title": title, "advice": advice, "keys": grouped[notice]}
        for notice, (title, advice, _) in SECTIONS.items()
        if grouped.get(notice)
    ]
    context: dict[str, Any] = {
        "user": user,
        "name": user.get_short_name(),
        "sections": sections,
        "portal_url": base,
        "subject": subject_for({notice: len(rows) for notice, rows in grouped.items()}),
    }
    message = EmailMultiAlternatives(
        subject=context["subject"],
        body=render_to_string("keys/email/key_notices.txt", context),
        to=[user.email],
    )
    message.attach_alternative(render_to_string("keys/email/key_notices.html", context), "text/html")
    return message


@email_builder
def key_notices_email(user: User, *, notices: list[list[str]], now: str) -> EmailMultiAlternatives | None:
    """The email of one run to one person: ``notices`` are [notice, key id] pairs in the order the
    email lists them, ``now`` the run's time (ISO 8601). The keys are read as they are when it is
    sent: a key revoked, expired or deleted since, or one the person may no longer manage, is left
    out, and with none left nothing is sent."""
    moment = datetime.fromisoformat(now)
    found = (
        ApiKey.objects.in_use(moment)
        .select_related("organization", "application", "account")
        .in_bulk([key_id for _, key_id in notices])
    )
    keys = {str(pk): key for pk, key in found.items()}
    kept = [
        (Notice(notice), keys[key_id])
        for notice, key_id in notices
        if key_id in keys and recipients_for(keys[key_id], [user])
    ]
    return _message(user, kept, moment) if kept else None


def _per_user(due: list[tuple[Notice, ApiKey]]) -> dict[User, list[tuple[Notice, ApiKey]]]:
    """Who hears about what: each person's notices, in the order their email lists them."""
    members_by_org: dict[int, list[User]] = {}
    per_user: dict[User, list[tuple[Notice, ApiKey]]] = defaultdict(list)
    for notice, key in due:
        if key.organization_id not in members_by_org:
            members_by_org[key.organization_id] = list(
                User.objects.filter(organization_id=key.organization_id, is_active=True).prefetch_related(
                    "memberships__account"
                )
            )
        for user in recipients_for(key, members_by_org[key.organization_id]):
            per_user[user].append((notice, key))
    return per_user


def notify_expiring_keys(
    *, now: datetime | None = None, within: timedelta = EXPIRING_SOON, dry_run: bool = False
) -> NoticeRun:
    """Each due notice is sent at most once. The keys are claimed and one email per person is
    enqueued in one transaction: with the database backend a run either marks the keys and queues
    their emails or, failing, does neither (the next run tries again). The task worker sends each
    email on its own, so a refused recipient neither stops the others nor makes a later run send
    the same emails again. Recipients whose email failed already (a backend that runs tasks at
    once) are returned to be reported."""
    now = now or timezone.now()

    def counts(due: list[tuple[Notice, ApiKey]]) -> tuple[int, dict[str, int]]:
        by_notice = {notice.value: sum(1 for n, _ in due if n == notice) for notice in Notice}
        return len({key.pk for _, key in due}), by_notice

    if dry_run:
        due = due_notices(now, within)
        keys, by_notice = counts(due)
        return NoticeRun(keys=keys, emails=len(_per_user(due)), by_notice=by_notice)
    queued, failed = 0, []
    with transaction.atomic():
        due = _claim(now, within)
        for user, notices in sorted(_per_user(due).items(), key=lambda item: item[0].email):
            result = enqueue_email(
                user,
                key_notices_email,
                notices=[[notice.value, str(key.pk)] for notice, key in notices],
                now=now.isoformat(),
            )
            if result.status == TaskResultStatus.FAILED:  # a backend that runs tasks at once
                log.warning(
                    "Key notice to %s not sent: %s", user.email, result.errors[-1].exception_class_path
                )
                failed.append(user.email)
            else:
                queued += 1
    keys, by_notice = counts(due)
    return NoticeRun(keys=keys, emails=queued, failed=tuple(failed), by_notice=by_notice)
