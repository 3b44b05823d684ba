"""The key lifecycle: every write to an API key, and every check of a presented secret.

Portal views, the REST API, the Django admin and the management commands all call these functions;
none of them touches a digest. Each write is a rule (``do_*``) that runs inside its caller's
transaction, so that rules compose, and a door of the same name without ``do_`` that runs it in a
durable transaction of its own (``audit.services.door_transaction``), together with its audit event.
The access policy (``accounts.permissions``) and the role and scope rules are enforced here
whoever the caller is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts import permissions
from accounts.actors import Actor
from accounts.models import Account, Application, Organization, Role
from audit.models import AuditAction
from audit.services import door_transaction, record_event, refuse
from keys import credentials, lineage, networks, selectors, state
from keys.authentication.verification import Check, VerifiedKey, check_secret, verified_keys, verify_secret
from keys.errors import ErrorCode, KeyNotFound, ServiceError
from keys.models import ApiKey
from keys.names import clean_description, clean_name, fingerprint
from keys.policy import MAX_EXPIRY_DAYS, SecurityPolicy, check_new_key
from keys.refusals import forbidden
from keys.scopes import canonical_scope

MAX_GRACE_PERIOD = timedelta(days=7)


@dataclass(frozen=True)
class IssuedKey:
    """A key and its secret, returned once to the caller that must show it once."""

    key: ApiKey
    secret: str

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return f"IssuedKey(key={self.key.pk}, secret='***')"


# ---- validation shared by create and update ----


def expiry_from_days(days: int | None, *, now: datetime) -> datetime | None:
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_EXPIRY_DAYS:
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR,
            f"Expiry must be between 1 and {MAX_EXPIRY_DAYS} days, or never.",
            field="expires_in_days",
        )
    return now + timedelta(days=days)


def clean_scopes(application: Application, role: int, scopes: list[str] | None) -> list[str]:
    if not scopes:
        raise ServiceError(ErrorCode.VALIDATION_ERROR, "Choose at least one scope.", field="scopes")
    wanted = list(dict.fromkeys(canonical_scope(str(s)) for s in scopes))
    catalogue = {str(s): s for s in application.scopes.all()}
    unknown = [s for s in wanted if s not in catalogue]
    if unknown:
        raise ServiceError(
            ErrorCode.INVALID_SCOPE,
            f"Not in the {application.name} catalogue: {', '.join(unknown)}.",
            field="scopes",
        )
    too_high = [s for s in wanted if catalogue[s].min_role > role]
    if too_high:
        raise ServiceError(
            ErrorCode.INVALID_SCOPE,
            f"A {Role(role).label} key may not carry {', '.join(too_high)}.",
            field="scopes",
        )
    order = list(catalogue)
    return sorted(wanted, key=order.index)


def _name_taken(organization_id: int, name: str, *, exclude_pk: UUID | None = None) -> bool:
    """Whether a live key of the organization has this name, as people read it (keys.names)."""
    live = ApiKey.objects.filter(
        state.NOT_REVOKED, organization_id=organization_id, name_fingerprint=fingerprint(name)
    )
    if exclude_pk is not None:
        live = live.exclude(pk=exclude_pk)
    return live.exists()


def _name_taken_error(name: str) -> ServiceError:
    return ServiceError(
        ErrorCode.NAME_TAKEN, f"A key named “{name}” already exists. Choose another name.", field="name"
    )


def quota_message(in_use: int, limit: int) -> str:
    return f"{in_use} of {limit} keys in use — revoke a key or upgrade the plan."


def key_limit_refusal(
    organization: Organization, *, now: datetime | None = None, in_use: int | None = None
) -> str | None:
    """The plan's key limit: None while one more key fits, else why not. ``create_key`` asks it
    under the organization's lock; the pages ask it to disable "+ Add API Key" before a form is
    filled, passing ``in_use`` when they have already counted the keys in use (for the badge)."""
    limit = organization.key_limit
    if limit is None:
        return None
    if in_use is None:
        in_use = ApiKey.objects.filter(organization=organization).in_use(now).count()
    return quota_message(in_use, limit) if in_use >= limit else None


# ---- the lifecycle ----
#
# Each write is a rule, ``do_*``: it checks the request and the access policy, takes the row
# locks it needs and writes the change with its audit event, inside the caller's transaction, so
# that a flow can compose several rules into one all-or-nothing change. Each checks before it
# writes: a refusal leaves nothing written. The doors (pages, API operations, commands) call the
# public names below them, which run the rule in a durable transaction of its own.


def _within_parent(
    actor: Actor, parent: ApiKey, what: str, *, key: ApiKey | None = None, **child: Any
) -> None:
    """A key acting on a key: the child can never be wider than its parent (an audited refusal)."""
    try:
        lineage.check_child(parent, **child)
    except lineage.ExceedsParentKey as refused:
        refuse(refused, actor=actor, what=what, key=key, details={"reason": refused.message})
        raise


def _new_child_expiry(
    actor: Actor, parent: ApiKey, expires_at: datetime | None, now: datetime, **child: Any
) -> datetime | None:
    """A key creating a key: the child's expiry, bounded by the parent's, once the child is known
    to be no wider than its parent."""
    try:
        expires_at = lineage.bounded_expiry(parent, expires_at, now=now)
    except lineage.ExceedsParentKey as refused:
        refuse(refused, actor=actor, what="create key", details={"reason": refused.message})
        raise
    _within_parent(actor, parent, "create key", expires_at=expires_at, **child)
    return expires_at


def _check_same_organization(actor: Actor, application: Application, account: Account) -> None:
    if (
        application.organization_id != actor.organization_id
        or account.organization_id != actor.organization_id
    ):
        raise ServiceError(ErrorCode.NOT_FOUND, "No such application or account in your organization.")


def _clean_role(role: Any) -> Role:  # unchecked input: int() says whether it is a number
    try:
        return Role(int(role))
    except (TypeError, ValueError):
        raise ServiceError(ErrorCode.VALIDATION_ERROR, "Unknown role.", field="role") from None


def _check_rate_limit(rate_limit: int | None) -> None:
    if rate_limit is not None and (isinstance(rate_limit, bool) or not 1 <= int(rate_limit) <= 1_000_000):
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR,
            "The rate limit must be 1 to 1,000,000 per minute.",
            field="rate_limit",
        )


def _lock_for_new_key(
    actor: Actor, *, name: str, expires_in_days: int | None, allowed: list[str], now: datetime
) -> Organization:
    """The actor's organization, locked: concurrent creations queue here, so the count below and
    the insert after it cannot race past the plan's key limit. Refuses what its policy, its plan or
    its live names do not allow."""
    organization = Organization.objects.select_for_update().get(pk=actor.organization_id)
    check_new_key(SecurityPolicy.of(organization), expires_in_days=expires_in_days, allowed_ips=allowed)
    if refusal := key_limit_refusal(organization, now=now):
        raise ServiceError(ErrorCode.KEY_LIMIT_REACHED, refusal, field="__all__")
    if _name_taken(organization.pk, name):
        raise _name_taken_error(name)
    return organization


def _exposed_through(parent: ApiKey | None, verb: str, now: datetime) -> tuple[datetime | None, str]:
    """Whoever saw an exposed parent's secret could have made this key: (exposed_at, reason)."""
    if parent is None or not parent.exposed:
        return None, ""
    return now, state.parent_exposed_reason(verb, parent.name, parent.client_id)


