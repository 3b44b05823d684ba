"""Leak response: a secret found where it should not be is named and neutralised at once.

A report says "this secret was found at this address" (GitHub's secret scanning partner program,
or ``manage.py report_leaked_secret`` for a leak found by other means). For a *live* secret of a
key (its current secret, or the one kept for a grace period, of a key neither revoked nor expired),
in one transaction:

* the organization's leak policy is applied through the key rules themselves
  (``services.do_revoke_key``, ``services.do_set_disabled``), as the system, so the same checks,
  locks, audit events and cache invalidation hold as when a member does it;
* the key is flagged *exposed* with the reason "reported leaked at <url> on <date>" and the address
  kept (a revoked key exposes nothing any more: it keeps the reason only); with the "flag" policy it
  stays exposed until it is regenerated;
* every key made or regenerated through it is flagged exposed too (whoever holds the leaked secret
  could have made them: ``keys.lineage``);
* one ``key.leak_reported`` event names the key, the address, and the action taken;
* everyone who may manage the key is emailed, through the task queue (``keys.leak_emails``): the
  email tasks are written in the same transaction, and sent by the worker, never by the request.

A report is idempotent: the same secret reported again from the same address finds the key already
flagged from there (or no longer live, once revoked) and changes nothing. A secret that is not live
changes nothing either: it is a *false positive* for the scanner that reported it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.actors import Actor
from accounts.models import LeakPolicy
from audit.models import AuditAction
from audit.services import door_transaction, record_event
from keys import credentials, leak_emails, lineage, selectors, services, state
from keys.errors import ErrorCode, ServiceError
from keys.models import MAX_SOURCE_URL_LENGTH, ApiKey
from keys.policy import SecurityPolicy


class LeakAction(StrEnum):
    """What a report did to the key, by the organization's leak policy."""

    REVOKED = "revoked"
    DISABLED = "disabled"
    FLAGGED = "flagged"


ACTION_BY_POLICY = {
    LeakPolicy.REVOKE: LeakAction.REVOKED,
    LeakPolicy.DISABLE: LeakAction.DISABLED,
    LeakPolicy.FLAG: LeakAction.FLAGGED,
}


@dataclass(frozen=True)
class LeakPlan:
    """What a report of a secret does, decided before anything is written (``--dry-run`` shows it)."""

    match: selectors.SecretMatch | None  # None: the secret is no key's
    live: bool = False  # a live secret of the key: a true positive
    repeated: bool = False  # already reported from this address: nothing to do again
    action: LeakAction | None = None  # what the policy does; None when nothing will be done

    @property
    def key(self) -> ApiKey | None:
        return self.match.key if self.match else None


@dataclass(frozen=True)
class LeakReport:
    """What a report did. ``action`` None: nothing changed (no key's secret, not live, or repeated)."""

    plan: LeakPlan
    action: LeakAction | None = None
    flagged: list[ApiKey] = field(default_factory=list)  # keys made through it, flagged exposed too

    @property
    def key(self) -> ApiKey | None:
        return self.plan.key

    @property
    def live(self) -> bool:
        return self.plan.live


def clean_source_url(source_url: object) -> str:
    """The address the secret was found at: an http(s) URL of at most 2,000 characters."""
    url = source_url.strip() if isinstance(source_url, str) else ""
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR,
            "Give the address where the secret was found, as an http:// or https:// URL.",
            field="url",
        ) from None
    if len(url) > MAX_SOURCE_URL_LENGTH:
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR,
            f"The address is over {MAX_SOURCE_URL_LENGTH:,} characters long.",
            field="url",
        )
    return url


def _already_reported(match: selectors.SecretMatch, source_url: str) -> bool:
    key = match.key
    flagged_at = key.previous_exposed_at if match.previous else key.exposed_at
    return flagged_at is not None and key.exposed_source_url == source_url


