"""The email a leak report sends: everyone who may manage the key (the reminders' rule,
``keys.notifications.recipients_for``) is told what leaked, where, what was done and what to do
next, with the one-click link to the key. One email per person per report.

The emails are tasks (``accounts.emails.enqueue_email``), enqueued in the report's own transaction
(rolled back with it, seen by the worker once committed): the partner endpoint answers without
waiting on the mail server. The builder runs in the task worker: it reads the key again by id, so
the email says what is true when it is sent, in the recipient's own time zone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils.dateparse import parse_datetime

from accounts import permissions, timezones
from accounts.actors import Actor
from accounts.catalogue import portal_base_url
from accounts.emails import email_builder, enqueue_email
from accounts.models import User
from keys.models import ApiKey
from keys.notifications import recipients_for

# What was done, and what the recipient should do now, by the action the leak policy took.
NEXT_STEPS = {
    "revoked": (
        "revoked",
        "The key is revoked: every request with it is refused. Create a replacement (on the key's page, "
        "“Create a key like this one”), put its secret where the integration reads it, and remove the "
        "leaked secret from where it was found.",
    ),
    "disabled": (
        "disabled",
        "The key is disabled: requests with it are refused until it is enabled. Enable it and regenerate "
        "it at once (without a grace period), move the integration to the new secret, and remove the "
        "leaked secret from where it was found.",
    ),
    "flagged": (
        "flagged exposed (your organization's policy leaves it working)",
        "The key still works, and so does the leaked secret. Regenerate the key now, without a grace "
        "period, move the integration to the new secret, and remove the leaked secret from where it "
        "was found.",
    ),
}


def managers_of(key: ApiKey) -> list[User]:
    """Everyone who may manage the key now: the reminders' rule."""
    members = User.objects.filter(organization_id=key.organization_id, is_active=True).prefetch_related(
        "memberships__account"
    )
    return recipients_for(key, list(members))


@email_builder
def leak_report_email(
    user: User,
    *,
    key_id: str,
    source_url: str,
    action: str,
    secret: str,
    reported_at: str,
    reported_by: str,
    flagged: list[str] | None = None,
) -> EmailMultiAlternatives | None:
    """The email for one manager of the key, or None when there is nothing to send them any more
    (the key is gone, or they may no longer manage it)."""
    key = ApiKey.objects.select_related("organization", "application", "account").filter(pk=key_id).first()
    if key is None or not permissions.may_manage_key(Actor.for_user(user), key):
        return None
    moment: datetime | None = parse_datetime(reported_at)
    done, advice = NEXT_STEPS.get(action, NEXT_STEPS["flagged"])
    base = portal_base_url()
    subject = f"Leaked API key secret: {key.name} was {action}"
    context: dict[str, Any] = {
        "subject": subject,
        "name": user.get_short_name(),
        "key": key,
        "which": "its previous secret, still in its grace period" if secret == "previous" else "its secret",
        "source_url": source_url,
        "reported_at": timezones.when(moment),
        "reported_by": reported_by,
        "done": done,
        "advice": advice,
        "flagged": flagged or [],
        "url": f"{base}{key.get_absolute_url()}",
        "portal_url": base,
    }
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("keys/email/leak_report.txt", context),
        to=[user.email],
    )
    message.attach_alternative(render_to_string("keys/email/leak_report.html", context), "text/html")
    return message


def enqueue_leak_emails(
    key: ApiKey,
    *,
    source_url: str,
    action: str,
    secret: str,
    reported_at: datetime,
    reported_by: str,
    flagged: list[str],
) -> int:
    """One email task per person who may manage the key; how many were enqueued."""
    recipients = managers_of(key)
    for user in recipients:
        enqueue_email(
            user,
            leak_report_email,
            key_id=str(key.pk),
            source_url=source_url,
            action=action,
            secret=secret,
            reported_at=reported_at.isoformat(),
            reported_by=reported_by,
            flagged=flagged,
        )
    return len(recipients)