@sensitive_variables("secret")
def do_create_key(
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
    description: str = "",
) -> IssuedKey:
    """:func:`create_key`, inside the caller's transaction. A rename racing it can still raise
    ``IntegrityError`` (the live-name constraint); :func:`create_key` says "name taken"."""
    now = timezone.now()
    _check_same_organization(actor, application, account)
    role = _clean_role(role)
    name = clean_name(name)
    description = clean_description(description)
    expires_at = expiry_from_days(expires_in_days, now=now)
    allowed = networks.clean_networks(allowed_ips)
    _check_rate_limit(rate_limit)
    if not permissions.may_create_key(actor, role=role, account=account):
        raise forbidden(
            actor,
            "create key",
            f"You may not create a {role.label} key on {account.name}.",
            role=int(role),
            account=account.name,
        )
    scopes = clean_scopes(application, role, scopes)
    parent = lineage.parent_of(actor)
    if parent is not None:
        expires_at = _new_child_expiry(
            actor, parent, expires_at, now, application=application, scopes=scopes, allowed_ips=allowed
        )

    environment = application.environment
    secret = credentials.new_secret(environment)
    pepper = credentials.current_pepper()
    organization = _lock_for_new_key(
        actor, name=name, expires_in_days=expires_in_days, allowed=allowed, now=now
    )
    exposed_at, exposed_reason = _exposed_through(parent, "created", now)
    key = ApiKey.objects.create(
        organization=organization,
        application=application,
        account=account,
        role=role,
        name=name,
        description=description,
        scopes=scopes,
        client_id=credentials.new_client_id(environment),
        secret_digest=credentials.digest(secret, pepper),
        pepper_id=pepper.id,
        expires_at=expires_at,
        allowed_ips=allowed,
        rate_limit_override=rate_limit,
        created_at=now,
        created_by=actor.user,
        created_by_key=parent,
        secret_seen_by=actor.user,
        secret_seen_by_label=actor.label[:200],
        secret_seen_through=parent,
        exposed_at=exposed_at,
        exposed_reason=exposed_reason,
    )
    record_event(
        actor=actor,
        action=AuditAction.KEY_CREATED,
        key=key,
        details={
            "name": name,
            **({"description": description} if description else {}),
            "application": application.slug,
            "role": role.label,
            "account": account.name,
            "scopes": scopes,
            "expires_at": expires_at.isoformat() if expires_at else None,
            "allowed_ips": allowed,
        },
    )
    return IssuedKey(key=key, secret=secret)


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
    description: str = "",
) -> IssuedKey:
    """Create a key; the returned secret exists nowhere else. ``allowed_ips``: the networks it may
    be used from (addresses or CIDR ranges, at most 32); none means anywhere."""
    try:
        with door_transaction():
            return do_create_key(
                actor=actor,
                application=application,
                account=account,
                role=role,
                name=name,
                description=description,
                scopes=scopes,
                expires_in_days=expires_in_days,
                rate_limit=rate_limit,
                allowed_ips=allowed_ips,
            )
    except IntegrityError as exc:
        # Only the live-name constraint can fire here: the organization lock serializes the rest.
        raise _name_taken_error(clean_name(name)) from exc


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


