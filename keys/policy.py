"""The organization's security policy for its keys, set on Settings → Security.

* ``rotation_policy_days``: a key whose secret is older than this is *rotation due*;
* ``max_key_lifetime_days``: every new key must expire within this many days (none: no limit);
* ``require_ip_allowlist``: every new key must be limited to at least one allowed network;
* ``leak_policy``: what happens at once to a key whose live secret is reported leaked (revoke it,
  the default; disable it; or only flag it exposed): ``keys.leaks`` applies it.

The policy is enforced here for every door that creates keys (the portal, REST, GraphQL, the
``create_api_key`` command): :func:`check_new_key` is called by ``services.create_key``. Changing the
policy never touches existing keys; :func:`outside_filter` finds the ones it leaves behind, so the
portal can show them and ``notify_expiring_keys`` can tell their managers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from functools import reduce
from operator import or_
from typing import TYPE_CHECKING, Literal, overload

from django.db.models import F, Q, TextField, Value
from django.db.models.functions import Cast
from django.db.models.lookups import Contains
from django.utils import timezone

from accounts import permissions
from accounts.actors import Actor
from accounts.models import LeakPolicy, Organization
from audit.models import AuditAction
from audit.services import door_transaction, record_event
from keys.errors import ErrorCode, ServiceError
from keys.refusals import forbidden

if TYPE_CHECKING:
    from keys.models import ApiKey

MAX_EXPIRY_DAYS = 3650
#: The networks that span a whole address family, as allowed networks are written: under a policy
#: that requires allowed networks, a key limited to one of them is limited to nothing.
EVERYWHERE = ("0.0.0.0/0", "::/0")
#: A filter that matches nothing (Django answers it without a query).
NOTHING = Q(pk__in=[])


@dataclass(frozen=True)
class SecurityPolicy:
    rotation_policy_days: int = 90
    max_key_lifetime_days: int | None = None
    require_ip_allowlist: bool = False
    leak_policy: str = LeakPolicy.REVOKE

    FIELDS = ("rotation_policy_days", "max_key_lifetime_days", "require_ip_allowlist", "leak_policy")
    #: The rules every new key must follow: changing one may leave existing keys outside them.
    KEY_RULES = ("rotation_policy_days", "max_key_lifetime_days", "require_ip_allowlist")

    @classmethod
    def of(cls, organization: Organization) -> SecurityPolicy:
        return cls(**{name: getattr(organization, name) for name in cls.FIELDS})

    @classmethod
    def of_organization(cls, organization_id: int) -> SecurityPolicy:
        """The policy as stored now (one query for its fields only)."""
        return cls(**Organization.objects.values(*cls.FIELDS).get(pk=organization_id))

    @property
    def longest_expiry_days(self) -> int:
        """The longest expiry a new key may be given."""
        return self.max_key_lifetime_days or MAX_EXPIRY_DAYS

    @property
    def allows_no_expiry(self) -> bool:
        return self.max_key_lifetime_days is None

    def describe(self) -> list[str]:
        """The rules for new keys, as sentences (for forms and refusals)."""
        rules = []
        if self.max_key_lifetime_days:
            rules.append(f"every key must expire within {self.max_key_lifetime_days} days")
        if self.require_ip_allowlist:
            rules.append("every key must be limited to at least one allowed network")
        return rules


def check_new_key(policy: SecurityPolicy, *, expires_in_days: int | None, allowed_ips: list[str]) -> None:
    """Refuse a new key that the organization's policy does not allow, saying why."""
    limit = policy.max_key_lifetime_days
    if limit is not None and (expires_in_days is None or expires_in_days > limit):
        asked = "never to expire" if expires_in_days is None else f"to expire in {expires_in_days} days"
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR,
            f"Your organization's security policy requires every key to expire within {limit} days; "
            f"this one was asked {asked}.",
            field="expires_in_days",
        )
    if policy.require_ip_allowlist and not allowed_ips:
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR,
            "Your organization's security policy requires every key to be limited to at least one "
            "allowed network: add the addresses or CIDR ranges it will be used from.",
            field="allowed_ips",
        )
    everywhere = [n for n in allowed_ips if n in EVERYWHERE] if policy.require_ip_allowlist else []
    if everywhere:
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR,
            f"{' and '.join(everywhere)} {'spans' if len(everywhere) == 1 else 'span'} every address, "
            "which limits nothing: your organization's security policy requires every key to be "
            "limited to the networks it will be used from.",
            field="allowed_ips",
        )


# ---- existing keys the policy leaves behind ----


def lifetime_filter(policy: SecurityPolicy) -> Q:
    """Keys that never expire or live longer than the maximum lifetime (counted from creation)."""
    if policy.max_key_lifetime_days is None:
        return NOTHING
    longest = timedelta(days=policy.max_key_lifetime_days)
    return Q(expires_at__isnull=True) | Q(expires_at__gt=F("created_at") + longest)


