"""Offboarding: when a member leaves, the keys whose secrets they saw are found and flagged.

The portal knows who saw each key's current secret (``ApiKey.secret_seen_by``: whoever created or
last regenerated it, as they saw the reveal) and, during a grace period, the previous one.
Deactivating a member, in one transaction: the member can no longer sign in, every key with a live
secret they saw is flagged *exposed*, and one audit event names the member and the keys; then
every session of theirs is ended. The keys keep working (an integration must not break on the day
someone leaves) until they are regenerated or revoked, which clears the flag. Reactivating restores
sign-in and never clears *exposed*: the secret was seen all the same.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from django.db.models import Count, Func, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts import permissions
from accounts.actors import Actor
from accounts.models import Organization, Role, User
from accounts.sessions import end_sessions
from audit.models import AuditAction
from audit.services import door_transaction, record_event
from keys import lineage, state
from keys.errors import ErrorCode, ServiceError
from keys.models import ApiKey
from keys.refusals import forbidden


class MemberNotFound(ServiceError):
    def __init__(self) -> None:
        super().__init__(ErrorCode.NOT_FOUND, "No such member in your organization.")


@dataclass(frozen=True)
class Deactivation:
    member: User
    exposed: list[ApiKey]
    sessions_ended: int


def keys_seen_by(member: User, now: datetime | None = None) -> QuerySet[ApiKey]:
    """Keys still in use (not revoked, not expired) with a live secret this member has seen."""
    organization_id = member.organization_id  # None (a superuser outside organizations): no keys
    return ApiKey.objects.filter(organization_id=organization_id).seen_by(member, now)  # type: ignore[misc]


@dataclass(frozen=True)
class SeenKey:
    """A key in the deactivate dialog: seen by the member, or made through one they saw."""

    key: ApiKey
    via_key: bool = False  # its secret was seen through another key, not by the member directly
    through: ApiKey | None = None  # that key, when the actor may see it
    previous: bool = False  # only its grace-period secret was seen


def keys_exposed_by(actor: Actor, member: User, now: datetime | None = None) -> list[SeenKey]:
    """What deactivating ``member`` flags exposed, as far as the actor may see: the keys with a
    live secret the member saw, each followed by the keys made or regenerated through it."""
    now = now or timezone.now()
    seen = list(keys_seen_by(member, now).select_related("application", "account").order_by("name"))
    children: dict[object, list[lineage.ExposedChild]] = {}
    for child in lineage.exposed_through(seen, now=now):
        children.setdefault(child.parent.pk, []).append(child)
    visible = set(
        ApiKey.objects.filter(permissions.key_filter(actor))
        .filter(pk__in=[k.pk for k in seen] + [c.key.pk for cs in children.values() for c in cs])
        .values_list("pk", flat=True)
    )
    listed: list[SeenKey] = []

    def add(entry: SeenKey) -> None:
        if entry.key.pk in visible:
            listed.append(entry)
        for child in children.get(entry.key.pk, []):
            through = entry.key if entry.key.pk in visible else None
            add(SeenKey(key=child.key, via_key=True, through=through, previous=not child.current))

    for key in seen:
        add(SeenKey(key=key, previous=key.secret_seen_by_id != member.pk))
    return listed


def visible_members(actor: Actor, *, manage: bool = False) -> QuerySet[User]:
    return User.objects.filter(permissions.member_filter(actor, manage=manage))


def members_with_seen_counts(actor: Actor) -> QuerySet[User]:
    """The members the actor may see, each with ``seen_count``: how many keys the actor may see
    have a live secret the member saw (one subquery, whatever the page size)."""
    now = timezone.now()
    member = OuterRef("pk")
    in_use = ApiKey.objects.filter(permissions.key_filter(actor)).in_use(now).order_by()

    def count(keys: QuerySet[ApiKey]) -> Coalesce:
        # COUNT(*): counting a column would make the index carry it.
        counted = keys.annotate(count=Func(template="COUNT(*)", output_field=IntegerField())).values("count")
        return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))

    # ``ApiKeyQuerySet.seen_by`` counted in two parts that do not overlap, each an equality an index
    # answers alone (``key_seen_by``, and the few keys in a grace period): the current secret, and
    # the previous one of keys whose current secret the member did not see. Asked as one condition
    # with an OR, PostgreSQL walked every key of the organization once per member.
    current = in_use.filter(secret_seen_by=member)
    previous = in_use.filter(Q(previous_secret_seen_by=member) & state.grace_active_q(now)).exclude(
        secret_seen_by=member
    )
    return visible_members(actor).annotate(seen_count=count(current) + count(previous))


def get_visible_member(actor: Actor, member_id: str | int | None) -> User:
    try:
        pk = int(member_id)  # type: ignore[arg-type]  # None fails as TypeError, caught below
    except (TypeError, ValueError):
        raise MemberNotFound() from None
    member = visible_members(actor).filter(pk=pk).first()
    if member is None:
        raise MemberNotFound()
    return member


def _check(actor: Actor, member: User, what: str) -> None:
    """An Advanced Admin who cannot see the member gets "not found"; anyone else who may not act
    gets the reason (and an audit event)."""
    manages = permissions.can_manage_members(actor)
    if manages and not visible_members(actor, manage=True).filter(pk=member.pk).exists():
        raise MemberNotFound()
    reason = permissions.member_refusal(actor, member)
    if reason:
        raise forbidden(actor, what, reason, member=member.email)


def _active_advanced_admins(organization_id: int | None) -> int:
    return (
        User.objects.filter(
            organization_id=organization_id,  # type: ignore[misc]  # None (no organization): none
            is_active=True,
            memberships__role=Role.ADVANCED_ADMIN,
        )
        .distinct()
        .count()
    )


def _locked_children(seen: list[ApiKey], now: datetime) -> list[lineage.ExposedChild]:
    """Whoever saw a key's secret could have made or regenerated keys with it: those are exposed
    too, and theirs (locked like the rest: a regeneration waits for this flagging)."""
    children = lineage.exposed_through(seen, now=now)
    if children:
        list(
            ApiKey.objects.filter(pk__in=[c.key.pk for c in children])
            .select_for_update(of=("self",))
            .values_list("pk", flat=True)
        )
    return children


def _reported_leaked(keys: list[ApiKey]) -> set[object]:
    """The keys exposed by a leak report already (read before this flagging): they keep that reason,
    the more urgent one, and where the secret was found."""
    return {key.pk for key in keys if key.exposed and key.exposed_source_url}


def _explain_children(member: User, children: list[lineage.ExposedChild], now: datetime) -> None:
    by_parent: dict[object, list[lineage.ExposedChild]] = {}
    leaked = _reported_leaked([c.key for c in children])
    for child in children:
        if child.key.pk not in leaked:
            by_parent.setdefault(child.parent.pk, []).append(child)
    for kin in by_parent.values():  # one UPDATE per parent, not per child
        parent = kin[0].parent
        ApiKey.objects.filter(pk__in=[c.key.pk for c in kin]).update(
            exposed_reason=state.offboarding_through_reason(parent.name, parent.client_id, member.email, now),
            exposed_source_url="",
        )


def _whose_secret(
    member: User, seen: list[ApiKey], children: list[lineage.ExposedChild]
) -> tuple[list, list]:
    """(the keys whose current secret was seen, those whose grace-period secret was)."""
    current = [k.pk for k in seen if k.secret_seen_by_id == member.pk]
    current += [c.key.pk for c in children if c.current]
    previous = [k.pk for k in seen if k.previous_secret_seen_by_id == member.pk]
    previous += [c.key.pk for c in children if not c.current]
    return current, previous


def _flag_exposed(member: User, seen: list[ApiKey], now: datetime) -> list[ApiKey]:
    """Flag exposed every key with a live secret the member saw (``seen``, locked), and every key
    made or regenerated through one of them; returns the keys flagged."""
    children = _locked_children(seen, now)
    current, previous = _whose_secret(member, seen, children)
    ApiKey.objects.filter(pk__in=current, exposed_at__isnull=True).update(exposed_at=now)
    ApiKey.objects.filter(pk__in=previous, previous_exposed_at__isnull=True).update(previous_exposed_at=now)
    leaked = _reported_leaked(seen)
    reason = state.offboarding_reason(member.email, now)
    ApiKey.objects.filter(pk__in=[k.pk for k in seen if k.pk not in leaked]).update(
        exposed_reason=reason, exposed_source_url=""
    )
    _explain_children(member, children, now)
    return seen + [c.key for c in children]


def do_deactivate_member(*, actor: Actor, member: User) -> Deactivation:
    """:func:`deactivate_member` inside the caller's transaction, but for the member's sessions:
    the caller ends them after its commit (``accounts.sessions.end_sessions``), since a session
    engine (the cache) is not part of the transaction. ``sessions_ended`` is 0."""
    _check(actor, member, "deactivate member")
    now = timezone.now()
    # One deactivation at a time per organization: two admins deactivating each other at once
    # cannot leave it without an active Advanced Admin.
    Organization.objects.select_for_update().get(pk=actor.organization_id)
    member = User.objects.select_for_update().get(pk=member.pk)
    if not member.is_active:
        return Deactivation(member=member, exposed=[], sessions_ended=0)
    if member.top_role == Role.ADVANCED_ADMIN and _active_advanced_admins(member.organization_id) <= 1:
        raise forbidden(
            actor,
            "deactivate member",
            f"{member.email} is the organization's last active Advanced Admin: make someone else "
            "an Advanced Admin first.",
            member=member.email,
        )
    member.is_active = False
    member.save(update_fields=["is_active"])
    seen = list(
        keys_seen_by(member, now)
        .select_for_update(of=("self",))
        .select_related("application", "account")
        .order_by("name")
    )
    seen = _flag_exposed(member, seen, now)
    highest = member.highest_membership
    record_event(
        actor=actor,
        action=AuditAction.MEMBER_DEACTIVATED,
        account=highest.account if highest else None,
        details={
            "member": member.email,
            "exposed_keys": [f"{k.name} ({k.client_id})" for k in seen],
        },
    )
    # The keys as flagged (one query, not a refresh per key).
    flagged = list(
        ApiKey.objects.filter(pk__in=[k.pk for k in seen])
        .select_related("application", "account")
        .order_by("name")
    )
    return Deactivation(member=member, exposed=flagged, sessions_ended=0)


def deactivate_member(*, actor: Actor, member: User) -> Deactivation:
    """In one transaction: the member can no longer sign in, every key with a live secret they saw
    is flagged exposed, and one audit event names them; then every session of theirs is ended."""
    with door_transaction():
        done = do_deactivate_member(actor=actor, member=member)
    # After the commit: a session engine (the cache) is not part of the transaction. The member is
    # refused by the authentication backend already, on every worker.
    return replace(done, sessions_ended=end_sessions(done.member))


def do_reactivate_member(*, actor: Actor, member: User) -> User:
    """:func:`reactivate_member`, inside the caller's transaction."""
    _check(actor, member, "reactivate member")
    member = User.objects.select_for_update().get(pk=member.pk)
    if member.is_active:
        return member
    member.is_active = True
    member.save(update_fields=["is_active"])
    highest = member.highest_membership
    record_event(
        actor=actor,
        action=AuditAction.MEMBER_REACTIVATED,
        account=highest.account if highest else None,
        details={"member": member.email},
    )
    return member


def reactivate_member(*, actor: Actor, member: User) -> User:
    """Restore sign-in. The keys flagged when the member left stay exposed."""
    with door_transaction():
        return do_reactivate_member(actor=actor, member=member)


def exposed_count(actor: Actor) -> int:
    """How many keys the actor may see are exposed (the banner on Members and API Keys)."""
    return ApiKey.objects.filter(permissions.key_filter(actor)).exposed().aggregate(n=Count("pk"))["n"]