def _check_grace_period(grace_period: timedelta) -> None:
    if not timedelta(0) <= grace_period <= MAX_GRACE_PERIOD:
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR,
            "The grace period must be between 0 seconds and 7 days.",
            field="grace_period_seconds",
        )


def _keep_previous_secret(locked: ApiKey, ends: datetime | None) -> None:
    """The old secret lives on until ``ends`` (None: it stops now), and with it who saw it and
    whether a deactivated member did."""
    keep = ends is not None
    locked.previous_digest = locked.secret_digest if keep else None
    locked.previous_pepper_id = locked.pepper_id if keep else ""
    locked.previous_expires_at = ends
    locked.previous_secret_seen_by_id = locked.secret_seen_by_id if keep else None
    locked.previous_secret_seen_through_id = locked.secret_seen_through_id if keep else None
    locked.previous_exposed_at = locked.exposed_at if keep else None


def _grace_period_end(locked: ApiKey, grace_period: timedelta, now: datetime) -> datetime | None:
    """When the old secret stops: never past the key's own expiry; None when there is no grace."""
    if grace_period <= timedelta(0):
        return None
    ends = now + grace_period
    return ends if locked.expires_at is None else min(ends, locked.expires_at)


@sensitive_variables("secret")
def do_regenerate_key(*, actor: Actor, key: ApiKey, grace_period: timedelta = timedelta(0)) -> IssuedKey:
    """:func:`regenerate_key`, inside the caller's transaction."""
    _check_grace_period(grace_period)
    if not permissions.may_manage_key(actor, key):
        raise forbidden(actor, "regenerate key", "You may not regenerate this key.", key=key)
    # A key would hold the new secret: never of a key wider than itself.
    parent = lineage.parent_of(actor)
    if parent is not None and parent.pk != key.pk:
        _within_parent(
            actor,
            parent,
            "regenerate key",
            key=key,
            application=key.application,
            scopes=key.scopes,
            expires_at=key.expires_at,
            allowed_ips=key.allowed_ips,
            verb="regenerate",
        )
    secret = credentials.new_secret(key.application.environment)
    pepper = credentials.current_pepper()
    locked = _locked(key)
    now = timezone.now()
    if not state.allows(locked.status_at(now), state.Action.REGENERATE):
        # 409: the request is well-formed; the key's state forbids it.
        raise ServiceError(
            ErrorCode.KEY_NOT_ACTIVE,
            f"This key is {locked.status_at(now)}; it cannot be regenerated. Create a new key instead.",
        )
    _keep_previous_secret(locked, _grace_period_end(locked, grace_period, now))
    locked.secret_digest = credentials.digest(secret, pepper)
    locked.pepper_id = pepper.id
    locked.regenerated_at = now
    # The new secret is seen by this actor only.
    locked.secret_seen_by = actor.user
    locked.secret_seen_by_label = actor.label[:200]
    locked.secret_seen_through = parent
    locked.exposed_at, reason = _exposed_through(parent, "regenerated", now)
    if reason or locked.previous_exposed_at is None:
        locked.exposed_reason = reason
        locked.exposed_source_url = ""
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
            "exposed_source_url",
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