@sensitive_variables("secret")
def plan_leak_response(*, secret: str, source_url: str, lock: bool = False) -> LeakPlan:
    """What reporting ``secret`` (well formed) as found at ``source_url`` does now. ``lock``: the
    key's row is locked first (inside the transaction that then applies the plan)."""
    keys = ApiKey.objects.all()
    match = selectors.key_of_secret(keys, secret)
    if match is None:
        return LeakPlan(None)
    if lock:
        locked = (
            ApiKey.objects.select_for_update(of=("self",))
            .select_related("organization", "application", "account")
            .get(pk=match.key.pk)
        )
        match = selectors.SecretMatch(locked, previous=match.previous)
    if not match.live(timezone.now()):
        return LeakPlan(match)
    if _already_reported(match, source_url):
        return LeakPlan(match, live=True, repeated=True)
    policy = SecurityPolicy.of(match.key.organization).leak_policy
    return LeakPlan(match, live=True, action=ACTION_BY_POLICY[LeakPolicy(policy)])


def _flag_key(match: selectors.SecretMatch, action: LeakAction, source_url: str) -> None:
    """The leaked secret's key: exposed since now, unless revoked (which exposes nothing)."""
    now = timezone.now()
    changes: dict[str, object] = {
        "exposed_reason": state.leak_reason(source_url, now),
        "exposed_source_url": source_url,
    }
    if action != LeakAction.REVOKED:
        flag = "previous_exposed_at" if match.previous else "exposed_at"
        if getattr(match.key, flag) is None:
            changes[flag] = now
    ApiKey.objects.filter(pk=match.key.pk).update(**changes)


def _flag_children(key: ApiKey, source_url: str) -> list[ApiKey]:
    """Every key in use made or regenerated through the leaked key (and theirs), locked and flagged
    exposed, each with the key it was made through."""
    now = timezone.now()
    children = lineage.exposed_through([key], now=now)
    if not children:
        return []
    list(
        ApiKey.objects.filter(pk__in=[c.key.pk for c in children])
        .select_for_update(of=("self",))
        .values_list("pk", flat=True)
    )
    for child in children:  # a chain rarely holds more than a key or two
        flag = "exposed_at" if child.current else "previous_exposed_at"
        changes: dict[str, object] = {
            "exposed_reason": state.leak_through_reason(
                child.parent.name, child.parent.client_id, source_url, now
            ),
            "exposed_source_url": source_url,
        }
        if getattr(child.key, flag) is None:
            changes[flag] = now
        ApiKey.objects.filter(pk=child.key.pk).update(**changes)
    return [c.key for c in children]


@sensitive_variables("secret")
def do_report_leaked_secret(*, secret: str, source_url: str, source: str) -> LeakReport:
    """:func:`report_leaked_secret`, inside the caller's transaction."""
    plan = plan_leak_response(secret=secret, source_url=source_url, lock=True)
    if plan.match is None or plan.action is None:
        return LeakReport(plan)
    key = plan.match.key
    actor = Actor.system(key.organization_id, label=source[:200])
    if plan.action == LeakAction.REVOKED:
        services.do_revoke_key(actor=actor, key=key)
    elif plan.action == LeakAction.DISABLED:
        services.do_set_disabled(actor=actor, key=key, disabled=True)
    _flag_key(plan.match, plan.action, source_url)
    flagged = _flag_children(key, source_url)
    flagged_names = [f"{k.name} ({k.client_id})" for k in flagged]
    event = record_event(
        actor=actor,
        action=AuditAction.KEY_LEAK_REPORTED,
        key=key,
        details={
            "source_url": source_url,
            "action": plan.action.value,
            "secret": plan.match.which,
            "reported_by": source,
            "flagged_keys": flagged_names,
        },
    )
    leak_emails.enqueue_leak_emails(
        key,
        source_url=source_url,
        action=plan.action.value,
        secret=plan.match.which,
        reported_at=event.occurred_at,
        reported_by=source,
        flagged=flagged_names,
    )
    key.refresh_from_db()
    return LeakReport(plan, action=plan.action, flagged=flagged)


@sensitive_variables("secret")
def report_leaked_secret(*, secret: str, source_url: str, source: str = "leak report") -> LeakReport:
    """Apply the leak response to ``secret`` found at ``source_url``, reported by ``source`` (who
    the audit log names as the actor: "GitHub secret scanning", a command). A ServiceError for a
    malformed secret or address; otherwise the report, which may have changed nothing."""
    url = clean_source_url(source_url)
    cleaned = services.clean_secret(secret)
    with door_transaction():
        return do_report_leaked_secret(secret=cleaned, source_url=url, source=source)


def is_ours(token: object) -> bool:
    """Whether a reported token has the shape and checksum of a Client Secret of this portal."""
    return isinstance(token, str) and credentials.is_well_formed_secret(token)
