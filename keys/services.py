"""The key lifecycle: every write to an API key, and every check of a presented secret.

Portal views, the REST API, the Django admin and the management commands all call these functions;
none of them touches a digest. Each write runs in one transaction of its own (``durable``: never
inside a caller's, whose rollback could undo a change the verification cache already forgot)
together with its audit event, and the access policy (``accounts.permissions``) and the role and
scope rules are enforced here whoever the caller is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts import permissions
from accounts.actors import Actor
from accounts.models import Account, Application, Organization, Role
from audit.models import AuditAction
from audit.services import record_denied, record_event
from keys import credentials, lineage, networks
from keys.errors import ServiceError
from keys.hotpath.verification import VerifiedKey, check_secret, verified_keys, verify_secret
from keys.models import ApiKey, KeyStatus
from keys.names import clean_name, fingerprint
from keys.policy import MAX_EXPIRY_DAYS, SecurityPolicy, check_new_key
from keys.scopes import canonical_scope

MAX_GRACE_PERIOD = timedelta(days=7)


@dataclass(frozen=True)
class IssuedKey:
    """A key and its secret, returned once to the caller that must show it once."""

    key: ApiKey
    secret: str

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return f"IssuedKey(key={self.key.pk}, secret='***')"


def _deny(actor: Actor, what: str, message: str, key: ApiKey | None = None, **details: Any) -> ServiceError:
    # The refusal is recorded outside the caller's transaction so that it survives its rollback.
    record_denied(actor=actor, what=what, key=key, details=details)
    return ServiceError("forbidden", message, status=403)


# ---- validation shared by create and update ----


def expiry_from_days(days: int | None, *, now: datetime) -> datetime | None:
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_EXPIRY_DAYS:
        raise ServiceError(
            "validation_error",
            f"Expiry must be between 1 and {MAX_EXPIRY_DAYS} days, or never.",
            field="expires_in_days",
        )
    return now + timedelta(days=days)


def clean_scopes(application: Application, role: int, scopes: list[str] | None) -> list[str]:
    if not scopes:
        raise ServiceError("validation_error", "Choose at least one scope.", field="scopes")
    wanted = list(dict.fromkeys(canonical_scope(str(s)) for s in scopes))
    catalogue = {str(s): s for s in application.scopes.all()}
    unknown = [s for s in wanted if s not in catalogue]
    if unknown:
        raise ServiceError(
            "invalid_scope",
            f"Not in the {application.name} catalogue: {', '.join(unknown)}.",
            field="scopes",
        )
    too_high = [s for s in wanted if catalogue[s].min_role > role]
    if too_high:
        raise ServiceError(
            "invalid_scope",
            f"A {Role(role).label} key may not carry {', '.join(too_high)}.",
            field="scopes",
        )
    order = list(catalogue)
    return sorted(wanted, key=order.index)


def _name_taken(organization_id: int, name: str, *, exclude_pk: UUID | None = None) -> bool:
    """Whether a live key of the organization has this name, as people read it (keys.names)."""
    live = ApiKey.objects.filter(
        organization_id=organization_id, revoked_at__isnull=True, name_fingerprint=fingerprint(name)
    )
    if exclude_pk is not None:
        live = live.exclude(pk=exclude_pk)
    return live.exists()


def _name_taken_error(name: str) -> ServiceError:
    return ServiceError(
        "name_taken", f"A key named “{name}” already exists. Choose another name.", field="name"
    )


def quota_message(in_use: int, limit: int) -> str:
    return f"{in_use} of {limit} keys in use — revoke a key or upgrade the plan."


# ---- the lifecycle ----


@sensitive_variables("secret")
def create_key(
    *,
    actor: Actor,
    application: Application,
    account: Account,
    role: int,
    name: str,
    scopes: list[str],
    expires_in_days: int | None = None,
    rate_limit: int | None = None,
    allowed_ips: list[str] | None = None,
) -> IssuedKey:
    """Create a key; the returned secret exists nowhere else. ``allowed_ips``: the networks it may
    be used from (addresses or CIDR ranges, at most 32); none means anywhere."""
    now = timezone.now()
    if (
        application.organization_id != actor.organization_id
        or account.organization_id != actor.organization_id
    ):
        raise ServiceError("not_found", "No such application or account in your organization.", status=404)
    try:
        role = Role(int(role))
    except (TypeError, ValueError):
        raise ServiceError("validation_error", "Unknown role.", field="role") from None
    name = clean_name(name)
    expires_at = expiry_from_days(expires_in_days, now=now)
    allowed = networks.clean_networks(allowed_ips)
    if rate_limit is not None and (isinstance(rate_limit, bool) or not 1 <= int(rate_limit) <= 1_000_000):
        raise ServiceError(
            "validation_error", "The rate limit must be 1 to 1,000,000 per minute.", field="rate_limit"
        )
    if not permissions.may_create_key(actor, role=role, account=account):
        raise _deny(
            actor,
            "create key",
            f"You may not create a {role.label} key on {account.name}.",
            role=int(role),
            account=account.name,
        )
    scopes = clean_scopes(application, role, scopes)
    # A key creating a key: the child can never be wider than its parent.
    parent = lineage.parent_of(actor)
    if parent is not None:
        try:
            expires_at = lineage.bounded_expiry(parent, expires_at, now=now)
            lineage.check_child(
                parent, application=application, scopes=scopes, expires_at=expires_at, allowed_ips=allowed
            )
        except lineage.ExceedsParentKey as refused:
            record_denied(actor=actor, what="create key", details={"reason": refused.message})
            raise

    environment = application.environment
    secret = credentials.new_secret(environment)
    pepper = credentials.current_pepper()
    try:
        with transaction.atomic(durable=True):
            # Lock the organization row: concurrent creations queue here, so the count below and
            # the insert after it cannot race past the plan's key limit.
            organization = Organization.objects.select_for_update().get(pk=actor.organization_id)
            check_new_key(
                SecurityPolicy.of(organization), expires_in_days=expires_in_days, allowed_ips=allowed
            )
            limit = organization.key_limit
            if limit is not None:
                in_use = ApiKey.objects.filter(organization=organization).in_use(now).count()
                if in_use >= limit:
                    raise ServiceError(
                        "key_limit_reached", quota_message(in_use, limit), status=403, field="__all__"
                    )
            if _name_taken(organization.pk, name):
                raise _name_taken_error(name)
            key = ApiKey.objects.create(
                organization=organization,
                application=application,
                account=account,
                role=role,
                name=name,
                scopes=scopes,
                client_id=credentials.new_client_id(environment),
                secret_digest=credentials.digest(secret, pepper),
                pepper_id=pepper.id,
                expires_at=expires_at,
                allowed_ips=allowed,
                rate_limit_override=rate_limit,
                created_at=now,
                created_by=actor.user if actor.user is not None else None,
                created_by_key=parent,
                secret_seen_by=actor.user if actor.user is not None else None,
                secret_seen_by_label=actor.label[:200],
                secret_seen_through=parent,
                # Whoever saw an exposed parent's secret could have made this key.
                exposed_at=now if parent is not None and parent.exposed else None,
                exposed_reason=(
                    f"created by the exposed key {parent.name} ({parent.client_id})"[:300]
                    if parent is not None and parent.exposed
                    else ""
                ),
            )
            record_event(
                actor=actor,
                action=AuditAction.KEY_CREATED,
                key=key,
                details={
                    "name": name,
                    "application": application.slug,
                    "role": role.label,
                    "account": account.name,
                    "scopes": scopes,
                    "expires_at": expires_at.isoformat() if expires_at else None,
                    "allowed_ips": allowed,
                },
            )
    except IntegrityError as exc:
        # Only the live-name constraint can fire here: the organization lock serializes the rest.
        raise _name_taken_error(name) from exc
    return IssuedKey(key=key, secret=secret)


def _forget_verified(key_id: UUID) -> None:
    """Drop this process's cached verification now and again at commit: a request served between
    the two could have cached the state from before this write."""
    verified_keys.drop_key(key_id)
    transaction.on_commit(lambda: verified_keys.drop_key(key_id))


def _locked(key: ApiKey) -> ApiKey:
    return (
        ApiKey.objects.select_for_update(of=("self",))
        .select_related("organization", "application", "account")
        .get(pk=key.pk)
    )


@sensitive_variables("secret")
def regenerate_key(*, actor: Actor, key: ApiKey, grace_period: timedelta = timedelta(0)) -> IssuedKey:
    """Issue a new secret. The old one stops at once, or after ``grace_period`` (at most 7 days,
    never past the key's own expiry)."""
    if not timedelta(0) <= grace_period <= MAX_GRACE_PERIOD:
        raise ServiceError(
            "validation_error",
            "The grace period must be between 0 seconds and 7 days.",
            field="grace_period_seconds",
        )
    if not permissions.may_manage_key(actor, key):
        raise _deny(actor, "regenerate key", "You may not regenerate this key.", key=key)
    # A key would hold the new secret: never of a key wider than itself.
    parent = lineage.parent_of(actor)
    if parent is not None and parent.pk != key.pk:
        try:
            lineage.check_child(
                parent,
                application=key.application,
                scopes=key.scopes,
                expires_at=key.expires_at,
                allowed_ips=key.allowed_ips,
                verb="regenerate",
            )
        except lineage.ExceedsParentKey as refused:
            record_denied(actor=actor, what="regenerate key", key=key, details={"reason": refused.message})
            raise
    secret = credentials.new_secret(key.application.environment)
    pepper = credentials.current_pepper()
    with transaction.atomic(durable=True):
        locked = _locked(key)
        now = timezone.now()
        if locked.status_at(now) != KeyStatus.ACTIVE:
            # 409: the request is well-formed; the key's state forbids it.
            raise ServiceError(
                "key_not_active",
                f"This key is {locked.status_at(now)}; it cannot be regenerated. Create a new key instead.",
                status=409,
            )
        if grace_period > timedelta(0):
            ends = now + grace_period
            if locked.expires_at is not None:
                ends = min(ends, locked.expires_at)
            # The old secret lives on for the grace period, and with it who saw it and whether a
            # deactivated member did.
            locked.previous_digest = locked.secret_digest
            locked.previous_pepper_id = locked.pepper_id
            locked.previous_expires_at = ends
            locked.previous_secret_seen_by_id = locked.secret_seen_by_id
            locked.previous_secret_seen_through_id = locked.secret_seen_through_id
            locked.previous_exposed_at = locked.exposed_at
        else:
            locked.previous_digest = None
            locked.previous_pepper_id = ""
            locked.previous_expires_at = None
            locked.previous_secret_seen_by_id = None
            locked.previous_secret_seen_through_id = None
            locked.previous_exposed_at = None
        locked.secret_digest = credentials.digest(secret, pepper)
        locked.pepper_id = pepper.id
        locked.regenerated_at = now
        # The new secret is seen by this actor only.
        locked.secret_seen_by = actor.user if actor.user is not None else None
        locked.secret_seen_by_label = actor.label[:200]
        locked.secret_seen_through = parent
        locked.exposed_at = None
        if parent is not None and parent.exposed:
            locked.exposed_at = now
            locked.exposed_reason = f"regenerated by the exposed key {parent.name} ({parent.client_id})"[:300]
        elif locked.previous_exposed_at is None:
            locked.exposed_reason = ""
        locked.save(
            update_fields=[
                "previous_digest",
                "previous_pepper_id",
                "previous_expires_at",
                "previous_secret_seen_by",
                "previous_secret_seen_through",
                "previous_exposed_at",
                "secret_digest",
                "pepper_id",
                "regenerated_at",
                "secret_seen_by",
                "secret_seen_by_label",
                "secret_seen_through",
                "exposed_at",
                "exposed_reason",
            ]
        )
        record_event(
            actor=actor,
            action=AuditAction.KEY_REGENERATED,
            key=locked,
            details={
                "grace_period_seconds": int(grace_period.total_seconds()),
                "old_secret_valid_until": (
                    locked.previous_expires_at.isoformat() if locked.previous_expires_at else None
                ),
            },
        )
        _forget_verified(locked.pk)
    return IssuedKey(key=locked, secret=secret)


def revoke_key(*, actor: Actor, key: ApiKey) -> ApiKey:
    """Irreversible and immediate; also ends any grace period. Revoking twice changes nothing."""
    if not permissions.may_manage_key(actor, key):
        raise _deny(actor, "revoke key", "You may not revoke this key.", key=key)
    with transaction.atomic(durable=True):
        locked = _locked(key)
        if locked.revoked_at is not None:
            return locked
        locked.revoked_at = timezone.now()
        locked.revoked_by = actor.user if actor.user is not None else None
        locked.revoked_by_label = actor.label[:200]
        locked.previous_digest = None
        locked.previous_pepper_id = ""
        locked.previous_expires_at = None
        # A revoked key exposes nothing any more: no secret of it works.
        locked.exposed_at = None
        locked.previous_exposed_at = None
        locked.save(
            update_fields=[
                "revoked_at",
                "revoked_by",
                "revoked_by_label",
                "previous_digest",
                "previous_pepper_id",
                "previous_expires_at",
                "exposed_at",
                "previous_exposed_at",
            ]
        )
        record_event(actor=actor, action=AuditAction.KEY_REVOKED, key=locked, details={"name": locked.name})
        _forget_verified(locked.pk)
    return locked


def _set_disabled(*, actor: Actor, key: ApiKey, disabled: bool) -> ApiKey:
    verb = "disable" if disabled else "enable"
    if not permissions.may_manage_key(actor, key):
        raise _deny(actor, f"{verb} key", f"You may not {verb} this key.", key=key)
    with transaction.atomic(durable=True):
        locked = _locked(key)
        status = locked.status_at(timezone.now())
        wanted, allowed_from = (
            (KeyStatus.DISABLED, KeyStatus.ACTIVE) if disabled else (KeyStatus.ACTIVE, KeyStatus.DISABLED)
        )
        if status == wanted:
            return locked  # asking twice changes nothing
        if status != allowed_from:
            raise ServiceError(
                "key_not_active",
                f"This key is {status}; it cannot be {verb}d. Create a new key instead.",
                status=409,
            )
        locked.disabled_at = timezone.now() if disabled else None
        locked.save(update_fields=["disabled_at"])
        record_event(
            actor=actor,
            action=AuditAction.KEY_DISABLED if disabled else AuditAction.KEY_ENABLED,
            key=locked,
            details={"name": locked.name},
        )
        _forget_verified(locked.pk)
    return locked


def disable_key(*, actor: Actor, key: ApiKey) -> ApiKey:
    """Pause a key at once, its grace-period secret too; ``enable_key`` brings the same secret back.
    Other workers refuse it within ``KEY_CACHE_TTL_SECONDS``, as after a revocation."""
    return _set_disabled(actor=actor, key=key, disabled=True)


def enable_key(*, actor: Actor, key: ApiKey) -> ApiKey:
    """Resume a disabled key with the secret it had. A revoked or expired key stays so (409)."""
    return _set_disabled(actor=actor, key=key, disabled=False)


def update_key(
    *,
    actor: Actor,
    key: ApiKey,
    name: str | None = None,
    expires_at: datetime | None = None,
    allowed_ips: list[str] | None = None,
) -> ApiKey:
    """Rename a key, bring its expiry earlier or narrow its allowed networks; nothing else about a
    deployed key can change, and none of its powers can grow."""
    if not permissions.may_manage_key(actor, key):
        raise _deny(actor, "update key", "You may not change this key.", key=key)
    changes: dict[str, list[Any]] = {}  # field: [before, after], as the audit event records them
    try:
        with transaction.atomic(durable=True):
            locked = _locked(key)
            now = timezone.now()
            if locked.revoked_at is not None:
                raise ServiceError("validation_error", "A revoked key cannot be changed.")
            if name is not None:
                new_name = clean_name(name)
                if new_name != locked.name:
                    if _name_taken(locked.organization_id, new_name, exclude_pk=locked.pk):
                        raise _name_taken_error(new_name)
                    changes["name"] = [locked.name, new_name]
                    locked.name = new_name
            if expires_at is not None:
                if expires_at <= now:
                    raise ServiceError(
                        "validation_error", "The new expiry must be in the future.", field="expires_at"
                    )
                if expires_at > now + timedelta(days=MAX_EXPIRY_DAYS):
                    raise ServiceError(
                        "validation_error",
                        f"The expiry can be at most {MAX_EXPIRY_DAYS} days from now.",
                        field="expires_at",
                    )
                if locked.expires_at is not None and expires_at > locked.expires_at:
                    raise ServiceError(
                        "validation_error",
                        "Expiry can only be brought earlier; create a new key for a longer life.",
                        field="expires_at",
                    )
                changes["expires_at"] = [
                    locked.expires_at.isoformat() if locked.expires_at else None,
                    expires_at.isoformat(),
                ]
                locked.expires_at = expires_at
                if locked.previous_expires_at is not None and locked.previous_expires_at > expires_at:
                    locked.previous_expires_at = expires_at
            if allowed_ips is not None:
                allowed = networks.clean_networks(allowed_ips)
                if allowed != locked.allowed_ips:
                    _refuse_widening(locked.allowed_ips, allowed)
                    changes["allowed_ips"] = [list(locked.allowed_ips), allowed]
                    locked.allowed_ips = allowed
            if not changes:
                return locked
            locked.save(
                update_fields=["name", "name_fingerprint", "expires_at", "previous_expires_at", "allowed_ips"]
            )
            record_event(actor=actor, action=AuditAction.KEY_UPDATED, key=locked, details=changes)
            _forget_verified(locked.pk)
    except IntegrityError as exc:
        raise _name_taken_error(name or "") from exc
    return locked


def _refuse_widening(old: list[str], new: list[str]) -> None:
    widened = networks.widening(old, new)
    if widened == ["anywhere"]:
        raise ServiceError(
            "validation_error",
            "Removing every allowed network would let the key work from anywhere: a key's powers "
            "can only shrink. Create a new key to use it from anywhere.",
            field=networks.FIELD,
        )
    if widened:
        raise ServiceError(
            "validation_error",
            f"{', '.join(widened)} {'is' if len(widened) == 1 else 'are'} outside the networks the key "
            "may be used from now: the list can only be narrowed (every new entry inside an old one). "
            "Create a new key for other networks.",
            field=networks.FIELD,
        )


@sensitive_variables("presented")
def verify_key(*, presented: str | credentials.PresentedCredentials) -> VerifiedKey | None:
    """The key a presented credential belongs to, if it may be used now: ``<secret>``,
    ``<client_id>:<secret>``, or credentials already read from request headers. None for every kind
    of failure alike (malformed, unknown, wrong secret, expired, revoked: no key enumeration).

    Cheap enough for every API request: see ``keys.hotpath.verification``."""
    parsed = credentials.parse_presented(presented) if isinstance(presented, str) else presented
    if parsed is None:
        return None
    return verify_secret(parsed)


@sensitive_variables("presented")
def check_key(*, presented: credentials.PresentedCredentials) -> tuple[VerifiedKey | None, str]:
    """:func:`verify_key` for credentials read from request headers, with why a refused one was
    refused (``"disabled"`` or ``"unauthorized"``), for /metrics; the answer must not differ."""
    return check_secret(presented)