def regenerate_key(*, actor: Actor, key: ApiKey, grace_period: timedelta = timedelta(0)) -> IssuedKey:
    """Issue a new secret. The old one stops at once, or after ``grace_period`` (at most 7 days,
    never past the key's own expiry)."""
    with door_transaction():
        return do_regenerate_key(actor=actor, key=key, grace_period=grace_period)


def do_revoke_key(*, actor: Actor, key: ApiKey) -> ApiKey:
    """:func:`revoke_key`, inside the caller's transaction."""
    if not permissions.may_manage_key(actor, key):
        raise forbidden(actor, "revoke key", "You may not revoke this key.", key=key)
    locked = _locked(key)
    if not locked.allows(state.Action.REVOKE):
        return locked  # revoked already
    locked.revoked_at = timezone.now()
    locked.revoked_by = actor.user
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


def revoke_key(*, actor: Actor, key: ApiKey) -> ApiKey:
    """Irreversible and immediate; also ends any grace period. Revoking twice changes nothing."""
    with door_transaction():
        return do_revoke_key(actor=actor, key=key)


def do_set_disabled(*, actor: Actor, key: ApiKey, disabled: bool) -> ApiKey:
    """:func:`disable_key` or :func:`enable_key`, inside the caller's transaction."""
    verb = "disable" if disabled else "enable"
    if not permissions.may_manage_key(actor, key):
        raise forbidden(actor, f"{verb} key", f"You may not {verb} this key.", key=key)
    locked = _locked(key)
    status = locked.status_at(timezone.now())
    wanted, action = (
        (state.KeyStatus.DISABLED, state.Action.DISABLE)
        if disabled
        else (state.KeyStatus.ACTIVE, state.Action.ENABLE)
    )
    if status == wanted:
        return locked  # asking twice changes nothing
    if not state.allows(status, action):
        raise ServiceError(
            ErrorCode.KEY_NOT_ACTIVE,
            f"This key is {status}; it cannot be {verb}d. Create a new key instead.",
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
    with door_transaction():
        return do_set_disabled(actor=actor, key=key, disabled=True)


def enable_key(*, actor: Actor, key: ApiKey) -> ApiKey:
    """Resume a disabled key with the secret it had. A revoked or expired key stays so (409)."""
    with door_transaction():
        return do_set_disabled(actor=actor, key=key, disabled=False)


def _rename(locked: ApiKey, name: str) -> dict[str, list]:
    new_name = clean_name(name)
    if new_name == locked.name:
        return {}
    if _name_taken(locked.organization_id, new_name, exclude_pk=locked.pk):
        raise _name_taken_error(new_name)
    change = {"name": [locked.name, new_name]}
    locked.name = new_name
    return change


def _describe(locked: ApiKey, description: str) -> dict[str, list]:
    new_description = clean_description(description)
    if new_description == locked.description:
        return {}
    change = {"description": [locked.description, new_description]}
    locked.description = new_description
    return change


def _bring_expiry_earlier(locked: ApiKey, expires_at: datetime, now: datetime) -> dict[str, list]:
    if expires_at <= now:
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR, "The new expiry must be in the future.", field="expires_at"
        )
    if expires_at > now + timedelta(days=MAX_EXPIRY_DAYS):
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR,
            f"The expiry can be at most {MAX_EXPIRY_DAYS} days from now.",
            field="expires_at",
        )
    if locked.expires_at is not None and expires_at > locked.expires_at:
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR,
            "Expiry can only be brought earlier; create a new key for a longer life.",
            field="expires_at",
        )
    change = {
        "expires_at": [locked.expires_at.isoformat() if locked.expires_at else None, expires_at.isoformat()]
    }
    locked.expires_at = expires_at
    if locked.previous_expires_at is not None and locked.previous_expires_at > expires_at:
        locked.previous_expires_at = expires_at
    return change