def network_filter(policy: SecurityPolicy) -> Q:
    """Keys usable from anywhere while the policy requires allowed networks: none listed, or one
    that spans a whole address family. The list is stored in one written form, so such an entry is
    the quoted string in its JSON text (JSON containment is not portable: SQLite has none)."""
    if not policy.require_ip_allowlist:
        return NOTHING
    text = Cast("allowed_ips", output_field=TextField())
    return reduce(or_, [Q(allowed_ips=[]), *(Q(Contains(text, Value(f'"{n}"'))) for n in EVERYWHERE)])


def outside_filter(policy: SecurityPolicy) -> Q:
    """A filter on ``ApiKey`` for keys that break the policy (apply it to keys still in use)."""
    rules = [rule for rule in (lifetime_filter(policy), network_filter(policy)) if rule != NOTHING]
    return reduce(or_, rules) if rules else NOTHING


def breaches(policy: SecurityPolicy, key: ApiKey) -> list[str]:
    """How one key breaks the policy, as short phrases (empty: it does not)."""
    found = []
    limit = policy.max_key_lifetime_days
    if limit is not None:
        if key.expires_at is None:
            found.append(f"never expires (the policy allows {limit} days)")
        elif key.expires_at - key.created_at > timedelta(days=limit):
            found.append(f"lives {(key.expires_at - key.created_at).days} days (the policy allows {limit})")
    if policy.require_ip_allowlist and (not key.allowed_ips or set(key.allowed_ips) & set(EVERYWHERE)):
        found.append("works from anywhere (the policy requires allowed networks)")
    return found


# ---- changing the policy ----


@overload
def _clean_days(value: object, *, field: str, label: str, optional: Literal[False]) -> int: ...
@overload
def _clean_days(value: object, *, field: str, label: str, optional: bool) -> int | None: ...
def _clean_days(value: object, *, field: str, label: str, optional: bool) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_EXPIRY_DAYS:
        more = ", or empty for no limit" if optional else ""
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR,
            f"{label} must be a whole number of days from 1 to {MAX_EXPIRY_DAYS}{more}.",
            field=field,
        )
    return value


def _clean_leak_policy(value: object) -> str:
    if value not in LeakPolicy.values:
        choices = ", ".join(f"{choice.value} ({choice.label.lower()})" for choice in LeakPolicy)
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR,
            f"The leak policy must be one of: {choices}.",
            field="leak_policy",
        )
    return str(value)


def do_update_policy(
    *,
    actor: Actor,
    rotation_policy_days: int,
    max_key_lifetime_days: int | None,
    require_ip_allowlist: bool,
    leak_policy: str | None = None,
) -> dict[str, list]:
    """:func:`update_policy`, inside the caller's transaction. ``leak_policy`` None: unchanged."""
    wanted = SecurityPolicy(
        rotation_policy_days=_clean_days(
            rotation_policy_days, field="rotation_policy_days", label="The rotation period", optional=False
        ),
        max_key_lifetime_days=_clean_days(
            max_key_lifetime_days,
            field="max_key_lifetime_days",
            label="The maximum key lifetime",
            optional=True,
        ),
        require_ip_allowlist=bool(require_ip_allowlist),
        leak_policy=LeakPolicy.REVOKE if leak_policy is None else _clean_leak_policy(leak_policy),
    )
    if not permissions.may_edit_security_policy(actor):
        raise forbidden(
            actor,
            "change security policy",
            "Only an Advanced Admin of the whole organization may change its security policy.",
        )
    organization = Organization.objects.select_for_update().get(pk=actor.organization_id)
    before = SecurityPolicy.of(organization)
    if leak_policy is None:
        wanted = replace(wanted, leak_policy=before.leak_policy)
    changes = {
        name: [getattr(before, name), getattr(wanted, name)]
        for name in SecurityPolicy.FIELDS
        if getattr(before, name) != getattr(wanted, name)
    }
    if not changes:
        return {}
    for name, (_, after) in changes.items():
        setattr(organization, name, after)
    updated = list(changes)
    if any(name in SecurityPolicy.KEY_RULES for name in changes):
        # Existing keys may now be outside the rules: notify_expiring_keys announces this change.
        organization.policy_updated_at = timezone.now()
        updated.append("policy_updated_at")
    organization.save(update_fields=updated)
    record_event(actor=actor, action=AuditAction.POLICY_UPDATED, details=changes)
    return changes


def update_policy(
    *,
    actor: Actor,
    rotation_policy_days: int,
    max_key_lifetime_days: int | None,
    require_ip_allowlist: bool,
    leak_policy: str | None = None,
) -> dict[str, list]:
    """Change the actor's organization's policy; returns the changes as ``{field: [before, after]}``
    (also the audit event's details). Existing keys are not touched."""
    with door_transaction():
        return do_update_policy(
            actor=actor,
            rotation_policy_days=rotation_policy_days,
            max_key_lifetime_days=max_key_lifetime_days,
            require_ip_allowlist=require_ip_allowlist,
            leak_policy=leak_policy,
        )