def _narrow_networks(locked: ApiKey, allowed_ips: list[str]) -> dict[str, list]:
    allowed = networks.clean_networks(allowed_ips)
    if allowed == locked.allowed_ips:
        return {}
    _refuse_widening(locked.allowed_ips, allowed)
    change = {"allowed_ips": [list(locked.allowed_ips), allowed]}
    locked.allowed_ips = allowed
    return change


def do_update_key(
    *,
    actor: Actor,
    key: ApiKey,
    name: str | None = None,
    expires_at: datetime | None = None,
    allowed_ips: list[str] | None = None,
    description: str | None = None,
) -> ApiKey:
    """:func:`update_key`, inside the caller's transaction. A create or rename racing it can still
    raise ``IntegrityError`` (the live-name constraint); :func:`update_key` says "name taken"."""
    if not permissions.may_manage_key(actor, key):
        raise forbidden(actor, "update key", "You may not change this key.", key=key)
    locked = _locked(key)
    now = timezone.now()
    if not state.allows(locked.status_at(now), state.Action.EDIT):
        raise ServiceError(ErrorCode.VALIDATION_ERROR, "A revoked key cannot be changed.")
    changes: dict[str, list] = {}
    if name is not None:
        changes |= _rename(locked, name)
    if description is not None:
        changes |= _describe(locked, description)
    if expires_at is not None:
        changes |= _bring_expiry_earlier(locked, expires_at, now)
    if allowed_ips is not None:
        changes |= _narrow_networks(locked, allowed_ips)
    if not changes:
        return locked
    locked.save(
        update_fields=[
            "name",
            "name_fingerprint",
            "description",
            "expires_at",
            "previous_expires_at",
            "allowed_ips",
        ]
    )
    record_event(actor=actor, action=AuditAction.KEY_UPDATED, key=locked, details=changes)
    _forget_verified(locked.pk)
    return locked


def update_key(
    *,
    actor: Actor,
    key: ApiKey,
    name: str | None = None,
    expires_at: datetime | None = None,
    allowed_ips: list[str] | None = None,
    description: str | None = None,
) -> ApiKey:
    """Rename a key, describe it, bring its expiry earlier or narrow its allowed networks; nothing
    else about a deployed key can change, and none of its powers can grow."""
    try:
        with door_transaction():
            return do_update_key(
                actor=actor,
                key=key,
                name=name,
                expires_at=expires_at,
                allowed_ips=allowed_ips,
                description=description,
            )
    except IntegrityError as exc:
        raise _name_taken_error(name or "") from exc


def _refuse_widening(old: list[str], new: list[str]) -> None:
    widened = networks.widening(old, new)
    if widened == ["anywhere"]:
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR,
            "Removing every allowed network would let the key work from anywhere: a key's powers "
            "can only shrink. Create a new key to use it from anywhere.",
            field=networks.FIELD,
        )
    if widened:
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR,
            f"{', '.join(widened)} {'is' if len(widened) == 1 else 'are'} outside the networks the key "
            "may be used from now: the list can only be narrowed (every new entry inside an old one). "
            "Create a new key for other networks.",
            field=networks.FIELD,
        )


# ---- the key of a secret ----

NOT_A_SECRET = (
    "This is not a Client Secret of this portal: one starts with sk_live_ or sk_test_ and has "
    f"{credentials.SECRET_LENGTH} characters, the last six a checksum (a mistyped or cut secret fails it)."
)
NO_KEY_WITH_SECRET = (
    "No key you may see has this secret: it is not one of your organization's, or not in your accounts."
)


@sensitive_variables("secret")
def clean_secret(secret: object) -> str:
    """A pasted Client Secret, without the spaces around it; a ServiceError when it is not one
    (shape and checksum: no database)."""
    cleaned = secret.strip() if isinstance(secret, str) else ""
    if not credentials.is_well_formed_secret(cleaned):
        raise ServiceError(ErrorCode.VALIDATION_ERROR, NOT_A_SECRET, field="secret")
    return cleaned


@sensitive_variables("secret")
def do_look_up_key(*, actor: Actor, secret: str) -> selectors.SecretMatch | None:
    """:func:`look_up_key`, inside the caller's transaction: the match, or None, audited either way."""
    cleaned = clean_secret(secret)
    if not permissions.can_view_keys(actor):
        raise forbidden(actor, "look up key by secret", "Your role cannot see API keys.")
    match = selectors.key_of_secret(selectors.visible_keys(actor), cleaned)
    # Never the secret, nor anything derived from it, in the log.
    record_event(
        actor=actor,
        action=AuditAction.KEY_LOOKED_UP,
        key=match.key if match else None,
        details={"found": True, "secret": match.which} if match else {"found": False},
    )
    return match


@sensitive_variables("secret")
def look_up_key(*, actor: Actor, secret: str) -> selectors.SecretMatch:
    """The key a secret belongs to (its current secret, or the one kept for a grace period), whatever
    its status, among the keys the actor may see; KeyNotFound otherwise. Each look-up is audited."""
    cleaned = clean_secret(secret)  # before the transaction: junk costs no database round trip
    with door_transaction():
        match = do_look_up_key(actor=actor, secret=cleaned)
    if match is None:  # after the door: the audit event of a look-up that found nothing stays
        raise KeyNotFound(NO_KEY_WITH_SECRET)
    return match


@sensitive_variables("presented")
def verify_key(*, presented: str | credentials.PresentedCredentials) -> VerifiedKey | None:
    """The key a presented credential belongs to, if it may be used now: ``<secret>``,
    ``<client_id>:<secret>``, or credentials already read from request headers. None for every kind
    of failure alike (malformed, unknown, wrong secret, expired, revoked: no key enumeration).

    Cheap enough for every API request: see ``keys.authentication.verification``."""
    parsed = credentials.parse_presented(presented) if isinstance(presented, str) else presented
    if parsed is None:
        return None
    return verify_secret(parsed)


@sensitive_variables("presented")
def check_key(*, presented: credentials.PresentedCredentials) -> Check:
    """:func:`verify_key` for credentials read from request headers, with why a refused one was
    refused (``"disabled"`` or ``"unauthorized"``), for /metrics, and the key a refused attempt
    named, for its request log; the answer must not differ."""
    return check_secret(presented)


# ---- the keys' copies of their application's name and account's path (``ApiKey.CopiedField``) ----


def refresh_copies(changed: Application | Account) -> int:
    """After an application or account was saved: every key whose copy of its name (application) or
    path (account and the accounts below it, whose paths move with it) no longer matches, rewritten
    in one statement. Returns how many keys changed (none, unless the name or the place changed)."""
    if isinstance(changed, Application):
        stale = ApiKey.objects.filter(application=changed).exclude(application_name=changed.name)
        return stale.update(application_name=changed.name)
    subtree = ApiKey.objects.filter(account__path__startswith=changed.path)
    stale = subtree.exclude(account_path=F("account__path"))
    return stale.update(
        account_path=Subquery(Account.objects.filter(pk=OuterRef("account_id")).values("path"))
    )


def copies_on_save(sender: type, instance: Application | Account, raw: bool = False, **kwargs: Any) -> None:
    """``post_save`` of ``Application`` and ``Account`` (connected in ``keys.apps``)."""
    if not raw:  # loaddata writes keys with their copies as they were dumped
        refresh_copies(instance)
